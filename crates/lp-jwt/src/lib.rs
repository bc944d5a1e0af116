//! LivePerson AppJWT header and claim types: strict decoding and
//! validation, no IO, no clock.
//!
//! ```
//! use std::time::{Duration, UNIX_EPOCH};
//! use lp_jwt::{Audience, UnverifiedToken, Validation, ValidationError};
//!
//! // The example token from LivePerson's "Get AppJWT" page.
//! let token = "eyJraWQiOiJhcHBqd3QtMTMtMDUtMTciLCJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.\
//! eyJhdWQiOiJsZTgxODIzMTE4IiwiYXpwIjoiNzU1ODhlMTgtMDIxMy00ZTMzLTgxNzQtODgzYWNhYzdlM2M0\
//! Iiwic2NvcGUiOiJtc2cuY29uc3VtZXIiLCJpc3MiOiJTZW50aW5lbCIsImV4cCI6MTUyNDY0NjI3MCwiaWF0\
//! IjoxNTI0NjQyNjcwfQ.aC1EbVQDIKJkrMgfoqhDqo5KZVMILTGP5UnK_4lUJQIfpFcrymvQKU9E6zt_WDhWmM\
//! 2SOOcr1sz4u5xVZ9rMWZciDW_9KofEM2NDgVw1EVBxAIgGYeO0sbE9o--HKjk9DHZvukJkQFhYaHMDnj6ay4\
//! BNUqTJpDn6y3XQY7eh7rM";
//! let jwt = UnverifiedToken::decode(token)?;
//! assert_eq!(jwt.header().alg, "RS256");
//! assert_eq!(jwt.header().kid_parts().map(|k| k.date), Some("13-05-17"));
//! assert_eq!(jwt.claims().aud, Some(Audience::One("le81823118".into())));
//! assert_eq!(jwt.claims().exp.map(|d| d.as_secs()), Some(1_524_646_270));
//!
//! // `now` is a parameter: this crate never reads the clock.
//! let validation = Validation::new("81823118").client_id("75588e18-0213-4e33-8174-883acac7e3c4");
//! let issued = UNIX_EPOCH + Duration::from_secs(1_524_642_670);
//! assert_eq!(validation.validate(jwt.header(), jwt.claims(), issued), Ok(()));
//! let later = issued + Duration::from_secs(2 * 3600);
//! assert!(matches!(
//!     validation.validate(jwt.header(), jwt.claims(), later),
//!     Err(ValidationError::Expired { .. })
//! ));
//! # Ok::<(), lp_jwt::DecodeError>(())
//! ```
//!
//! # Decoding is strict
//!
//! [`UnverifiedToken::decode`] accepts exactly three segments of unpadded,
//! canonical base64url (no whitespace, no set trailing bits), whose first two
//! decode to UTF-8 JSON objects without repeated keys (at any depth). A
//! registered member of the wrong type (`"exp": "soon"`, `"aud": 5`,
//! `"typ": null`) is an error, never treated as absent; `exp` and `iat` must
//! be NumericDates within 0 ..= 253402300799 (fractions allowed). Tokens over
//! [`DEFAULT_MAX_TOKEN_LEN`] are refused before anything is decoded. Errors
//! name the segment and a position, never the token's bytes.
//!
//! # What this crate does not do
//!
//! It knows nothing of HTTP and never reads the clock. Without the `verify`
//! feature it does not check signatures: a decoded and validated token is
//! well-formed and plausible, not authentic.
//!
//! # Features
//!
//! - `verify` (off by default): RS256 signature verification with `ring`,
//!   keys from SubjectPublicKeyInfo DER or PEM, JWK and JWKS, and LivePerson's
//!   published v1 key.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod b64;
mod claims;
mod decode;
mod fast;
mod header;
mod strict;
mod untrusted;
mod validate;

pub use claims::{AppJwtClaims, Audience, NumericDate};
pub use decode::{
    DEFAULT_MAX_TOKEN_LEN, DecodeError, Segment, UnverifiedToken, assemble, encode_signing_input,
};
pub use header::{Header, KidParts};
pub use untrusted::Untrusted;
#[cfg(feature = "verify")]
mod verify;
#[cfg(feature = "verify")]
pub use verify::{
    Jwks, KeyError, LIVEPERSON_V1_PUBLIC_KEY_B64, MAX_RSA_BITS, MIN_RSA_BITS, Rs256Verifier,
    SkippedKey, VerifyError,
};

pub use validate::{DEFAULT_LEEWAY, RS256, SENTINEL_ISSUER, Validation, ValidationError};
