//! Checking decoded claims against what the caller expects.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::claims::{AppJwtClaims, NumericDate};
use crate::header::Header;
use crate::untrusted::Untrusted;

/// The issuer every AppJWT carries.
pub const SENTINEL_ISSUER: &str = "Sentinel";
/// Default clock leeway for `exp` and `iat` checks.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);
/// The only algorithm an AppJWT is signed with.
pub const RS256: &str = "RS256";

/// What a token must satisfy; `now` is given to [`Validation::validate`].
///
/// Checks, in order, each with its own [`ValidationError`]:
/// `alg` is `RS256`; `iss` is the issuer (default [`SENTINEL_ISSUER`]);
/// `aud` contains the account id or `le` + the account id; `azp` is the
/// client id when one was set; `exp` is present and `now <= exp + leeway`;
/// `iat`, when present, is not after `now + leeway`.
///
/// The `le` form is accepted because the seed's own example token carries
/// `"aud": "le81823118"` while the documentation says `aud` is the account
/// id; both forms occur.
#[derive(Debug, Clone)]
pub struct Validation {
    account: String,
    client_id: Option<String>,
    issuer: String,
    leeway: Duration,
}

impl Validation {
    /// Expect `aud` to be `account` (or `le` + `account`), issuer `Sentinel`,
    /// leeway [`DEFAULT_LEEWAY`], any `azp`.
    pub fn new(account: &str) -> Self {
        Validation {
            account: account.to_owned(),
            client_id: None,
            issuer: SENTINEL_ISSUER.to_owned(),
            leeway: DEFAULT_LEEWAY,
        }
    }

    /// Also require `azp` to equal `client_id`.
    pub fn client_id(self, client_id: &str) -> Self {
        Validation {
            client_id: Some(client_id.to_owned()),
            ..self
        }
    }

    /// Require this issuer instead of `Sentinel`.
    pub fn issuer(self, issuer: &str) -> Self {
        Validation {
            issuer: issuer.to_owned(),
            ..self
        }
    }

    /// Clock leeway for `exp` and `iat`.
    pub fn leeway(self, leeway: Duration) -> Self {
        Validation { leeway, ..self }
    }

    /// Whether `aud` value `aud` names the expected account.
    fn audience_matches(&self, aud: &str) -> bool {
        aud == self.account || aud.strip_prefix("le") == Some(self.account.as_str())
    }

    /// Checks `header` and `claims` at time `now`.
    pub fn validate(
        &self,
        header: &Header,
        claims: &AppJwtClaims,
        now: SystemTime,
    ) -> Result<(), ValidationError> {
        if header.alg != RS256 {
            return Err(ValidationError::Algorithm {
                found: header.alg.clone().into_owned(),
            });
        }
        let iss = claims
            .iss
            .as_deref()
            .ok_or(ValidationError::MissingClaim { claim: "iss" })?;
        if iss != self.issuer {
            return Err(ValidationError::Issuer {
                expected: self.issuer.clone(),
                found: iss.to_owned(),
            });
        }
        let aud = claims
            .aud
            .as_ref()
            .ok_or(ValidationError::MissingClaim { claim: "aud" })?;
        if !aud.iter().any(|a| self.audience_matches(a)) {
            return Err(ValidationError::Audience {
                expected: self.account.clone(),
            });
        }
        if let Some(client_id) = &self.client_id {
            let azp = claims
                .azp
                .as_deref()
                .ok_or(ValidationError::MissingClaim { claim: "azp" })?;
            if azp != client_id {
                return Err(ValidationError::AuthorizedParty {
                    expected: client_id.clone(),
                });
            }
        }
        let exp = claims
            .exp
            .ok_or(ValidationError::MissingClaim { claim: "exp" })?;
        // f64 arithmetic: dates are bounded by year 9999 and the leeway by
        // Duration::MAX (~5.8e11 years), so nothing overflows or panics.
        let now_f = secs_since_epoch(now);
        let leeway = self.leeway.as_secs_f64();
        if now_f > exp.as_f64() + leeway {
            return Err(ValidationError::Expired {
                exp,
                now: whole_secs(now),
            });
        }
        if let Some(iat) = claims.iat {
            if iat.as_f64() > now_f + leeway {
                return Err(ValidationError::IssuedInFuture {
                    iat,
                    now: whole_secs(now),
                });
            }
        }
        Ok(())
    }
}

/// Seconds since the epoch, negative before it.
fn secs_since_epoch(t: SystemTime) -> f64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}

/// Whole seconds since the epoch, saturating at the i64 range.
fn whole_secs(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_secs()).map_or(i64::MIN, |s| s.saturating_neg()),
    }
}

/// Why a decoded token is not acceptable. One variant per check.
///
/// Messages name claims and expected values but never the token.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ValidationError {
    /// `alg` is not `RS256`.
    Algorithm {
        /// The header's `alg`.
        found: String,
    },
    /// A claim the validation needs is absent.
    MissingClaim {
        /// Its name.
        claim: &'static str,
    },
    /// No `aud` value names the expected account.
    Audience {
        /// The expected account id.
        expected: String,
    },
    /// `azp` is not the expected client id.
    AuthorizedParty {
        /// The expected client id.
        expected: String,
    },
    /// `iss` is not the expected issuer.
    Issuer {
        /// The expected issuer.
        expected: String,
        /// The token's issuer.
        found: String,
    },
    /// `now` is after `exp` plus the leeway.
    Expired {
        /// The token's `exp`.
        exp: NumericDate,
        /// `now`, in whole seconds since the epoch.
        now: i64,
    },
    /// `iat` is after `now` plus the leeway.
    IssuedInFuture {
        /// The token's `iat`.
        iat: NumericDate,
        /// `now`, in whole seconds since the epoch.
        now: i64,
    },
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ValidationError::Algorithm { found } => {
                write!(
                    f,
                    "algorithm `{}` is not accepted, expected RS256",
                    Untrusted::new(found)
                )
            }
            ValidationError::MissingClaim { claim } => {
                write!(f, "required claim `{claim}` is missing")
            }
            ValidationError::Audience { expected } => {
                let expected = Untrusted::new(expected);
                write!(
                    f,
                    "audience does not name account `{expected}` (nor `le{expected}`)"
                )
            }
            ValidationError::AuthorizedParty { expected } => {
                write!(
                    f,
                    "authorized party (azp) is not client id `{}`",
                    Untrusted::new(expected)
                )
            }
            ValidationError::Issuer { expected, found } => {
                write!(
                    f,
                    "issuer is `{}`, expected `{}`",
                    Untrusted::new(found),
                    Untrusted::new(expected)
                )
            }
            ValidationError::Expired { exp, now } => {
                write!(f, "token expired at {exp}, now is {now}")
            }
            ValidationError::IssuedInFuture { iat, now } => {
                write!(f, "token issued in the future at {iat}, now is {now}")
            }
        }
    }
}

impl std::error::Error for ValidationError {}
