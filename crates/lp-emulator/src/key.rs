//! The RS256 signing key, its JWK, and the `appjwt-DD-MM-YY` key id.

use std::fmt;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::RsaKeyPair;
use rsa::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _, EncodePublicKey as _};
use rsa::traits::PublicKeyParts as _;

use crate::EmulatorError;

/// Modulus size of generated keys, like LivePerson's published v1 key.
pub const RSA_BITS: usize = 2048;

/// An RSA key pair that signs AppJWTs (RS256), with its key id.
///
/// Cheap to clone (the key material is shared), so one generated key can be
/// reused by many emulators in a test suite. `Debug` shows the kid only.
///
/// `ring` signs RSA but cannot generate RSA keys, so [`SigningKey::generate`]
/// makes the key with the `rsa` crate from the operating system's random
/// source, exports it as PKCS#8 and hands it to `ring`, which does all the
/// signing. Keys live in memory only; the emulator never writes one to disk.
#[derive(Clone)]
pub struct SigningKey {
    inner: Arc<KeyMaterial>,
    kid: String,
}

struct KeyMaterial {
    pair: RsaKeyPair,
    /// Big-endian modulus, no leading zero.
    n: Vec<u8>,
    /// Big-endian public exponent, no leading zero.
    e: Vec<u8>,
    /// SubjectPublicKeyInfo DER of the public key.
    spki: Vec<u8>,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// One key per process, generated on first use and then cloned (clones
    /// share the key material): for test suites that start many emulators
    /// and should not pay for RSA key generation each time. Two threads
    /// racing on the first call may both generate; one key wins.
    pub fn shared() -> Result<Self, EmulatorError> {
        static KEY: std::sync::OnceLock<SigningKey> = std::sync::OnceLock::new();
        if let Some(key) = KEY.get() {
            return Ok(key.clone());
        }
        let key = SigningKey::generate()?;
        Ok(KEY.get_or_init(|| key).clone())
    }

    /// Generates a fresh RSA-2048 key with the kid `appjwt-DD-MM-YY` of
    /// today (UTC).
    ///
    /// This takes a noticeable fraction of a second; call it once and clone.
    pub fn generate() -> Result<Self, EmulatorError> {
        let mut rng = rsa::rand_core::OsRng;
        let private = rsa::RsaPrivateKey::new(&mut rng, RSA_BITS).map_err(|e| {
            EmulatorError::KeyGeneration {
                reason: e.to_string(),
            }
        })?;
        let pkcs8 = private
            .to_pkcs8_der()
            .map_err(|e| EmulatorError::KeyGeneration {
                reason: e.to_string(),
            })?;
        Self::from_pkcs8_der(pkcs8.as_bytes(), kid_for(SystemTime::now()))
    }

    /// Loads an RSA private key in PKCS#8 DER form with the given kid.
    pub fn from_pkcs8_der(der: &[u8], kid: impl Into<String>) -> Result<Self, EmulatorError> {
        let invalid = |reason: String| EmulatorError::InvalidKey { reason };
        let private =
            rsa::RsaPrivateKey::from_pkcs8_der(der).map_err(|e| invalid(e.to_string()))?;
        let public = private.to_public_key();
        let spki = public
            .to_public_key_der()
            .map_err(|e| invalid(e.to_string()))?
            .into_vec();
        let pair = RsaKeyPair::from_pkcs8(der).map_err(|e| invalid(e.to_string()))?;
        Ok(SigningKey {
            inner: Arc::new(KeyMaterial {
                pair,
                n: public.n().to_bytes_be(),
                e: public.e().to_bytes_be(),
                spki,
            }),
            kid: kid.into(),
        })
    }

    /// The same key under another kid.
    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = kid.into();
        self
    }

    /// The key id carried in the JWT header and the JWKS.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key as SubjectPublicKeyInfo DER (the form LivePerson
    /// publishes its v1 key in, base64-encoded).
    pub fn public_key_spki_der(&self) -> &[u8] {
        &self.inner.spki
    }

    /// The big-endian modulus `n`, without leading zero bytes.
    pub fn modulus(&self) -> &[u8] {
        &self.inner.n
    }

    /// The big-endian public exponent `e`, without leading zero bytes.
    pub fn exponent(&self) -> &[u8] {
        &self.inner.e
    }

    /// This key as a JWK (RFC 7517) object.
    pub fn jwk(&self) -> serde_json::Value {
        serde_json::json!({
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": self.kid,
            "n": URL_SAFE_NO_PAD.encode(&self.inner.n),
            "e": URL_SAFE_NO_PAD.encode(&self.inner.e),
        })
    }

    /// Signs `message` with RSASSA-PKCS1-v1_5 and SHA-256.
    pub(crate) fn sign(
        &self,
        rng: &ring::rand::SystemRandom,
        message: &[u8],
    ) -> Result<Vec<u8>, EmulatorError> {
        let mut sig = vec![0u8; self.inner.pair.public().modulus_len()];
        self.inner
            .pair
            .sign(&ring::signature::RSA_PKCS1_SHA256, rng, message, &mut sig)
            .map_err(|_| EmulatorError::Signing)?;
        Ok(sig)
    }
}

/// `appjwt-DD-MM-YY` for the UTC day of `at` (a time before 1970 counts as
/// 1970-01-01).
pub fn kid_for(at: SystemTime) -> String {
    let secs = at
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = i64::try_from(secs / 86_400).unwrap_or(i64::MAX / 2);
    let (y, m, d) = civil_from_days(days);
    format!("appjwt-{d:02}-{m:02}-{:02}", y.rem_euclid(100))
}

/// The proleptic Gregorian date (year, month 1..=12, day 1..=31) of the
/// day `days` after 1970-01-01.
///
/// This is Howard Hinnant's `civil_from_days`: shift the epoch to
/// 0000-03-01 so that the leap day ends each 400-year era's years, then
/// split into era, year of era, day of year and month with March as 0.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11], March = 0
    let day = doy - (153 * mp + 2) / 5 + 1; // [1, 31]
    let month = if mp < 10 { mp + 3 } else { mp - 9 }; // [1, 12]
    let year = yoe + era * 400 + i64::from(month <= 2);
    // Both are small and positive by construction.
    (year, month as u32, day as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn civil_dates() {
        fn check(days: i64, expected: (i64, u32, u32)) {
            assert_eq!(civil_from_days(days), expected, "day {days}");
        }
        check(0, (1970, 1, 1));
        check(-1, (1969, 12, 31));
        check(59, (1970, 3, 1));
        check(10_957, (2000, 1, 1));
        check(11_016, (2000, 2, 29));
        check(11_017, (2000, 3, 1));
        check(17_299, (2017, 5, 13)); // the seed's kid appjwt-13-05-17
        check(19_782, (2024, 2, 29));
        check(20_454, (2026, 1, 1));
        check(47_541, (2100, 3, 1)); // 2100 is not a leap year
        check(47_540, (2100, 2, 28));
    }

    #[test]
    fn civil_dates_are_consecutive() {
        // Walking day by day must never skip or repeat a date.
        let mut prev = civil_from_days(-800_000);
        for days in -799_999..800_000 {
            let cur = civil_from_days(days);
            let next_day = (prev.0, prev.1, prev.2 + 1);
            let next_month = (prev.0, prev.1 + 1, 1);
            let next_year = (prev.0 + 1, 1, 1);
            assert!(
                cur == next_day || cur == next_month || cur == next_year,
                "{prev:?} -> {cur:?}"
            );
            assert!((1..=12).contains(&cur.1) && (1..=31).contains(&cur.2));
            prev = cur;
        }
    }

    #[test]
    fn kids() {
        fn check(secs: u64, expected: &str) {
            assert_eq!(kid_for(UNIX_EPOCH + Duration::from_secs(secs)), expected);
        }
        check(0, "appjwt-01-01-70");
        check(1_494_633_600, "appjwt-13-05-17");
        check(1_524_642_670, "appjwt-25-04-18");
        check(1_798_761_599, "appjwt-31-12-26");
        check(1_798_761_600, "appjwt-01-01-27");
    }
}
