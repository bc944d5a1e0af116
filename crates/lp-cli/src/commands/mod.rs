//! One module per subcommand, plus what they share.

pub mod cache;
pub mod completions;
pub mod consumer_jws;
pub mod decode;
pub mod demo;
pub mod domains;
pub mod emulator;
pub mod send;
pub mod token;
pub mod webhook;

use std::path::Path;
use std::time::Duration;

use lp_appjwt::{
    AccountId, ApiVersion, AppJwtClient, AppJwtClientBuilder, ClientId, DEFAULT_REQUEST_TIMEOUT,
    Error, Host, HyperTransport, Jwks, RetryPolicy, Rs256Verifier, TransportErrorKind, VerifyWith,
};
use lp_oauth::{ClientSecret, TokenError};

use crate::args::{Api, ClientArgs, Connection, ProxyArgs, VerifySource};
use crate::exit::{Failure, chain};
use crate::watch::{Step, Watch, Watched};

/// The environment variable that carries the client secret.
pub const SECRET_ENV: &str = "LP_CLIENT_SECRET";

/// The `kid` of LivePerson's published v1 key, the one the default
/// `--verify-with` checks against for `--api v1`.
pub const LIVEPERSON_V1_KID: &str = "appjwt-13-05-17";

/// Reads the secret from `file` if given, else from `LP_CLIENT_SECRET`.
/// Never echoes it, not even in an error.
pub fn read_secret(file: Option<&Path>) -> Result<ClientSecret, Failure> {
    let raw = match file {
        Some(path) => std::fs::read_to_string(path).map_err(|e| {
            Failure::usage(format!(
                "cannot read --client-secret-file {}: {e}",
                path.display()
            ))
        })?,
        None => match secret_from_env()? {
            Some(s) => s,
            None => {
                return Err(Failure::usage(format!(
                    "no client secret: set {SECRET_ENV} or pass --client-secret-file PATH"
                )));
            }
        },
    };
    // Files written by `echo` end in a newline; it is never part of a secret.
    let trimmed = raw.trim_end_matches(['\n', '\r']);
    ClientSecret::new(trimmed).map_err(|e| Failure::usage(format!("client secret: {e}")))
}

/// `LP_CLIENT_SECRET`, or `None` when it is not set.
pub fn secret_from_env() -> Result<Option<String>, Failure> {
    match std::env::var(SECRET_ENV) {
        Ok(s) => Ok(Some(s)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => {
            Err(Failure::usage(format!("{SECRET_ENV} is not valid UTF-8")))
        }
    }
}

/// How to name an option in an error: `--csds-host`, or `LP_CSDS_HOST`
/// when the value came from the environment (the flag is not on the
/// command line), so that a person fixes the right place.
pub fn origin(flag: &str, env: &str) -> String {
    let on_command_line = std::env::args().any(|a| {
        a == flag
            || a.strip_prefix(flag)
                .is_some_and(|rest| rest.starts_with('='))
    });
    if !on_command_line && std::env::var_os(env).is_some() {
        format!("{env} (for {flag})")
    } else {
        flag.to_owned()
    }
}

/// Checks an account id before any request is made. The library accepts
/// letters too (for test accounts), but a LivePerson site id is digits,
/// and a typo would otherwise only come back from the server as a 401.
pub fn parse_account(flag: &str, value: &str) -> Result<AccountId, Failure> {
    let name = origin(flag, "LP_ACCOUNT");
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        let hint = match value.strip_prefix("le") {
            // The `aud` claim carries the id with an `le` prefix.
            Some(digits) if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
                format!("leave out the `le` of the token's aud: {digits}")
            }
            _ => "a LivePerson account (site) id is digits only, e.g. 56072331".to_owned(),
        };
        return Err(Failure::usage(format!(
            "{name}: {value:?} is not an account id: {hint}"
        )));
    }
    AccountId::new(value).map_err(|e| Failure::usage(format!("{name}: {e}")))
}

/// Checks a client id before any request is made.
pub fn parse_client_id(flag: &str, value: &str) -> Result<ClientId, Failure> {
    ClientId::new(value)
        .map_err(|e| Failure::usage(format!("{}: {e}", origin(flag, "LP_CLIENT_ID"))))
}

/// Parses a `--*-host` value. A URL gets advice instead of a byte position:
/// the flag wants what goes between `https://` and the path.
pub fn parse_host(flag: &str, env: &str, value: &str) -> Result<Host, Failure> {
    let name = origin(flag, env);
    if let Some((scheme, rest)) = value.split_once("://") {
        let host = rest.split('/').next().unwrap_or_default();
        return Err(Failure::usage(format!(
            "{name}: leave out the scheme: write {host} instead of {scheme}://{rest}"
        )));
    }
    if let Some((host, _)) = value.split_once('/') {
        return Err(Failure::usage(format!(
            "{name}: leave out the path: write {host} instead of {value}"
        )));
    }
    Host::parse(value).map_err(|e| Failure::usage(format!("{name}: {e} (expected HOST[:PORT])")))
}

/// The HTTPS transport for `conn` (`--ca-file`, `--timeout`, the proxy
/// the flags or the environment name), its requests noted by `watch`.
pub fn transport(conn: &Connection, watch: &Watch) -> Result<Watched<HyperTransport>, Failure> {
    let ca = conn.ca_file.as_deref();
    Ok(watch.transport(transport_via(ca, conn.timeout, &conn.proxy)?))
}

/// The HTTPS transport, trusting the web PKI plus `ca_file` if given. No
/// single request may take longer than `timeout`.
pub fn transport_trusting(
    ca_file: Option<&Path>,
    timeout: Duration,
) -> Result<HyperTransport, Failure> {
    transport_via(ca_file, timeout, &ProxyArgs::default())
}

fn transport_via(
    ca_file: Option<&Path>,
    timeout: Duration,
    proxy: &ProxyArgs,
) -> Result<HyperTransport, Failure> {
    let mut builder =
        HyperTransport::builder().request_timeout(timeout.min(DEFAULT_REQUEST_TIMEOUT));
    if let Some(path) = ca_file {
        let flag = origin("--ca-file", "LP_CA_FILE");
        // Read here, so that the error carries what the OS said.
        let pem = std::fs::read(path)
            .map_err(|e| Failure::usage(format!("cannot read {flag} {}: {e}", path.display())))?;
        builder = builder.add_root_pem(&pem).map_err(|e| {
            Failure::usage(format!(
                "{flag} {}: {}: expected the PEM certificate `appjwt emulator --ca-out` writes",
                path.display(),
                chain(&e)
            ))
        })?;
    }
    let builder = proxy
        .apply(builder)
        .map_err(|e| Failure::from_client("--proxy", &lp_appjwt::Error::Transport(e)))?;
    builder
        .build()
        .map_err(|e| Failure::from_client("cannot set up HTTPS", &lp_appjwt::Error::Transport(e)))
}

/// Pretty JSON for people; serialisation of plain data cannot fail, but a
/// failure is still reported rather than panicking.
pub fn pretty<T: serde::Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|e| format!("<unprintable: {e}>"))
}

/// The attempts `--retries` allows: the first one and the retries.
pub fn allowed_attempts(a: &ClientArgs) -> u32 {
    a.retries.saturating_add(1)
}

/// A client builder from the flags `token` and `consumer-jws` share, its
/// requests noted by `watch`.
pub fn client_builder(a: &ClientArgs, watch: &Watch) -> Result<AppJwtClientBuilder, Failure> {
    client_builder_over(a, transport(&a.connection, watch)?)
}

/// Like [`client_builder`], over a transport the caller built (and may
/// share, as `send` does with the Send API).
pub fn client_builder_over(
    a: &ClientArgs,
    transport: impl lp_appjwt::Transport,
) -> Result<AppJwtClientBuilder, Failure> {
    let account = parse_account("--account", &a.account)?;
    let client_id = parse_client_id("--client-id", &a.client_id)?;
    let secret = read_secret(a.client_secret_file.as_deref())?;
    let csds = parse_host("--csds-host", "LP_CSDS_HOST", &a.connection.csds_host)?;
    let sentinel = match &a.sentinel_host {
        Some(s) => Some(parse_host("--sentinel-host", "LP_SENTINEL_HOST", s)?),
        None => None,
    };
    let api = match a.api {
        Api::V1 => ApiVersion::V1,
        Api::V2 => ApiVersion::V2,
    };
    let verify = verify_with(&a.verify_with, api)?;
    if matches!(verify, VerifyWith::None) {
        eprintln!(
            "appjwt: warning: {} none: the token's signature is not checked, \
             so a forged token would be accepted",
            origin("--verify-with", "LP_VERIFY_WITH")
        );
    }
    let mut builder = AppJwtClient::builder(account, client_id, secret)
        .csds_host(csds)
        .api_version(api)
        .verify_with(verify)
        .retry_policy(RetryPolicy {
            max_attempts: allowed_attempts(a),
            deadline: a.connection.timeout,
            ..RetryPolicy::default()
        })
        .transport(transport);
    if let Some(host) = sentinel {
        builder = builder.sentinel_host(host);
    }
    if let Some(store) = cache::store_for(&a.cache)? {
        builder = builder.token_store(store);
    }
    Ok(builder)
}

/// What `--verify-with` names. A file holding a JSON object is a JWKS
/// document; anything else must be a PEM public key (SPKI or PKCS#1).
pub fn verify_with(source: &VerifySource, api: ApiVersion) -> Result<VerifyWith, Failure> {
    Ok(match source {
        VerifySource::Auto => VerifyWith::default_for(api),
        VerifySource::Static => VerifyWith::LivePersonV1,
        VerifySource::Jwks => VerifyWith::Jwks,
        VerifySource::None => VerifyWith::None,
        VerifySource::File(path) => {
            let flag = || {
                format!(
                    "{} {}",
                    origin("--verify-with", "LP_VERIFY_WITH"),
                    path.display()
                )
            };
            let text = std::fs::read_to_string(path)
                .map_err(|e| Failure::usage(format!("cannot read {}: {e}", flag())))?;
            if text.trim_start().starts_with('{') {
                let set = Jwks::from_json(&text)
                    .map_err(|e| Failure::usage(format!("{}: not a usable jwks: {e}", flag())))?;
                VerifyWith::KeySet(set)
            } else {
                let key = Rs256Verifier::from_pem(&text).map_err(|e| {
                    Failure::usage(format!("{}: not a usable pem public key: {e}", flag()))
                })?;
                VerifyWith::Key(key)
            }
        }
    })
}

/// The failure for a client error, with what to do about it where the CLI
/// can tell: `context` is what the command tried (`cannot get a token`).
pub fn client_failure(context: &str, e: &Error, a: &ClientArgs, watch: &Watch) -> Failure {
    if let Error::DeadlineExceeded { attempts, last } = e {
        // The library's own wording counts attempts but not the limit;
        // say which limit ended the command, and how many were allowed.
        let limit = crate::human::short(a.connection.timeout);
        let how = match watch.last() {
            Some(sent) if sent.in_flight => format!("{} had no answer yet", watch.describe(&sent)),
            Some(sent) => format!("{} failed: {}", watch.describe(&sent), chain(last.as_ref())),
            None => chain(last.as_ref()),
        };
        let plural = if *attempts == 1 { "" } else { "s" };
        return Failure::of(
            e,
            format!(
                "{context}: gave up at the {limit} --timeout after {attempts} attempt{plural} \
             of the {} allowed; {how}; raise --timeout to wait longer",
                allowed_attempts(a)
            ),
        );
    }
    Failure::from_client(context, e).advise(advice(e.root(), a, watch))
}

/// What to do about `e`, when the CLI can tell.
fn advice(e: &Error, a: &ClientArgs, watch: &Watch) -> Option<String> {
    let last = watch.last();
    let host = last.as_ref().map(|s| s.host.clone()).unwrap_or_default();
    let loopback = |h: &str| Host::parse(h).is_ok_and(|h| h.is_loopback());
    match e {
        Error::Verify(_) => Some(verify_advice(a, watch)),
        Error::Transport(t) => {
            let what = last.as_ref().map(|s| watch.describe(s)).unwrap_or_default();
            match t.kind() {
                TransportErrorKind::Connect => Some(format!(
                    "{what}: is the host right and does anything listen there? \
                     (--csds-host, --sentinel-host)"
                )),
                TransportErrorKind::Tls if loopback(&host) => Some(format!(
                    "{host} is not trusted: if it is `appjwt emulator`, pass --ca-file with \
                     the file its `--ca-out` wrote (or set LP_CA_FILE)"
                )),
                TransportErrorKind::Tls => Some(format!(
                    "{host} is not trusted: pass --ca-file with the CA that signed its certificate"
                )),
                TransportErrorKind::Timeout | TransportErrorKind::Io => Some(format!(
                    "{what}; raise --timeout or --retries to wait longer"
                )),
                _ => None,
            }
        }
        Error::Token(TokenError::Rejected { .. }) => Some(
            "check --client-id (LP_CLIENT_ID) and the secret (LP_CLIENT_SECRET or \
             --client-secret-file)"
                .to_owned(),
        ),
        e if e.is_retryable() => last.map(|s| format!("{} was the last", watch.describe(&s))),
        _ => None,
    }
}

/// A refused signature: which key checked it, and when the token looks
/// like one from a test server, the flag that checks it properly.
fn verify_advice(a: &ClientArgs, watch: &Watch) -> String {
    let used = match (&a.verify_with, a.api) {
        (VerifySource::Auto, Api::V1) => {
            "LivePerson's published v1 key (the default for --api v1)".to_owned()
        }
        (VerifySource::Static, _) => "LivePerson's published v1 key".to_owned(),
        (VerifySource::Auto, Api::V2) | (VerifySource::Jwks, _) => {
            "the key set the sentinel host publishes".to_owned()
        }
        (VerifySource::File(p), _) => format!("the key in {}", p.display()),
        (VerifySource::None, _) => "no key".to_owned(),
    };
    let mut out = format!("checked with {used}");
    let kid = watch.token_kid();
    let host = watch.host_of(Step::Token).unwrap_or_default();
    let foreign_kid = kid.as_deref().is_some_and(|k| k != LIVEPERSON_V1_KID);
    let loopback = Host::parse(&host).is_ok_and(|h| h.is_loopback());
    if let Some(kid) = &kid {
        out.push_str(&format!(", token kid {kid}"));
    }
    let uses_jwks = matches!(
        (&a.verify_with, a.api),
        (VerifySource::Jwks, _) | (VerifySource::Auto, Api::V2)
    );
    if !uses_jwks && (foreign_kid || loopback) {
        let why = match (foreign_kid, loopback) {
            (true, true) => format!(
                "the kid is not LivePerson's ({LIVEPERSON_V1_KID}) and {host} is a loopback host"
            ),
            (true, false) => format!("the kid is not LivePerson's ({LIVEPERSON_V1_KID})"),
            _ => format!("{host} is a loopback host"),
        };
        out.push_str(&format!(
            "; {why}, so the token is likely signed by a test server such as `appjwt emulator`: \
             pass --verify-with jwks (or set LP_VERIFY_WITH=jwks) to check it with the keys \
             that server publishes"
        ));
    }
    out
}

/// 32 hex characters from the OS's randomness, via std's hasher seeds, which
/// are drawn from the OS per process; good enough for a throw-away test
/// secret and avoids a dependency.
pub fn random_secret() -> String {
    use std::collections::hash_map::RandomState;
    use std::hash::BuildHasher;
    let a = RandomState::new().hash_one(1u8);
    let b = RandomState::new().hash_one(2u8);
    format!("{a:016x}{b:016x}")
}
