//! Signature verification: where the keys come from, the JWKS request and
//! its parser (pure functions), and the JWKS cache the client keeps.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::header::{ACCEPT, HeaderValue};
use http::{Method, StatusCode};
use lp_ids::Host;
use lp_jwt::{Jwks, KeyError, Rs256Verifier, UnverifiedToken, VerifyError};
use lp_oauth::{ApiVersion, RetryAfter};
use tokio::time::Instant;
use tracing::Instrument;

use crate::error::Error;
use crate::transport::Transport;

/// The path of Sentinel's key set: `https://{sentinel}/sentinel/well-known/jwks`.
pub const JWKS_PATH: &str = "/sentinel/well-known/jwks";

/// Default: after a token with an unknown `kid`, the key set is fetched
/// again at most once per this interval.
pub const DEFAULT_JWKS_REFETCH_MIN_INTERVAL: Duration = Duration::from_secs(30);

/// Largest key set body [`parse_jwks_response`] reads.
pub const DEFAULT_MAX_JWKS_BODY: usize = 64 * 1024;

/// Where [`AppJwtClient`](crate::AppJwtClient) gets the public keys that
/// check each token's RS256 signature.
///
/// Set with
/// [`AppJwtClientBuilder::verify_with`](crate::AppJwtClientBuilder::verify_with).
/// The default depends on the API version: [`VerifyWith::LivePersonV1`] for
/// [`ApiVersion::V1`], [`VerifyWith::Jwks`] for [`ApiVersion::V2`] (see
/// [`VerifyWith::default_for`]). Whatever the source, only RS256 is
/// accepted: the token's `alg` never chooses the algorithm, and `none` or
/// `HS256` are refused.
///
/// A client testing against `lp-emulator` must use [`VerifyWith::Jwks`]:
/// the emulator signs with its own key, not LivePerson's.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum VerifyWith {
    /// LivePerson's published v1 key
    /// ([`lp_jwt::LIVEPERSON_V1_PUBLIC_KEY_B64`]), compiled in: no IO.
    LivePersonV1,
    /// The Sentinel host's key set, `https://{sentinel}/sentinel/well-known/jwks`,
    /// fetched through the client's transport on first use and cached. A
    /// token whose `kid` is not in the cached set makes the client fetch the
    /// set again, at most once per
    /// [`AppJwtClientBuilder::jwks_refetch_min_interval`](crate::AppJwtClientBuilder::jwks_refetch_min_interval),
    /// which follows key rotation.
    Jwks,
    /// A key set at another address, fetched and cached like
    /// [`VerifyWith::Jwks`]. The transport decides which schemes it accepts.
    JwksUri(http::Uri),
    /// One key given by the caller (from PEM, DER or a JWK); its `kid`, if
    /// any, is not compared with the token's.
    Key(Rs256Verifier),
    /// A key set given by the caller, never fetched again; the token's
    /// `kid` selects the key.
    KeySet(Jwks),
    /// **Dangerous**: no signature check at all. Any well-formed token with
    /// plausible claims is handed out, including one forged by whoever can
    /// answer in Sentinel's place. Only for experiments where no key is
    /// available.
    None,
}

impl VerifyWith {
    /// The default source for an API version: LivePerson's static key for
    /// v1, the sentinel's key set for v2.
    pub fn default_for(version: ApiVersion) -> Self {
        match version {
            ApiVersion::V1 => VerifyWith::LivePersonV1,
            ApiVersion::V2 => VerifyWith::Jwks,
        }
    }
}

impl fmt::Display for VerifyWith {
    /// A short label: `liveperson-v1`, `jwks`, `jwks <uri>`, `key`,
    /// `key-set`, `none`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifyWith::LivePersonV1 => f.write_str("liveperson-v1"),
            VerifyWith::Jwks => f.write_str("jwks"),
            VerifyWith::JwksUri(uri) => write!(f, "jwks {uri}"),
            VerifyWith::Key(_) => f.write_str("key"),
            VerifyWith::KeySet(_) => f.write_str("key-set"),
            VerifyWith::None => f.write_str("none"),
        }
    }
}

/// The address of a Sentinel host's key set,
/// `https://{sentinel}/sentinel/well-known/jwks`.
pub fn sentinel_jwks_uri(sentinel: &Host) -> http::Uri {
    // A validated `Host` is always a valid authority; the fallback keeps
    // this function total anyway.
    http::Uri::builder()
        .scheme("https")
        .authority(sentinel.to_string())
        .path_and_query(JWKS_PATH)
        .build()
        .unwrap_or_default()
}

/// The request for a key set: `GET uri` with `Accept: application/json`,
/// no body, no credentials.
pub fn jwks_request(uri: &http::Uri) -> http::Request<Vec<u8>> {
    let mut request = http::Request::new(Vec::new());
    *request.method_mut() = Method::GET;
    *request.uri_mut() = uri.clone();
    request
        .headers_mut()
        .insert(ACCEPT, HeaderValue::from_static("application/json"));
    request
}

/// Parses the answer to [`jwks_request`]: status 200 and a JWKS document
/// of at most [`DEFAULT_MAX_JWKS_BODY`] bytes holding at least one RS256
/// signing key (see [`Jwks::from_json`]).
pub fn parse_jwks_response<B: AsRef<[u8]>>(
    response: &http::Response<B>,
) -> Result<Jwks, JwksError> {
    let status = response.status();
    if status != StatusCode::OK {
        let retry_after = (status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error())
            .then(|| RetryAfter::from_headers(response.headers()))
            .flatten();
        return Err(JwksError::Status {
            status,
            retry_after,
        });
    }
    let body = response.body().as_ref();
    if body.len() > DEFAULT_MAX_JWKS_BODY {
        return Err(JwksError::TooLarge {
            limit: DEFAULT_MAX_JWKS_BODY,
        });
    }
    let text = std::str::from_utf8(body).map_err(|e| JwksError::NotUtf8 {
        position: e.valid_up_to(),
    })?;
    Jwks::from_json(text).map_err(JwksError::Keys)
}

/// Why a key set could not be fetched or used.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum JwksError {
    /// The server answered another status than 200.
    Status {
        /// The status received.
        status: StatusCode,
        /// The answer's `Retry-After`, read for 429 and 5xx only.
        retry_after: Option<RetryAfter>,
    },
    /// The body is larger than the parser reads.
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The body is not UTF-8.
    NotUtf8 {
        /// Byte offset of the first invalid byte.
        position: usize,
    },
    /// The body is not a JWKS with a usable RS256 key.
    Keys(KeyError),
}

impl JwksError {
    /// Whether fetching again later may help: 429 and 5xx.
    pub fn is_retryable(&self) -> bool {
        match self {
            JwksError::Status { status, .. } => {
                status.is_server_error() || *status == StatusCode::TOO_MANY_REQUESTS
            }
            _ => false,
        }
    }

    /// The HTTP status, when the server answered with one other than 200.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            JwksError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The server's `Retry-After` (429 and 5xx), when it sent one.
    pub fn retry_after(&self) -> Option<RetryAfter> {
        match self {
            JwksError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

impl fmt::Display for JwksError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JwksError::Status {
                status,
                retry_after,
            } => {
                write!(f, "key set answered status {status}")?;
                match retry_after {
                    Some(RetryAfter::Delay(d)) => write!(f, " (retry after {} s)", d.as_secs()),
                    Some(RetryAfter::At(_)) => f.write_str(" (retry after a given date)"),
                    None => Ok(()),
                }
            }
            JwksError::TooLarge { limit } => {
                write!(f, "key set body is larger than {limit} bytes")
            }
            JwksError::NotUtf8 { position } => {
                write!(f, "key set body is not utf-8 at byte {position}")
            }
            JwksError::Keys(e) => write!(f, "key set is not usable: {e}"),
        }
    }
}

impl std::error::Error for JwksError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            JwksError::Keys(e) => Some(e),
            _ => None,
        }
    }
}

/// The client's verification state, built once from a [`VerifyWith`].
pub(crate) struct Verifier {
    source: VerifyWith,
    /// LivePerson's key, parsed once for [`VerifyWith::LivePersonV1`].
    v1: Rs256Verifier,
    refetch_min_interval: Duration,
    /// Held across a fetch, so however many callers need the key set, one
    /// request goes out.
    remote: tokio::sync::Mutex<RemoteKeys>,
}

#[derive(Default)]
struct RemoteKeys {
    /// Where `keys` came from; a new sentinel host means a new set.
    uri: Option<http::Uri>,
    keys: Option<Arc<Jwks>>,
    /// When the set was last fetched again because of an unknown `kid`.
    last_refetch: Option<Instant>,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("source", &self.source)
            .field("refetch_min_interval", &self.refetch_min_interval)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    pub(crate) fn new(source: VerifyWith, refetch_min_interval: Duration) -> Self {
        Verifier {
            source,
            v1: Rs256Verifier::liveperson_v1(),
            refetch_min_interval,
            remote: tokio::sync::Mutex::new(RemoteKeys::default()),
        }
    }

    pub(crate) fn source(&self) -> &VerifyWith {
        &self.source
    }

    /// Checks `token`'s signature. Returns whether a signature was checked
    /// (`false` only for [`VerifyWith::None`]).
    pub(crate) async fn verify(
        &self,
        token: &UnverifiedToken<'_>,
        sentinel: &Host,
        transport: &dyn Transport,
    ) -> Result<bool, Error> {
        let uri = match &self.source {
            VerifyWith::None => return Ok(false),
            VerifyWith::LivePersonV1 => {
                self.v1.verify(token).map_err(Error::Verify)?;
                return Ok(true);
            }
            VerifyWith::Key(key) => {
                key.verify(token).map_err(Error::Verify)?;
                return Ok(true);
            }
            VerifyWith::KeySet(set) => {
                set.verify(token).map_err(Error::Verify)?;
                return Ok(true);
            }
            VerifyWith::Jwks => sentinel_jwks_uri(sentinel),
            VerifyWith::JwksUri(uri) => uri.clone(),
        };

        let mut remote = self.remote.lock().await;
        if remote.uri.as_ref() != Some(&uri) {
            *remote = RemoteKeys {
                uri: Some(uri.clone()),
                ..RemoteKeys::default()
            };
        }
        let (keys, fresh) = match &remote.keys {
            Some(keys) => (Arc::clone(keys), false),
            None => {
                let keys = Arc::new(fetch(&uri, transport, "first use").await?);
                remote.keys = Some(Arc::clone(&keys));
                (keys, true)
            }
        };
        match keys.verify(token) {
            Err(VerifyError::UnknownKeyId { kid: Some(kid) }) if !fresh => {
                let now = Instant::now();
                if remote
                    .last_refetch
                    .is_some_and(|at| now.saturating_duration_since(at) < self.refetch_min_interval)
                {
                    tracing::debug!(%kid, "unknown kid, key set refetch rate limited");
                    return Err(Error::Verify(VerifyError::UnknownKeyId { kid: Some(kid) }));
                }
                remote.last_refetch = Some(now);
                let keys = Arc::new(fetch(&uri, transport, "unknown kid").await?);
                remote.keys = Some(Arc::clone(&keys));
                keys.verify(token).map_err(Error::Verify)?;
                Ok(true)
            }
            other => other.map(|()| true).map_err(Error::Verify),
        }
    }
}

/// Fetches and parses one key set.
async fn fetch(
    uri: &http::Uri,
    transport: &dyn Transport,
    reason: &'static str,
) -> Result<Jwks, Error> {
    let span = tracing::info_span!(
        "appjwt.jwks",
        %uri,
        reason,
        status = tracing::field::Empty,
        latency_ms = tracing::field::Empty,
    );
    let started = Instant::now();
    let response = transport
        .send(jwks_request(uri))
        .instrument(span.clone())
        .await;
    span.record(
        "latency_ms",
        u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    );
    let response = response.map_err(|e| {
        span.in_scope(|| tracing::info!(error = %e, "key set request failed"));
        Error::Transport(e)
    })?;
    span.record("status", response.status().as_u16());
    let keys = parse_jwks_response(&response).map_err(|e| {
        span.in_scope(|| tracing::info!(error = %e, "key set refused"));
        Error::Jwks(e)
    })?;
    span.in_scope(|| tracing::info!(keys = keys.keys().len(), "key set fetched"));
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, body: &[u8]) -> http::Response<Vec<u8>> {
        let mut r = http::Response::new(body.to_vec());
        *r.status_mut() = StatusCode::from_u16(status).unwrap();
        r
    }

    #[test]
    fn request_is_a_plain_get_of_the_well_known_path() {
        let host = Host::parse("va.sentinel.liveperson.net").unwrap();
        let uri = sentinel_jwks_uri(&host);
        assert_eq!(
            uri.to_string(),
            "https://va.sentinel.liveperson.net/sentinel/well-known/jwks"
        );
        let req = jwks_request(&uri);
        assert_eq!(req.method(), Method::GET);
        assert_eq!(req.uri(), &uri);
        assert!(req.body().is_empty());
        assert_eq!(req.headers().len(), 1);
        assert_eq!(req.headers()[ACCEPT], "application/json");
        let port = Host::parse("127.0.0.1:8443").unwrap();
        assert_eq!(
            sentinel_jwks_uri(&port).to_string(),
            "https://127.0.0.1:8443/sentinel/well-known/jwks"
        );
    }

    #[test]
    fn responses() {
        fn check(status: u16, body: &[u8], expected: Result<usize, JwksError>) {
            let got = parse_jwks_response(&response(status, body)).map(|k| k.keys().len());
            assert_eq!(got, expected, "{status} {}", String::from_utf8_lossy(body));
        }
        let jwks = include_str!("../../lp-jwt/tests/data/jwks.json");
        check(200, jwks.as_bytes(), Ok(2));
        check(
            500,
            jwks.as_bytes(),
            Err(JwksError::Status {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                retry_after: None,
            }),
        );
        check(
            404,
            b"",
            Err(JwksError::Status {
                status: StatusCode::NOT_FOUND,
                retry_after: None,
            }),
        );
        check(
            200,
            b"{\"keys\":[]}",
            Err(JwksError::Keys(KeyError::NoUsableKey)),
        );
        check(
            200,
            b"{\"ke\xffys\"}",
            Err(JwksError::NotUtf8 { position: 4 }),
        );
        check(
            200,
            &vec![b' '; DEFAULT_MAX_JWKS_BODY + 1],
            Err(JwksError::TooLarge {
                limit: DEFAULT_MAX_JWKS_BODY,
            }),
        );
        assert!(matches!(
            parse_jwks_response(&response(200, b"<html>")),
            Err(JwksError::Keys(KeyError::Json { .. }))
        ));
    }

    #[test]
    fn retryable_statuses() {
        fn check(e: JwksError, expected: bool) {
            assert_eq!(e.is_retryable(), expected, "{e:?}");
        }
        let status = |s: u16| JwksError::Status {
            status: StatusCode::from_u16(s).unwrap(),
            retry_after: None,
        };
        check(status(500), true);
        check(status(503), true);
        check(status(429), true);
        check(status(404), false);
        check(status(401), false);
        check(JwksError::Keys(KeyError::NoUsableKey), false);
        check(JwksError::NotUtf8 { position: 0 }, false);
    }

    #[test]
    fn defaults_follow_the_api_version() {
        assert!(matches!(
            VerifyWith::default_for(ApiVersion::V1),
            VerifyWith::LivePersonV1
        ));
        assert!(matches!(
            VerifyWith::default_for(ApiVersion::V2),
            VerifyWith::Jwks
        ));
    }
}
