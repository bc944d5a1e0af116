//! Tower middleware that puts LivePerson's tokens on Send API requests.
//!
//! [`AppJwtLayer`] wraps any [`tower::Service`](tower_service::Service)
//! over [`http::Request`] (hyper-util's client, a `tower::ServiceBuilder`
//! stack, your own) so that every request carries
//! `Authorization: <AppJWT>` (raw, no `Bearer`, as LivePerson's APIs take
//! it) and, when its extensions hold an [`ExtConsumerId`], the consumer's
//! ConsumerJWS in `X-LP-ON-BEHALF` (or `LP-On-Behalf`, see
//! [`AppJwtLayer::on_behalf_header`]). Both headers are marked sensitive,
//! so `http`'s `Debug` shows them as `Sensitive`. The tokens come from an
//! [`AppJwtClient`], which caches and refreshes them.
//!
//! ```
//! use bytes::Bytes;
//! use http_body_util::Full;
//! use lp_appjwt::{AppJwtClient, ExtConsumerId};
//! use lp_tower::AppJwtLayer;
//! use tower::{ServiceBuilder, ServiceExt};
//! # use lp_appjwt::{AccountId, ClientId, ClientSecret, Host, TransportError, VerifyWith};
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # // Stands in for LivePerson's Sentinel and idp so the example runs offline.
//! # let fake_liveperson = |req: http::Request<Vec<u8>>| async move {
//! #     let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
//! #     let claims = lp_jwt::AppJwtClaims {
//! #         aud: Some(lp_jwt::Audience::One("56072331".into())),
//! #         azp: Some("75588e18-0213-4e33-8174-883acac7e3c4".into()),
//! #         iss: Some("Sentinel".into()),
//! #         exp: lp_jwt::NumericDate::from_secs(now + 3600),
//! #         iat: lp_jwt::NumericDate::from_secs(now),
//! #         ..Default::default()
//! #     };
//! #     let token = lp_jwt::assemble(&lp_jwt::encode_signing_input(&lp_jwt::Header::new("RS256"), &claims), b"sig");
//! #     let (status, body) = if req.uri().path().ends_with("/consumer") {
//! #         (201, format!(r#"{{"token":"{token}"}}"#))
//! #     } else {
//! #         (200, format!(r#"{{"access_token":"{token}","token_type":"Bearer"}}"#))
//! #     };
//! #     let response = http::Response::builder().status(status)
//! #         .header("content-type", "application/json").body(body.into_bytes()).unwrap();
//! #     Ok::<_, TransportError>(response)
//! # };
//! # let client = AppJwtClient::builder(
//! #     AccountId::new("56072331")?,
//! #     ClientId::new("75588e18-0213-4e33-8174-883acac7e3c4")?,
//! #     ClientSecret::new("s3cr3t")?,
//! # )
//! # .transport(fake_liveperson)
//! # .sentinel_host(Host::parse("va.sentinel.liveperson.net")?)
//! # .idp_host(Host::parse("va.idp.liveperson.net")?)
//! # .verify_with(VerifyWith::None)
//! # .build()?;
//! // `client` is an AppJwtClient (see lp-appjwt); `send_api` the HTTP
//! // client, here a stand-in that checks the headers it is given.
//! let send_api = tower::service_fn(|req: http::Request<Full<Bytes>>| async move {
//!     assert!(req.headers()["authorization"].is_sensitive());
//!     assert!(req.headers()["x-lp-on-behalf"].is_sensitive());
//!     Ok::<_, std::convert::Infallible>(http::Response::new(()))
//! });
//! let service = ServiceBuilder::new()
//!     .layer(AppJwtLayer::new(client))
//!     .service(send_api);
//!
//! let mut request = http::Request::post(
//!     "https://va.msg.liveperson.net/api/account/56072331/messaging/consumer/conversation/send?v=3",
//! )
//! .body(Full::new(Bytes::from_static(br#"{"kind":"req","id":"1","type":"ms.PublishEvent"}"#)))?;
//! // The consumer this request speaks for.
//! request.extensions_mut().insert(ExtConsumerId::new("John_Doe_facebook12345")?);
//!
//! let response = service.oneshot(request).await?;
//! assert_eq!(response.status(), 200);
//! # Ok(())
//! # }
//! ```
//!
//! # 401, 403, 429
//!
//! A 401 from the Send API does not say which token it refused, so the
//! service climbs a ladder, one rung per answer:
//!
//! 1. The AppJWT that was sent is invalidated with
//!    [`AppJwtClient::invalidate_token`] (only if it is still the cached
//!    token: one that another request got since is kept), a valid AppJWT
//!    is got, and the request is sent again.
//! 2. Refused again (or the AppJWT could not be replaced, the
//!    invalidation being rate limited): the consumer's ConsumerJWS is
//!    dropped with [`AppJwtClient::invalidate_consumer`], a new one is got,
//!    and the request is sent once more. A request without an
//!    [`ExtConsumerId`] has no such rung.
//! 3. Refused again: the 401 is handed back as the response.
//!
//! However many requests are refused with the same token at once, one
//! AppJWT request goes to Sentinel: the first `invalidate_token` drops it,
//! the others find it gone (or are within the client's invalidation
//! interval), and all wait for the client's one fetch.
//!
//! A 401 is retried only when the body can be sent again: see
//! [`ReplayableBody`] for which bodies can (`Full<Bytes>`, `Bytes`,
//! `Vec<u8>`, `String`, `Empty`, ...) and which cannot (the boxed stream
//! bodies); for those the first 401 is handed back (the AppJWT that was
//! sent is still invalidated, so the caller's own retry gets a new one). A 401 means the
//! request was refused before it was acted on, so repeating it is safe
//! for any method.
//!
//! No other status is retried: a 403 or any other 4xx is handed back at
//! once, and so is a 5xx (put a retry layer of your own outside this one
//! if you want it). A 429 is handed back with its `Retry-After` parsed
//! into the response's extensions as a [`RetryAfter`]: the caller decides
//! whether to wait.
//!
//! ```
//! # fn check(response: http::Response<()>) {
//! use lp_appjwt::RetryAfter;
//! if let Some(after) = response.extensions().get::<RetryAfter>() {
//!     let wait = after.delay_from(std::time::SystemTime::now());
//!     # let _ = wait;
//! }
//! # }
//! ```
//!
//! A caller's own `Authorization` header is replaced, and so is its
//! on-behalf header when the request has an [`ExtConsumerId`]; without
//! one, an on-behalf header the caller set is left as it is. An AppJWT or ConsumerJWS that cannot be had is
//! [`Error::Token`] or [`Error::ConsumerJws`], and no request is sent;
//! the same when a retry needs a new token that cannot be had (the 401
//! is then dropped: the error says why no retry was made). The tokens
//! come from the client's caches, so the service must run inside a tokio
//! runtime, as the client does. The service's future is `Send` and boxed;
//! the inner service must be `Clone` (hyper-util's client is), as a tower
//! service called from a future usually is.
//!
//! # Many accounts
//!
//! [`AppJwtLayer::registry`] takes the tokens from an [`AppJwtRegistry`]
//! instead of one client: each request names its account with an
//! [`AccountId`] in its extensions, and the ladder acts on that account's
//! tokens only. A request without one is [`Error::NoAccount`] and is not
//! sent; an account the registry cannot serve is [`Error::Registry`].
//!
//! # Over the client's own transport
//!
//! [`TransportService`] turns an `lp-appjwt` `Transport` (its
//! `HyperTransport`, with its pool, roots and proxy) into the inner
//! service, for `http::Request<Vec<u8>>`: one set of connections and one
//! proxy configuration for the tokens and the Send API alike. The `appjwt
//! send` command works this way.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod body;
mod error;
mod service;
mod transport;

pub use body::ReplayableBody;
pub use error::Error;
pub use lp_appjwt::{AccountId, AppJwtClient, AppJwtRegistry, ExtConsumerId, RetryAfter};
pub use service::{AppJwtLayer, AppJwtService, LP_ON_BEHALF, OnBehalfHeader, ResponseFuture};
pub use transport::TransportService;
