//! SKELETON: the public API contract of lp-oauth. Bodies are filled in by the
//! crate's implementer; signatures may gain items but should not change.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]
#![allow(missing_docs, clippy::todo, unused_variables)]

use std::time::{Duration, SystemTime};

pub use lp_ids::{AccountId, ClientId, Host, IdError};

/// Largest response body [`parse_token_response`] accepts.
pub const DEFAULT_MAX_BODY: usize = 64 * 1024;
/// Longest client secret accepted.
pub const MAX_SECRET_LEN: usize = 1024;

/// The client secret. `Debug` prints `ClientSecret([redacted])`; no
/// `Display`, `Serialize` or `PartialEq`; zeroized on drop.
pub struct ClientSecret(zeroize::Zeroizing<String>);

impl ClientSecret {
    /// Non-empty, at most [`MAX_SECRET_LEN`] bytes, no control characters.
    pub fn new(secret: impl Into<String>) -> Result<Self, IdError> {
        todo!()
    }
    /// The secret itself, for building the request body.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
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
#[derive(Debug, Clone)]
pub struct TokenRequest {
    pub sentinel: Host,
    pub account: AccountId,
    pub client_id: ClientId,
    pub client_secret: ClientSecret,
    pub version: ApiVersion,
}

impl TokenRequest {
    /// Builds the HTTPS request. The secret goes only into the form body.
    pub fn to_http(&self) -> http::Request<Vec<u8>> {
        todo!()
    }
}

/// The access token string. `Debug` is redacted; [`AccessToken::secret`]
/// gives the text.
#[derive(Clone)]
pub struct AccessToken(String);

impl AccessToken {
    pub fn new(token: String) -> Self {
        AccessToken(token)
    }
    pub fn secret(&self) -> &str {
        &self.0
    }
    pub fn into_string(self) -> String {
        self.0
    }
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccessToken([redacted])")
    }
}

/// A successful RFC 6749 section 5.1 answer.
#[derive(Debug, Clone)]
pub struct TokenResponse {
    pub access_token: AccessToken,
    /// As sent; checked to be `Bearer` case-insensitively.
    pub token_type: String,
    pub expires_in: Option<Duration>,
    pub scope: Option<String>,
}

/// `Retry-After`: delay seconds or an HTTP date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryAfter {
    Delay(Duration),
    At(SystemTime),
}

impl RetryAfter {
    /// How long to wait from `now` (zero when the date is past).
    pub fn delay_from(&self, now: SystemTime) -> Duration {
        todo!()
    }
}

/// The RFC 6749 section 5.2 error body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    pub error: String,
    pub error_description: Option<String>,
    pub error_uri: Option<String>,
}

/// Why a token response is not a token.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum TokenError {
    /// 400/401/403 and other 4xx except 429: the request or the credentials
    /// were refused. Retrying cannot help.
    Rejected { status: http::StatusCode, oauth: Option<OAuthError> },
    /// 429.
    Throttled { status: http::StatusCode, retry_after: Option<RetryAfter>, oauth: Option<OAuthError> },
    /// 5xx: worth retrying.
    Server { status: http::StatusCode, retry_after: Option<RetryAfter>, oauth: Option<OAuthError> },
    /// Any other non-200 status (1xx, 3xx: redirects are not followed).
    UnexpectedStatus { status: http::StatusCode },
    /// The body exceeded the cap.
    BodyTooLarge { status: http::StatusCode, limit: usize },
    /// A 200 whose body is not a valid token response.
    Malformed { status: http::StatusCode, reason: String },
}

impl TokenError {
    pub fn status(&self) -> http::StatusCode {
        todo!()
    }
    pub fn is_retryable(&self) -> bool {
        todo!()
    }
    pub fn retry_after(&self) -> Option<RetryAfter> {
        todo!()
    }
    pub fn oauth(&self) -> Option<&OAuthError> {
        todo!()
    }
}

impl std::fmt::Display for TokenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        todo!()
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
pub fn parse_token_response_with_limit<B: AsRef<[u8]>>(
    response: &http::Response<B>,
    max_body: usize,
) -> Result<TokenResponse, TokenError> {
    todo!()
}
