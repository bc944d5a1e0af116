//! Splitting and decoding a compact JWS, and encoding one back.

use std::fmt;
use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde::de::DeserializeSeed;

use crate::b64;
use crate::claims::{AppJwtClaims, ClaimsSeed};
use crate::fast;
use crate::header::{Header, HeaderSeed};
use crate::strict::{Ctx, Problem};
use crate::untrusted::{MESSAGE_CHARS, Untrusted};

/// Longest compact token accepted by [`UnverifiedToken::decode`].
pub const DEFAULT_MAX_TOKEN_LEN: usize = 16 * 1024;

/// base64url as RFC 7515 section 2 wants it: no padding, and the last
/// character must not carry set bits beyond the data (so every byte string
/// has exactly one accepted encoding).
pub(crate) const B64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone)
        .with_decode_allow_trailing_bits(false),
);

/// Header and claims up to this many decoded bytes are decoded on the stack.
const STACK_BUF: usize = 1024;

/// A signature of the largest accepted RSA key (8192 bits) and the three
/// bytes of slack base64's length estimate may ask for.
#[cfg(feature = "verify")]
const SIGNATURE_BUF: usize = 1024 + 3;

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
    /// The signature bytes, decoded on first use: only a verifier needs
    /// them, so a decode that is only read for its claims never allocates
    /// them. `decode` has already checked the segment is canonical
    /// base64url, so decoding it later cannot fail.
    signature: OnceLock<Vec<u8>>,
}

/// Leaves the token and signature out: the token is a bearer credential.
impl fmt::Debug for UnverifiedToken<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnverifiedToken")
            .field("header", &self.header)
            .field("claims", &self.claims)
            .field("signature_len", &decoded_len(self.signature_b64().len()))
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
        let mut buf = [0u8; STACK_BUF];
        // The common case: header and claims decoded into `buf` in the pass
        // that finds the dots (see `b64`). Anything else, every error of
        // base64 included, takes the path that splits first and lets the
        // base64 crate decide and explain.
        let Some((second, header_len, claims_len)) = decode_segments(token.as_bytes(), &mut buf)
        else {
            return Self::decode_split(token, &mut buf);
        };
        let signature_ok = check_signature(token, second)?;
        let (header_json, claims_json) = buf.split_at(header_len);
        let ctx = Ctx::default();
        let mut jwt = Self::unfilled(token, second);
        parse_header(header_json, &ctx, &mut jwt.header)?;
        let claims_json = claims_json.get(..claims_len).unwrap_or_default();
        parse_claims(claims_json, &ctx, &mut jwt.claims)?;
        jwt.signature_error(signature_ok)?;
        Ok(jwt)
    }

    /// [`Self::decode_with_limit`] for any token: the dots found first,
    /// then each segment decoded by the base64 crate.
    fn decode_split(token: &'a str, buf: &mut [u8; STACK_BUF]) -> Result<Self, DecodeError> {
        // `str::find` on an ASCII char searches a word at a time; a third
        // dot is caught below by the signature's alphabet check.
        let first = token.find('.').ok_or_else(|| segment_count(token))?;
        let after_first = first.saturating_add(1);
        let second = token
            .get(after_first..)
            .and_then(|rest| rest.find('.'))
            .map(|i| after_first.saturating_add(i))
            .ok_or_else(|| segment_count(token))?;
        // Both dots are ASCII, so these are char boundaries.
        let header_b64 = token.get(..first).unwrap_or_default();
        let claims_b64 = token.get(after_first..second).unwrap_or_default();
        let signature_ok = check_signature(token, second)?;
        let ctx = Ctx::default();
        let mut jwt = Self::unfilled(token, second);
        with_decoded(buf, header_b64, 0, Segment::Header, |json| {
            parse_header(json, &ctx, &mut jwt.header)
        })?;
        with_decoded(buf, claims_b64, after_first, Segment::Claims, |json| {
            parse_claims(json, &ctx, &mut jwt.claims)
        })?;
        jwt.signature_error(signature_ok)?;
        Ok(jwt)
    }

    /// The token with an empty header and claims, for decoding to fill
    /// in place (they are most of its size: moving them in was a tenth of
    /// decode's time).
    fn unfilled(token: &'a str, second: usize) -> Self {
        UnverifiedToken {
            token,
            signing_input_len: second,
            header: Header::unfilled(),
            claims: AppJwtClaims::default(),
            signature: OnceLock::new(),
        }
    }

    /// The signature's error when [`check_signature`] found it is not
    /// canonical.
    fn signature_error(&self, signature_ok: bool) -> Result<(), DecodeError> {
        if signature_ok {
            return Ok(());
        }
        // The fast check refused it: the base64 decoder says why.
        let signature_b64 = self.signature_b64();
        match B64.decode(signature_b64) {
            Ok(_) => Ok(()),
            Err(e) => Err(base64_error(
                e,
                signature_b64,
                self.signing_input_len.saturating_add(1),
                Segment::Signature,
            )),
        }
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
    ///
    /// Decoded on the first call (one allocation) and kept; [`Self::decode`]
    /// already refused a signature segment that is not canonical base64url.
    pub fn signature(&self) -> &[u8] {
        self.signature.get_or_init(|| {
            // Cannot fail: `decode` checked the segment. An empty signature,
            // which no key accepts, is the fallback rather than a panic.
            B64.decode(self.signature_b64()).unwrap_or_default()
        })
    }

    /// Runs `f` on the signature bytes without keeping them: from the cache
    /// when [`Self::signature`] was called, else decoded into a stack buffer
    /// (the verifier's path, one allocation fewer), else (a signature longer
    /// than any accepted key) through [`Self::signature`].
    #[cfg(feature = "verify")]
    pub(crate) fn with_signature<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        if let Some(signature) = self.signature.get() {
            return f(signature);
        }
        let mut buf = [0u8; SIGNATURE_BUF];
        match B64.decode_slice(self.signature_b64(), &mut buf) {
            Ok(n) => f(buf.get(..n).unwrap_or_default()),
            Err(_) => f(self.signature()),
        }
    }

    /// The signature segment as in the token (base64url).
    fn signature_b64(&self) -> &'a str {
        self.token
            .get(self.signing_input_len.saturating_add(1)..)
            .unwrap_or_default()
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

/// Decodes header and claims into `buf`, one after the other, finding the
/// dot after each: `(offset of the second dot, header bytes, claims
/// bytes)`. `None` unless both are canonical base64url ending at a dot
/// and fit.
fn decode_segments(token: &[u8], buf: &mut [u8]) -> Option<(usize, usize, usize)> {
    let (first, header_len) = b64::decode_run(token, buf)?;
    let after_first = first.checked_add(1)?;
    let (claims_chars, claims_len) =
        b64::decode_run(token.get(after_first..)?, buf.get_mut(header_len..)?)?;
    let second = after_first.checked_add(claims_chars)?;
    (token.get(first) == Some(&b'.') && token.get(second) == Some(&b'.'))
        .then_some((second, header_len, claims_len))
}

/// The error for a token without exactly two dots.
fn segment_count(token: &str) -> DecodeError {
    DecodeError::SegmentCount {
        found: token.matches('.').count().saturating_add(1),
    }
}

/// Whether the signature after the second dot is canonical base64url,
/// checked without decoding it (its bytes are decoded when a verifier asks
/// for them); a signature with a dot in it means a fourth segment.
/// A signature that is not canonical is reported after the header's and
/// the claims' errors, by [`UnverifiedToken::signature_error`].
fn check_signature(token: &str, second: usize) -> Result<bool, DecodeError> {
    let signature_b64 = token.get(second.saturating_add(1)..).unwrap_or_default();
    let ok = is_canonical_b64url(signature_b64.as_bytes());
    if !ok && signature_b64.contains('.') {
        return Err(segment_count(token));
    }
    Ok(ok)
}

/// Decodes the header into `header`, as [`Header::unfilled`] makes it.
/// The fast path reads the common shape or gives up; the strict visitors
/// then decide (and report every error), see `fast`.
fn parse_header(json: &[u8], ctx: &Ctx, header: &mut Header) -> Result<(), DecodeError> {
    if fast::read_header(json, header).is_none() {
        *header = parse_json(json, Segment::Header, ctx, HeaderSeed(ctx))?;
    }
    Ok(())
}

/// As [`parse_header`], for the claims (empty on entry).
fn parse_claims(json: &[u8], ctx: &Ctx, claims: &mut AppJwtClaims) -> Result<(), DecodeError> {
    if fast::read_claims(json, claims).is_none() {
        *claims = parse_json(json, Segment::Claims, ctx, ClaimsSeed(ctx))?;
    }
    Ok(())
}

/// Whether `b64` is unpadded, canonical base64url: every character in the
/// URL-safe alphabet, a length other than 4n + 1, and no bits set in the
/// last character beyond the data. Exactly what [`B64`] accepts, without
/// writing the bytes out; branch-free over the characters so the compiler
/// can vectorise it.
fn is_canonical_b64url(b64: &[u8]) -> bool {
    let outside = b64
        .iter()
        .fold(0u8, |acc, &b| acc | u8::from(!in_alphabet(b)));
    if outside != 0 {
        return false;
    }
    // The bits the last character carries beyond the decoded bytes.
    let spare = match b64.len() % 4 {
        0 => return true,
        1 => return false,
        2 => 0x0f,
        _ => 0x03,
    };
    b64.last()
        .is_some_and(|&c| crate::b64::sextet(c) & spare == 0)
}

/// Whether `b` is in the base64url alphabet (`A-Z a-z 0-9 - _`).
fn in_alphabet(b: u8) -> bool {
    // `| 0x20` folds upper case onto lower case and nothing else onto it.
    ((b | 0x20).wrapping_sub(b'a') < 26) | (b.wrapping_sub(b'0') < 10) | (b == b'-') | (b == b'_')
}

/// How many bytes `len` characters of unpadded base64 decode to.
fn decoded_len(len: usize) -> usize {
    (len / 4).saturating_mul(3).saturating_add(match len % 4 {
        2 => 1,
        3 => 2,
        _ => 0,
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

    proptest! {
        /// The fast check accepts exactly what the base64 decoder accepts,
        /// on text close to base64 (wrong alphabet, padding, dots, spaces).
        #[test]
        fn canonical_check_agrees_with_the_decoder(s in "[A-Za-z0-9_=+/. -]{0,40}") {
            prop_assert_eq!(is_canonical_b64url(s.as_bytes()), B64.decode(&s).is_ok());
        }

        #[test]
        fn canonical_check_agrees_on_any_text(s in any::<String>()) {
            prop_assert_eq!(is_canonical_b64url(s.as_bytes()), B64.decode(&s).is_ok());
        }

        /// Real encodings with the last character replaced by any other:
        /// the trailing-bits rule, both ways.
        #[test]
        fn canonical_check_agrees_on_the_last_character(
            bytes in prop::collection::vec(any::<u8>(), 1..80),
            last in 0..ALPHABET.len(),
        ) {
            let mut b64 = B64.encode(&bytes).into_bytes();
            if let Some(c) = b64.last_mut() {
                *c = ALPHABET[last];
            }
            let s = String::from_utf8(b64).unwrap();
            prop_assert_eq!(is_canonical_b64url(s.as_bytes()), B64.decode(&s).is_ok());
        }

        #[test]
        fn decoded_len_is_the_length_decoded(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
            prop_assert_eq!(decoded_len(B64.encode(&bytes).len()), bytes.len());
        }
    }

    /// What a decode gives, comparable.
    type Outcome = Result<(Header, AppJwtClaims, Vec<u8>), DecodeError>;

    fn outcome(decoded: Result<UnverifiedToken<'_>, DecodeError>) -> Outcome {
        decoded.map(|t| {
            let signing_input = t.signing_input().to_vec();
            let (header, claims) = t.into_parts();
            (header, claims, signing_input)
        })
    }

    /// The property: `decode` (the fused base64 pass when it applies) and
    /// the split-first path give the same token or the same error.
    fn paths_agree(token: &str) -> Result<(), TestCaseError> {
        let mut buf = [0u8; STACK_BUF];
        prop_assert_eq!(
            outcome(UnverifiedToken::decode(token)),
            outcome(UnverifiedToken::decode_split(token, &mut buf)),
            "{:?}",
            token
        );
        Ok(())
    }

    /// Header and claims JSON of the common shape and not, and signatures,
    /// as a token; claims long enough that the two no longer fit the stack
    /// buffer together, or alone.
    fn token_text() -> impl Strategy<Value = String> {
        let header = prop_oneof![
            Just(r#"{"kid":"appjwt-13-05-17","typ":"JWT","alg":"RS256"}"#.to_owned()),
            Just(r#"{"alg":"none"}"#.to_owned()),
            Just(r#"{"alg":"RS256","alg":"RS256"}"#.to_owned()),
            Just(r#"{"alg":"R\u0053256"}"#.to_owned()),
            Just("[]".to_owned()),
            Just(String::new()),
        ];
        let claims = prop_oneof![
            Just(r#"{"aud":"le81823118","iss":"Sentinel","exp":1524646270}"#.to_owned()),
            Just(r#"{"aud":["a","b"],"exp":1.5}"#.to_owned()),
            Just(r#"{"exp":"soon"}"#.to_owned()),
            Just("{}".to_owned()),
            Just("{".to_owned()),
            (0..1100usize).prop_map(|n| format!(r#"{{"x":"{}"}}"#, "y".repeat(n))),
        ];
        let signature = prop::collection::vec(any::<u8>(), 0..40);
        (header, claims, signature).prop_map(|(h, c, sig)| {
            format!(
                "{}.{}.{}",
                B64.encode(h.as_bytes()),
                B64.encode(c.as_bytes()),
                B64.encode(sig)
            )
        })
    }

    proptest! {
        #[test]
        fn fused_and_split_paths_agree(token in token_text()) {
            paths_agree(&token)?;
        }

        /// One character changed, inserted or cut: dots, padding, spaces,
        /// letters (trailing bits), non-ASCII.
        #[test]
        fn fused_and_split_paths_agree_on_mutated_tokens(
            token in token_text(),
            at in any::<prop::sample::Index>(),
            c in prop::sample::select(&['.', '=', ' ', 'A', 'B', 'Q', '_', '+', '/', 'é', '\n'][..]),
            how in 0..3u8,
        ) {
            let mut chars: Vec<char> = token.chars().collect();
            let i = at.index(chars.len());
            match how {
                0 => chars[i] = c,
                1 => chars.insert(i, c),
                _ => chars.truncate(i),
            }
            paths_agree(&chars.into_iter().collect::<String>())?;
        }
    }

    #[test]
    fn a_well_formed_token_takes_the_fused_path() {
        let token = "eyJraWQiOiJhcHBqd3QtMTMtMDUtMTciLCJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.\
                     eyJhdWQiOiJsZTgxODIzMTE4IiwiaXNzIjoiU2VudGluZWwifQ.aC1EbVQ";
        let token = token.replace(' ', "");
        let mut buf = [0u8; STACK_BUF];
        let (second, header_len, claims_len) = decode_segments(token.as_bytes(), &mut buf).unwrap();
        assert_eq!(Some(second), token.rfind('.'));
        assert_eq!(
            &buf[..header_len],
            br#"{"kid":"appjwt-13-05-17","typ":"JWT","alg":"RS256"}"#
        );
        assert_eq!(
            &buf[header_len..header_len + claims_len],
            br#"{"aud":"le81823118","iss":"Sentinel"}"#
        );
        for other in [
            "e30",
            "e30.e30",
            "e30 .e30.",
            "e3.e30.",
            "e30.e31.",
            "e30.e30=.",
        ] {
            assert_eq!(
                decode_segments(other.as_bytes(), &mut buf),
                None,
                "{other:?}"
            );
        }
        paths_agree(&token).unwrap();
    }

    /// The verifier's view of the signature is the public one, from the
    /// stack buffer, from the cache, and past the buffer's size.
    #[cfg(feature = "verify")]
    #[test]
    fn with_signature_sees_the_signature() {
        for len in [0, 1, 128, 256, 512, 1024, 1025, 1027, 1500] {
            let signature: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let token = assemble("eyJhbGciOiJSUzI1NiJ9.e30", &signature);
            let fresh = UnverifiedToken::decode(&token).unwrap();
            assert_eq!(fresh.with_signature(<[u8]>::to_vec), signature, "{len}");
            let cached = UnverifiedToken::decode(&token).unwrap();
            assert_eq!(cached.signature(), &signature[..]);
            assert_eq!(cached.with_signature(<[u8]>::to_vec), signature, "{len}");
        }
    }

    #[test]
    fn canonical_check_on_the_edges() {
        for (b64, ok) in [
            ("", true),
            ("A", false),
            ("AA", true),
            ("AB", false),
            ("AAA", true),
            ("AAB", false),
            ("AAAA", true),
            ("AA==", false),
            ("AA.A", false),
            ("+/AA", false),
            ("-_AA", true),
        ] {
            assert_eq!(is_canonical_b64url(b64.as_bytes()), ok, "{b64:?}");
            assert_eq!(B64.decode(b64).is_ok(), ok, "{b64:?}");
        }
    }
}
