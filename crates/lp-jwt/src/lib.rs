//! SKELETON: the public API contract of lp-jwt. Bodies are filled in by the
//! crate's implementer; signatures may gain items but should not change.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]
#![allow(missing_docs, clippy::todo, unused_variables)]

use std::time::{Duration, SystemTime};

/// Longest compact token accepted by [`UnverifiedToken::decode`].
pub const DEFAULT_MAX_TOKEN_LEN: usize = 16 * 1024;
/// The issuer every AppJWT carries.
pub const SENTINEL_ISSUER: &str = "Sentinel";
/// Default clock leeway for `exp` and `iat` checks.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);

/// JOSE header. Unknown members are kept in `extra`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Header {
    pub alg: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typ: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// The two parts of an AppJWT key id such as `appjwt-13-05-17`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KidParts<'a> {
    /// `appjwt`.
    pub prefix: &'a str,
    /// The issue-date part, `13-05-17`.
    pub date: &'a str,
}

impl Header {
    /// Splits `kid` at its first `-` when it starts with `appjwt`.
    pub fn kid_parts(&self) -> Option<KidParts<'_>> {
        todo!()
    }
}

/// `aud`: one string or an array of strings (RFC 7519 section 4.1.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        std::iter::empty()
    }
    pub fn contains(&self, aud: &str) -> bool {
        todo!()
    }
}

/// An RFC 7519 NumericDate: seconds since the epoch, possibly fractional,
/// within 0 ..= 253402300799 (year 9999).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct NumericDate(f64);

impl NumericDate {
    pub const MAX_SECS: i64 = 253_402_300_799;
    pub fn from_secs(secs: i64) -> Option<Self> {
        todo!()
    }
    pub fn from_f64(secs: f64) -> Option<Self> {
        todo!()
    }
    pub fn as_f64(self) -> f64 {
        self.0
    }
    /// Whole seconds, rounded down.
    pub fn as_secs(self) -> i64 {
        todo!()
    }
    pub fn to_system_time(self) -> SystemTime {
        todo!()
    }
}

/// AppJWT claims. All registered claims are optional at the type level;
/// [`Validation`] decides which are required. Unknown claims are kept.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AppJwtClaims {
    pub aud: Option<Audience>,
    pub azp: Option<String>,
    pub scope: Option<String>,
    pub iss: Option<String>,
    pub exp: Option<NumericDate>,
    pub iat: Option<NumericDate>,
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// Which part of a compact token an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Segment {
    Header,
    Claims,
    Signature,
}

/// Why a compact token could not be decoded.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum DecodeError {
    TooLong { len: usize, max: usize },
    SegmentCount { found: usize },
    // ... further variants are the implementer's, each with a position where
    // one makes sense.
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        todo!()
    }
}
impl std::error::Error for DecodeError {}

/// A compact JWS split and decoded once, signature not checked.
#[derive(Debug, Clone)]
pub struct UnverifiedToken<'a> {
    token: &'a str,
    header: Header,
    claims: AppJwtClaims,
    signature: Vec<u8>,
}

impl<'a> UnverifiedToken<'a> {
    pub fn decode(token: &'a str) -> Result<Self, DecodeError> {
        todo!()
    }
    pub fn decode_with_limit(token: &'a str, max_len: usize) -> Result<Self, DecodeError> {
        todo!()
    }
    pub fn header(&self) -> &Header {
        &self.header
    }
    pub fn claims(&self) -> &AppJwtClaims {
        &self.claims
    }
    /// `base64url(header) '.' base64url(claims)`: the bytes the signature covers.
    pub fn signing_input(&self) -> &'a [u8] {
        todo!()
    }
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }
    pub fn into_parts(self) -> (Header, AppJwtClaims) {
        (self.header, self.claims)
    }
}

/// Encodes `base64url(json(header)) '.' base64url(json(claims))`.
pub fn encode_signing_input(header: &Header, claims: &AppJwtClaims) -> String {
    todo!()
}

/// Appends `'.' base64url(signature)` to a signing input.
pub fn assemble(signing_input: &str, signature: &[u8]) -> String {
    todo!()
}

/// What a token must satisfy; `now` is given to [`Validation::validate`].
#[derive(Debug, Clone)]
pub struct Validation {
    account: String,
    client_id: Option<String>,
    issuer: String,
    leeway: Duration,
}

impl Validation {
    /// Expect `aud` to be `account` (or `le` + `account`).
    pub fn new(account: &str) -> Self {
        todo!()
    }
    pub fn client_id(self, client_id: &str) -> Self {
        todo!()
    }
    pub fn issuer(self, issuer: &str) -> Self {
        todo!()
    }
    pub fn leeway(self, leeway: Duration) -> Self {
        todo!()
    }
    pub fn validate(
        &self,
        header: &Header,
        claims: &AppJwtClaims,
        now: SystemTime,
    ) -> Result<(), ValidationError> {
        todo!()
    }
}

/// Why a decoded token is not acceptable. One variant per check.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ValidationError {
    Algorithm { found: String },
    MissingClaim { claim: &'static str },
    Audience { expected: String },
    AuthorizedParty { expected: String },
    Issuer { expected: String, found: String },
    Expired { exp: NumericDate, now: i64 },
    IssuedInFuture { iat: NumericDate, now: i64 },
}

impl std::fmt::Display for ValidationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        todo!()
    }
}
impl std::error::Error for ValidationError {}
