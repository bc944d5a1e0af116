//! A fast path for the header and claims every issuer writes: one flat
//! object of plain strings and small non-negative integers.
//!
//! serde_json's visitors were most of decode's time (perf: its string
//! reading, the key matching, the visitor calls, moving the values through
//! them). This reads that common shape directly and gives up (`None`) on
//! anything else: an escape, a fraction or exponent, a negative or long
//! number, a nested value, a repeated key, a registered member of another
//! type, a date out of range, any syntax error. The caller then decodes
//! the same bytes with the strict serde visitors, which stay the authority
//! on every error and every unusual token: what this accepts, they accept
//! with the same value (the property tests below check it), so no strictness
//! is lost and every error is the one the visitors report.

use serde_json::{Map, Value};

use crate::claims::{AppJwtClaims, Audience, NumericDate};
use crate::header::{ALGORITHMS, Header, TYPES, known};

/// Longest integer taken here: far below `u64::MAX`, and above
/// [`NumericDate::MAX_SECS`] so every valid date is covered.
const MAX_DIGITS: usize = 15;

/// A cursor over one JSON text, already known to be UTF-8.
struct Scan<'a> {
    text: &'a str,
    json: &'a [u8],
    at: usize,
}

impl<'a> Scan<'a> {
    /// The next byte after JSON whitespace, not consumed.
    fn peek(&mut self) -> Option<u8> {
        while let Some(&c) = self.json.get(self.at) {
            if !matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
                return Some(c);
            }
            self.at = self.at.saturating_add(1);
        }
        None
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.at = self.at.saturating_add(1))
    }

    fn rest(&self) -> &'a [u8] {
        self.json.get(self.at..).unwrap_or_default()
    }

    /// A string without escapes or control characters.
    fn string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let rest = self.rest();
        let len = string_end(rest)?;
        if rest.get(len) != Some(&b'"') {
            return None;
        }
        let end = self.at.saturating_add(len);
        // Both ends are at ASCII quotes, so on char boundaries.
        let text = self.text.get(self.at..end)?;
        self.at = end.saturating_add(1);
        Some(text)
    }

    /// A JSON integer of 1 ..= [`MAX_DIGITS`] digits, no sign, no leading
    /// zero, not followed by a fraction or an exponent.
    fn integer(&mut self) -> Option<u64> {
        self.peek()?;
        let rest = self.rest();
        // Digits and value in one pass; MAX_DIGITS digits cannot overflow.
        let (mut n, mut len) = (0u64, 0);
        for &c in rest {
            let digit = c.wrapping_sub(b'0');
            if digit > 9 {
                break;
            }
            if len == MAX_DIGITS {
                return None;
            }
            n = n * 10 + u64::from(digit);
            len += 1;
        }
        if len == 0 || (len > 1 && rest.first() == Some(&b'0')) {
            return None;
        }
        if matches!(rest.get(len), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        self.at = self.at.saturating_add(len);
        Some(n)
    }

    /// `true`, `false` or `null`.
    fn literal(&mut self) -> Option<Value> {
        self.peek()?;
        let rest = self.rest();
        let (value, len) = if rest.starts_with(b"true") {
            (Value::Bool(true), 4)
        } else if rest.starts_with(b"false") {
            (Value::Bool(false), 5)
        } else if rest.starts_with(b"null") {
            (Value::Null, 4)
        } else {
            return None;
        };
        self.at = self.at.saturating_add(len);
        Some(value)
    }

    /// A member of `extra`: a string, an integer or a literal.
    fn simple_value(&mut self) -> Option<Value> {
        match self.peek()? {
            b'"' => Some(Value::String(self.string()?.to_owned())),
            b'0'..=b'9' => Some(Value::Number(self.integer()?.into())),
            _ => self.literal(),
        }
    }

    /// A NumericDate in whole seconds, in range.
    fn date(&mut self) -> Option<NumericDate> {
        NumericDate::from_secs(i64::try_from(self.integer()?).ok()?)
    }
}

/// The offset of the first `"`, `\\` or control character in `text`: the
/// end of a string's plain run. Eight bytes at a time, as the values
/// (client ids, scopes) are most of what the fast path reads.
fn string_end(text: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    let mut chunks = text.chunks_exact(8);
    let mut at = 0;
    for chunk in &mut chunks {
        let x = u64::from_le_bytes(chunk.try_into().ok()?);
        // A byte's high bit is set here when it is below 0x20, or equal
        // to the quote or the backslash (then `x ^ c` has a zero byte).
        // A borrow can only mark bytes above a marked one, so the lowest
        // mark is the first such byte.
        let below = |x: u64, n: u8| x.wrapping_sub(ONES * u64::from(n)) & !x & HIGH;
        let marks = below(x, 0x20) | below(x ^ (ONES * 0x22), 1) | below(x ^ (ONES * 0x5c), 1);
        if marks != 0 {
            return Some(at + (marks.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    let tail = chunks.remainder();
    tail.iter()
        .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
        .map(|i| at + i)
}

/// A member name the fast path looks for, matched as the eight bytes after
/// the key's opening quote read: the name, its closing quote, anything.
/// Registered names are short, so one masked compare per name replaces the
/// search for the key's end and the string compares that follow it.
#[derive(Clone, Copy)]
struct Name {
    text: &'static str,
    word: u64,
    mask: u64,
}

impl Name {
    /// `text` and its closing quote, little-endian; at most seven bytes.
    const fn new(text: &'static str) -> Name {
        let bytes = text.as_bytes();
        assert!(bytes.len() < 8, "a name and its quote fit in a word");
        let mut word = (b'"' as u64) << (8 * bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            word |= (bytes[i] as u64) << (8 * i);
            i += 1;
        }
        let mask = if bytes.len() == 7 {
            u64::MAX
        } else {
            (1 << (8 * (bytes.len() + 1))) - 1
        };
        Name { text, word, mask }
    }
}

/// A member's key: one of the caller's names (its index) or any other.
enum Key<'a> {
    Known(usize),
    Other(&'a str),
}

impl<'a> Scan<'a> {
    /// A key, as [`Scan::string`] reads it, told apart from `names`.
    fn key(&mut self, names: &[Name]) -> Option<Key<'a>> {
        if self.peek()? != b'"' {
            return None;
        }
        let after = self.at.saturating_add(1);
        if let Some(word) = self.json.get(after..after.saturating_add(8)) {
            let word = u64::from_le_bytes(word.try_into().ok()?);
            for (i, name) in names.iter().enumerate() {
                if word & name.mask == name.word {
                    self.at = after.saturating_add(name.text.len()).saturating_add(1);
                    return Some(Key::Known(i));
                }
            }
        }
        // Another key, or one of the names this close to the end.
        let key = self.string()?;
        Some(match names.iter().position(|name| name.text == key) {
            Some(i) => Key::Known(i),
            None => Key::Other(key),
        })
    }
}

/// Reads `json` as one object, handing each key to `member` with the cursor
/// before its value; `None` unless the whole text is that object.
fn object<'a>(
    json: &'a [u8],
    names: &[Name],
    mut member: impl FnMut(Key<'a>, &mut Scan<'a>) -> Option<()>,
) -> Option<()> {
    // One UTF-8 check of the whole text (ASCII runs fast) rather than one
    // per string; text that is not UTF-8 is the visitors' to report.
    let text = std::str::from_utf8(json).ok()?;
    let mut scan = Scan { text, json, at: 0 };
    scan.eat(b'{')?;
    if scan.eat(b'}').is_none() {
        loop {
            let key = scan.key(names)?;
            scan.eat(b':')?;
            member(key, &mut scan)?;
            if scan.eat(b',').is_none() {
                scan.eat(b'}')?;
                break;
            }
        }
    }
    (scan.peek().is_none()).then_some(())
}

/// Stores `value` in an empty slot; `None` (give up) for a repeated key.
fn fill<T>(slot: &mut Option<T>, value: Option<T>) -> Option<()> {
    if slot.is_some() {
        return None;
    }
    *slot = Some(value?);
    Some(())
}

fn extra_member(extra: &mut Map<String, Value>, key: &str, scan: &mut Scan<'_>) -> Option<()> {
    if extra.contains_key(key) {
        return None;
    }
    let value = scan.simple_value()?;
    extra.insert(key.to_owned(), value);
    Some(())
}

const HEADER_NAMES: [Name; 3] = [Name::new("alg"), Name::new("typ"), Name::new("kid")];

/// Reads the header into `header` (as [`Header::unfilled`] makes it) when
/// it has the common shape; `None` leaves `header` part filled, for the
/// caller to replace.
pub(crate) fn read_header(json: &[u8], header: &mut Header) -> Option<()> {
    let (mut alg, mut typ) = (None, None);
    object(json, &HEADER_NAMES, |key, scan| match key {
        Key::Known(0) => fill(&mut alg, scan.string().map(|s| known(s, ALGORITHMS))),
        Key::Known(1) => fill(&mut typ, scan.string().map(|s| known(s, TYPES))),
        Key::Known(_) => fill(&mut header.kid, scan.string().map(str::to_owned)),
        Key::Other(key) => extra_member(&mut header.extra, key, scan),
    })?;
    header.alg = alg?;
    header.typ = typ;
    Some(())
}

const CLAIM_NAMES: [Name; 6] = [
    Name::new("aud"),
    Name::new("azp"),
    Name::new("scope"),
    Name::new("iss"),
    Name::new("exp"),
    Name::new("iat"),
];

/// Reads the claims into `claims` (empty, as `Default` makes them) when
/// they have the common shape (`aud` a single string); `None` leaves
/// `claims` part filled, for the caller to replace. Filled in place: the
/// claims are most of the token's size, and moving them was a tenth of
/// decode's time.
pub(crate) fn read_claims(json: &[u8], c: &mut AppJwtClaims) -> Option<()> {
    object(json, &CLAIM_NAMES, |key, scan| match key {
        Key::Known(0) => fill(
            &mut c.aud,
            scan.string().map(|s| Audience::One(s.to_owned())),
        ),
        Key::Known(1) => fill(&mut c.azp, scan.string().map(str::to_owned)),
        Key::Known(2) => fill(&mut c.scope, scan.string().map(str::to_owned)),
        Key::Known(3) => fill(&mut c.iss, scan.string().map(str::to_owned)),
        Key::Known(4) => fill(&mut c.exp, scan.date()),
        Key::Known(_) => fill(&mut c.iat, scan.date()),
        Key::Other(key) => extra_member(&mut c.extra, key, scan),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What the fast path makes of `json`.
    fn header(json: &[u8]) -> Option<Header> {
        let mut header = Header::unfilled();
        read_header(json, &mut header).map(|()| header)
    }

    fn claims(json: &[u8]) -> Option<AppJwtClaims> {
        let mut claims = AppJwtClaims::default();
        read_claims(json, &mut claims).map(|()| claims)
    }

    /// What the strict serde visitors make of `json`.
    fn strict<T: serde::de::DeserializeOwned>(json: &[u8]) -> Option<T> {
        serde_json::from_slice(json).ok()
    }

    /// The property: whatever the fast path accepts, the visitors accept
    /// with an equal value.
    fn agrees(json: &[u8]) -> Result<(), TestCaseError> {
        if let Some(fast) = header(json) {
            prop_assert_eq!(
                Some(fast),
                strict::<Header>(json),
                "{:?}",
                String::from_utf8_lossy(json)
            );
        }
        if let Some(fast) = claims(json) {
            prop_assert_eq!(
                Some(fast),
                strict::<AppJwtClaims>(json),
                "{:?}",
                String::from_utf8_lossy(json)
            );
        }
        Ok(())
    }

    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("alg"),
            Just("typ"),
            Just("kid"),
            Just("aud"),
            Just("azp"),
            Just("scope"),
            Just("iss"),
            Just("exp"),
            Just("iat"),
            Just("x"),
            Just("jti"),
            Just("a\\u006c"),
            Just("al g"),
            Just("é"),
        ]
        .prop_map(|k| format!("\"{k}\""))
    }

    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            "\"[ -~é]{0,6}\"",
            Just("\"a\\\"b\"".to_owned()),
            Just("\"\\u00e9\"".to_owned()),
            Just("\"tab\there\"".to_owned()),
            "[0-9]{1,17}",
            "-[0-9]{1,3}",
            "[0-9]{1,3}\\.[0-9]{1,2}",
            "[0-9]{1,3}[eE][+-]?[0-9]",
            Just("253402300799".to_owned()),
            Just("253402300800".to_owned()),
            Just("true".to_owned()),
            Just("false".to_owned()),
            Just("null".to_owned()),
            Just("nul".to_owned()),
            Just("[]".to_owned()),
            Just("[\"a\"]".to_owned()),
            Just("{}".to_owned()),
            Just("{\"a\":1,\"a\":2}".to_owned()),
        ]
    }

    fn ws() -> impl Strategy<Value = &'static str> {
        prop_oneof![
            Just(""),
            Just(""),
            Just(" "),
            Just("\n\t"),
            Just("\r "),
            Just("\u{a0}")
        ]
    }

    /// An object of members drawn from the above, with whitespace.
    fn object_text() -> impl Strategy<Value = String> {
        prop::collection::vec((ws(), key(), ws(), value(), ws()), 0..8).prop_map(|members| {
            let body: Vec<String> = members
                .into_iter()
                .map(|(a, k, b, v, c)| format!("{a}{k}{b}:{c}{v}{a}"))
                .collect();
            format!("{{{}}}", body.join(","))
        })
    }

    /// Objects of the common shape only (distinct keys, registered members
    /// of their type): the fast path must take every one of them.
    fn common_shape() -> impl Strategy<Value = String> {
        let string = "\"[ -!#-\\[\\]-~é€]{0,8}\"";
        let simple = prop_oneof![
            string.boxed(),
            "[1-9][0-9]{0,14}".boxed(),
            Just("0".to_owned()).boxed(),
            Just("null".to_owned()).boxed(),
            Just("true".to_owned()).boxed(),
        ];
        (
            prop::collection::btree_map("x[a-z_]{0,3}", simple, 0..4),
            prop::collection::vec(
                (
                    prop::sample::select(&["alg", "typ", "kid", "aud", "azp", "scope", "iss"][..]),
                    string,
                ),
                0..7,
            ),
            prop::option::of(0..=NumericDate::MAX_SECS),
        )
            .prop_map(|(extra, strings, exp)| {
                let mut members: std::collections::BTreeMap<String, String> = extra;
                for (k, v) in strings {
                    members.insert(k.to_owned(), v);
                }
                if let Some(exp) = exp {
                    members.insert("exp".to_owned(), exp.to_string());
                }
                let body: Vec<String> = members
                    .iter()
                    .map(|(k, v)| format!("\"{k}\":{v}"))
                    .collect();
                format!("{{{}}}", body.join(","))
            })
    }

    proptest! {
        #[test]
        fn the_fast_path_takes_every_common_shape(json in common_shape()) {
            let json = json.as_bytes();
            prop_assert!(claims(json).is_some(), "{:?}", String::from_utf8_lossy(json));
            let has_alg = json.windows(5).any(|w| w == b"\"alg\"");
            prop_assert_eq!(header(json).is_some(), has_alg, "{:?}", String::from_utf8_lossy(json));
            agrees(json)?;
        }

        /// The word-at-a-time search finds what a byte-by-byte one does,
        /// on text dense in quotes, backslashes, controls and high bytes.
        #[test]
        fn string_end_is_the_first_stop(
            text in prop::collection::vec(
                prop_oneof![
                    Just(b'"'), Just(b'\\'), Just(0x1f), Just(0x20), Just(0x21),
                    Just(0x5b), Just(0x5d), Just(0x7f), Just(0x80), Just(0xa2), Just(0xdc),
                    any::<u8>(), b'a'..=b'z', b'a'..=b'z', b'a'..=b'z', b'a'..=b'z',
                ],
                0..40,
            ),
        ) {
            let expected = text.iter().position(|&c| c == b'"' || c == b'\\' || c < 0x20);
            prop_assert_eq!(string_end(&text), expected);
        }

        #[test]
        fn fast_path_agrees_with_the_visitors(json in object_text()) {
            agrees(json.as_bytes())?;
        }

        /// Any byte changed, inserted or cut, invalid UTF-8 included.
        #[test]
        fn fast_path_agrees_on_mutated_objects(
            json in prop_oneof![object_text(), common_shape()],
            at in any::<prop::sample::Index>(),
            byte in any::<u8>(),
            how in 0..3u8,
        ) {
            let mut bytes = json.into_bytes();
            let i = at.index(bytes.len());
            match how {
                0 => bytes[i] = byte,
                1 => bytes.insert(i, byte),
                _ => bytes.truncate(i),
            }
            agrees(&bytes)?;
        }
    }

    #[test]
    fn the_common_shapes_take_the_fast_path() {
        // The seed's header and claims, as Sentinel writes them.
        let seed_header = br#"{"kid":"appjwt-13-05-17","typ":"JWT","alg":"RS256"}"#;
        let seed_claims = br#"{"aud":"le81823118","azp":"75588e18-0213-4e33-8174-883acac7e3c4","scope":"msg.consumer","iss":"Sentinel","exp":1524646270,"iat":1524642670}"#;
        // A ConsumerJWS's claims (unregistered string members).
        let consumer = br#"{"account_id":"1","ext_consumer_id":"c","lp_consumer_id":"l","iat":1}"#;
        for json in [
            &seed_header[..],
            b"{}",
            br#"{ "alg" : "none" , "x" : true }"#,
        ] {
            assert_eq!(
                header(json),
                strict(json),
                "{:?}",
                String::from_utf8_lossy(json)
            );
        }
        assert!(header(seed_header).is_some());
        for json in [
            &seed_claims[..],
            consumer,
            b"{}",
            br#"{"exp":0,"n":null,"f":false}"#,
        ] {
            assert!(
                claims(json).is_some(),
                "{:?}",
                String::from_utf8_lossy(json)
            );
            assert_eq!(
                claims(json),
                strict(json),
                "{:?}",
                String::from_utf8_lossy(json)
            );
        }
    }

    /// A registered name is known by its word at any distance from the
    /// end of the text, and only when the key is exactly that name.
    #[test]
    fn names_are_told_apart_from_other_keys() {
        let check = |json: &str, exp: Option<i64>, extra: &[&str]| {
            let c = claims(json.as_bytes()).unwrap();
            assert_eq!(c.exp.map(NumericDate::as_secs), exp, "{json}");
            let keys: Vec<&str> = c.extra.keys().map(String::as_str).collect();
            assert_eq!(keys, extra, "{json}");
            assert_eq!(Some(c), strict(json.as_bytes()), "{json}");
        };
        check(r#"{"exp":1}"#, Some(1), &[]);
        check(r#"{"exp":12}"#, Some(12), &[]);
        check(r#"{"x":0,"exp":1}"#, Some(1), &["x"]);
        check(r#"{"expires":1}"#, None, &["expires"]);
        check(r#"{"ex":1,"exp ":2}"#, None, &["ex", "exp "]);
        check(
            r#"{"Exp":1,"scopes":2,"scop":3}"#,
            None,
            &["Exp", "scop", "scopes"],
        );
        check(r#"{"scope":"a","e":1}"#, None, &["e"]);
        assert_eq!(claims(br#"{"exp":1,"exp":1}"#), None);
        assert_eq!(claims(br#"{"exp":1, "exp":1}"#), None);
        let h = header(br#"{"alg":"none","kid":"k"}"#).unwrap();
        assert_eq!((&*h.alg, h.kid.as_deref()), ("none", Some("k")));
        let h = header(br#"{"kid":"k","alg":"none","algs":1}"#).unwrap();
        assert_eq!(h.extra.keys().collect::<Vec<_>>(), ["algs"]);
    }

    #[test]
    fn known_alg_and_typ_are_borrowed_on_both_paths() {
        use std::borrow::Cow;
        let fast = header(br#"{"alg":"RS256","typ":"JWT"}"#).unwrap();
        // An escape sends this one down the visitors' path.
        let slow: Header = strict(br#"{"alg":"RS256","typ":"JWT","x":"\n"}"#).unwrap();
        for h in [fast, slow] {
            assert!(matches!(h.alg, Cow::Borrowed("RS256")), "{h:?}");
            assert!(matches!(h.typ, Some(Cow::Borrowed("JWT"))), "{h:?}");
        }
        let other = header(br#"{"alg":"XS256","typ":"jwt"}"#).unwrap();
        assert!(
            matches!(other.alg, Cow::Owned(ref a) if a == "XS256"),
            "{other:?}"
        );
        assert!(
            matches!(other.typ, Some(Cow::Owned(ref t)) if t == "jwt"),
            "{other:?}"
        );
        assert!(matches!(Header::new("none").alg, Cow::Borrowed("none")));
    }

    #[test]
    fn anything_else_is_left_to_the_visitors() {
        for json in [
            &br#"{"alg":"RS256","alg":"RS256"}"#[..],
            br#"{"alg":5}"#,
            br#"{"typ":"JWT"}"#,
            br#"{"alg":"R\u0053256"}"#,
            br#"{"alg":"RS256","x":{"a":1}}"#,
            br#"{"alg":"RS256"} x"#,
            br#"{"alg":"RS256",}"#,
            br#"["alg"]"#,
        ] {
            assert_eq!(header(json), None, "{:?}", String::from_utf8_lossy(json));
        }
        for json in [
            &br#"{"exp":1.5}"#[..],
            br#"{"exp":-1}"#,
            br#"{"exp":01}"#,
            br#"{"exp":253402300800}"#,
            br#"{"exp":1e3}"#,
            br#"{"aud":["a"]}"#,
            br#"{"aud":"a","aud":"a"}"#,
            br#"{"x":1,"x":1}"#,
            br#"{"x":[]}"#,
            br#"{"iss":"a\"b"}"#,
        ] {
            assert_eq!(claims(json), None, "{:?}", String::from_utf8_lossy(json));
        }
    }
}
