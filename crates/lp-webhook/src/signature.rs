//! The `x-liveperson-signature` value: `sha1=` or `sha256=`, then the
//! digest in Base64 or hex.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use lp_jwt::Untrusted;

/// Longest text before the first `=` taken for an algorithm name. Longer
/// text is not a prefix at all: most likely a bare Base64 digest, whose
/// padding is the first `=`, and which an error should not quote.
const ALGORITHM_CHARS: usize = 16;

/// The HMAC hash a signature names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// `sha1=`: HMAC-SHA1, LivePerson's default. SHA-1 is weak for
    /// signatures, but HMAC-SHA1 is not broken; accounts can be
    /// configured for `sha256=` instead.
    Sha1,
    /// `sha256=`: HMAC-SHA256.
    Sha256,
}

impl Algorithm {
    /// The prefix before `=`: `sha1` or `sha256`.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha1 => "sha1",
            Algorithm::Sha256 => "sha256",
        }
    }

    /// Length of the digest in bytes: 20 or 32.
    pub fn digest_len(self) -> usize {
        match self {
            Algorithm::Sha1 => 20,
            Algorithm::Sha256 => 32,
        }
    }

    /// Length of the digest written in `encoding`: padded Base64 (28 or
    /// 44 characters) or hex (40 or 64).
    pub fn encoded_len(self, encoding: Encoding) -> usize {
        let n = self.digest_len();
        match encoding {
            Encoding::Base64 => n.div_ceil(3) * 4,
            Encoding::Hex => n * 2,
        }
    }

    pub(crate) fn ring(self) -> ring::hmac::Algorithm {
        match self {
            Algorithm::Sha1 => ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            Algorithm::Sha256 => ring::hmac::HMAC_SHA256,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How the digest is written.
///
/// The two are told apart by length alone, which is unambiguous for both
/// algorithms: a hex digest has two characters per byte (40 for SHA-1, 64
/// for SHA-256), a padded Base64 one four per three bytes (28 and 44).
/// Nothing is guessed from the characters: a digest of the hex length made
/// only of decimal digits is hex, though every digit is also a Base64
/// character.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// Standard Base64 (`+`, `/`) with its `=` padding, LivePerson's
    /// default. Unpadded, URL-safe and non-canonical forms (unused bits
    /// that are not zero) are refused, so that each digest has exactly
    /// one spelling.
    Base64,
    /// Hexadecimal, digits `a`-`f` in either case (Java's common encoders
    /// differ on case); the only leniency of the parser.
    Hex,
}

impl Encoding {
    /// `base64` or `hex`.
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Base64 => "base64",
            Encoding::Hex => "hex",
        }
    }
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A parsed `x-liveperson-signature` value. The digest is what the sender
/// claims, not a secret; it is checked by [`Signature::verify`].
///
/// `Display` writes the value back in its own encoding (hex in lower
/// case), so a parsed Base64 signature prints exactly as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    algorithm: Algorithm,
    encoding: Encoding,
    digest: Vec<u8>,
}

impl Signature {
    /// Parses `sha1=<digest>` or `sha256=<digest>`, the digest in padded
    /// Base64 or in hex (see [`Encoding`] for how they are told apart).
    ///
    /// The algorithm name is case-sensitive, as LivePerson writes it, and
    /// nothing is trimmed: `http::HeaderValue`s hold no surrounding
    /// whitespace, so any found here is not part of a signature.
    ///
    /// ```
    /// use lp_webhook::{Algorithm, Encoding, Signature};
    ///
    /// let sig = Signature::parse("sha1=12DcfY3NhieG0uMlGlNX/SHWBeQ=")?;
    /// assert_eq!(sig.algorithm(), Algorithm::Sha1);
    /// assert_eq!(sig.encoding(), Encoding::Base64);
    /// assert_eq!(sig.digest().len(), 20);
    /// assert!(Signature::parse("md5=abc").is_err());
    /// # Ok::<(), lp_webhook::SignatureError>(())
    /// ```
    pub fn parse(value: &str) -> Result<Signature, SignatureError> {
        let Some((name, digest)) = value
            .split_once('=')
            .filter(|(name, _)| name.chars().count() <= ALGORITHM_CHARS)
        else {
            return Err(SignatureError::NoAlgorithm);
        };
        let algorithm = match name {
            "sha1" => Algorithm::Sha1,
            "sha256" => Algorithm::Sha256,
            _ => {
                return Err(SignatureError::UnknownAlgorithm {
                    algorithm: name.to_owned(),
                });
            }
        };
        // Positions in errors count from the start of the whole value.
        let offset = name.len() + 1;
        let encoding = if digest.len() == algorithm.encoded_len(Encoding::Hex) {
            Encoding::Hex
        } else if digest.len() == algorithm.encoded_len(Encoding::Base64) {
            Encoding::Base64
        } else {
            return Err(SignatureError::BadLength {
                algorithm,
                length: digest.len(),
            });
        };
        let bad = |position: Option<usize>| SignatureError::BadEncoding {
            encoding,
            position: position.map(|p| p + offset),
        };
        let bytes = match encoding {
            Encoding::Hex => decode_hex(digest).map_err(|at| bad(Some(at)))?,
            Encoding::Base64 => STANDARD.decode(digest).map_err(|e| {
                bad(match e {
                    base64::DecodeError::InvalidByte(at, _)
                    | base64::DecodeError::InvalidLastSymbol(at, _) => Some(at),
                    base64::DecodeError::InvalidLength(_) | base64::DecodeError::InvalidPadding => {
                        None
                    }
                })
            })?,
        };
        // Padding in the wrong place (`==` where one `=` belongs) decodes
        // to a shorter digest.
        if bytes.len() != algorithm.digest_len() {
            return Err(bad(None));
        }
        Ok(Signature {
            algorithm,
            encoding,
            digest: bytes,
        })
    }

    /// A signature of `digest`, for tests and for senders. `None` when the
    /// digest does not have the algorithm's length.
    pub fn new(algorithm: Algorithm, encoding: Encoding, digest: &[u8]) -> Option<Signature> {
        (digest.len() == algorithm.digest_len()).then(|| Signature {
            algorithm,
            encoding,
            digest: digest.to_vec(),
        })
    }

    /// The signature LivePerson would send for `body` under `secret`; what
    /// a test or an emulator of the sender needs.
    pub fn sign(
        algorithm: Algorithm,
        encoding: Encoding,
        secret: &lp_oauth::ClientSecret,
        body: &[u8],
    ) -> Signature {
        let key = ring::hmac::Key::new(algorithm.ring(), secret.expose_secret().as_bytes());
        Signature {
            algorithm,
            encoding,
            digest: ring::hmac::sign(&key, body).as_ref().to_vec(),
        }
    }

    /// The algorithm named by the prefix.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// How the digest was written.
    pub fn encoding(&self) -> Encoding {
        self.encoding
    }

    /// The digest the sender claims, decoded.
    pub fn digest(&self) -> &[u8] {
        &self.digest
    }

    /// Whether the digest is the HMAC of `body` under `secret` (the secret's
    /// UTF-8 bytes are the key). Compared in constant time by ring's
    /// `hmac::verify`; the expected digest is never made visible.
    pub fn verify(&self, secret: &lp_oauth::ClientSecret, body: &[u8]) -> bool {
        let key = ring::hmac::Key::new(self.algorithm.ring(), secret.expose_secret().as_bytes());
        ring::hmac::verify(&key, body, &self.digest).is_ok()
    }
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}=", self.algorithm)?;
        match self.encoding {
            Encoding::Base64 => f.write_str(&STANDARD.encode(&self.digest)),
            Encoding::Hex => self.digest.iter().try_for_each(|b| write!(f, "{b:02x}")),
        }
    }
}

/// Hex digits to bytes; the error is the position of the first character
/// that is not a hex digit. The length is even (checked by the caller).
fn decode_hex(text: &str) -> Result<Vec<u8>, usize> {
    let digit = |i: usize, c: u8| match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        b'A'..=b'F' => Ok(c - b'A' + 10),
        _ => Err(i),
    };
    text.as_bytes()
        .chunks(2)
        .enumerate()
        .map(|(pair, chunk)| {
            let high = digit(pair * 2, chunk.first().copied().unwrap_or(0))?;
            let low = digit(pair * 2 + 1, chunk.get(1).copied().unwrap_or(0))?;
            Ok(high << 4 | low)
        })
        .collect()
}

/// Why an `x-liveperson-signature` value does not parse. Its messages show
/// no digest: only an unknown algorithm name, escaped and cut, and
/// lengths and positions.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignatureError {
    /// No `sha1=` / `sha256=` prefix: no `=`, or more than 16 characters
    /// before the first one (a bare Base64 digest and its padding).
    NoAlgorithm,
    /// A prefix of at most 16 characters other than `sha1` or `sha256`.
    UnknownAlgorithm {
        /// The text before the first `=`.
        algorithm: String,
    },
    /// The digest has neither the Base64 nor the hex length for the
    /// algorithm.
    BadLength {
        /// The algorithm the prefix named.
        algorithm: Algorithm,
        /// The digest's length in bytes.
        length: usize,
    },
    /// The digest has the length of `encoding` but is not valid in it.
    BadEncoding {
        /// The encoding its length implies.
        encoding: Encoding,
        /// Byte offset in the whole value of the first bad character;
        /// `None` when the padding is wrong.
        position: Option<usize>,
    },
}

impl fmt::Display for SignatureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignatureError::NoAlgorithm => {
                f.write_str("signature has no algorithm prefix: expected sha1= or sha256=")
            }
            SignatureError::UnknownAlgorithm { algorithm } => write!(
                f,
                "unknown signature algorithm \"{}\": expected sha1 or sha256",
                Untrusted::new(algorithm)
            ),
            SignatureError::BadLength { algorithm, length } => write!(
                f,
                "a {algorithm} digest is {} characters of base64 or {} of hex, got {length}",
                algorithm.encoded_len(Encoding::Base64),
                algorithm.encoded_len(Encoding::Hex),
            ),
            SignatureError::BadEncoding {
                encoding,
                position: Some(at),
            } => write!(f, "signature digest is not valid {encoding} at byte {at}"),
            SignatureError::BadEncoding {
                encoding,
                position: None,
            } => write!(f, "signature digest is not valid {encoding}: wrong padding"),
        }
    }
}

impl std::error::Error for SignatureError {}
