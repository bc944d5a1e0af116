//! The OAuth 2.0 client-credentials exchange with LivePerson Sentinel, as pure
//! functions: [`TokenRequest::to_http`] builds the request, and
//! [`parse_token_response`] reads the answer. Nothing here opens a socket or
//! reads the clock; the caller sends the request with any HTTP client.
//!
//! ```
//! use lp_oauth::{AccountId, ClientId, ClientSecret, Host, TokenRequest, ApiVersion};
//!
//! let request = TokenRequest {
//!     sentinel: Host::parse("va.sentinel.liveperson.net")?,
//!     account: AccountId::new("56072331")?,
//!     client_id: ClientId::new("75588e18-0213-4e33-8174-883acac7e3c4")?,
//!     client_secret: ClientSecret::new("s3cr3t&more")?,
//!     version: ApiVersion::V1,
//! };
//! let http_request = request.to_http();
//! assert_eq!(
//!     http_request.uri(),
//!     "https://va.sentinel.liveperson.net/sentinel/api/account/56072331/app/token?v=1.0&grant_type=client_credentials",
//! );
//!
//! // ... send it, then hand the answer back:
//! let answer = http::Response::builder()
//!     .status(200)
//!     .header("content-type", "application/json;charset=utf-8")
//!     .body(br#"{"access_token":"eyJ.eyJ.sig","token_type":"Bearer"}"#.to_vec())?;
//! let token = lp_oauth::parse_token_response(&answer)?;
//! assert_eq!(token.access_token.secret(), "eyJ.eyJ.sig");
//! assert_eq!(token.expires_in, None);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Secrets
//!
//! [`ClientSecret`] and [`AccessToken`] have redacted `Debug` output and no
//! `Display`; no error of this crate ever contains either. Errors quote
//! only short, non-secret parts of an answer: the OAuth `error` code and
//! `error_description` of an error body (cut to 64 and 200 characters), and
//! a `token_type` that is not `Bearer` (cut to 32), each escaped by
//! [`lp_jwt::Untrusted`] so that it cannot forge a log line. The access
//! token and the rest of the body are never quoted. The built request does
//! carry the secret in its body, so
//! **never log an `http::Request` from [`TokenRequest::to_http`]**: its
//! `Debug` prints the body bytes as numbers, which is the secret in disguise.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

use std::fmt;
use std::time::Duration;

use http::header::{ACCEPT, CONTENT_TYPE};
use http::{HeaderValue, Method, StatusCode};
use lp_json::{check_content_type, field, kind_of, parse_object};
use lp_jwt::Untrusted;
use serde_json::{Map, Value};

pub use lp_ids::{AccountId, ClientId, Host, IdError, IdKind};

/// Largest response body [`parse_token_response`] accepts.
pub const DEFAULT_MAX_BODY: usize = 64 * 1024;
/// Longest client secret accepted.
pub const MAX_SECRET_LEN: usize = 1024;
/// Largest `expires_in` accepted (ten years of 365 days). A larger value is
/// not a lifetime anyone meant, and would overflow later clock arithmetic.
pub const MAX_EXPIRES_IN: Duration = Duration::from_secs(10 * 365 * 24 * 60 * 60);

/// The client secret. `Debug` prints `ClientSecret([redacted])`; no
/// `Display`, `Serialize` or `PartialEq`; zeroized on drop.
pub struct ClientSecret(zeroize::Zeroizing<String>);

/// Builds the error for a refused secret. No part of the secret is ever
/// put into the error.
fn secret_error(reason: &'static str) -> IdError {
    IdError::Invalid {
        kind: IdKind::ClientSecret,
        reason,
    }
}

impl ClientSecret {
    /// Non-empty, at most [`MAX_SECRET_LEN`] bytes, no control characters.
    ///
    /// The secret is form-encoded on the wire, so any other character
    /// (including `&`, `=`, `%`, spaces and non-ASCII) is fine.
    ///
    /// ```
    /// use lp_oauth::ClientSecret;
    /// assert!(ClientSecret::new("a b&c=d%é").is_ok());
    /// assert!(ClientSecret::new("").is_err());
    /// assert!(ClientSecret::new("line\nbreak").is_err());
    /// assert_eq!(format!("{:?}", ClientSecret::new("x")?), "ClientSecret([redacted])");
    /// # Ok::<(), lp_oauth::IdError>(())
    /// ```
    pub fn new(secret: impl Into<String>) -> Result<Self, IdError> {
        // Wrap first so that a refused secret is zeroized too.
        let secret = zeroize::Zeroizing::new(secret.into());
        if secret.is_empty() {
            return Err(secret_error("client secret is empty"));
        }
        if secret.len() > MAX_SECRET_LEN {
            return Err(secret_error("client secret is longer than 1024 bytes"));
        }
        if secret.chars().any(char::is_control) {
            return Err(secret_error("client secret contains a control character"));
        }
        Ok(ClientSecret(secret))
    }

    /// The secret itself, for building the request body.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret([redacted])")
    }
}

impl Clone for ClientSecret {
    fn clone(&self) -> Self {
        ClientSecret(self.0.clone())
    }
}

/// Which Sentinel token endpoint to call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ApiVersion {
    /// `POST /sentinel/api/account/{acc}/app/token?v=1.0&grant_type=client_credentials`,
    /// exactly as the Get AppJWT page shows.
    #[default]
    V1,
    /// `POST /sentinel/api/v2/account/{acc}/app/token`, `grant_type` in the body.
    V2,
}

/// Everything needed to ask Sentinel for a token.
///
/// `Debug` is safe to log: the secret shows as `ClientSecret([redacted])`.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    /// Sentinel's host, from the Domain API service `sentinel`.
    pub sentinel: Host,
    /// The LivePerson account (site) id.
    pub account: AccountId,
    /// The app installation's client id.
    pub client_id: ClientId,
    /// The app installation's client secret.
    pub client_secret: ClientSecret,
    /// Which endpoint to call.
    pub version: ApiVersion,
}

/// The media type of the request body.
pub const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";

impl TokenRequest {
    /// Builds the HTTPS request. The secret goes only into the form body.
    ///
    /// V1: `POST https://{sentinel}/sentinel/api/account/{acc}/app/token?v=1.0&grant_type=client_credentials`
    /// with body `client_id=..&client_secret=..`. V2:
    /// `POST https://{sentinel}/sentinel/api/v2/account/{acc}/app/token` with
    /// body `client_id=..&client_secret=..&grant_type=client_credentials`.
    /// Both send `Content-Type: application/x-www-form-urlencoded` and
    /// `Accept: application/json`.
    ///
    /// The result holds the secret in its body: do not log it (its `Debug`
    /// prints the body bytes).
    ///
    /// Building cannot fail: [`Host`] displays as a valid URI authority and
    /// [`AccountId`] holds only ASCII letters, digits, `-` and `_`, so the
    /// URI always parses. Rather than panic should that ever stop being true,
    /// this returns an inert request with an empty URI and an empty body
    /// (no secret), which every transport refuses; use
    /// [`TokenRequest::try_to_http`] to see such an error.
    pub fn to_http(&self) -> http::Request<Vec<u8>> {
        self.try_to_http()
            .unwrap_or_else(|_| http::Request::new(Vec::new()))
    }

    /// Like [`TokenRequest::to_http`], reporting a URI that does not parse
    /// instead of returning an inert request.
    pub fn try_to_http(&self) -> Result<http::Request<Vec<u8>>, http::Error> {
        let (path_and_query, with_grant_in_body) = match self.version {
            ApiVersion::V1 => (
                format!(
                    "/sentinel/api/account/{}/app/token?v=1.0&grant_type=client_credentials",
                    self.account
                ),
                false,
            ),
            ApiVersion::V2 => (
                format!("/sentinel/api/v2/account/{}/app/token", self.account),
                true,
            ),
        };
        let uri = http::Uri::builder()
            .scheme("https")
            .authority(self.sentinel.to_string())
            .path_and_query(path_and_query)
            .build()?;

        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("client_id", self.client_id.as_str());
        form.append_pair("client_secret", self.client_secret.expose_secret());
        if with_grant_in_body {
            form.append_pair("grant_type", "client_credentials");
        }
        // The encoded form holds the secret; keep the intermediate String
        // zeroized and move its bytes straight into the request.
        let body = zeroize::Zeroizing::new(form.finish());

        let mut request = http::Request::new(body.as_bytes().to_vec());
        *request.method_mut() = Method::POST;
        *request.uri_mut() = uri;
        let headers = request.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(FORM_CONTENT_TYPE));
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        Ok(request)
    }
}

/// The access token string. `Debug` is redacted; [`AccessToken::secret`]
/// gives the text.
#[derive(Clone)]
pub struct AccessToken(String);

impl AccessToken {
    /// Wraps a token string.
    pub fn new(token: String) -> Self {
        AccessToken(token)
    }
    /// The token text, e.g. for an `Authorization` header.
    pub fn secret(&self) -> &str {
        &self.0
    }
    /// The token text, by value.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken([redacted])")
    }
}

/// A successful RFC 6749 section 5.1 answer.
#[derive(Debug, Clone)]
pub struct TokenResponse {
    /// The token: non-empty, visible ASCII and spaces only (RFC 6749
    /// appendix A.12), so it can go into a header unchanged.
    pub access_token: AccessToken,
    /// As sent; checked to be `Bearer` case-insensitively.
    pub token_type: String,
    /// `expires_in`, when sent (Sentinel's documented answer has none; the
    /// JWT's `exp` then tells the lifetime). At most [`MAX_EXPIRES_IN`].
    pub expires_in: Option<Duration>,
    /// `scope`, when sent.
    pub scope: Option<String>,
}

/// `Retry-After`: delay seconds or an HTTP date (defined in `lp-json`,
/// shared with the other protocol crates).
pub use lp_json::RetryAfter;

/// The RFC 6749 section 5.2 error body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    /// The error code, e.g. `invalid_client`.
    pub error: String,
    /// Human-readable text from the server.
    pub error_description: Option<String>,
    /// A page about the error.
    pub error_uri: Option<String>,
}

impl fmt::Display for OAuthError {
    /// `code` or `code: description`, both written through
    /// [`lp_jwt::Untrusted`] (escaped, cut after 64 and 200 characters)
    /// since both come from the server and end up in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", Untrusted::new(&self.error).max_chars(64))?;
        if let Some(d) = &self.error_description {
            write!(f, ": {}", Untrusted::new(d).max_chars(200))?;
        }
        Ok(())
    }
}

/// Why a token response is not a token.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenError {
    /// 400/401/403 and other 4xx except 429: the request or the credentials
    /// were refused. Retrying cannot help.
    Rejected {
        /// The HTTP status.
        status: StatusCode,
        /// The RFC 6749 error body, when there was one.
        oauth: Option<OAuthError>,
    },
    /// 429.
    Throttled {
        /// The HTTP status.
        status: StatusCode,
        /// `Retry-After`, when sent and readable.
        retry_after: Option<RetryAfter>,
        /// The RFC 6749 error body, when there was one.
        oauth: Option<OAuthError>,
    },
    /// 5xx: worth retrying.
    Server {
        /// The HTTP status.
        status: StatusCode,
        /// `Retry-After`, when sent and readable.
        retry_after: Option<RetryAfter>,
        /// The RFC 6749 error body, when there was one.
        oauth: Option<OAuthError>,
    },
    /// Any other non-200 status (1xx, 3xx: redirects are not followed).
    UnexpectedStatus {
        /// The HTTP status.
        status: StatusCode,
    },
    /// The body of a 200 exceeded the cap. (An error status with an
    /// oversized body is classified by its status, the body ignored.)
    BodyTooLarge {
        /// The HTTP status.
        status: StatusCode,
        /// The cap in bytes.
        limit: usize,
    },
    /// A 200 whose body is not a valid token response.
    Malformed {
        /// The HTTP status.
        status: StatusCode,
        /// What is wrong, with the position for JSON syntax errors. Never
        /// quotes the body, except a `token_type` other than `Bearer`.
        reason: String,
    },
}

impl TokenError {
    /// The HTTP status of the answer.
    pub fn status(&self) -> StatusCode {
        match self {
            TokenError::Rejected { status, .. }
            | TokenError::Throttled { status, .. }
            | TokenError::Server { status, .. }
            | TokenError::UnexpectedStatus { status }
            | TokenError::BodyTooLarge { status, .. }
            | TokenError::Malformed { status, .. } => *status,
        }
    }

    /// Whether asking again later can help: throttling and server trouble.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            TokenError::Throttled { .. } | TokenError::Server { .. }
        )
    }

    /// `Retry-After` of a 429 or 5xx answer.
    pub fn retry_after(&self) -> Option<RetryAfter> {
        match self {
            TokenError::Throttled { retry_after, .. } | TokenError::Server { retry_after, .. } => {
                *retry_after
            }
            _ => None,
        }
    }

    /// The RFC 6749 error body, when the server sent one.
    pub fn oauth(&self) -> Option<&OAuthError> {
        match self {
            TokenError::Rejected { oauth, .. }
            | TokenError::Throttled { oauth, .. }
            | TokenError::Server { oauth, .. } => oauth.as_ref(),
            _ => None,
        }
    }
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = self.status().as_u16();
        match self {
            TokenError::Rejected { .. } => {
                write!(f, "token request rejected with http status {status}")?
            }
            TokenError::Throttled { .. } => {
                write!(f, "token request throttled with http status {status}")?
            }
            TokenError::Server { .. } => {
                write!(f, "token endpoint failed with http status {status}")?
            }
            TokenError::UnexpectedStatus { .. } => {
                write!(f, "unexpected http status {status} from token endpoint")?
            }
            TokenError::BodyTooLarge { limit, .. } => write!(
                f,
                "token response with http status {status} is larger than {limit} bytes"
            )?,
            TokenError::Malformed { reason, .. } => write!(
                f,
                "malformed token response with http status {status}: {reason}"
            )?,
        }
        if let Some(oauth) = self.oauth() {
            write!(f, ": {oauth}")?;
        }
        if let Some(RetryAfter::Delay(d)) = self.retry_after() {
            write!(f, " (retry after {} s)", d.as_secs())?;
        } else if let Some(RetryAfter::At(at)) = self.retry_after() {
            write!(f, " (retry after {})", httpdate::fmt_http_date(at))?;
        }
        Ok(())
    }
}

impl std::error::Error for TokenError {}

/// Parses Sentinel's answer with the default body cap.
pub fn parse_token_response<B: AsRef<[u8]>>(
    response: &http::Response<B>,
) -> Result<TokenResponse, TokenError> {
    parse_token_response_with_limit(response, DEFAULT_MAX_BODY)
}

/// Parses Sentinel's answer, refusing bodies over `max_body` bytes.
///
/// * 200: RFC 6749 section 5.1. A missing `Content-Type` or a JSON one
///   (`application/json` with any parameters, `application/*+json`,
///   `text/json`, and `text/plain` which some gateways put on JSON) is
///   accepted; any other (e.g. `text/html`) is [`TokenError::Malformed`].
///   The body must be a JSON object with a non-empty string `access_token`
///   and a string `token_type` equal to `Bearer` in any case; optional
///   `expires_in` is a non-negative integer or a string of digits (some
///   servers quote it) of at most [`MAX_EXPIRES_IN`]; optional `scope` is a
///   string; `null` counts as absent for the optional fields, and unknown
///   fields are ignored.
/// * 429: [`TokenError::Throttled`]; 5xx: [`TokenError::Server`]; other
///   4xx: [`TokenError::Rejected`]; anything else:
///   [`TokenError::UnexpectedStatus`]. Error bodies are read as RFC 6749
///   section 5.2 JSON when they are, and ignored otherwise (also when over
///   the cap); `Retry-After` is read for 429 and 5xx.
pub fn parse_token_response_with_limit<B: AsRef<[u8]>>(
    response: &http::Response<B>,
    max_body: usize,
) -> Result<TokenResponse, TokenError> {
    let status = response.status();
    let body = response.body().as_ref();
    if status != StatusCode::OK {
        return Err(classify_error(response, body, max_body));
    }
    if body.len() > max_body {
        return Err(TokenError::BodyTooLarge {
            status,
            limit: max_body,
        });
    }
    let malformed = |reason: String| TokenError::Malformed { status, reason };
    check_content_type(response.headers()).map_err(malformed)?;
    let object = parse_object(body).map_err(malformed)?;
    success_from(&object).map_err(malformed)
}

fn classify_error<B>(response: &http::Response<B>, body: &[u8], max_body: usize) -> TokenError {
    let status = response.status();
    let oauth = if body.len() <= max_body {
        oauth_error_from(body)
    } else {
        None
    };
    let retry_after = || RetryAfter::from_headers(response.headers());
    if status == StatusCode::TOO_MANY_REQUESTS {
        TokenError::Throttled {
            status,
            retry_after: retry_after(),
            oauth,
        }
    } else if status.is_server_error() {
        TokenError::Server {
            status,
            retry_after: retry_after(),
            oauth,
        }
    } else if status.is_client_error() {
        TokenError::Rejected { status, oauth }
    } else {
        TokenError::UnexpectedStatus { status }
    }
}

/// Reads an RFC 6749 section 5.2 body; anything else gives `None`.
fn oauth_error_from(body: &[u8]) -> Option<OAuthError> {
    let object = parse_object(body).ok()?;
    let text = |key: &str| match object.get(key) {
        Some(Value::String(s)) => Some(s.clone()),
        _ => None,
    };
    Some(OAuthError {
        error: text("error")?,
        error_description: text("error_description"),
        error_uri: text("error_uri"),
    })
}

fn success_from(object: &Map<String, Value>) -> Result<TokenResponse, String> {
    let access_token = match field(object, "access_token") {
        None => return Err("access_token is missing".to_owned()),
        Some(Value::String(s)) => s,
        Some(other) => {
            return Err(format!(
                "access_token is {}, expected a string",
                kind_of(other)
            ));
        }
    };
    if access_token.is_empty() {
        return Err("access_token is empty".to_owned());
    }
    if let Some(position) = access_token
        .bytes()
        .position(|b| !(b' '..=b'~').contains(&b))
    {
        return Err(format!(
            "access_token has a character outside visible ascii at byte {position}"
        ));
    }

    let token_type = match field(object, "token_type") {
        None => return Err("token_type is missing".to_owned()),
        Some(Value::String(s)) => s,
        Some(other) => {
            return Err(format!(
                "token_type is {}, expected a string",
                kind_of(other)
            ));
        }
    };
    if !token_type.eq_ignore_ascii_case("bearer") {
        return Err(format!(
            "token_type is \"{}\", expected \"Bearer\"",
            Untrusted::new(token_type).max_chars(32)
        ));
    }

    let expires_in = field(object, "expires_in")
        .map(expires_in_from)
        .transpose()?;

    let scope = match field(object, "scope") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => return Err(format!("scope is {}, expected a string", kind_of(other))),
    };

    Ok(TokenResponse {
        access_token: AccessToken::new(access_token.clone()),
        token_type: token_type.clone(),
        expires_in,
        scope,
    })
}

fn expires_in_from(value: &Value) -> Result<Duration, String> {
    let secs = match value {
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(secs), _) => secs,
            (None, Some(_)) => return Err("expires_in is negative".to_owned()),
            (None, None) if n.as_f64().is_some_and(|f| f < 0.0) => {
                return Err("expires_in is negative".to_owned());
            }
            (None, None) => return Err("expires_in is not a whole number".to_owned()),
        },
        Value::String(s) if s.starts_with('-') => {
            return Err("expires_in is negative".to_owned());
        }
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            // Too many digits for u64 is beyond the ten-year bound anyway.
            s.parse::<u64>().unwrap_or(u64::MAX)
        }
        Value::String(_) => {
            return Err("expires_in is a string that is not a whole number".to_owned());
        }
        other => {
            return Err(format!(
                "expires_in is {}, expected a number",
                kind_of(other)
            ));
        }
    };
    let duration = Duration::from_secs(secs);
    if duration > MAX_EXPIRES_IN {
        return Err(format!(
            "expires_in is {secs} s, more than the {} s (ten years) accepted",
            MAX_EXPIRES_IN.as_secs()
        ));
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_reason(body: &str, expected: &str) {
        assert_eq!(
            parse_object(body.as_bytes()).map(|_| ()),
            Err(expected.to_owned()),
            "{body}"
        );
    }

    #[test]
    fn json_reasons_give_position_not_text() {
        check_reason("", "body ends early (EOF while parsing) at line 1 column 0");
        check_reason(
            "{\"a\":",
            "body ends early (EOF while parsing) at line 1 column 5",
        );
        check_reason("{x}", "key must be a string at line 1 column 2");
        check_reason("[]", "expected a json object, found an array");
        check_reason("\"secret\"", "expected a json object, found a string");
        check_reason("{} secret", "trailing characters at line 1 column 4");
    }
}
