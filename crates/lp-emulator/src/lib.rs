//! A faithful LivePerson Sentinel + Domain API emulator over HTTPS on
//! loopback, issuing real RS256 AppJWTs.
//!
//! Nobody working on this project can reach LivePerson, so the project ships
//! its own peer: the demo's embedded server, the server of the integration
//! tests, and something users can run in their own CI.
//!
//! ```
//! use lp_emulator::{Emulator, Endpoint};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let emulator = Emulator::builder()
//!     .client("56072331", "my-app", "my-secret")
//!     .start()
//!     .await?;
//!
//! // A client trusts exactly this CA, finds `sentinel` through the Domain
//! // API at `emulator.host()`, and posts its credentials there.
//! let ca_pem = emulator.ca_pem();
//! assert!(ca_pem.starts_with("-----BEGIN CERTIFICATE-----"));
//! assert!(emulator.base_url().starts_with("https://127.0.0.1:"));
//! assert!(emulator.jwks_json().contains("\"alg\":\"RS256\""));
//! assert_eq!(emulator.request_count(Endpoint::Any), 0);
//!
//! emulator.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! # What it serves, on one port (HTTP/1.1 and HTTP/2)
//!
//! - Domain API: `GET /api/account/{acc}/service/{service}/baseURI.json?version=1.0`
//!   and `GET /api/account/{acc}/service/baseURI.json?version=1.0`, answering
//!   `sentinel`, `idp` and the other well-known service names with the
//!   emulator's own `host:port`. A wrong or missing `version` gets 400, an
//!   account without registered clients 401, an unknown service 404 or a
//!   200 without `baseURI` (see [`UnknownService`]).
//! - Sentinel: `POST /sentinel/api/account/{acc}/app/token?v=1.0&grant_type=client_credentials`
//!   exactly as LivePerson documents it, also with `grant_type` in the form
//!   body, `v=2.0`, and `POST /sentinel/api/v2/account/{acc}/app/token`.
//!   Errors follow RFC 6749 section 5.2 (`invalid_request`,
//!   `unsupported_grant_type` with 400, `invalid_client` with 401);
//!   credentials in the query string are refused.
//! - JWKS: `GET /sentinel/well-known/jwks`, the current key and the retired
//!   ones still in their grace period.
//! - idp (ConsumerJWS): `POST /api/account/{acc}/consumer?v=1.0` with
//!   `Authorization: <AppJWT>` (raw, no `Bearer`), `Content-Type:
//!   application/json` and `{"ext_consumer_id":"..."}`. The AppJWT must be
//!   one this emulator signed (RS256 with its current key or one still in
//!   the JWKS), with `iss` `Sentinel`, `aud` the account of the path, `exp`
//!   not passed, `iat` at most a minute ahead, and not revoked; otherwise
//!   `401` with `{"error":"unauthorized","message":..}`. A wrong content
//!   type or body, or a missing `v=1.0`, gets `400`. The answer is `201`
//!   `{"token":"<JWS>"}`: an RS256 JWS with the AppJWT's header layout and
//!   the claims `account_id`, `ext_consumer_id`, `lp_consumer_id` (see
//!   [`lp_consumer_id`]) and `iat`. The Domain API answers `idp` with the
//!   emulator's own `host:port`, so a client finds it there.
//! - Send API (`asyncMessagingEnt`, also answered with the emulator's
//!   `host:port`): CONVERSATION, `POST
//!   /api/account/{acc}/messaging/consumer/conversation?v=3`, takes a JSON
//!   array of exactly `userprofile.SetUserProfile` then
//!   `cm.ConsumerRequestConversation` (with `brandId` the account and
//!   `channelType` `MESSAGING`) and answers `200` with an array of
//!   responses whose `reqId`s are the requests' ids, the second holding
//!   `body.conversationId` (a random UUID). SEND, `POST
//!   .../conversation/send?v=3`, takes one `ms.PublishEvent` (`dialogId` the
//!   conversation, `event` a `ContentEvent` with `contentType` and
//!   `message`) or one `cm.UpdateConversationField` setting
//!   `ConversationStateField` to `CLOSE`, and answers `200` with one
//!   response. Both want `Authorization: <AppJWT>` (checked as the idp
//!   checks it, and not revoked, see [`EmulatorHandle::revoke_app_jwt`])
//!   and `X-LP-ON-BEHALF: <ConsumerJWS>` (signed with a key still in the
//!   JWKS, for this account, with the idp's claims; it does not expire).
//!   Either one refused, or a conversation that is not this consumer's (or
//!   does not exist), gets the same `401` with `errorCode` 40102: like
//!   LivePerson's, the answer does not say which. A closed conversation
//!   refuses messages and closing with `400` `the conversation is closed`;
//!   other malformed requests (order of the batch, `v`, content type, body)
//!   get `400` with a message, a method other than POST `405`.
//!   [`EmulatorHandle::messages`] and [`EmulatorHandle::conversations`] show
//!   what it received.
//!
//! # Keys
//!
//! `ring` signs RS256 but cannot generate RSA keys, so [`SigningKey::generate`]
//! makes a fresh RSA-2048 key with the `rsa` crate (from the operating
//! system's random source) at start, exports it as PKCS#8 and loads it into
//! `ring` for signing. No private key is ever written to disk or shipped.
//! TLS uses a throw-away ECDSA P-256 CA made at every start with `rcgen`,
//! and a leaf for `localhost`, `127.0.0.1` and `::1` signed by it.
//!
//! # Faults
//!
//! [`EmulatorHandle::inject`] makes the next requests to an endpoint fail in
//! one of the ways listed in [`Fault`]; [`EmulatorHandle::request_count`]
//! counts every request received, faulted or not. A request whose answer a
//! fault replaces (a status, a malformed or cut-off body) is not processed:
//! a faulted Send API call opens no conversation and delivers no message.
//! [`EmulatorHandle::revoke_app_jwt`] and
//! [`EmulatorHandle::revoke_all_app_jwts`] make AppJWTs already handed out
//! fail with `401` at the idp and the Send API, as when Sentinel revokes
//! them before their `exp`.
//!
//! # Logging
//!
//! Each request emits a `tracing` event with method, path, status and
//! latency and calls the [`EmulatorBuilder::on_request`] callback. Query
//! strings, bodies, secrets and tokens are never logged.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod body;
mod domain_api;
mod error;
mod fault;
mod handle;
mod idp;
mod jwt;
mod key;
mod reply;
mod revoke;
mod send_api;
mod send_parse;
mod sentinel;
mod server;
mod state;
mod tls;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;

pub use error::EmulatorError;
pub use fault::{Endpoint, Fault};
pub use handle::EmulatorHandle;
pub use key::{SigningKey, civil_from_days, kid_for};
pub use send_api::{Conversation, ReceivedMessage};

use state::{KeyRing, State};

/// Default token lifetime: one hour, like Sentinel's.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);
/// Largest request body accepted; larger ones get 413.
pub const DEFAULT_MAX_BODY: usize = 64 * 1024;
/// The `lp_consumer_id` the idp endpoint puts into a ConsumerJWS for
/// `ext_consumer_id` of `account`: the first 16 bytes of
/// SHA-256(`account`, a NUL byte, `ext_consumer_id`) written as a UUID of
/// version 8 (RFC 9562's layout for custom ids), e.g.
/// `1b4e28ba-2fa1-81d2-883f-0016d3cca427`. The same pair always gives the
/// same id, in any emulator.
///
/// ```
/// let id = lp_emulator::lp_consumer_id("56072331", "John_Doe_facebook12345");
/// assert_eq!(id.len(), 36);
/// assert_eq!(id, lp_emulator::lp_consumer_id("56072331", "John_Doe_facebook12345"));
/// assert_ne!(id, lp_emulator::lp_consumer_id("56072331", "Jane_Doe"));
/// ```
pub fn lp_consumer_id(account: &str, ext_consumer_id: &str) -> String {
    jwt::lp_consumer_id(account, ext_consumer_id)
}

/// Service names the Domain API answers by default.
pub const WELL_KNOWN_SERVICES: [&str; 12] = [
    "sentinel",
    "idp",
    "asyncMessagingEnt",
    "agentVep",
    "accountConfigReadOnly",
    "accountConfigReadWrite",
    "msgHist",
    "faasGW",
    "messagingRestApiDomain",
    "liveEngageUI",
    "visitorFeed",
    "etool",
];

type RequestCallback = Arc<dyn Fn(&RequestLog) + Send + Sync>;

/// Entry point: `Emulator::builder()`.
#[derive(Debug)]
pub struct Emulator;

impl Emulator {
    /// A builder with no registered client, HTTPS on `127.0.0.1:0`.
    pub fn builder() -> EmulatorBuilder {
        EmulatorBuilder {
            clients: Vec::new(),
            lifetime: DEFAULT_LIFETIME,
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            plain_http: false,
            unknown_service: UnknownService::NotFound,
            on_request: None,
            signing_key: None,
            send_expires_in: false,
            key_grace: None,
            removed_services: Vec::new(),
            max_body: DEFAULT_MAX_BODY,
            tls_identity: None,
        }
    }
}

/// How the Domain API answers a service name it does not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UnknownService {
    /// `404 Not Found`.
    #[default]
    NotFound,
    /// `200` with `{"service":..,"account":..}` and no `baseURI`.
    Omit,
}

/// One served request, as handed to [`EmulatorBuilder::on_request`].
///
/// The path never includes the query string.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RequestLog {
    /// The request method.
    pub method: http::Method,
    /// The request path, without query.
    pub path: String,
    /// The status answered.
    pub status: http::StatusCode,
    /// Time from receiving the request to having the response headers.
    pub latency: Duration,
    /// The endpoint, `None` for a path the emulator does not serve.
    pub endpoint: Option<Endpoint>,
    /// The short name of the fault injected into this request, if any.
    pub fault: Option<&'static str>,
}

impl fmt::Display for RequestLog {
    /// `POST /sentinel/api/account/1/app/token 200 1.2ms`, plus
    /// ` fault=<name>` when a fault was injected.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} {:.1}ms",
            self.method,
            self.path,
            self.status.as_u16(),
            self.latency.as_secs_f64() * 1000.0
        )?;
        if let Some(fault) = self.fault {
            write!(f, " fault={fault}")?;
        }
        Ok(())
    }
}

/// Configures and starts an emulator.
pub struct EmulatorBuilder {
    clients: Vec<(String, String, String)>,
    lifetime: Duration,
    listen: SocketAddr,
    plain_http: bool,
    unknown_service: UnknownService,
    on_request: Option<RequestCallback>,
    signing_key: Option<SigningKey>,
    send_expires_in: bool,
    key_grace: Option<Duration>,
    removed_services: Vec<String>,
    max_body: usize,
    tls_identity: Option<TlsIdentity>,
}

/// An emulator's CA and server certificate, to start another emulator that
/// clients trusting the first one trust too (e.g. a restart on the same
/// port). Holds private keys: it exists only in memory and has no `Debug`
/// beyond its name.
#[derive(Clone)]
pub struct TlsIdentity(tls::Tls);

impl fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TlsIdentity(..)")
    }
}

impl fmt::Debug for EmulatorBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let clients: Vec<_> = self
            .clients
            .iter()
            .map(|(account, id, _secret)| format!("{account}/{id}"))
            .collect();
        f.debug_struct("EmulatorBuilder")
            .field("clients", &clients)
            .field("lifetime", &self.lifetime)
            .field("listen", &self.listen)
            .field("plain_http", &self.plain_http)
            .field("unknown_service", &self.unknown_service)
            .field("signing_key", &self.signing_key)
            .finish_non_exhaustive()
    }
}

impl EmulatorBuilder {
    /// Registers a client: `client_id` with `client_secret` may get tokens
    /// for `account`, and the Domain API knows `account`. Repeatable.
    pub fn client(mut self, account: &str, client_id: &str, client_secret: &str) -> Self {
        self.clients.push((
            account.to_owned(),
            client_id.to_owned(),
            client_secret.to_owned(),
        ));
        self
    }

    /// Token lifetime (`exp - iat`), default one hour.
    pub fn lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime;
        self
    }

    /// Address to listen on, default `127.0.0.1:0` (any free port).
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// Serve plain HTTP instead of HTTPS (default `false`).
    pub fn plain_http(mut self, yes: bool) -> Self {
        self.plain_http = yes;
        self
    }

    /// How the Domain API answers an unknown service, default 404.
    pub fn unknown_service(mut self, mode: UnknownService) -> Self {
        self.unknown_service = mode;
        self
    }

    /// Removes a service from the Domain API's answers (e.g. `sentinel`, to
    /// see a client's "service not found" handling).
    pub fn without_service(mut self, name: &str) -> Self {
        self.removed_services.push(name.to_owned());
        self
    }

    /// Called once per answered request (not for requests that hang).
    pub fn on_request(mut self, f: impl Fn(&RequestLog) + Send + Sync + 'static) -> Self {
        self.on_request = Some(Arc::new(f));
        self
    }

    /// Signs with this key instead of generating one at start.
    pub fn signing_key(mut self, key: SigningKey) -> Self {
        self.signing_key = Some(key);
        self
    }

    /// Include `expires_in` (seconds) in token answers; the seed's example
    /// has none, so the default is `false`.
    pub fn send_expires_in(mut self, yes: bool) -> Self {
        self.send_expires_in = yes;
        self
    }

    /// How long a key retired by rotation stays in the JWKS. `None` (the
    /// default) keeps exactly the previous key, until the next rotation.
    pub fn key_grace(mut self, grace: Option<Duration>) -> Self {
        self.key_grace = grace;
        self
    }

    /// Largest request body accepted, default [`DEFAULT_MAX_BODY`].
    pub fn max_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }

    /// Serves HTTPS with this CA and certificate (from
    /// [`EmulatorHandle::tls_identity`]) instead of making new ones, so
    /// clients that trust the earlier emulator trust this one. Ignored with
    /// [`EmulatorBuilder::plain_http`].
    pub fn tls_identity(mut self, identity: TlsIdentity) -> Self {
        self.tls_identity = Some(identity);
        self
    }

    /// Generates the key (unless given) and the certificates, binds, and
    /// starts serving on the current tokio runtime.
    pub async fn start(self) -> Result<EmulatorHandle, EmulatorError> {
        let mut clients = HashMap::new();
        let mut accounts = HashSet::new();
        for (account, id, secret) in &self.clients {
            let invalid = |what: &str, e: &dyn fmt::Display| EmulatorError::InvalidClient {
                reason: format!("{what}: {e}"),
            };
            lp_ids::AccountId::new(account.as_str()).map_err(|e| invalid("account id", &e))?;
            lp_ids::ClientId::new(id.as_str()).map_err(|e| invalid("client id", &e))?;
            if secret.is_empty() {
                return Err(EmulatorError::InvalidClient {
                    reason: "empty client secret".to_owned(),
                });
            }
            clients.insert(
                (account.clone(), id.clone()),
                sentinel::digest_secret(secret),
            );
            accounts.insert(account.clone());
        }

        let key = match self.signing_key {
            Some(key) => key,
            None => tokio::task::spawn_blocking(SigningKey::generate)
                .await
                .map_err(|e| EmulatorError::Task {
                    reason: e.to_string(),
                })??,
        };
        let tls = match (self.plain_http, self.tls_identity) {
            (true, _) => None,
            (false, Some(TlsIdentity(tls))) => Some(tls),
            (false, None) => Some(tls::build()?),
        };

        let listener = TcpListener::bind(self.listen)
            .await
            .map_err(EmulatorError::Bind)?;
        let addr = listener.local_addr().map_err(EmulatorError::Bind)?;
        let advertised = SocketAddr::new(
            match addr.ip() {
                IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
                ip => ip,
            },
            addr.port(),
        )
        .to_string();
        let host = lp_ids::Host::parse(&advertised).map_err(|e| {
            EmulatorError::Bind(std::io::Error::new(std::io::ErrorKind::InvalidData, e))
        })?;

        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let state = Arc::new(State {
            advertised,
            clients,
            accounts,
            services: WELL_KNOWN_SERVICES
                .iter()
                .filter(|s| !self.removed_services.iter().any(|r| r == *s))
                .map(|s| (*s).to_owned())
                .collect(),
            lifetime: self.lifetime,
            send_expires_in: self.send_expires_in,
            unknown_service: self.unknown_service,
            keys: Mutex::new(KeyRing::new(key, self.key_grace)),
            faults: fault::Faults::default(),
            counts: fault::Counts::default(),
            on_request: self.on_request,
            rng: ring::rand::SystemRandom::new(),
            shutdown: shutdown_rx,
            max_body: self.max_body,
            revocations: revoke::Revocations::default(),
            send_api: send_api::Store::default(),
        });
        let acceptor = tls
            .as_ref()
            .map(|t| tokio_rustls::TlsAcceptor::from(t.config.clone()));
        let task = tokio::spawn(server::accept_loop(listener, acceptor, state.clone()));
        tracing::info!(%addr, tls = tls.is_some(), "lp-emulator listening");
        Ok(EmulatorHandle {
            addr,
            host,
            tls,
            state,
            shutdown: shutdown_tx,
            task: Some(task),
        })
    }
}
