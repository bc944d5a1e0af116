//! The step after the AppJWT, as pure functions: asking LivePerson's `idp`
//! service for a ConsumerJWS ([`consumer_request`]), reading its answer
//! ([`parse_consumer_response`]), and building the Send API's auth headers
//! ([`send_api_headers`]). Nothing here opens a socket or reads the clock;
//! the caller sends the request with any HTTP client.
//!
//! ```
//! use lp_consumer::{AccountId, ExtConsumerId, Host, consumer_request, parse_consumer_response};
//!
//! let idp = Host::parse("va.idp.liveperson.net")?;
//! let account = AccountId::new("56072331")?;
//! let consumer = ExtConsumerId::new("John_Doe_facebook12345")?;
//! let app_jwt = "eyJraWQiOiJhcHBqd3QtMTMtMDUtMTciLCJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.e30.c2ln";
//!
//! let request = consumer_request(&idp, &account, app_jwt, &consumer)?;
//! assert_eq!(
//!     request.uri(),
//!     "https://va.idp.liveperson.net/api/account/56072331/consumer?v=1.0",
//! );
//! assert_eq!(request.body(), br#"{"ext_consumer_id":"John_Doe_facebook12345"}"#);
//! assert!(request.headers()["authorization"].is_sensitive());
//!
//! // ... send it, then hand the answer back:
//! let answer = http::Response::builder()
//!     .status(201)
//!     .header("content-type", "application/json")
//!     .body(br#"{"token":"eyJhbGciOiJSUzI1NiJ9.eyJhY2NvdW50X2lkIjoiNTYwNzIzMzEifQ.c2ln"}"#.to_vec())?;
//! let jws = parse_consumer_response(&answer)?;
//! assert_eq!(format!("{jws:?}"), "ConsumerJws([redacted])");
//!
//! // The Send API then takes both tokens.
//! let headers = lp_consumer::send_api_headers(app_jwt, &jws)?;
//! assert_eq!(headers["x-lp-on-behalf"], jws.secret());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Secrets
//!
//! The AppJWT and the [`ConsumerJws`] are bearer credentials. [`ConsumerJws`]
//! has a redacted `Debug` and no `Display`; no error of this crate contains
//! either token or any part of a response body. Every header carrying a
//! token is marked sensitive ([`http::HeaderValue::set_sensitive`]), so
//! `http`'s `Debug` of the header map prints `Sensitive` instead of the value.
//!
//! An [`ExtConsumerId`] is not a secret (it is the connector's own name for
//! a consumer), so its `Debug` and `Display` show it.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

use std::fmt;
use std::str::FromStr;

use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use lp_json::{check_content_type, kind_of, parse_object};
use serde_json::{Map, Value};

pub use lp_ids::{AccountId, Host};
pub use lp_oauth::RetryAfter;

/// Longest [`ExtConsumerId`] accepted, in bytes of UTF-8.
///
/// LivePerson documents no limit; this bound is ours. It is far above any
/// channel's user id seen in LivePerson's examples (`John_Doe_facebook12345`)
/// and keeps a cache keyed by consumer small.
pub const MAX_EXT_CONSUMER_ID_LEN: usize = 256;
/// Largest response body [`parse_consumer_response`] accepts.
pub const DEFAULT_MAX_BODY: usize = 64 * 1024;
/// The media type of the request body.
pub const JSON_CONTENT_TYPE: &str = "application/json";
/// The Send API header that carries the ConsumerJWS.
pub const X_LP_ON_BEHALF: HeaderName = HeaderName::from_static("x-lp-on-behalf");

/// The connector's own id for a consumer (`ext_consumer_id`), e.g. a
/// Facebook user id.
///
/// Valid: non-empty, at most [`MAX_EXT_CONSUMER_ID_LEN`] bytes, and no
/// control characters (Unicode category Cc, which includes NUL, CR, LF and
/// DEL). Anything else, including spaces, quotes, backslashes and non-ASCII
/// text, is kept as given and escaped by JSON on the wire.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExtConsumerId(String);

impl ExtConsumerId {
    /// Validates `id`.
    ///
    /// ```
    /// use lp_consumer::{ExtConsumerId, ExtConsumerIdError};
    /// assert!(ExtConsumerId::new("John_Doe_facebook12345").is_ok());
    /// assert_eq!(ExtConsumerId::new(""), Err(ExtConsumerIdError::Empty));
    /// assert_eq!(
    ///     ExtConsumerId::new("a\nb"),
    ///     Err(ExtConsumerIdError::ControlCharacter { position: 1 }),
    /// );
    /// ```
    pub fn new(id: impl Into<String>) -> Result<Self, ExtConsumerIdError> {
        let id = id.into();
        if id.is_empty() {
            return Err(ExtConsumerIdError::Empty);
        }
        if id.len() > MAX_EXT_CONSUMER_ID_LEN {
            return Err(ExtConsumerIdError::TooLong {
                len: id.len(),
                max: MAX_EXT_CONSUMER_ID_LEN,
            });
        }
        if let Some((position, _)) = id.char_indices().find(|(_, c)| c.is_control()) {
            return Err(ExtConsumerIdError::ControlCharacter { position });
        }
        Ok(ExtConsumerId(id))
    }

    /// The id as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id, by value.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Debug for ExtConsumerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ExtConsumerId").field(&self.0).finish()
    }
}

impl fmt::Display for ExtConsumerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for ExtConsumerId {
    type Err = ExtConsumerIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ExtConsumerId::new(s)
    }
}

impl TryFrom<&str> for ExtConsumerId {
    type Error = ExtConsumerIdError;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        ExtConsumerId::new(s)
    }
}

impl TryFrom<String> for ExtConsumerId {
    type Error = ExtConsumerIdError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        ExtConsumerId::new(s)
    }
}

impl AsRef<str> for ExtConsumerId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Why a string is not an [`ExtConsumerId`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExtConsumerIdError {
    /// The id is empty.
    Empty,
    /// The id is longer than the bound.
    TooLong {
        /// Its length in bytes.
        len: usize,
        /// [`MAX_EXT_CONSUMER_ID_LEN`].
        max: usize,
    },
    /// The id holds a control character.
    ControlCharacter {
        /// Byte offset of the first one.
        position: usize,
    },
}

impl fmt::Display for ExtConsumerIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExtConsumerIdError::Empty => f.write_str("ext consumer id is empty"),
            ExtConsumerIdError::TooLong { len, max } => write!(
                f,
                "ext consumer id is {len} bytes long, more than the {max} allowed"
            ),
            ExtConsumerIdError::ControlCharacter { position } => write!(
                f,
                "ext consumer id has a control character at byte {position}"
            ),
        }
    }
}

impl std::error::Error for ExtConsumerIdError {}

/// A ConsumerJWS: the token that tells the Send API which consumer an app
/// speaks for. `Debug` is redacted; [`ConsumerJws::secret`] gives the text.
///
/// Its text is non-empty visible ASCII (`!` to `~`, no spaces), so it always
/// fits in a header unchanged.
#[derive(Clone)]
pub struct ConsumerJws(String);

impl ConsumerJws {
    /// Wraps a token text, e.g. one kept in a cache.
    ///
    /// # Errors
    ///
    /// [`RequestError::EmptyToken`] or [`RequestError::InvalidToken`] (with
    /// [`TokenKind::ConsumerJws`]) when `token` is not non-empty visible
    /// ASCII.
    pub fn new(token: impl Into<String>) -> Result<Self, RequestError> {
        let token = token.into();
        check_token_text(&token)
            .map_err(|position| token_error(TokenKind::ConsumerJws, position))?;
        Ok(ConsumerJws(token))
    }

    /// The token text, e.g. for the `X-LP-ON-BEHALF` header.
    pub fn secret(&self) -> &str {
        &self.0
    }

    /// The token text, by value.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Debug for ConsumerJws {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ConsumerJws([redacted])")
    }
}

/// Why a token text cannot be used: the first offending byte, or `None` for
/// an empty text.
fn check_token_text(token: &str) -> Result<(), Option<usize>> {
    if token.is_empty() {
        return Err(None);
    }
    match token.bytes().position(|b| !(b'!'..=b'~').contains(&b)) {
        Some(position) => Err(Some(position)),
        None => Ok(()),
    }
}

/// Which token a [`RequestError`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// The AppJWT, sent as `Authorization`.
    AppJwt,
    /// The ConsumerJWS, sent as `X-LP-ON-BEHALF`.
    ConsumerJws,
}

impl fmt::Display for TokenKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TokenKind::AppJwt => "appjwt",
            TokenKind::ConsumerJws => "consumer jws",
        })
    }
}

/// Why a request or a header set could not be built. Never contains a
/// token.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RequestError {
    /// The token is empty.
    EmptyToken {
        /// Which token.
        kind: TokenKind,
    },
    /// The token has a byte outside visible ASCII (`!` to `~`): a JWT never
    /// does, and such a byte could not go into a header unchanged.
    InvalidToken {
        /// Which token.
        kind: TokenKind,
        /// Byte offset of the first bad byte.
        position: usize,
    },
    /// The request could not be assembled. Validated ids make this
    /// unreachable; it exists so that building never panics.
    Build {
        /// What `http` or `serde_json` reported.
        reason: String,
    },
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestError::EmptyToken { kind } => write!(f, "the {kind} is empty"),
            RequestError::InvalidToken { kind, position } => write!(
                f,
                "the {kind} has a byte outside visible ascii at byte {position}"
            ),
            RequestError::Build { reason } => write!(f, "could not build the request: {reason}"),
        }
    }
}

impl std::error::Error for RequestError {}

fn token_error(kind: TokenKind, position: Option<usize>) -> RequestError {
    match position {
        None => RequestError::EmptyToken { kind },
        Some(position) => RequestError::InvalidToken { kind, position },
    }
}

/// A sensitive header value holding a checked token.
fn token_header(kind: TokenKind, token: &str) -> Result<HeaderValue, RequestError> {
    check_token_text(token).map_err(|position| token_error(kind, position))?;
    // Visible ASCII is always a valid header value; map the error anyway.
    let mut value = HeaderValue::from_str(token)
        .map_err(|_| RequestError::InvalidToken { kind, position: 0 })?;
    value.set_sensitive(true);
    Ok(value)
}

#[derive(serde::Serialize)]
struct ConsumerBody<'a> {
    ext_consumer_id: &'a str,
}

/// Builds the ConsumerJWS request:
/// `POST https://{idp}/api/account/{account}/consumer?v=1.0` with
/// `Content-Type: application/json`, `Accept: application/json`,
/// `Authorization: <AppJWT>` and body `{"ext_consumer_id":"..."}`.
///
/// The AppJWT goes into `Authorization` as is, without a `Bearer` prefix,
/// as LivePerson documents it; the header is marked sensitive. `idp` is the
/// host the Domain API gives for the service `idp`.
///
/// # Errors
///
/// [`RequestError::EmptyToken`] or [`RequestError::InvalidToken`] (with
/// [`TokenKind::AppJwt`]) when `app_jwt` is not non-empty visible ASCII.
pub fn consumer_request(
    idp: &Host,
    account: &AccountId,
    app_jwt: &str,
    ext_consumer_id: &ExtConsumerId,
) -> Result<http::Request<Vec<u8>>, RequestError> {
    let authorization = token_header(TokenKind::AppJwt, app_jwt)?;
    let build = |reason: String| RequestError::Build { reason };
    let uri = http::Uri::builder()
        .scheme("https")
        .authority(idp.to_string())
        .path_and_query(format!("/api/account/{account}/consumer?v=1.0"))
        .build()
        .map_err(|e| build(e.to_string()))?;
    let body = serde_json::to_vec(&ConsumerBody {
        ext_consumer_id: ext_consumer_id.as_str(),
    })
    .map_err(|e| build(e.to_string()))?;
    let mut request = http::Request::new(body);
    *request.method_mut() = Method::POST;
    *request.uri_mut() = uri;
    let headers = request.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(JSON_CONTENT_TYPE));
    headers.insert(ACCEPT, HeaderValue::from_static(JSON_CONTENT_TYPE));
    headers.insert(AUTHORIZATION, authorization);
    Ok(request)
}

/// The Send API's auth headers: `Authorization: <AppJWT>` (raw, no
/// `Bearer`) and `X-LP-ON-BEHALF: <ConsumerJWS>`, both marked sensitive.
///
/// # Errors
///
/// [`RequestError::EmptyToken`] or [`RequestError::InvalidToken`] (with
/// [`TokenKind::AppJwt`]) when `app_jwt` is not non-empty visible ASCII.
pub fn send_api_headers(
    app_jwt: &str,
    consumer_jws: &ConsumerJws,
) -> Result<HeaderMap, RequestError> {
    let mut headers = HeaderMap::with_capacity(2);
    headers.insert(AUTHORIZATION, token_header(TokenKind::AppJwt, app_jwt)?);
    headers.insert(
        X_LP_ON_BEHALF,
        token_header(TokenKind::ConsumerJws, consumer_jws.secret())?,
    );
    Ok(headers)
}

/// Why an idp answer is not a ConsumerJWS. Never contains a token or any
/// text of the response body.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConsumerError {
    /// 401: the AppJWT has expired or is invalid. Getting a fresh AppJWT
    /// and asking again once can help; asking again with the same cannot.
    Unauthorized {
        /// The HTTP status.
        status: StatusCode,
    },
    /// Any other 4xx except 429: the request was refused. Retrying cannot
    /// help.
    Rejected {
        /// The HTTP status.
        status: StatusCode,
    },
    /// 429.
    Throttled {
        /// The HTTP status.
        status: StatusCode,
        /// `Retry-After`, when sent and readable.
        retry_after: Option<RetryAfter>,
    },
    /// 5xx: worth retrying later.
    Server {
        /// The HTTP status.
        status: StatusCode,
        /// `Retry-After`, when sent and readable.
        retry_after: Option<RetryAfter>,
    },
    /// Any other status than 200, 201, 4xx and 5xx (1xx, other 2xx, 3xx:
    /// redirects are not followed).
    UnexpectedStatus {
        /// The HTTP status.
        status: StatusCode,
    },
    /// A success whose body exceeded the cap.
    BodyTooLarge {
        /// The HTTP status.
        status: StatusCode,
        /// The cap in bytes.
        limit: usize,
    },
    /// A success whose body is not `{"token":"<JWS>"}`.
    Malformed {
        /// The HTTP status.
        status: StatusCode,
        /// What is wrong, with line and column for JSON syntax errors.
        /// Never contains body text.
        reason: String,
    },
}

impl ConsumerError {
    /// The HTTP status of the answer.
    pub fn status(&self) -> StatusCode {
        match self {
            ConsumerError::Unauthorized { status }
            | ConsumerError::Rejected { status }
            | ConsumerError::Throttled { status, .. }
            | ConsumerError::Server { status, .. }
            | ConsumerError::UnexpectedStatus { status }
            | ConsumerError::BodyTooLarge { status, .. }
            | ConsumerError::Malformed { status, .. } => *status,
        }
    }

    /// Whether asking again later with the same AppJWT can help:
    /// throttling and server trouble. [`ConsumerError::Unauthorized`] is not
    /// retryable in this sense: it needs a new AppJWT first.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ConsumerError::Throttled { .. } | ConsumerError::Server { .. }
        )
    }

    /// Whether the AppJWT was refused (401), so a fresh one may help.
    pub fn is_unauthorized(&self) -> bool {
        matches!(self, ConsumerError::Unauthorized { .. })
    }

    /// `Retry-After` of a 429 or 5xx answer.
    pub fn retry_after(&self) -> Option<RetryAfter> {
        match self {
            ConsumerError::Throttled { retry_after, .. }
            | ConsumerError::Server { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

impl fmt::Display for ConsumerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = self.status().as_u16();
        match self {
            ConsumerError::Unauthorized { .. } => write!(
                f,
                "consumer jws request unauthorized with http status {status}: the appjwt has expired or is invalid"
            )?,
            ConsumerError::Rejected { .. } => {
                write!(f, "consumer jws request rejected with http status {status}")?
            }
            ConsumerError::Throttled { .. } => write!(
                f,
                "consumer jws request throttled with http status {status}"
            )?,
            ConsumerError::Server { .. } => write!(f, "idp failed with http status {status}")?,
            ConsumerError::UnexpectedStatus { .. } => {
                write!(f, "unexpected http status {status} from idp")?
            }
            ConsumerError::BodyTooLarge { limit, .. } => write!(
                f,
                "consumer jws response with http status {status} is larger than {limit} bytes"
            )?,
            ConsumerError::Malformed { reason, .. } => write!(
                f,
                "malformed consumer jws response with http status {status}: {reason}"
            )?,
        }
        match self.retry_after() {
            Some(RetryAfter::Delay(d)) => write!(f, " (retry after {} s)", d.as_secs()),
            Some(RetryAfter::At(_)) => f.write_str(" (retry after a given date)"),
            None => Ok(()),
        }
    }
}

impl std::error::Error for ConsumerError {}

/// Parses the idp's answer with the default body cap
/// ([`DEFAULT_MAX_BODY`]); see [`parse_consumer_response_with_limit`].
pub fn parse_consumer_response<B: AsRef<[u8]>>(
    response: &http::Response<B>,
) -> Result<ConsumerJws, ConsumerError> {
    parse_consumer_response_with_limit(response, DEFAULT_MAX_BODY)
}

/// Parses the idp's answer, refusing success bodies over `max_body` bytes.
///
/// * 201 (documented) or 200 (accepted too: a gateway or a later API
///   version may answer it, and the body says the same): a missing or
///   JSON-like `Content-Type` (`application/json` with any parameters,
///   `application/*+json`, `text/json`, `text/plain`) and a JSON object
///   whose `token` is a non-empty string of visible ASCII. Unknown fields
///   are ignored. Anything else is [`ConsumerError::Malformed`].
/// * 401: [`ConsumerError::Unauthorized`]; 429: [`ConsumerError::Throttled`];
///   other 4xx: [`ConsumerError::Rejected`]; 5xx: [`ConsumerError::Server`];
///   any other status: [`ConsumerError::UnexpectedStatus`]. Error bodies
///   are ignored; `Retry-After` is read for 429 and 5xx.
pub fn parse_consumer_response_with_limit<B: AsRef<[u8]>>(
    response: &http::Response<B>,
    max_body: usize,
) -> Result<ConsumerJws, ConsumerError> {
    let status = response.status();
    if status != StatusCode::CREATED && status != StatusCode::OK {
        return Err(classify_error(response));
    }
    let body = response.body().as_ref();
    if body.len() > max_body {
        return Err(ConsumerError::BodyTooLarge {
            status,
            limit: max_body,
        });
    }
    let malformed = |reason: String| ConsumerError::Malformed { status, reason };
    check_content_type(response.headers()).map_err(malformed)?;
    let object = parse_object(body).map_err(malformed)?;
    token_from(&object).map_err(malformed)
}

fn classify_error<B>(response: &http::Response<B>) -> ConsumerError {
    let status = response.status();
    let retry_after = || RetryAfter::from_headers(response.headers());
    if status == StatusCode::UNAUTHORIZED {
        ConsumerError::Unauthorized { status }
    } else if status == StatusCode::TOO_MANY_REQUESTS {
        ConsumerError::Throttled {
            status,
            retry_after: retry_after(),
        }
    } else if status.is_client_error() {
        ConsumerError::Rejected { status }
    } else if status.is_server_error() {
        ConsumerError::Server {
            status,
            retry_after: retry_after(),
        }
    } else {
        ConsumerError::UnexpectedStatus { status }
    }
}

fn token_from(object: &Map<String, Value>) -> Result<ConsumerJws, String> {
    let token = match object.get("token") {
        None => return Err("token is missing".to_owned()),
        Some(Value::String(s)) => s,
        Some(other) => return Err(format!("token is {}, expected a string", kind_of(other))),
    };
    match check_token_text(token) {
        Ok(()) => Ok(ConsumerJws(token.clone())),
        Err(None) => Err("token is empty".to_owned()),
        Err(Some(position)) => Err(format!(
            "token has a byte outside visible ascii at byte {position}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_texts() {
        fn check(token: &str, expected: Result<(), Option<usize>>) {
            assert_eq!(check_token_text(token), expected, "{token:?}");
        }
        check("a.b.c", Ok(()));
        check("!~", Ok(()));
        check("", Err(None));
        check(" a", Err(Some(0)));
        check("a b", Err(Some(1)));
        check("ab\u{7f}", Err(Some(2)));
        check("aé", Err(Some(1)));
        check("a\r\n", Err(Some(1)));
    }
}
