//! Always hands out a valid LivePerson AppJWT.
//!
//! [`AppJwtClient`] looks up the account's Sentinel host with the Domain API,
//! asks Sentinel for a token with the OAuth 2.0 client-credentials grant,
//! decodes and validates it (account, client id, issuer, expiry), caches it,
//! and refreshes it ahead of expiry, one request at a time however many
//! tasks ask.
//!
//! ```
//! use lp_appjwt::{AccountId, AppJwtClient, ClientId, ClientSecret};
//! # use lp_appjwt::TransportError;
//! # use std::time::{SystemTime, UNIX_EPOCH};
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
//! #     lp_jwt::assemble(&lp_jwt::encode_signing_input(&header, &claims), b"not a real signature")
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
//! .build()?;
//!
//! let jwt = client.token().await?; // looked up, fetched, validated, cached
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
//! - **Domain lookup**: the whole service map of the account is fetched
//!   from the Domain API (`api.liveperson.net` unless
//!   [`AppJwtClientBuilder::csds_host`] says otherwise) and cached for the
//!   domain TTL (default [`lp_domain::DEFAULT_TTL`]). A connection error to
//!   Sentinel drops the cached map so the next attempt looks it up again.
//!   [`AppJwtClientBuilder::sentinel_host`] skips the lookup altogether.
//! - **Validation**: every token is decoded and checked against the
//!   account (`aud`), client id (`azp`) and issuer (`Sentinel`), with the
//!   injectable [`Clock`] for `exp` and `iat`. The signature is not checked.
//! - **Lifetime**: `expires_in` when Sentinel sends it, else `exp` minus
//!   the clock's time, capped at [`MAX_LIFETIME`], measured on tokio's
//!   monotonic clock from the moment the request was sent.
//! - **Refresh ahead**: once less than 5 minutes (plus a random jitter of
//!   up to 60 s; at most half the lifetime) remain, the next caller
//!   refreshes while every other caller keeps getting the cached token. If
//!   that refresh fails the cached token is still handed out, a warning is
//!   logged, and the refresh is retried after a backoff. Callers only see an
//!   error once no valid token is left.
//! - **Single flight**: however many tasks call [`AppJwtClient::token`] on
//!   a cold or expired cache, one request goes to Sentinel (and at most one
//!   to the Domain API); the others wait for it and share its outcome. The
//!   path for a fresh cache takes no lock: an atomic load and a clock read.
//! - **Retries**: see [`RetryPolicy`]: never for a 4xx other than 429 or a
//!   token that fails validation; `Retry-After` (at least 1 s) for 429;
//!   exponential backoff with full jitter for 5xx and connection errors.
//! - **Invalidation**: [`AppJwtClient::invalidate`] after a 401, rate
//!   limited (default one per 5 s).
//! - **Tracing**: spans `appjwt.lookup` and `appjwt.fetch` with `status`
//!   and `latency_ms`. The client secret and tokens are never logged, and
//!   never appear in `Debug`, `Display` or errors.
//!
//! # Features
//!
//! - `hyper-transport` (default): [`HyperTransport`], hyper over rustls
//!   (ring), the transport used when none is given. Without it the crate
//!   has no network stack and needs a [`Transport`] from the caller.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod client;
mod clock;
mod error;
#[cfg(feature = "hyper-transport")]
mod hyper_transport;
mod retry;
mod transport;

pub use client::{
    AppJwt, AppJwtClient, AppJwtClientBuilder, DEFAULT_INVALIDATE_MIN_INTERVAL,
    DEFAULT_REFRESH_AHEAD, DEFAULT_REFRESH_JITTER, MAX_LIFETIME,
};
pub use clock::{Clock, SystemClock};
pub use error::{BuildError, Error};
#[cfg(feature = "hyper-transport")]
pub use hyper_transport::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_BODY, DEFAULT_REQUEST_TIMEOUT, HyperTransport,
    HyperTransportBuilder,
};
pub use retry::RetryPolicy;
pub use transport::{Transport, TransportError, TransportErrorKind, TransportFuture};

pub use http;
pub use lp_domain::DomainMap;
pub use lp_ids::{AccountId, ClientId, Host};
pub use lp_jwt::{AppJwtClaims, Header};
pub use lp_oauth::{ApiVersion, ClientSecret};
