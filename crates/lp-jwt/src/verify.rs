//! RS256 signature verification with `ring` (feature `verify`).
//!
//! A key is parsed and checked once, into an [`Rs256Verifier`]; verifying a
//! token then only hashes and exponentiates. The algorithm is bound to the
//! key: the token's `alg` header is only checked to be `RS256`, it never
//! selects anything.

use std::fmt;

use ring::signature::{RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents};

use crate::decode::UnverifiedToken;
use crate::untrusted::{MESSAGE_CHARS, Untrusted};
use crate::validate::RS256;

/// LivePerson's published v1 public key for AppJWTs (RSA-2048,
/// SubjectPublicKeyInfo DER, standard base64), from the "OAuth 2.0 Client
/// Credentials" documentation page, character for character.
pub const LIVEPERSON_V1_PUBLIC_KEY_B64: &str = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAvGQctwBFFZBaSu+LC4LVk/4/XyVQmhcwM5a91lT7BwZug/GtpR+ZGpKkiZSgTehRdBJKSPjv5K6D8/cBm28OV11Mekjn1PJrveSXrRsfUbOqIHgpfVtnkxN3ZaV6GSWQrrZArkpbAm+Kf5o5jxFPhCadB8BdRGCbMI3rFEkYSFqnmptI3olIAtAjmtbLJnwYZyXl2WZXMBmORLXnV9aTMGp4uFZdX+QbK808q55zxSB5HM3N9B8NLUP1TELc6N2dhWk2RwR/C9WvQYH/UAnxqVEwrAXt+rb+YWuu92Dj4NLAmpEYbRQi+S+5Y6t5g6kX/QMQ/ycdFOW/WA3JoptUSQIDAQAB";

/// The modulus of [`LIVEPERSON_V1_PUBLIC_KEY_B64`], so
/// [`Rs256Verifier::liveperson_v1`] needs no parsing and cannot fail. A test
/// checks the two agree.
const LIVEPERSON_V1_MODULUS: [u8; 256] = [
    0xbc, 0x64, 0x1c, 0xb7, 0x00, 0x45, 0x15, 0x90, 0x5a, 0x4a, 0xef, 0x8b, 0x0b, 0x82, 0xd5, 0x93,
    0xfe, 0x3f, 0x5f, 0x25, 0x50, 0x9a, 0x17, 0x30, 0x33, 0x96, 0xbd, 0xd6, 0x54, 0xfb, 0x07, 0x06,
    0x6e, 0x83, 0xf1, 0xad, 0xa5, 0x1f, 0x99, 0x1a, 0x92, 0xa4, 0x89, 0x94, 0xa0, 0x4d, 0xe8, 0x51,
    0x74, 0x12, 0x4a, 0x48, 0xf8, 0xef, 0xe4, 0xae, 0x83, 0xf3, 0xf7, 0x01, 0x9b, 0x6f, 0x0e, 0x57,
    0x5d, 0x4c, 0x7a, 0x48, 0xe7, 0xd4, 0xf2, 0x6b, 0xbd, 0xe4, 0x97, 0xad, 0x1b, 0x1f, 0x51, 0xb3,
    0xaa, 0x20, 0x78, 0x29, 0x7d, 0x5b, 0x67, 0x93, 0x13, 0x77, 0x65, 0xa5, 0x7a, 0x19, 0x25, 0x90,
    0xae, 0xb6, 0x40, 0xae, 0x4a, 0x5b, 0x02, 0x6f, 0x8a, 0x7f, 0x9a, 0x39, 0x8f, 0x11, 0x4f, 0x84,
    0x26, 0x9d, 0x07, 0xc0, 0x5d, 0x44, 0x60, 0x9b, 0x30, 0x8d, 0xeb, 0x14, 0x49, 0x18, 0x48, 0x5a,
    0xa7, 0x9a, 0x9b, 0x48, 0xde, 0x89, 0x48, 0x02, 0xd0, 0x23, 0x9a, 0xd6, 0xcb, 0x26, 0x7c, 0x18,
    0x67, 0x25, 0xe5, 0xd9, 0x66, 0x57, 0x30, 0x19, 0x8e, 0x44, 0xb5, 0xe7, 0x57, 0xd6, 0x93, 0x30,
    0x6a, 0x78, 0xb8, 0x56, 0x5d, 0x5f, 0xe4, 0x1b, 0x2b, 0xcd, 0x3c, 0xab, 0x9e, 0x73, 0xc5, 0x20,
    0x79, 0x1c, 0xcd, 0xcd, 0xf4, 0x1f, 0x0d, 0x2d, 0x43, 0xf5, 0x4c, 0x42, 0xdc, 0xe8, 0xdd, 0x9d,
    0x85, 0x69, 0x36, 0x47, 0x04, 0x7f, 0x0b, 0xd5, 0xaf, 0x41, 0x81, 0xff, 0x50, 0x09, 0xf1, 0xa9,
    0x51, 0x30, 0xac, 0x05, 0xed, 0xfa, 0xb6, 0xfe, 0x61, 0x6b, 0xae, 0xf7, 0x60, 0xe3, 0xe0, 0xd2,
    0xc0, 0x9a, 0x91, 0x18, 0x6d, 0x14, 0x22, 0xf9, 0x2f, 0xb9, 0x63, 0xab, 0x79, 0x83, 0xa9, 0x17,
    0xfd, 0x03, 0x10, 0xff, 0x27, 0x1d, 0x14, 0xe5, 0xbf, 0x58, 0x0d, 0xc9, 0xa2, 0x9b, 0x54, 0x49,
];
const F4: [u8; 3] = [0x01, 0x00, 0x01];

/// Smallest RSA modulus accepted, in bits.
pub const MIN_RSA_BITS: usize = 2048;
/// Largest RSA modulus accepted, in bits (ring's limit).
pub const MAX_RSA_BITS: usize = 8192;

/// Why a public key could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    /// The DER is not a well-formed SubjectPublicKeyInfo or RSAPublicKey.
    Der {
        /// Byte offset in the DER where parsing failed.
        offset: usize,
    },
    /// The SubjectPublicKeyInfo is for another algorithm than RSA.
    NotRsa,
    /// No `-----BEGIN PUBLIC KEY-----` (or `RSA PUBLIC KEY`) block, or its
    /// body is not base64.
    Pem,
    /// The JWK or JWKS is not the JSON expected.
    Json {
        /// What the JSON parser reported.
        message: String,
    },
    /// The JWK's `kty` is not `RSA`.
    KeyType {
        /// The `kty` found.
        kty: String,
    },
    /// The JWK says it is for another algorithm than RS256.
    Algorithm {
        /// The `alg` found.
        alg: String,
    },
    /// The JWK says it is not for signatures (`use` other than `sig`).
    Use {
        /// The `use` found.
        key_use: String,
    },
    /// A JWK member is missing.
    MissingMember {
        /// `n` or `e`.
        name: &'static str,
    },
    /// A JWK member is not base64url.
    Base64 {
        /// `n` or `e`.
        name: &'static str,
    },
    /// The modulus is shorter than [`MIN_RSA_BITS`].
    TooShort {
        /// Its size in bits.
        bits: usize,
    },
    /// The modulus is longer than [`MAX_RSA_BITS`].
    TooLong {
        /// Its size in bits.
        bits: usize,
    },
    /// The modulus is even, or the exponent is not an odd number in
    /// 3 ..= 2^33 - 1.
    BadNumbers,
    /// A JWKS holds no RS256 signing key.
    NoUsableKey {
        /// How many keys of the set were left out.
        skipped: usize,
        /// The first key left out and why, when there was one.
        first: Option<Box<SkippedKey>>,
    },
}

impl KeyError {
    /// Whether this says the key is meant for something else (another
    /// key type, algorithm or use) rather than being a broken RS256 key.
    fn is_other_purpose(&self) -> bool {
        matches!(
            self,
            KeyError::KeyType { .. } | KeyError::Algorithm { .. } | KeyError::Use { .. }
        )
    }

    fn no_usable_key(skipped: Vec<SkippedKey>) -> KeyError {
        KeyError::NoUsableKey {
            skipped: skipped.len(),
            first: skipped.into_iter().next().map(Box::new),
        }
    }
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::Der { offset } => {
                write!(f, "malformed RSA public key DER at byte {offset}")
            }
            KeyError::NotRsa => f.write_str("public key is not an RSA key"),
            KeyError::Pem => {
                f.write_str("no valid `-----BEGIN PUBLIC KEY-----` block in the PEM text")
            }
            KeyError::Json { message } => write!(
                f,
                "invalid JWK JSON: {}",
                Untrusted::new(message).max_chars(MESSAGE_CHARS)
            ),
            KeyError::KeyType { kty } => {
                write!(f, "JWK kty `{}` is not RSA", Untrusted::new(kty))
            }
            KeyError::Algorithm { alg } => {
                write!(f, "JWK alg `{}` is not RS256", Untrusted::new(alg))
            }
            KeyError::Use { key_use } => {
                write!(f, "JWK use `{}` is not sig", Untrusted::new(key_use))
            }
            KeyError::MissingMember { name } => write!(f, "JWK member `{name}` is missing"),
            KeyError::Base64 { name } => write!(f, "JWK member `{name}` is not base64url"),
            KeyError::TooShort { bits } => write!(
                f,
                "RSA key has {bits} bits, at least {MIN_RSA_BITS} are required"
            ),
            KeyError::TooLong { bits } => {
                write!(
                    f,
                    "RSA key has {bits} bits, at most {MAX_RSA_BITS} are supported"
                )
            }
            KeyError::BadNumbers => f.write_str("RSA modulus or exponent is not usable"),
            KeyError::NoUsableKey { skipped, first } => {
                f.write_str("JWKS holds no RS256 signing key")?;
                match first {
                    Some(first) => write!(f, " ({skipped} skipped, first {first})"),
                    None => Ok(()),
                }
            }
        }
    }
}

impl std::error::Error for KeyError {}

/// Why a token's signature was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifyError {
    /// The header's `alg` is not `RS256` (`none`, `HS256`, ... are refused).
    Algorithm {
        /// The header's `alg`.
        found: String,
    },
    /// The signature's length does not match the key's modulus, e.g. a
    /// 1024-bit signature checked against a 2048-bit key.
    SignatureLength {
        /// The key's modulus length in bytes.
        expected: usize,
        /// The signature's length in bytes.
        found: usize,
    },
    /// The signature does not match the signing input and key.
    BadSignature,
    /// A [`Jwks`] has no key with the token's `kid`.
    UnknownKeyId {
        /// The token's `kid`, if any.
        kid: Option<String>,
    },
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifyError::Algorithm { found } => write!(
                f,
                "token algorithm `{}` is refused, only RS256 is accepted",
                Untrusted::new(found)
            ),
            VerifyError::SignatureLength { expected, found } => write!(
                f,
                "signature is {found} bytes ({} bits), the key needs {expected} ({} bits)",
                found.saturating_mul(8),
                expected.saturating_mul(8)
            ),
            VerifyError::BadSignature => f.write_str("signature does not match"),
            VerifyError::UnknownKeyId { kid: Some(kid) } => {
                write!(f, "no verification key with kid `{}`", Untrusted::new(kid))
            }
            VerifyError::UnknownKeyId { kid: None } => {
                f.write_str("token has no kid and the key set holds more than one key")
            }
        }
    }
}

impl std::error::Error for VerifyError {}

/// An RSA public key checked once and bound to RS256
/// (RSASSA-PKCS1-v1_5 with SHA-256, 2048 to 8192 bits).
///
/// Equal when modulus, exponent and `kid` are equal.
///
/// ```
/// use lp_jwt::{Rs256Verifier, UnverifiedToken, VerifyError};
///
/// let v1 = Rs256Verifier::liveperson_v1();
/// # let token = "eyJraWQiOiJhcHBqd3QtMTMtMDUtMTciLCJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJsZTgxODIzMTE4IiwiYXpwIjoiNzU1ODhlMTgtMDIxMy00ZTMzLTgxNzQtODgzYWNhYzdlM2M0Iiwic2NvcGUiOiJtc2cuY29uc3VtZXIiLCJpc3MiOiJTZW50aW5lbCIsImV4cCI6MTUyNDY0NjI3MCwiaWF0IjoxNTI0NjQyNjcwfQ.aC1EbVQDIKJkrMgfoqhDqo5KZVMILTGP5UnK_4lUJQIfpFcrymvQKU9E6zt_WDhWmM2SOOcr1sz4u5xVZ9rMWZciDW_9KofEM2NDgVw1EVBxAIgGYeO0sbE9o--HKjk9DHZvukJkQFhYaHMDnj6ay4BNUqTJpDn6y3XQY7eh7rM";
/// // The documentation's example token is an illustration with a 1024-bit
/// // signature: it decodes, but does not verify.
/// let jwt = UnverifiedToken::decode(token)?;
/// assert_eq!(
///     v1.verify(&jwt),
///     Err(VerifyError::SignatureLength { expected: 256, found: 128 })
/// );
/// # Ok::<(), lp_jwt::DecodeError>(())
/// ```
#[derive(Clone)]
pub struct Rs256Verifier {
    key: RsaPublicKeyComponents<Vec<u8>>,
    kid: Option<String>,
}

impl fmt::Debug for Rs256Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rs256Verifier")
            .field("bits", &self.bits())
            .field("kid", &self.kid)
            .finish()
    }
}

impl PartialEq for Rs256Verifier {
    fn eq(&self, other: &Self) -> bool {
        self.key.n == other.key.n && self.key.e == other.key.e && self.kid == other.kid
    }
}

impl Eq for Rs256Verifier {}

impl Rs256Verifier {
    /// LivePerson's published v1 key ([`LIVEPERSON_V1_PUBLIC_KEY_B64`]).
    pub fn liveperson_v1() -> Self {
        Rs256Verifier {
            key: RsaPublicKeyComponents {
                n: LIVEPERSON_V1_MODULUS.to_vec(),
                e: F4.to_vec(),
            },
            kid: None,
        }
    }

    /// From big-endian modulus and exponent bytes (leading zeros allowed).
    pub fn from_components(n: &[u8], e: &[u8]) -> Result<Self, KeyError> {
        let n = strip_zeros(n);
        let e = strip_zeros(e);
        let bits = bit_len(n);
        if bits < MIN_RSA_BITS {
            return Err(KeyError::TooShort { bits });
        }
        if bits > MAX_RSA_BITS {
            return Err(KeyError::TooLong { bits });
        }
        let n_odd = n.last().is_some_and(|b| b & 1 == 1);
        let e_odd = e.last().is_some_and(|b| b & 1 == 1);
        // ring accepts exponents 3 ..= 2^33 - 1: at most 5 bytes, and the
        // top byte of a 5-byte one at most 1.
        let e_bits = bit_len(e);
        if !n_odd || !e_odd || !(2..=33).contains(&e_bits) {
            return Err(KeyError::BadNumbers);
        }
        Ok(Rs256Verifier {
            key: RsaPublicKeyComponents {
                n: n.to_vec(),
                e: e.to_vec(),
            },
            kid: None,
        })
    }

    /// From a DER SubjectPublicKeyInfo (`-----BEGIN PUBLIC KEY-----` decoded).
    pub fn from_spki_der(der: &[u8]) -> Result<Self, KeyError> {
        let rsa_public_key = der::spki_rsa_public_key(der)?;
        Self::from_pkcs1_der_at(rsa_public_key.0, rsa_public_key.1)
    }

    /// From a DER PKCS#1 RSAPublicKey (`-----BEGIN RSA PUBLIC KEY-----` decoded).
    pub fn from_pkcs1_der(der: &[u8]) -> Result<Self, KeyError> {
        Self::from_pkcs1_der_at(der, 0)
    }

    fn from_pkcs1_der_at(der: &[u8], base: usize) -> Result<Self, KeyError> {
        let (n, e) = der::rsa_public_key(der, base)?;
        Self::from_components(n, e)
    }

    /// From PEM text holding a `PUBLIC KEY` (SubjectPublicKeyInfo) or an
    /// `RSA PUBLIC KEY` (PKCS#1) block; text around the block is ignored.
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        for (label, spki) in [("PUBLIC KEY", true), ("RSA PUBLIC KEY", false)] {
            if let Some(der) = pem_block(pem, label)? {
                return if spki {
                    Self::from_spki_der(&der)
                } else {
                    Self::from_pkcs1_der(&der)
                };
            }
        }
        Err(KeyError::Pem)
    }

    /// From a JWK (RFC 7517) JSON object: `kty` must be `RSA`, `n` and `e`
    /// base64url; an `alg` other than `RS256` or a `use` other than `sig`
    /// is refused; `kid` is kept.
    pub fn from_jwk(json: &str) -> Result<Self, KeyError> {
        let jwk: jwk::Jwk = serde_json::from_str(json).map_err(|e| KeyError::Json {
            message: e.to_string(),
        })?;
        jwk.into_verifier()
    }

    /// Sets the key id a [`Jwks`] selects this key by.
    pub fn with_kid(self, kid: &str) -> Self {
        Rs256Verifier {
            kid: Some(kid.to_owned()),
            ..self
        }
    }

    /// The key id, if any.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The modulus size in bits.
    pub fn bits(&self) -> usize {
        bit_len(&self.key.n)
    }

    /// Checks a decoded token's signature. The header's `alg` must be
    /// `RS256`; its `kid` is not looked at (see [`Jwks::verify`]).
    ///
    /// Only the signature: claims still need [`crate::Validation`].
    pub fn verify(&self, token: &UnverifiedToken<'_>) -> Result<(), VerifyError> {
        check_alg(&token.header().alg)?;
        token.with_signature(|signature| self.verify_signature(token.signing_input(), signature))
    }

    /// Checks an RS256 signature over `signing_input`.
    pub fn verify_signature(
        &self,
        signing_input: &[u8],
        signature: &[u8],
    ) -> Result<(), VerifyError> {
        let expected = self.key.n.len();
        if signature.len() != expected {
            return Err(VerifyError::SignatureLength {
                expected,
                found: signature.len(),
            });
        }
        self.key
            .verify(&RSA_PKCS1_2048_8192_SHA256, signing_input, signature)
            .map_err(|_| VerifyError::BadSignature)
    }
}

fn check_alg(alg: &str) -> Result<(), VerifyError> {
    if alg == RS256 {
        Ok(())
    } else {
        Err(VerifyError::Algorithm {
            found: alg.to_owned(),
        })
    }
}

/// A key of a JWKS that [`Jwks::from_json_lenient`] left out, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedKey {
    index: usize,
    kid: Option<String>,
    reason: KeyError,
}

impl SkippedKey {
    /// Its position in the set's `keys` array, from 0.
    pub fn index(&self) -> usize {
        self.index
    }

    /// Its `kid`, when it has one that is a string.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// Why it cannot be used.
    pub fn reason(&self) -> &KeyError {
        &self.reason
    }
}

/// `key 2 (kid `legacy`): RSA key has 1024 bits, ...`, the `kid` escaped
/// and cut like every server-supplied string.
impl fmt::Display for SkippedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "key {}", self.index)?;
        match &self.kid {
            Some(kid) => write!(f, " (kid `{}`)", Untrusted::new(kid))?,
            None => f.write_str(" (no kid)")?,
        }
        write!(f, ": {}", self.reason)
    }
}

/// A set of RS256 keys selected by `kid` (a JWKS, RFC 7517 section 5).
#[derive(Debug, Clone, Default)]
pub struct Jwks {
    keys: Vec<Rs256Verifier>,
}

impl Jwks {
    /// Parses `{"keys": [...]}`, strictly: keys meant for something else
    /// (another `kty` such as EC, an `alg` other than RS256, a `use` other
    /// than `sig`) are skipped, but an RSA signing key that cannot be used
    /// (malformed, too short, `x5c` without `n` and `e`) fails the whole
    /// set with its reason, as does a set with no usable key
    /// ([`KeyError::NoUsableKey`]).
    ///
    /// Use it where the set is yours and a broken key is a mistake to
    /// report; for a server's set, where one legacy key should not stop
    /// the others, see [`Jwks::from_json_lenient`].
    pub fn from_json(json: &str) -> Result<Self, KeyError> {
        let (keys, skipped) = jwk::parse_set(json)?;
        if let Some(broken) = skipped.iter().find(|s| !s.reason.is_other_purpose()) {
            return Err(broken.reason.clone());
        }
        if keys.is_empty() {
            return Err(KeyError::no_usable_key(skipped));
        }
        Ok(Jwks { keys })
    }

    /// Parses `{"keys": [...]}`, keeping every usable RS256 signing key
    /// and reporting each other key as a [`SkippedKey`] (its index, `kid`
    /// and reason), in set order.
    ///
    /// A key is skipped for any reason [`Rs256Verifier::from_jwk`] would
    /// refuse it: not a JSON object or members of the wrong type
    /// ([`KeyError::Json`]), another `kty`, `alg` or `use`, a missing or
    /// non-base64url `n` or `e` (an `x5c`-only key), a modulus outside
    /// [`MIN_RSA_BITS`] ..= [`MAX_RSA_BITS`] (a 1024-bit legacy key) or
    /// unusable numbers.
    ///
    /// Fails only when the document is not a JWKS (not JSON, no `keys`
    /// array: [`KeyError::Json`]) or no usable key is left
    /// ([`KeyError::NoUsableKey`], carrying the number skipped and the
    /// first one with its reason).
    ///
    /// ```
    /// use lp_jwt::{Jwks, KeyError};
    ///
    /// let set = r#"{"keys":[
    ///     {"kty":"EC","kid":"ec-1","crv":"P-256"},
    ///     {"kty":"RSA","kid":"legacy","n":"AQAB","e":"AQAB"}
    /// ]}"#;
    /// let err = Jwks::from_json_lenient(set).unwrap_err();
    /// assert!(matches!(err, KeyError::NoUsableKey { skipped: 2, .. }));
    /// assert_eq!(
    ///     err.to_string(),
    ///     "JWKS holds no RS256 signing key (2 skipped, first key 0 (kid `ec-1`): \
    ///      JWK kty `EC` is not RSA)",
    /// );
    /// ```
    pub fn from_json_lenient(json: &str) -> Result<(Self, Vec<SkippedKey>), KeyError> {
        let (keys, skipped) = jwk::parse_set(json)?;
        if keys.is_empty() {
            return Err(KeyError::no_usable_key(skipped));
        }
        Ok((Jwks { keys }, skipped))
    }

    /// A set from verifiers (give them ids with [`Rs256Verifier::with_kid`]).
    pub fn from_verifiers(keys: Vec<Rs256Verifier>) -> Self {
        Jwks { keys }
    }

    /// The key with this `kid`.
    pub fn get(&self, kid: &str) -> Option<&Rs256Verifier> {
        self.keys.iter().find(|k| k.kid() == Some(kid))
    }

    /// Every key, in set order.
    pub fn keys(&self) -> &[Rs256Verifier] {
        &self.keys
    }

    /// Checks a token's signature with the key named by its `kid`. A token
    /// without `kid` is accepted only when the set holds exactly one key.
    pub fn verify(&self, token: &UnverifiedToken<'_>) -> Result<(), VerifyError> {
        check_alg(&token.header().alg)?;
        let key = match (token.header().kid.as_deref(), self.keys.as_slice()) {
            (Some(kid), _) => self.get(kid),
            (None, [only]) => Some(only),
            (None, _) => None,
        };
        let key = key.ok_or_else(|| VerifyError::UnknownKeyId {
            kid: token.header().kid.clone(),
        })?;
        token.with_signature(|signature| key.verify_signature(token.signing_input(), signature))
    }
}

fn strip_zeros(b: &[u8]) -> &[u8] {
    let first = b.iter().position(|x| *x != 0).unwrap_or(b.len());
    b.get(first..).unwrap_or_default()
}

/// Bits in a big-endian number without leading zero bytes.
fn bit_len(b: &[u8]) -> usize {
    match b.first() {
        None => 0,
        Some(top) => (b.len() - 1)
            .saturating_mul(8)
            .saturating_add(8 - top.leading_zeros() as usize),
    }
}

/// Finds `-----BEGIN {label}-----` ... `-----END {label}-----` and decodes
/// the standard base64 body (whitespace between lines ignored).
fn pem_block(pem: &str, label: &str) -> Result<Option<Vec<u8>>, KeyError> {
    use base64::Engine as _;
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let Some(start) = pem.find(&begin) else {
        return Ok(None);
    };
    let body = pem
        .get(start.saturating_add(begin.len())..)
        .unwrap_or_default();
    let stop = body.find(&end).ok_or(KeyError::Pem)?;
    let b64: String = body
        .get(..stop)
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map(Some)
        .map_err(|_| KeyError::Pem)
}

mod jwk {
    //! The JWK members this crate reads.

    use serde_json::value::RawValue;

    use super::{KeyError, RS256, Rs256Verifier, SkippedKey};

    /// The set with its keys still unparsed, so that one key that does not
    /// parse does not stop the others (serde_json cannot resume after an
    /// error inside an element). Parsing each key from its own text keeps
    /// serde's checks, such as a repeated `kty`.
    #[derive(serde::Deserialize)]
    struct JwkSet<'a> {
        #[serde(borrow)]
        keys: Vec<&'a RawValue>,
    }

    /// Only the `kid` of a key that did not parse, for the report.
    #[derive(serde::Deserialize)]
    struct KidOnly {
        kid: Option<String>,
    }

    /// The usable keys of a JWKS and the others with their reasons, both
    /// in set order. Fails only when `json` is not a JWKS.
    pub(super) fn parse_set(json: &str) -> Result<(Vec<Rs256Verifier>, Vec<SkippedKey>), KeyError> {
        let set: JwkSet<'_> = serde_json::from_str(json).map_err(|e| KeyError::Json {
            message: e.to_string(),
        })?;
        let mut keys = Vec::with_capacity(set.keys.len());
        let mut skipped = Vec::new();
        for (index, raw) in set.keys.into_iter().enumerate() {
            match Rs256Verifier::from_jwk(raw.get()) {
                Ok(key) => keys.push(key),
                Err(reason) => skipped.push(SkippedKey {
                    index,
                    kid: serde_json::from_str::<KidOnly>(raw.get())
                        .ok()
                        .and_then(|k| k.kid),
                    reason,
                }),
            }
        }
        Ok((keys, skipped))
    }

    #[derive(serde::Deserialize)]
    pub(super) struct Jwk {
        kty: String,
        n: Option<String>,
        e: Option<String>,
        kid: Option<String>,
        alg: Option<String>,
        #[serde(rename = "use")]
        key_use: Option<String>,
    }

    impl Jwk {
        pub(super) fn into_verifier(self) -> Result<Rs256Verifier, KeyError> {
            if self.kty != "RSA" {
                return Err(KeyError::KeyType { kty: self.kty });
            }
            if let Some(alg) = self.alg.filter(|a| a != RS256) {
                return Err(KeyError::Algorithm { alg });
            }
            if let Some(key_use) = self.key_use.filter(|u| u != "sig") {
                return Err(KeyError::Use { key_use });
            }
            let n = number(self.n.as_deref(), "n")?;
            let e = number(self.e.as_deref(), "e")?;
            let verifier = Rs256Verifier::from_components(&n, &e)?;
            Ok(match self.kid {
                Some(kid) => Rs256Verifier {
                    kid: Some(kid),
                    ..verifier
                },
                None => verifier,
            })
        }
    }

    fn number(b64: Option<&str>, name: &'static str) -> Result<Vec<u8>, KeyError> {
        let b64 = b64.ok_or(KeyError::MissingMember { name })?;
        crate::decode::b64url_decode(b64).map_err(|_| KeyError::Base64 { name })
    }
}

mod der {
    //! Just enough DER to take n and e out of an RSA public key.

    use super::KeyError;

    const SEQUENCE: u8 = 0x30;
    const INTEGER: u8 = 0x02;
    const BIT_STRING: u8 = 0x03;
    const OID: u8 = 0x06;
    const NULL: u8 = 0x05;
    /// 1.2.840.113549.1.1.1, rsaEncryption.
    const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

    /// A cursor over DER bytes; `base` is the offset of `bytes` in the
    /// outermost input, for error positions.
    struct Reader<'a> {
        bytes: &'a [u8],
        pos: usize,
        base: usize,
    }

    impl<'a> Reader<'a> {
        fn new(bytes: &'a [u8], base: usize) -> Self {
            Reader {
                bytes,
                pos: 0,
                base,
            }
        }

        fn err(&self) -> KeyError {
            KeyError::Der {
                offset: self.base.saturating_add(self.pos),
            }
        }

        fn byte(&mut self) -> Result<u8, KeyError> {
            let b = *self.bytes.get(self.pos).ok_or_else(|| self.err())?;
            self.pos = self.pos.saturating_add(1);
            Ok(b)
        }

        /// Reads one TLV with tag `tag`; returns its contents and their
        /// absolute offset. Only minimal (DER) lengths up to 2 bytes.
        fn tlv(&mut self, tag: u8) -> Result<(&'a [u8], usize), KeyError> {
            if self.byte()? != tag {
                self.pos = self.pos.saturating_sub(1);
                return Err(self.err());
            }
            let first = self.byte()?;
            let len = match first {
                0..=0x7f => usize::from(first),
                0x81 => match self.byte()? {
                    l @ 0x80..=0xff => usize::from(l),
                    _ => return Err(self.err()),
                },
                0x82 => {
                    let hi = self.byte()?;
                    let lo = self.byte()?;
                    let l = usize::from(hi) << 8 | usize::from(lo);
                    if l < 0x100 {
                        return Err(self.err());
                    }
                    l
                }
                _ => return Err(self.err()),
            };
            let start = self.pos;
            let end = start.checked_add(len).ok_or_else(|| self.err())?;
            let contents = self.bytes.get(start..end).ok_or_else(|| self.err())?;
            self.pos = end;
            Ok((contents, self.base.saturating_add(start)))
        }

        fn finish(&self) -> Result<(), KeyError> {
            if self.pos == self.bytes.len() {
                Ok(())
            } else {
                Err(self.err())
            }
        }
    }

    /// The RSAPublicKey inside a SubjectPublicKeyInfo, and its offset.
    pub(super) fn spki_rsa_public_key(der: &[u8]) -> Result<(&[u8], usize), KeyError> {
        let mut outer = Reader::new(der, 0);
        let (spki, at) = outer.tlv(SEQUENCE)?;
        outer.finish()?;
        let mut spki = Reader::new(spki, at);
        let (alg, at) = spki.tlv(SEQUENCE)?;
        let mut alg = Reader::new(alg, at);
        let (oid, _) = alg.tlv(OID)?;
        if oid != RSA_ENCRYPTION {
            return Err(KeyError::NotRsa);
        }
        // RFC 3279: the parameters are NULL; tolerate them being absent.
        if alg.pos < alg.bytes.len() {
            let (params, _) = alg.tlv(NULL)?;
            if !params.is_empty() {
                return Err(alg.err());
            }
        }
        alg.finish()?;
        let (bits, at) = spki.tlv(BIT_STRING)?;
        spki.finish()?;
        match bits.split_first() {
            Some((0, key)) => Ok((key, at.saturating_add(1))),
            _ => Err(KeyError::Der { offset: at }),
        }
    }

    /// `n` and `e` from a PKCS#1 RSAPublicKey, as unsigned big-endian bytes.
    pub(super) fn rsa_public_key(der: &[u8], base: usize) -> Result<(&[u8], &[u8]), KeyError> {
        let mut outer = Reader::new(der, base);
        let (seq, at) = outer.tlv(SEQUENCE)?;
        outer.finish()?;
        let mut seq = Reader::new(seq, at);
        let n = unsigned(&mut seq)?;
        let e = unsigned(&mut seq)?;
        seq.finish()?;
        Ok((n, e))
    }

    /// A positive INTEGER in minimal encoding, without its sign byte.
    fn unsigned<'a>(r: &mut Reader<'a>) -> Result<&'a [u8], KeyError> {
        let (int, at) = r.tlv(INTEGER)?;
        let err = KeyError::Der { offset: at };
        match int {
            [] => Err(err),
            // Negative.
            [first, ..] if first & 0x80 != 0 => Err(err),
            // A zero byte is only allowed to keep the next byte positive.
            [0, next, ..] if next & 0x80 == 0 => Err(err),
            [0, rest @ ..] if !rest.is_empty() => Ok(rest),
            _ => Ok(int),
        }
    }
}
