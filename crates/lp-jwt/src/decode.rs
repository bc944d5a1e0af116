//! Splitting and decoding a compact JWS, and encoding one back.

use std::fmt;

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde::de::DeserializeSeed;

use crate::claims::{AppJwtClaims, ClaimsSeed};
use crate::header::{Header, HeaderSeed};
use crate::strict::{Ctx, Problem};
use crate::untrusted::{MESSAGE_CHARS, Untrusted};

/// Longest compact token accepted by [`UnverifiedToken::decode`].
pub const DEFAULT_MAX_TOKEN_LEN: usize = 16 * 1024;

/// base64url as RFC 7515 section 2 wants it: no padding, and the last
/// character must not carry set bits beyond the data (so every byte string
/// has exactly one accepted encoding).
const B64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone)
        .with_decode_allow_trailing_bits(false),
);

/// Header and claims up to this many decoded bytes are decoded on the stack.
const STACK_BUF: usize = 1024;

/// Which part of a compact token an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Segment {
    /// The first segment, the JOSE header.
    Header,
    /// The second segment, the claims (JWS payload).
    Claims,
    /// The third segment, the signature.
    Signature,
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Segment::Header => "header",
            Segment::Claims => "claims",
            Segment::Signature => "signature",
        })
    }
}

/// Why a compact token could not be decoded.
///
/// Byte offsets count from the start of the token; `line` and `column` are
/// positions in the segment's decoded JSON (1-based). No variant carries the
/// token, its signature or a claim value.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum DecodeError {
    /// The token is longer than the limit.
    TooLong {
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The token does not have exactly three `.`-separated segments.
    SegmentCount {
        /// How many segments it has.
        found: usize,
    },
    /// A character outside the base64url alphabet (including whitespace).
    InvalidCharacter {
        /// The segment.
        segment: Segment,
        /// Byte offset of the character in the token.
        offset: usize,
    },
    /// A `=` padding character; JWS segments are unpadded.
    Padding {
        /// The segment.
        segment: Segment,
        /// Byte offset of the first `=` in the token.
        offset: usize,
    },
    /// A segment length no base64 encoding can have (4n + 1).
    InvalidLength {
        /// The segment.
        segment: Segment,
        /// The segment's length in characters.
        len: usize,
    },
    /// The last character has bits set beyond the data: not the canonical
    /// encoding.
    NonCanonical {
        /// The segment.
        segment: Segment,
        /// Byte offset of the offending character in the token.
        offset: usize,
    },
    /// The decoded segment is not UTF-8.
    NotUtf8 {
        /// The segment.
        segment: Segment,
        /// Offset of the first invalid byte in the decoded segment.
        offset: usize,
    },
    /// The decoded segment is not well-formed JSON.
    Json {
        /// The segment.
        segment: Segment,
        /// Line of the error.
        line: usize,
        /// Column of the error.
        column: usize,
        /// What the JSON parser reported, without position.
        message: String,
    },
    /// The segment is JSON, but not an object.
    NotObject {
        /// The segment.
        segment: Segment,
    },
    /// An object has the same key twice.
    DuplicateKey {
        /// The segment.
        segment: Segment,
        /// The repeated key, as in the token (`Display` shows it escaped
        /// and cut, see [`crate::Untrusted`]).
        key: String,
        /// Line of the error.
        line: usize,
        /// Column of the error.
        column: usize,
    },
    /// A registered header member or claim has the wrong JSON type.
    WrongType {
        /// The segment.
        segment: Segment,
        /// The member, e.g. `exp`.
        name: &'static str,
        /// What it must be, e.g. `a number`.
        expected: &'static str,
        /// Line of the error.
        line: usize,
        /// Column of the error.
        column: usize,
    },
    /// A required header member is absent (only `alg` is required).
    MissingMember {
        /// The segment.
        segment: Segment,
        /// The member.
        name: &'static str,
    },
    /// A NumericDate claim is negative or after 9999-12-31T23:59:59Z.
    DateOutOfRange {
        /// The claim, `exp` or `iat`.
        claim: &'static str,
        /// Line of the error.
        line: usize,
        /// Column of the error.
        column: usize,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::TooLong { len, max } => {
                write!(f, "token is {len} bytes long, the limit is {max}")
            }
            DecodeError::SegmentCount { found } => {
                let plural = if *found == 1 { "" } else { "s" };
                write!(f, "token has {found} segment{plural}, expected 3")
            }
            DecodeError::InvalidCharacter { segment, offset } => write!(
                f,
                "{segment} segment: invalid base64url character at byte {offset}"
            ),
            DecodeError::Padding { segment, offset } => write!(
                f,
                "{segment} segment: base64url padding is not allowed (byte {offset})"
            ),
            DecodeError::InvalidLength { segment, len } => write!(
                f,
                "{segment} segment: {len} characters is not a valid base64url length"
            ),
            DecodeError::NonCanonical { segment, offset } => write!(
                f,
                "{segment} segment: non-canonical base64url, trailing bits set at byte {offset}"
            ),
            DecodeError::NotUtf8 { segment, offset } => {
                write!(f, "{segment} segment: not UTF-8 (decoded byte {offset})")
            }
            DecodeError::Json {
                segment,
                line,
                column,
                message,
            } => write!(
                f,
                "{segment} segment: invalid JSON at line {line} column {column}: {}",
                Untrusted::new(message).max_chars(MESSAGE_CHARS)
            ),
            DecodeError::NotObject { segment } => {
                write!(f, "{segment} segment: not a JSON object")
            }
            DecodeError::DuplicateKey {
                segment,
                key,
                line,
                column,
            } => write!(
                f,
                "{segment} segment: duplicate key `{}` at line {line} column {column}",
                Untrusted::new(key)
            ),
            DecodeError::WrongType {
                segment,
                name,
                expected,
                line,
                column,
            } => write!(
                f,
                "{segment} segment: `{name}` must be {expected} (line {line} column {column})"
            ),
            DecodeError::MissingMember { segment, name } => {
                write!(f, "{segment} segment: required member `{name}` is missing")
            }
            DecodeError::DateOutOfRange {
                claim,
                line,
                column,
            } => write!(
                f,
                "claims segment: `{claim}` is not a NumericDate within 0 ..= 253402300799 \
                 (line {line} column {column})"
            ),
        }
    }
}

impl std::error::Error for DecodeError {}

/// A compact JWS split and decoded once, signature not checked.
///
/// Decoding is strict (see the crate docs); a token that decodes is
/// well-formed, not trustworthy: check it with [`crate::Validation`] and,
/// with the `verify` feature, a signature verifier.
#[derive(Clone)]
pub struct UnverifiedToken<'a> {
    token: &'a str,
    /// Length of `header '.' claims`, the signing input.
    signing_input_len: usize,
    header: Header,
    claims: AppJwtClaims,
    signature: Vec<u8>,
}

/// Leaves the token and signature out: the token is a bearer credential.
impl fmt::Debug for UnverifiedToken<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnverifiedToken")
            .field("header", &self.header)
            .field("claims", &self.claims)
            .field("signature_len", &self.signature.len())
            .finish_non_exhaustive()
    }
}

impl<'a> UnverifiedToken<'a> {
    /// Decodes `token` with the [`DEFAULT_MAX_TOKEN_LEN`] size cap.
    pub fn decode(token: &'a str) -> Result<Self, DecodeError> {
        Self::decode_with_limit(token, DEFAULT_MAX_TOKEN_LEN)
    }

    /// Decodes `token`, refusing tokens longer than `max_len` bytes before
    /// looking at them.
    pub fn decode_with_limit(token: &'a str, max_len: usize) -> Result<Self, DecodeError> {
        if token.len() > max_len {
            return Err(DecodeError::TooLong {
                len: token.len(),
                max: max_len,
            });
        }
        let bytes = token.as_bytes();
        let mut dots = bytes
            .iter()
            .enumerate()
            .filter_map(|(i, b)| (*b == b'.').then_some(i));
        let (Some(first), Some(second), None) = (dots.next(), dots.next(), dots.next()) else {
            let found = bytes
                .iter()
                .filter(|b| **b == b'.')
                .count()
                .saturating_add(1);
            return Err(DecodeError::SegmentCount { found });
        };
        // Both dots are ASCII, so these are char boundaries.
        let header_b64 = token.get(..first).unwrap_or_default();
        let claims_b64 = token
            .get(first.saturating_add(1)..second)
            .unwrap_or_default();
        let signature_b64 = token.get(second.saturating_add(1)..).unwrap_or_default();

        let ctx = Ctx::default();
        let mut buf = [0u8; STACK_BUF];
        let header = with_decoded(&mut buf, header_b64, 0, Segment::Header, |json| {
            parse_json(json, Segment::Header, &ctx, HeaderSeed(&ctx))
        })?;
        let claims = with_decoded(
            &mut buf,
            claims_b64,
            first.saturating_add(1),
            Segment::Claims,
            |json| parse_json(json, Segment::Claims, &ctx, ClaimsSeed(&ctx)),
        )?;
        let signature = B64.decode(signature_b64).map_err(|e| {
            base64_error(
                e,
                signature_b64,
                second.saturating_add(1),
                Segment::Signature,
            )
        })?;
        Ok(UnverifiedToken {
            token,
            signing_input_len: second,
            header,
            claims,
            signature,
        })
    }

    /// The decoded header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The decoded claims.
    pub fn claims(&self) -> &AppJwtClaims {
        &self.claims
    }

    /// `base64url(header) '.' base64url(claims)`: the bytes the signature covers.
    pub fn signing_input(&self) -> &'a [u8] {
        self.token
            .as_bytes()
            .get(..self.signing_input_len)
            .unwrap_or_default()
    }

    /// The decoded signature bytes (may be empty).
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// Header and claims, dropping the rest.
    pub fn into_parts(self) -> (Header, AppJwtClaims) {
        (self.header, self.claims)
    }
}

/// Decodes one base64url segment starting at `start` in the token and hands
/// the bytes to `f`, in `buf` (on the caller's stack, shared by header and
/// claims) when they fit.
fn with_decoded<R>(
    buf: &mut [u8; STACK_BUF],
    b64: &str,
    start: usize,
    segment: Segment,
    f: impl FnOnce(&[u8]) -> Result<R, DecodeError>,
) -> Result<R, DecodeError> {
    let map = |e| base64_error(e, b64, start, segment);
    // Three bytes per four characters, rounded up: never too small.
    if b64.len() / 4 * 3 + 3 <= STACK_BUF {
        let n = B64.decode_slice(b64, buf).map_err(|e| match e {
            base64::DecodeSliceError::DecodeError(e) => map(e),
            // Unreachable given the size check; reported as a length error
            // rather than a panic all the same.
            base64::DecodeSliceError::OutputSliceTooSmall => DecodeError::InvalidLength {
                segment,
                len: b64.len(),
            },
        })?;
        f(buf.get(..n).unwrap_or_default())
    } else {
        let buf = B64.decode(b64).map_err(map)?;
        f(&buf)
    }
}

fn base64_error(e: base64::DecodeError, b64: &str, start: usize, segment: Segment) -> DecodeError {
    use base64::DecodeError as B;
    match e {
        B::InvalidByte(i, b'=') | B::InvalidLastSymbol(i, b'=') => DecodeError::Padding {
            segment,
            offset: start.saturating_add(i),
        },
        B::InvalidByte(i, _) => DecodeError::InvalidCharacter {
            segment,
            offset: start.saturating_add(i),
        },
        B::InvalidLastSymbol(i, _) => DecodeError::NonCanonical {
            segment,
            offset: start.saturating_add(i),
        },
        B::InvalidPadding => DecodeError::Padding {
            segment,
            offset: start.saturating_add(b64.find('=').unwrap_or(b64.len())),
        },
        B::InvalidLength(_) => DecodeError::InvalidLength {
            segment,
            len: b64.len(),
        },
    }
}

fn parse_json<'c, T, S>(json: &[u8], segment: Segment, ctx: &Ctx, seed: S) -> Result<T, DecodeError>
where
    S: for<'de> DeserializeSeed<'de, Value = T>,
{
    let text = std::str::from_utf8(json).map_err(|e| DecodeError::NotUtf8 {
        segment,
        offset: e.valid_up_to(),
    })?;
    let mut de = serde_json::Deserializer::from_str(text);
    seed.deserialize(&mut de)
        .and_then(|v| de.end().map(|()| v))
        .map_err(|e| json_error(&e, segment, ctx.take()))
}

fn json_error(e: &serde_json::Error, segment: Segment, problem: Option<Problem>) -> DecodeError {
    let (line, column) = (e.line(), e.column());
    match problem {
        Some(Problem::NotObject) => DecodeError::NotObject { segment },
        Some(Problem::Duplicate { key }) => DecodeError::DuplicateKey {
            segment,
            key,
            line,
            column,
        },
        Some(Problem::WrongType { name, expected }) => DecodeError::WrongType {
            segment,
            name,
            expected,
            line,
            column,
        },
        Some(Problem::Missing { name }) => DecodeError::MissingMember { segment, name },
        Some(Problem::DateRange { name }) => DecodeError::DateOutOfRange {
            claim: name,
            line,
            column,
        },
        None => {
            // serde_json's syntax messages name what was expected, never
            // the input; only the position suffix is dropped (kept apart).
            let full = e.to_string();
            let suffix = format!(" at line {line} column {column}");
            let message = full.strip_suffix(&suffix).unwrap_or(&full).to_owned();
            DecodeError::Json {
                segment,
                line,
                column,
                message,
            }
        }
    }
}

/// Encodes `base64url(json(header)) '.' base64url(json(claims))`.
///
/// Decoding the result (with any signature appended by [`assemble`]) gives
/// back equal values.
pub fn encode_signing_input(header: &Header, claims: &AppJwtClaims) -> String {
    // Serializing these types into a Vec cannot fail: every key is a string
    // and NumericDate is always finite. An empty segment (which would fail
    // to decode) is the fallback rather than a panic.
    let header_json = serde_json::to_vec(header).unwrap_or_default();
    let claims_json = serde_json::to_vec(claims).unwrap_or_default();
    let mut out = String::with_capacity(
        base64_len(header_json.len())
            .saturating_add(base64_len(claims_json.len()))
            .saturating_add(1),
    );
    B64.encode_string(&header_json, &mut out);
    out.push('.');
    B64.encode_string(&claims_json, &mut out);
    out
}

/// Appends `'.' base64url(signature)` to a signing input.
pub fn assemble(signing_input: &str, signature: &[u8]) -> String {
    let mut out = String::with_capacity(
        signing_input
            .len()
            .saturating_add(base64_len(signature.len()))
            .saturating_add(1),
    );
    out.push_str(signing_input);
    out.push('.');
    B64.encode_string(signature, &mut out);
    out
}

fn base64_len(n: usize) -> usize {
    (n / 3).saturating_mul(4).saturating_add(4)
}

/// Base64url without padding, the JWS way; shared with the verifier.
#[cfg(feature = "verify")]
pub(crate) fn b64url_decode(s: &str) -> Result<Vec<u8>, base64::DecodeError> {
    B64.decode(s)
}
