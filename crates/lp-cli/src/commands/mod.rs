//! One module per subcommand, plus what they share.

pub mod consumer_jws;
pub mod decode;
pub mod demo;
pub mod domains;
pub mod emulator;
pub mod token;

use std::path::Path;

use lp_appjwt::{
    AccountId, ApiVersion, AppJwtClient, AppJwtClientBuilder, ClientId, Host, HyperTransport, Jwks,
    RetryPolicy, Rs256Verifier, VerifyWith,
};
use lp_oauth::ClientSecret;

use crate::args::{Api, ClientArgs, Connection, ProxyArgs, VerifySource};
use crate::exit::Failure;

/// The environment variable that carries the client secret.
pub const SECRET_ENV: &str = "LP_CLIENT_SECRET";

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
        None => match std::env::var(SECRET_ENV) {
            Ok(s) => s,
            Err(std::env::VarError::NotPresent) => {
                return Err(Failure::usage(format!(
                    "no client secret: set {SECRET_ENV} or pass --client-secret-file"
                )));
            }
            Err(std::env::VarError::NotUnicode(_)) => {
                return Err(Failure::usage(format!("{SECRET_ENV} is not valid UTF-8")));
            }
        },
    };
    // Files written by `echo` end in a newline; it is never part of a secret.
    let trimmed = raw.trim_end_matches(['\n', '\r']);
    ClientSecret::new(trimmed).map_err(|e| Failure::usage(format!("client secret: {e}")))
}

/// Parses a `--*-host` value.
pub fn parse_host(flag: &str, value: &str) -> Result<Host, Failure> {
    Host::parse(value).map_err(|e| Failure::usage(format!("{flag}: {e}")))
}

/// The HTTPS transport, trusting the web PKI plus `--ca-file` if given,
/// through the proxy the flags or the environment name.
pub fn transport(conn: &Connection) -> Result<HyperTransport, Failure> {
    transport_via(conn.ca_file.as_deref(), &conn.proxy)
}

/// The HTTPS transport, trusting the web PKI plus `ca_file` if given.
pub fn transport_trusting(ca_file: Option<&Path>) -> Result<HyperTransport, Failure> {
    transport_via(ca_file, &ProxyArgs::default())
}

fn transport_via(ca_file: Option<&Path>, proxy: &ProxyArgs) -> Result<HyperTransport, Failure> {
    let mut builder = HyperTransport::builder();
    if let Some(path) = ca_file {
        builder = builder
            .add_root_pem_file(path)
            .map_err(|e| Failure::usage(format!("--ca-file {}: {e}", path.display())))?;
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

/// A client builder from the flags `token` and `consumer-jws` share.
pub fn client_builder(a: &ClientArgs) -> Result<AppJwtClientBuilder, Failure> {
    let account = AccountId::new(a.account.as_str())
        .map_err(|e| Failure::usage(format!("--account: {e}")))?;
    let client_id = ClientId::new(a.client_id.as_str())
        .map_err(|e| Failure::usage(format!("--client-id: {e}")))?;
    let secret = read_secret(a.client_secret_file.as_deref())?;
    let csds = parse_host("--csds-host", &a.connection.csds_host)?;
    let api = match a.api {
        Api::V1 => ApiVersion::V1,
        Api::V2 => ApiVersion::V2,
    };
    let mut builder = AppJwtClient::builder(account, client_id, secret)
        .csds_host(csds)
        .api_version(api)
        .verify_with(verify_with(&a.verify_with, api)?)
        .retry_policy(RetryPolicy {
            max_attempts: a.retries.saturating_add(1),
            ..RetryPolicy::default()
        })
        .transport(transport(&a.connection)?);
    if let Some(s) = &a.sentinel_host {
        builder = builder.sentinel_host(parse_host("--sentinel-host", s)?);
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
            let flag = || format!("--verify-with {}", path.display());
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
