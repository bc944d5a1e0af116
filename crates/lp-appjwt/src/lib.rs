//! Always hands out a valid LivePerson AppJWT, and the ConsumerJWS that
//! goes with it.
//!
//! [`AppJwtClient`] looks up the account's Sentinel host with the Domain API,
//! asks Sentinel for a token with the OAuth 2.0 client-credentials grant,
//! decodes it, checks its RS256 signature, validates it (account, client
//! id, issuer, expiry), caches it, and refreshes it ahead of expiry, one
//! request at a time however many tasks ask.
//!
//! ```
//! use lp_appjwt::{AccountId, AppJwtClient, ClientId, ClientSecret, Rs256Verifier, VerifyWith};
//! # use lp_appjwt::TransportError;
//! # use std::time::{SystemTime, UNIX_EPOCH};
//! # const TEST_KEY_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../lp-jwt/tests/data");
//! # fn test_key_pem() -> String {
//! #     std::fs::read_to_string(format!("{TEST_KEY_DIR}/rsa2048-a.spki.pem")).unwrap()
//! # }
//! # fn canned_token() -> String {
//! #     let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
//! #     let header = lp_jwt::Header {
//! #         alg: "RS256".into(), typ: Some("JWT".into()), kid: Some("appjwt-13-05-17".into()),
//! #         extra: Default::default(),
//! #     };
//! #     let claims = lp_jwt::AppJwtClaims {
//! #         aud: Some(lp_jwt::Audience::One("56072331".into())),
//! #         azp: Some("75588e18-0213-4e33-8174-883acac7e3c4".into()),
//! #         scope: Some("msg.consumer".into()),
//! #         iss: Some("Sentinel".into()),
//! #         exp: lp_jwt::NumericDate::from_secs(now + 3600),
//! #         iat: lp_jwt::NumericDate::from_secs(now),
//! #         extra: Default::default(),
//! #     };
//! #     let input = lp_jwt::encode_signing_input(&header, &claims);
//! #     let pk8 = std::fs::read(format!("{TEST_KEY_DIR}/rsa2048-a.pk8.der")).unwrap();
//! #     let pair = ring::signature::RsaKeyPair::from_pkcs8(&pk8).unwrap();
//! #     let mut signature = vec![0; pair.public().modulus_len()];
//! #     let rng = ring::rand::SystemRandom::new();
//! #     pair.sign(&ring::signature::RSA_PKCS1_SHA256, &rng, input.as_bytes(), &mut signature).unwrap();
//! #     lp_jwt::assemble(&input, &signature)
//! # }
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # // Stands in for LivePerson so the example runs offline.
//! # let fake_liveperson = |req: http::Request<Vec<u8>>| async move {
//! #     let body = if req.uri().path().ends_with("baseURI.json") {
//! #         r#"{"baseURIs":[{"service":"sentinel","account":"56072331","baseURI":"va.sentinel.liveperson.net"}]}"#.to_owned()
//! #     } else {
//! #         format!(r#"{{"access_token":"{}","token_type":"Bearer"}}"#, canned_token())
//! #     };
//! #     let response = http::Response::builder()
//! #         .header("content-type", "application/json")
//! #         .body(body.into_bytes())
//! #         .unwrap();
//! #     Ok::<_, TransportError>(response)
//! # };
//! let client = AppJwtClient::builder(
//!     AccountId::new("56072331")?,
//!     ClientId::new("75588e18-0213-4e33-8174-883acac7e3c4")?,
//!     ClientSecret::new(std::env::var("LP_CLIENT_SECRET").unwrap_or("s3cr3t".into()))?,
//! )
//! // Leave this out to use the default HTTPS transport.
//! .transport(fake_liveperson)
//! // Leave this out to check LivePerson's published key (API v1) or the
//! // sentinel's JWKS (API v2); the fake signs with a test key.
//! .verify_with(VerifyWith::Key(Rs256Verifier::from_pem(&test_key_pem())?))
//! .build()?;
//!
//! let jwt = client.token().await?; // looked up, fetched, verified, validated, cached
//! assert!(jwt.is_verified());
//! assert_eq!(jwt.claims().iss.as_deref(), Some("Sentinel"));
//! let authorization = jwt.authorization_header_value(); // the raw token
//! # let _ = authorization;
//!
//! // The next call is served from the cache, without IO.
//! let again = client.token().await?;
//! assert_eq!(again.secret(), jwt.secret());
//!
//! // Got 401 "AppJWT expired or invalid" from the Send API? Then:
//! client.invalidate(); // the next token() fetches a new one
//! # Ok(())
//! # }
//! ```
//!
//! # Behaviour
//!
//! Every cache (the AppJWT, the Domain API map, each key set, each
//! ConsumerJWS) follows the same rules, written once: **no caller waits on
//! a refresh while a usable value exists**; one fetch at a time per cache,
//! in a task of its own that a caller's timeout never cancels; every
//! caller's wait ends at its own deadline; a server's "wait" or "no" is
//! remembered ([`FailureMemory`]).
//!
//! - **Domain lookup**: the whole service map of the account is fetched
//!   from the Domain API (`api.liveperson.net` unless
//!   [`AppJwtClientBuilder::csds_host`] says otherwise). After the domain
//!   TTL (default [`lp_domain::DEFAULT_TTL`]) it is looked up again in the
//!   background while the old map is used; while lookups fail, the old
//!   map is used for up to [`DEFAULT_DOMAIN_MAX_STALENESS`] (24 h). A
//!   connection error to Sentinel makes the map due (looked up again in
//!   the background), it is not dropped.
//!   [`AppJwtClientBuilder::sentinel_host`] skips the lookup altogether.
//! - **Verification**: every token's RS256 signature is checked before its
//!   claims are read, with the keys named by [`VerifyWith`] (see
//!   [Verification](#verification)). A refused signature is
//!   [`Error::Verify`]: not retried, not cached, remembered.
//! - **Validation**: every token is decoded and checked against the
//!   account (`aud`), client id (`azp`) and issuer (`Sentinel`), with the
//!   injectable [`Clock`] for `exp` and `iat`.
//! - **Lifetime**: the shorter of `expires_in` and `exp` minus the clock's
//!   time (whichever Sentinel sent, if only one), capped at
//!   [`MAX_LIFETIME`], measured on tokio's monotonic clock from the moment
//!   the request was sent. A token is never handed out past its own `exp`,
//!   nor in the last tenth of its life (at most its last second), so a
//!   request made with it does not arrive expired; a token with no
//!   lifetime left is [`Error::NoLifetime`].
//! - **Refresh ahead**: once less than 5 minutes (plus a random jitter of
//!   up to 60 s; at most half the lifetime) remain, a background task
//!   refreshes the token (if it was used since the last refresh), with the
//!   whole retry policy, while every caller keeps getting the cached one.
//!   If the refresh fails, a warning is logged and it is tried again after
//!   the failure's hold-off. Callers only see an error once no valid token
//!   is left.
//! - **Single flight**: however many tasks call [`AppJwtClient::token`] on
//!   a cold or expired cache, one request goes to Sentinel (and at most one
//!   to the Domain API); the others wait for it and share its outcome. The
//!   path for a fresh cache takes no lock: an atomic load and a clock read.
//! - **Retries**: see [`RetryPolicy`]: never for a 4xx other than 429 or a
//!   token that fails validation; `Retry-After` (at least 1 s) for 429;
//!   exponential backoff with full jitter for 5xx and connection errors.
//! - **Failure memory**: after a failed fetch no request is sent before its
//!   hold-off: `Retry-After` for a 429, the backoff for 5xx, 5 s doubling
//!   to 5 minutes for a rejection. Callers without a valid token get
//!   [`Error::Backoff`] meanwhile. See [`FailureMemory`].
//! - **Invalidation**: [`AppJwtClient::invalidate_token`] (or
//!   [`AppJwtClient::invalidate`]) after a 401, rate limited (default one
//!   per 5 s).
//! - **Cancellation**: fetches run in tasks of their own. A caller that
//!   drops its [`AppJwtClient::token`] future (a timeout around it, a
//!   `select!`) stops waiting; the fetch goes on for the others. Dropping
//!   the last clone of the client stops its tasks.
//! - **Token store** (optional, [`AppJwtClientBuilder::token_store`]): a
//!   [`TokenStore`] that several processes share (Redis for a fleet,
//!   `lp_store::FileStore` for scripts), asked only when the in-memory
//!   cache has no usable token, before the Domain lookup. Its record is
//!   sealed (AES-256-GCM, key by HKDF-SHA256 from the client secret, the
//!   record key `appjwt:v1:token:{account}:{client_id}:{api}` as associated
//!   data) and checked like a token from Sentinel when read back; a record
//!   that fails is dropped. A fetch lease lets one process fetch while the
//!   others wait (at most [`DEFAULT_LEASE_WAIT`]) for its record. Each
//!   store call is bounded by [`DEFAULT_STORE_TIMEOUT`]; a failing store
//!   means fetching without it, one warning per outage, and
//!   [`Status::store`]. Failure memory and single flight are unchanged.
//!   The Domain API map is kept there too: a client with no map takes the
//!   store's while it is fresh.
//! - **Health**: [`AppJwtClient::status`] returns a [`Status`] (expiry,
//!   [`TokenState`], last failure, consecutive failures, next attempt).
//! - **Tracing**: spans `appjwt.lookup`, `appjwt.fetch` and
//!   `appjwt.consumer` with `status` and `latency_ms`. The client secret
//!   and tokens are never logged, and never appear in `Debug`, `Display`
//!   or errors.
//!
//! # ConsumerJWS
//!
//! An AppJWT speaks for the app; the Send API also needs to know which
//! consumer it speaks for. [`AppJwtClient::consumer_jws`] gets a
//! ConsumerJWS from LivePerson's `idp` service
//! (`POST https://{idp}/api/account/{acc}/consumer?v=1.0` with the AppJWT
//! and `{"ext_consumer_id":"..."}`), and
//! [`AppJwtClient::send_api_headers`] builds both headers of a Send API call.
//!
//! ```
//! use lp_appjwt::{AppJwtClient, ExtConsumerId, X_LP_ON_BEHALF};
//! # use lp_appjwt::{AccountId, ClientId, ClientSecret, Rs256Verifier, TransportError, VerifyWith};
//! # use std::time::{SystemTime, UNIX_EPOCH};
//! # const TEST_KEY_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../lp-jwt/tests/data");
//! # fn signed(claims: lp_jwt::AppJwtClaims) -> String {
//! #     let header = lp_jwt::Header {
//! #         alg: "RS256".into(), typ: Some("JWT".into()), kid: Some("appjwt-13-05-17".into()),
//! #         extra: Default::default(),
//! #     };
//! #     let input = lp_jwt::encode_signing_input(&header, &claims);
//! #     let pk8 = std::fs::read(format!("{TEST_KEY_DIR}/rsa2048-a.pk8.der")).unwrap();
//! #     let pair = ring::signature::RsaKeyPair::from_pkcs8(&pk8).unwrap();
//! #     let mut signature = vec![0; pair.public().modulus_len()];
//! #     let rng = ring::rand::SystemRandom::new();
//! #     pair.sign(&ring::signature::RSA_PKCS1_SHA256, &rng, input.as_bytes(), &mut signature).unwrap();
//! #     lp_jwt::assemble(&input, &signature)
//! # }
//! # fn app_jwt() -> String {
//! #     let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
//! #     signed(lp_jwt::AppJwtClaims {
//! #         aud: Some(lp_jwt::Audience::One("56072331".into())),
//! #         azp: Some("75588e18-0213-4e33-8174-883acac7e3c4".into()),
//! #         iss: Some("Sentinel".into()),
//! #         exp: lp_jwt::NumericDate::from_secs(now + 3600),
//! #         iat: lp_jwt::NumericDate::from_secs(now),
//! #         ..Default::default()
//! #     })
//! # }
//! # fn consumer_jws() -> String {
//! #     let mut claims = lp_jwt::AppJwtClaims::default();
//! #     claims.extra.insert("ext_consumer_id".into(), "John_Doe_facebook12345".into());
//! #     signed(claims)
//! # }
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let fake_liveperson = |req: http::Request<Vec<u8>>| async move {
//! #     let path = req.uri().path().to_owned();
//! #     let (status, body) = if path.ends_with("baseURI.json") {
//! #         (200, r#"{"baseURIs":[{"service":"sentinel","account":"56072331","baseURI":"va.sentinel.liveperson.net"},{"service":"idp","account":"56072331","baseURI":"va.idp.liveperson.net"}]}"#.to_owned())
//! #     } else if path.ends_with("/consumer") {
//! #         (201, format!(r#"{{"token":"{}"}}"#, consumer_jws()))
//! #     } else {
//! #         (200, format!(r#"{{"access_token":"{}","token_type":"Bearer"}}"#, app_jwt()))
//! #     };
//! #     let response = http::Response::builder()
//! #         .status(status)
//! #         .header("content-type", "application/json")
//! #         .body(body.into_bytes())
//! #         .unwrap();
//! #     Ok::<_, TransportError>(response)
//! # };
//! # let test_key = Rs256Verifier::from_pem(&std::fs::read_to_string(format!("{TEST_KEY_DIR}/rsa2048-a.spki.pem"))?)?;
//! # let client = AppJwtClient::builder(
//! #     AccountId::new("56072331")?,
//! #     ClientId::new("75588e18-0213-4e33-8174-883acac7e3c4")?,
//! #     ClientSecret::new("s3cr3t")?,
//! # )
//! # .transport(fake_liveperson)
//! # .verify_with(VerifyWith::Key(test_key))
//! # .build()?;
//! // `client` as in the first example.
//! let consumer = ExtConsumerId::new("John_Doe_facebook12345")?;
//!
//! // idp looked up (same Domain API map as sentinel), AppJWT from the
//! // cache, one POST; later calls for this consumer come from the cache.
//! let jws = client.consumer_jws(&consumer).await?;
//! assert_eq!(format!("{jws:?}"), "ConsumerJws([redacted])");
//!
//! // Authorization: <AppJWT>, X-LP-ON-BEHALF: <ConsumerJWS>.
//! let headers = client.send_api_headers(&consumer).await?;
//! assert_eq!(headers[X_LP_ON_BEHALF], jws.secret());
//! assert_eq!(headers["authorization"], client.token().await?.secret());
//!
//! // The Send API refused the ConsumerJWS? Drop it; the next call asks again.
//! client.invalidate_consumer(&consumer);
//! # Ok(())
//! # }
//! ```
//!
//! - **Cache**: one ConsumerJWS per consumer, in a least-recently-used
//!   cache of [`AppJwtClientBuilder::consumer_cache_size`] consumers
//!   (default [`DEFAULT_CONSUMER_CACHE_SIZE`], 10,000). LivePerson does not
//!   document the token's lifetime, so it is kept until
//!   [`AppJwtClient::invalidate_consumer`], or, when its payload carries
//!   `exp`, until [`CONSUMER_JWS_EXPIRY_MARGIN`] (60 s) before it.
//! - **Single flight per consumer**: concurrent calls for one consumer make
//!   one request and share its outcome; different consumers go in parallel.
//! - **401** from the idp means the AppJWT was refused: it is invalidated
//!   (whatever the [`AppJwtClient::invalidate`] rate limit, and only once
//!   for a burst of 401s on the same token), a new one is fetched and the
//!   request made once more. Other failures follow the [`RetryPolicy`]; a
//!   failure is [`Error::Consumer`].
//! - **idp host**: from the Domain API map, or fixed with
//!   [`AppJwtClientBuilder::idp_host`].
//! - **Personal data**: the ext consumer id (a channel's user id) appears
//!   only in debug-level events, not in the info-level span
//!   `appjwt.consumer` (account, idp, `status`, `latency_ms`). The
//!   ConsumerJWS is a bearer credential like the AppJWT: never logged, and
//!   redacted in `Debug`.
//!
//! # Verification
//!
//! [`AppJwtClientBuilder::verify_with`] chooses where the public keys come
//! from:
//!
//! | [`VerifyWith`] | keys | IO |
//! |---|---|---|
//! | [`LivePersonV1`](VerifyWith::LivePersonV1) (default for API v1) | LivePerson's published v1 key, compiled in | none |
//! | [`Jwks`](VerifyWith::Jwks) (default for API v2) | `https://{sentinel}/sentinel/well-known/jwks` | fetched through the transport, cached |
//! | [`JwksUri`](VerifyWith::JwksUri) | a key set at another address | the same |
//! | [`Key`](VerifyWith::Key), [`KeySet`](VerifyWith::KeySet) | given by the caller ([`Rs256Verifier::from_pem`], [`Jwks::from_json`], ...) | none |
//! | [`None`](VerifyWith::None) | **no check at all: dangerous** | none |
//!
//! Only RS256 with RSA keys of 2048 to 8192 bits is accepted; the token's
//! `alg` never picks the algorithm, `none` and `HS256` are refused.
//!
//! A fetched key set is fetched again in the background after its
//! `Cache-Control: max-age`, or [`DEFAULT_JWKS_REFRESH_INTERVAL`] (1 h)
//! without one; meanwhile the old set is used. When a token names a `kid`
//! the set does not hold, the set is fetched once more, to follow a key
//! rotation, but not within
//! [`AppJwtClientBuilder::jwks_refetch_min_interval`] (default 30 s) of the
//! last such refetch that succeeded, so a stream of tokens with an unknown
//! `kid` cannot make the client hammer the key set endpoint. Keys that
//! cannot be used (a 1024-bit key, an `x5c`-only key, an EC key) are
//! skipped with a warning naming their `kid`; only a set with no usable
//! key is [`Error::Jwks`]. On a cold start the set is asked for at the
//! same time as the token, so it costs no round trip of its own; once
//! getting it has failed, it is got before the token request until it is
//! had, so a key set that cannot be had costs one token request, however
//! many attempts follow. 5xx, 429 and connection failures are retried
//! under the [`RetryPolicy`].
//!
//! Testing against `lp-emulator`? It signs with its own key and publishes
//! it at the usual JWKS path for both API versions, so use
//! `.verify_with(VerifyWith::Jwks)`.
//!
//! The request and parser are pure functions, [`jwks_request`] and
//! [`parse_jwks_response`], like the other protocol steps.
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `hyper-transport` | yes (through `webpki-roots`) | [`HyperTransport`]: hyper over rustls (ring), HTTPS proxies, the transport used when none is given. Without it the crate has no network stack and needs a [`Transport`] from the caller. |
//! | `webpki-roots` | yes | Mozilla's root certificates, compiled in. |
//! | `native-roots` | no | the platform's certificate store, read when the transport is built. |
//! | `metrics` | no | counters and a gauge through the `metrics` facade: `appjwt_fetches_total{cache,outcome}`, `appjwt_stale_served_total{cache}`, `appjwt_coalesced_total{cache}`, `appjwt_fast_fails_total{cache,reason}`, `appjwt_token_expires_in_seconds`, `appjwt_store_errors_total{store,kind}`, `appjwt_store_reads_total{store,outcome}`. |
//! | `blocking` | no | [`blocking::AppJwtClient`](crate::blocking), the client without `async`. |
//!
//! **Which roots to trust** is a trade-off:
//!
//! - `webpki-roots` alone works anywhere, a `scratch` or distroless image
//!   included, and behaves the same on every machine; but the list is as
//!   old as the build, and a corporate CA (a TLS-inspecting proxy, a
//!   private mirror) is not in it: add it with
//!   [`HyperTransportBuilder::add_root_pem`].
//! - `native-roots` follows the machine: its updates and the CAs its
//!   administrators installed, and on Linux `SSL_CERT_FILE` /
//!   `SSL_CERT_DIR` (read by `rustls-native-certs`). In an image without a
//!   CA bundle it finds nothing, and the build fails with "no trusted root
//!   certificate" unless other roots are trusted.
//! - Both: the union; the first keeps working where the second is empty.
//! - Neither (`default-features = false, features = ["hyper-transport"]`):
//!   only the PEM roots given to the builder, e.g. a pinned private CA.
//!
//! ```toml
//! [dependencies]
//! # the platform's roots only
//! lp-appjwt = { version = "0.1", default-features = false, features = ["hyper-transport", "native-roots"] }
//! ```
//!
//! **Proxies**: [`HyperTransport`] reads `HTTPS_PROXY` (or `https_proxy`,
//! `ALL_PROXY`, `all_proxy`) and `NO_PROXY` (or `no_proxy`) when it is
//! built; see [`HyperTransportBuilder::proxy`],
//! [`HyperTransportBuilder::no_proxy`] and
//! [`HyperTransportBuilder::proxy_bypass`] to decide in code.
//!
//! Signature verification (lp-jwt's `verify` feature, with `ring`) is not a
//! feature: it is always compiled in, also with `default-features = false`,
//! so that a build setting can never silently turn it off.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

#[cfg(feature = "blocking")]
pub mod blocking;
mod client;
mod clock;
mod error;
#[cfg(feature = "hyper-transport")]
mod hyper_transport;
mod jwks;
mod lru;
mod metrics;
mod refresh;
mod registry;
mod retry;
mod store;
mod transport;
mod verify;

pub use client::{
    AppJwt, AppJwtClient, AppJwtClientBuilder, CONSUMER_JWS_EXPIRY_MARGIN,
    DEFAULT_CONSUMER_CACHE_SIZE, DEFAULT_DOMAIN_MAX_STALENESS, DEFAULT_INVALIDATE_MIN_INTERVAL,
    DEFAULT_REFRESH_AHEAD, DEFAULT_REFRESH_JITTER, MAX_LIFETIME, Status, TokenState,
};
pub use clock::{Clock, SystemClock};
pub use error::{BuildError, Error};
#[cfg(feature = "hyper-transport")]
pub use hyper_transport::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_BODY, DEFAULT_REQUEST_TIMEOUT, HyperTransport,
    HyperTransportBuilder,
};
pub use jwks::{
    DEFAULT_MAX_JWKS_BODY, JWKS_PATH, JwksError, jwks_request, parse_jwks_response,
    parse_jwks_response_lenient, sentinel_jwks_uri,
};
pub use lp_store::{
    Lease, LeaseOutcome, RecordKey, StoreError, StoreErrorKind, StoreFuture, TokenStore,
};
pub use registry::{
    AppJwtRegistry, AppJwtRegistryBuilder, CredentialError, CredentialFuture, CredentialSource,
    Credentials, DEFAULT_CREDENTIAL_RETRY, DEFAULT_MAX_ACCOUNTS, RegistryError,
};
pub use retry::{FailureMemory, RetryPolicy};
pub use store::{DEFAULT_LEASE_WAIT, DEFAULT_STORE_TIMEOUT, StoreStatus};
pub use transport::{Transport, TransportError, TransportErrorKind, TransportFuture};
pub use verify::{DEFAULT_JWKS_REFETCH_MIN_INTERVAL, DEFAULT_JWKS_REFRESH_INTERVAL, VerifyWith};

pub use http;
pub use lp_consumer::{
    ConsumerError, ConsumerJws, ExtConsumerId, ExtConsumerIdError, MAX_EXT_CONSUMER_ID_LEN,
    RequestError as ConsumerRequestError, X_LP_ON_BEHALF,
};
pub use lp_domain::DomainMap;
pub use lp_ids::{AccountId, ClientId, Host};
pub use lp_jwt::{AppJwtClaims, Header, Jwks, KeyError, Rs256Verifier, VerifyError};
pub use lp_oauth::{ApiVersion, ClientSecret, RetryAfter};
