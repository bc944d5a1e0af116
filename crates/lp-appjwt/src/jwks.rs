//! The key set step as pure functions, like the other protocol steps:
//! [`jwks_request`] builds the request, [`parse_jwks_response`] reads the
//! answer into a [`Jwks`] or a [`JwksError`]. No IO.

use std::fmt;

use http::header::{ACCEPT, HeaderValue};
use http::{Method, StatusCode};
use lp_ids::Host;
use lp_jwt::{Jwks, KeyError, SkippedKey};
use lp_oauth::RetryAfter;

/// The path of Sentinel's key set: `https://{sentinel}/sentinel/well-known/jwks`.
pub const JWKS_PATH: &str = "/sentinel/well-known/jwks";

/// Largest key set body [`parse_jwks_response`] reads.
pub const DEFAULT_MAX_JWKS_BODY: usize = 64 * 1024;

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
    parse_jwks_response_lenient(response).map(|(keys, _)| keys)
}

/// [`parse_jwks_response`], also telling which keys of the set could not
/// be used and why (a 1024-bit key, an `x5c`-only key, an EC key, ...);
/// it fails only when no usable key is left.
pub fn parse_jwks_response_lenient<B: AsRef<[u8]>>(
    response: &http::Response<B>,
) -> Result<(Jwks, Vec<SkippedKey>), JwksError> {
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
    Jwks::from_json_lenient(text).map_err(JwksError::Keys)
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
            Err(JwksError::Keys(KeyError::NoUsableKey {
                skipped: 0,
                first: None,
            })),
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
        check(
            JwksError::Keys(KeyError::NoUsableKey {
                skipped: 0,
                first: None,
            }),
            false,
        );
        check(JwksError::NotUtf8 { position: 0 }, false);
    }
}
