//! The command line, as clap derives it. This is the contract scripts rely on.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use lp_appjwt::{HyperTransportBuilder, TransportError};

/// Shown at the end of `appjwt --help`; the same list as the crate docs.
const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  the server or the token said no: rejected credentials, an error
     status (4xx, or 5xx after the retries), an unusable answer, a token
     whose signature is refused or that is expired or for another account
     or client, an idp that hands out no ConsumerJWS, a webhook whose
     signature does not match its body
  2  bad usage or malformed input: unknown flag, invalid id or host, no
     client secret, unreadable file, a token that does not decode, a
     malformed webhook signature
  3  network trouble: connection refused, TLS failure, timeout";

/// Get, decode and inspect LivePerson AppJWTs.
///
/// The client secret is never taken on the command line (it would show in
/// `ps` and shell history): set LP_CLIENT_SECRET or pass --client-secret-file.
///
/// Every option that says where to connect or who the client is can also
/// come from the environment (LP_ACCOUNT, LP_CLIENT_ID, LP_CSDS_HOST,
/// LP_SENTINEL_HOST, LP_CA_FILE, LP_VERIFY_WITH, ...; each option's help
/// names its variable); a flag on the command line beats the variable.
/// `appjwt emulator --env-out FILE` writes them for a local emulator.
#[derive(Debug, Parser)]
#[command(
    name = "appjwt",
    version,
    propagate_version = true,
    after_long_help = EXIT_CODES
)]
pub struct Cli {
    /// Log what the client does on stderr (-v info, -vv debug); secrets and
    /// tokens are never logged.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Fetch an AppJWT from Sentinel and print it.
    Token(TokenArgs),
    /// Fetch an AppJWT, then a ConsumerJWS for one consumer from the idp,
    /// and print the ConsumerJWS.
    ///
    /// The ConsumerJWS goes into the Send API's `X-LP-ON-BEHALF` header,
    /// next to the AppJWT in `Authorization`.
    ConsumerJws(ConsumerJwsArgs),
    /// Decode a token (argument or stdin) and print its header and claims.
    Decode(DecodeArgs),
    /// Show the Domain API's hosts for an account.
    Domains(DomainsArgs),
    /// Run the whole flow against an embedded emulator: no network, no setup.
    Demo(DemoArgs),
    /// Run the Sentinel + Domain API emulator as a server until interrupted.
    ///
    /// Once it listens it prints the `export LP_...` line that points
    /// `appjwt` at it (or writes it to --env-out FILE), then one line per
    /// request. It signs with its own throw-away key, so its tokens are
    /// checked with `--verify-with jwks`, which that line sets.
    Emulator(EmulatorArgs),
    /// Send a message for a consumer through the Send API: opens a
    /// conversation (or uses --conversation), sends --text, prints the
    /// conversation id.
    ///
    /// The request carries the AppJWT and the consumer's ConsumerJWS, put
    /// on by lp-tower's middleware: a 401 is retried once with a new
    /// AppJWT, then once with a new ConsumerJWS. For smoke tests of a
    /// connector's set-up, and against `appjwt emulator`.
    #[command(after_help = SEND_EXIT_CODES)]
    Send(SendArgs),
    /// Check a webhook LivePerson sent: its signature, account and client id.
    Webhook(WebhookArgs),
    /// Manage the token cache that `token` and `consumer-jws` keep between
    /// runs.
    Cache(CacheArgs),
    /// Print a shell completion script: `appjwt completions bash >
    /// /etc/bash_completion.d/appjwt`, or zsh, fish, powershell.
    Completions(CompletionsArgs),
    /// Print the manual page (roff), or write one page per command into a
    /// directory: `appjwt man | man -l -`.
    Man(ManArgs),
}

/// Where to reach LivePerson and whom to trust.
#[derive(Debug, Args)]
pub struct Connection {
    /// Domain API (CSDS) host, with an optional port; no scheme, no path.
    #[arg(
        long,
        env = "LP_CSDS_HOST",
        value_name = "HOST[:PORT]",
        default_value = "api.liveperson.net"
    )]
    pub csds_host: String,

    /// Extra trusted root certificates (PEM), e.g. the emulator's CA.
    #[arg(long, env = "LP_CA_FILE", value_name = "PEM")]
    pub ca_file: Option<PathBuf>,

    /// Give up when the whole command has not finished after this long
    /// (`500ms`, `10s`, `2m`; a bare number is seconds), retries included.
    #[arg(
        long,
        env = "LP_TIMEOUT",
        value_name = "DURATION",
        default_value = "30s",
        value_parser = parse_duration
    )]
    pub timeout: Duration,

    #[command(flatten)]
    pub proxy: ProxyArgs,
}

/// Which HTTP proxy carries the HTTPS connections. Without either flag,
/// HTTPS_PROXY (https_proxy, ALL_PROXY, all_proxy) and NO_PROXY decide.
#[derive(Debug, Default, Args)]
pub struct ProxyArgs {
    /// Connect through this HTTP proxy (CONNECT tunnel, TLS end to end),
    /// instead of the one HTTPS_PROXY or ALL_PROXY names; NO_PROXY still
    /// applies. Credentials go in the URL, percent-encoded; they are sent
    /// to the proxy only and never printed.
    #[arg(
        long,
        value_name = "http://[USER:PASS@]HOST:PORT",
        conflicts_with = "no_proxy"
    )]
    pub proxy: Option<String>,

    /// Connect directly, whatever HTTPS_PROXY and ALL_PROXY say.
    #[arg(long)]
    pub no_proxy: bool,
}

impl ProxyArgs {
    /// Applies the flags to a transport builder. Like curl with `-x`, an
    /// explicit proxy still lets NO_PROXY (or no_proxy) exempt hosts.
    pub fn apply(
        &self,
        builder: HyperTransportBuilder,
    ) -> Result<HyperTransportBuilder, TransportError> {
        if self.no_proxy {
            return Ok(builder.no_proxy());
        }
        let Some(url) = &self.proxy else {
            return Ok(builder);
        };
        let builder = builder.proxy(url)?;
        let bypass = std::env::var("NO_PROXY").or_else(|_| std::env::var("no_proxy"));
        Ok(match bypass {
            Ok(list) => builder.proxy_bypass(&list),
            Err(_) => builder,
        })
    }
}

/// Who the client is, where it connects, and how tokens are checked:
/// shared by `token` and `consumer-jws`.
#[derive(Debug, Args)]
pub struct ClientArgs {
    /// LivePerson account (site) id, digits only.
    #[arg(long, env = "LP_ACCOUNT", value_name = "ACC")]
    pub account: String,

    /// OAuth client id (the app installation id).
    #[arg(long, env = "LP_CLIENT_ID", value_name = "ID")]
    pub client_id: String,

    // LP_CLIENT_SECRET itself is read by hand, never through clap's `env`:
    // `--help` prints the current value of every variable it knows.
    /// Read the client secret from this file (a trailing newline is ignored)
    /// instead of LP_CLIENT_SECRET.
    #[arg(long, env = "LP_CLIENT_SECRET_FILE", value_name = "PATH")]
    pub client_secret_file: Option<PathBuf>,

    #[command(flatten)]
    pub connection: Connection,

    /// Sentinel host; skips the Domain API lookup.
    #[arg(long, env = "LP_SENTINEL_HOST", value_name = "HOST[:PORT]")]
    pub sentinel_host: Option<String>,

    /// Retries after a failed first attempt (5xx, 429, connection trouble),
    /// with exponential backoff; rejected credentials are never retried.
    #[arg(long, env = "LP_RETRIES", value_name = "N", default_value_t = 3)]
    pub retries: u32,

    /// Sentinel token endpoint version.
    #[arg(long, env = "LP_API", value_enum, default_value_t = Api::V1)]
    pub api: Api,

    /// Whose key checks the AppJWT's RS256 signature: auto, static, jwks,
    /// none or a key FILE.
    ///
    /// `auto`: LivePerson's published key for v1, the Sentinel host's JWKS
    /// for v2. `static` (or `liveperson-v1`): LivePerson's published v1 key.
    /// `jwks`: the Sentinel host's JWKS; use it against `appjwt emulator`,
    /// which signs with its own key. `none`: no check (dangerous). Anything
    /// else is a FILE holding a PEM public key or a JWKS document (write
    /// `./jwks` for a file named like a keyword).
    #[arg(
        long = "verify-with",
        env = "LP_VERIFY_WITH",
        visible_alias = "verify",
        value_name = "auto|static|jwks|none|FILE",
        default_value = "auto",
        value_parser = parse_verify_source
    )]
    pub verify_with: VerifySource,

    #[command(flatten)]
    pub cache: CacheChoice,
}

/// Where a valid token is kept between runs, so that a script running
/// `appjwt token` many times asks Sentinel once.
#[derive(Debug, Default, Args)]
pub struct CacheChoice {
    /// Neither read nor write the token cache: every run asks Sentinel.
    #[arg(long, conflicts_with = "store")]
    pub no_cache: bool,

    /// Keep the token in this store instead of the default cache
    /// directory ($XDG_CACHE_HOME/appjwt, else ~/.cache/appjwt):
    /// `file:///PATH` or a directory path. Records are encrypted with a
    /// key derived from the client secret.
    #[arg(long, env = "LP_STORE", value_name = "URL")]
    pub store: Option<String>,
}

/// Where `--verify-with` takes the keys from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifySource {
    /// LivePerson's v1 key with `--api v1`, the Sentinel JWKS with v2.
    Auto,
    /// LivePerson's published v1 key, compiled in.
    Static,
    /// The key set at `https://{sentinel}/sentinel/well-known/jwks`.
    Jwks,
    /// No signature check (dangerous: accepts a forged token).
    None,
    /// A PEM public key or a JWKS file.
    File(PathBuf),
}

/// Keywords first; anything else is a file path, read when the command runs
/// so that an unreadable file is reported like the other input errors.
fn parse_verify_source(value: &str) -> Result<VerifySource, String> {
    Ok(match value {
        "auto" => VerifySource::Auto,
        "static" | "liveperson-v1" => VerifySource::Static,
        "jwks" => VerifySource::Jwks,
        "none" => VerifySource::None,
        "" => return Err("expected auto, static, jwks, none or a file path".to_owned()),
        path => VerifySource::File(PathBuf::from(path)),
    })
}

#[derive(Debug, Args)]
pub struct TokenArgs {
    #[command(flatten)]
    pub client: ClientArgs,

    /// What to print on stdout.
    #[arg(long, value_enum, default_value_t = TokenFormat::Token)]
    pub format: TokenFormat,
}

#[derive(Debug, Args)]
pub struct ConsumerJwsArgs {
    #[command(flatten)]
    pub client: ClientArgs,

    /// The connector's own id for the consumer (`ext_consumer_id`), e.g.
    /// `John_Doe_facebook12345`.
    #[arg(long, value_name = "ID")]
    pub ext_consumer_id: String,

    /// idp host; skips the Domain API lookup for it.
    #[arg(long, env = "LP_IDP_HOST", value_name = "HOST[:PORT]")]
    pub idp_host: Option<String>,

    /// What to print on stdout.
    #[arg(long, value_enum, default_value_t = ConsumerFormat::Token)]
    pub format: ConsumerFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ConsumerFormat {
    /// Only the ConsumerJWS and a newline, for `$(appjwt consumer-jws ...)`.
    Token,
    /// One JSON object: token and its decoded (not verified) claims.
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Api {
    /// `/sentinel/api/account/{acc}/app/token?v=1.0`, as documented.
    V1,
    /// `/sentinel/api/v2/account/{acc}/app/token`.
    V2,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TokenFormat {
    /// Only the access token and a newline, for `$(appjwt token ...)`.
    Token,
    /// One JSON object: access_token, token_type, expires_at, header,
    /// claims. `expires_at` is the token's `exp` (Unix seconds), or, for a
    /// token without `exp`, when the client stops using it.
    Json,
}

/// Shown at the end of `appjwt decode --help`.
const DECODE_EXIT_CODES: &str = "\
Exit codes:
  0  the token decodes, has not expired, and passes every check asked for
  1  the token has expired (also without --account), its signature is
     refused, or it is not for --account / --client-id
  2  no token, a token that does not decode, an unreadable key file
  3  a --jwks URL cannot be fetched";

#[derive(Debug, Args)]
#[command(after_help = DECODE_EXIT_CODES)]
pub struct DecodeArgs {
    /// The token; `-` or nothing reads it from stdin. Surrounding
    /// whitespace and a `Bearer ` prefix are ignored, so a pasted
    /// `Authorization` value works.
    #[arg(value_name = "TOKEN|-")]
    pub token: Option<String>,

    /// Fail (exit 1) unless the token is for this account.
    #[arg(long, value_name = "ACC")]
    pub account: Option<String>,

    /// Fail (exit 1) unless the token was issued to this client id.
    #[arg(long, value_name = "ID")]
    pub client_id: Option<String>,

    /// Check the RS256 signature with this public key (PEM, SPKI or PKCS#1).
    #[arg(long, value_name = "PEM", group = "key")]
    pub public_key: Option<PathBuf>,

    /// Check the RS256 signature with the key named by the token's `kid` in
    /// this JWKS: a file, or an `https://` URL such as
    /// `https://va.sentinel.liveperson.net/sentinel/well-known/jwks`.
    #[arg(long, value_name = "FILE|URL", group = "key")]
    pub jwks: Option<String>,

    /// Extra trusted root certificates (PEM) for fetching a `--jwks` URL,
    /// e.g. the emulator's CA.
    #[arg(long, value_name = "PEM", requires = "jwks")]
    pub ca_file: Option<PathBuf>,

    /// Check the RS256 signature with LivePerson's published v1 key.
    #[arg(long, group = "key")]
    pub liveperson_key: bool,

    /// What to print on stdout.
    #[arg(long, value_enum, default_value_t = TextOrJson::Text)]
    pub format: TextOrJson,
}

/// Shown at the end of `appjwt send --help`.
const SEND_EXIT_CODES: &str = "\
Exit codes:
  0  the message was accepted (and the conversation closed with --close)
  1  a token was refused, or the Send API answered 401 (also after a new
     AppJWT and ConsumerJWS), 400, 429 or 5xx, or an answer it cannot read
  2  bad usage: a missing secret, a malformed id, host or option
  3  network, TLS or timeout trouble";

#[derive(Debug, Args)]
pub struct SendArgs {
    #[command(flatten)]
    pub client: ClientArgs,

    /// The connector's own id for the consumer (`ext_consumer_id`), whose
    /// ConsumerJWS goes into `X-LP-ON-BEHALF`.
    #[arg(long, value_name = "ID")]
    pub ext_consumer_id: String,

    /// The message: a text/plain `ContentEvent`.
    #[arg(long, value_name = "TEXT")]
    pub text: String,

    /// Send into this conversation instead of opening a new one (it must
    /// be this consumer's).
    #[arg(long, value_name = "ID")]
    pub conversation: Option<String>,

    /// Close the conversation after the message.
    #[arg(long)]
    pub close: bool,

    /// idp host; skips the Domain API lookup for it.
    #[arg(long, env = "LP_IDP_HOST", value_name = "HOST[:PORT]")]
    pub idp_host: Option<String>,

    /// Send API (`asyncMessagingEnt`) host; skips the Domain API lookup
    /// for it.
    #[arg(long, env = "LP_SEND_API_HOST", value_name = "HOST[:PORT]")]
    pub send_api_host: Option<String>,

    /// What to print on stdout: the conversation id, or one JSON object
    /// (conversation_id, opened, sequence, closed).
    #[arg(long, value_enum, default_value_t = TextOrJson::Text)]
    pub format: TextOrJson,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TextOrJson {
    /// For people.
    Text,
    /// For scripts.
    Json,
}

#[derive(Debug, Args)]
pub struct DomainsArgs {
    /// LivePerson account (site) id, digits only.
    #[arg(long, env = "LP_ACCOUNT", value_name = "ACC")]
    pub account: String,

    /// Show only this service (case sensitive), e.g. `sentinel`.
    #[arg(long, value_name = "NAME")]
    pub service: Option<String>,

    #[command(flatten)]
    pub connection: Connection,

    /// What to print on stdout.
    #[arg(long, value_enum, default_value_t = TextOrJson::Text)]
    pub format: TextOrJson,
}

#[derive(Debug, Args)]
pub struct DemoArgs {}

#[derive(Debug, Args)]
pub struct EmulatorArgs {
    /// Address to listen on (loopback unless you mean otherwise).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8443")]
    pub listen: SocketAddr,

    /// Write the emulator's CA certificate here (PEM), for --ca-file.
    #[arg(long, value_name = "PEM")]
    pub ca_out: PathBuf,

    /// Account of the registered client, digits only.
    #[arg(
        long,
        env = "LP_ACCOUNT",
        value_name = "ACC",
        default_value = "56072331"
    )]
    pub account: String,

    /// Client id of the registered client; its secret is LP_CLIENT_SECRET.
    #[arg(
        long,
        env = "LP_CLIENT_ID",
        value_name = "ID",
        default_value = "75588e18-0213-4e33-8174-883acac7e3c4"
    )]
    pub client_id: String,

    /// Token lifetime in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 3600)]
    pub lifetime: u64,

    /// Write the `export LP_...` line to this file (mode 0600) instead of
    /// stdout, once the emulator listens; `. FILE` then points `appjwt` at
    /// it. The file appears whole or not at all, so a script can wait for it.
    #[arg(long, value_name = "FILE")]
    pub env_out: Option<PathBuf>,

    /// Without LP_CLIENT_SECRET, make up a random secret and add it to the
    /// export line (LP_CLIENT_SECRET=...). It is printed nowhere else.
    #[arg(long)]
    pub print_secret: bool,
}

#[derive(Debug, Args)]
pub struct WebhookArgs {
    #[command(subcommand)]
    pub command: WebhookCommand,
}

#[derive(Debug, Subcommand)]
pub enum WebhookCommand {
    /// Check a webhook's `x-liveperson-signature` over its raw body, read
    /// from stdin byte for byte (`< body.json`; an `echo` would add a
    /// newline the signature does not cover), with the client secret.
    ///
    /// The secret is LP_CLIENT_SECRET or --client-secret-file, as for every
    /// command. `sha1=` and `sha256=` signatures, Base64 or hex digests.
    Verify(WebhookVerifyArgs),
}

/// Shown at the end of `appjwt webhook verify --help`.
const WEBHOOK_EXIT_CODES: &str = "\
Exit codes:
  0  the signature is the HMAC of the body (and the ids are as asked)
  1  it is not (another secret, or a changed body), or the webhook is for
     another --account / --client-id
  2  a malformed or unsupported signature, a header --account or
     --client-id needs that is missing, no client secret, bad usage";

#[derive(Debug, Args)]
#[command(after_help = WEBHOOK_EXIT_CODES)]
pub struct WebhookVerifyArgs {
    /// The `x-liveperson-signature` header's value, e.g.
    /// `sha1=12DcfY3NhieG0uMlGlNX/SHWBeQ=`; surrounding whitespace is
    /// ignored.
    #[arg(long, value_name = "HEADER")]
    pub signature: String,

    /// Another header of the webhook, `NAME: VALUE` as received (repeat
    /// it): `x-liveperson-account-id` and `x-liveperson-client-id` are
    /// what --account and --client-id check.
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    pub headers: Vec<String>,

    /// Fail (exit 1) unless the `x-liveperson-account-id` header (from
    /// --header) is this account.
    #[arg(long, value_name = "ACC")]
    pub account: Option<String>,

    /// Fail (exit 1) unless the `x-liveperson-client-id` header (from
    /// --header) is this client id.
    #[arg(long, value_name = "ID")]
    pub client_id: Option<String>,

    /// Read the client secret from this file (a trailing newline is ignored)
    /// instead of LP_CLIENT_SECRET.
    #[arg(long, env = "LP_CLIENT_SECRET_FILE", value_name = "PATH")]
    pub client_secret_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CacheArgs {
    #[command(subcommand)]
    pub command: CacheCommand,
}

#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Remove the cached tokens (only the files appjwt wrote).
    Clear(CacheClearArgs),
}

#[derive(Debug, Args)]
pub struct CacheClearArgs {
    /// Clear this store instead of the default cache directory:
    /// `file:///PATH` or a directory path.
    #[arg(long, env = "LP_STORE", value_name = "URL")]
    pub store: Option<String>,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write `appjwt.1` and one `appjwt-COMMAND.1` per command into this
    /// directory instead of printing `appjwt.1`.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

/// `500ms`, `10s`, `2m`, `1h`, or a bare number of seconds; at most a day
/// and more than zero, so that a typo cannot make a command wait forever
/// or fail at once.
pub fn parse_duration(value: &str) -> Result<Duration, String> {
    let text = value.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let expected = || format!("expected a duration like 500ms, 10s or 2m, got {value:?}");
    let n: u64 = number.parse().map_err(|_| expected())?;
    let millis = match unit {
        "ms" => Some(n),
        "" | "s" => n.checked_mul(1_000),
        "m" => n.checked_mul(60_000),
        "h" => n.checked_mul(3_600_000),
        _ => return Err(expected()),
    };
    match millis {
        Some(0) => Err(format!(
            "{value:?} is zero: give a duration of at least 1ms"
        )),
        Some(ms) if ms <= 86_400_000 => Ok(Duration::from_millis(ms)),
        _ => Err(format!("{value:?} is more than a day (24h)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn durations() {
        let check = |text: &str, want: Result<u64, &str>| {
            let got = parse_duration(text).map(|d| u64::try_from(d.as_millis()).unwrap_or(0));
            match (got, want) {
                (Ok(ms), Ok(w)) => assert_eq!(ms, w, "{text}"),
                (Err(e), Err(needle)) => assert!(e.contains(needle), "{text}: {e}"),
                (got, want) => panic!("{text}: got {got:?}, want {want:?}"),
            }
        };
        check("500ms", Ok(500));
        check("10s", Ok(10_000));
        check("10", Ok(10_000));
        check(" 2m ", Ok(120_000));
        check("1h", Ok(3_600_000));
        check("24h", Ok(86_400_000));
        check("25h", Err("more than a day"));
        check("0", Err("zero"));
        check("0ms", Err("zero"));
        check("", Err("expected a duration"));
        check("s", Err("expected a duration"));
        check("1.5s", Err("expected a duration"));
        check("-1s", Err("expected a duration"));
        check("10 s", Err("expected a duration"));
        check("5d", Err("expected a duration"));
        check("99999999999999999999s", Err("expected a duration"));
        check("18446744073709551615h", Err("more than a day"));
    }

    proptest! {
        #[test]
        fn durations_never_panic(text in "\\PC{0,12}") {
            let _ = parse_duration(&text);
        }

        #[test]
        fn whole_seconds_round_trip(secs in 1u64..=86_400) {
            prop_assert_eq!(parse_duration(&format!("{secs}s")), Ok(Duration::from_secs(secs)));
            prop_assert_eq!(parse_duration(&secs.to_string()), Ok(Duration::from_secs(secs)));
        }
    }
}
