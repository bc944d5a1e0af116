//! proptest strategies, all in one place.

use lp_jwt::{AppJwtClaims, Audience, Header, NumericDate, assemble, encode_signing_input};
use proptest::prelude::*;
use serde_json::{Map, Value};

const REGISTERED: &[&str] = &[
    "alg", "typ", "kid", "aud", "azp", "scope", "iss", "exp", "iat",
];

/// Any string, including escapes, quotes and non-ASCII.
pub fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9._-]{0,12}",
        any::<String>().prop_map(|s| s.chars().take(16).collect()),
        Just("\"\\\u{0}\u{1f}\u{7f}é€😀".to_owned()),
    ]
}

/// JSON values without floats (serde_json's float parsing is only exact for
/// short decimals; dates cover fractions separately).
pub fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(text(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Unknown members: keys never collide with a registered name.
pub fn extra() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::btree_map(
        text().prop_filter("registered name", |k| !REGISTERED.contains(&k.as_str())),
        json_value(),
        0..4,
    )
    .prop_map(|m| m.into_iter().collect())
}

/// Any valid NumericDate: whole seconds, or milliseconds.
pub fn numeric_date() -> impl Strategy<Value = NumericDate> {
    prop_oneof![
        (0..=NumericDate::MAX_SECS).prop_map(|s| NumericDate::from_secs(s).unwrap()),
        (0..=NumericDate::MAX_SECS / 1000 * 1000)
            .prop_map(|ms| NumericDate::from_f64(ms as f64 / 1000.0).unwrap()),
        Just(NumericDate::from_secs(NumericDate::MAX_SECS).unwrap()),
        Just(NumericDate::from_secs(0).unwrap()),
    ]
}

pub fn header() -> impl Strategy<Value = Header> {
    (
        text(),
        proptest::option::of(text()),
        proptest::option::of(text()),
        extra(),
    )
        .prop_map(|(alg, typ, kid, extra)| Header {
            alg: alg.into(),
            typ: typ.map(Into::into),
            kid,
            extra,
        })
}

pub fn audience() -> impl Strategy<Value = Audience> {
    prop_oneof![
        text().prop_map(Audience::One),
        prop::collection::vec(text(), 0..4).prop_map(Audience::Many),
    ]
}

pub fn claims() -> impl Strategy<Value = AppJwtClaims> {
    use proptest::option::of;
    (
        of(audience()),
        (of(text()), of(text()), of(text())),
        (of(numeric_date()), of(numeric_date())),
        extra(),
    )
        .prop_map(|(aud, (azp, scope, iss), (exp, iat), extra)| AppJwtClaims {
            aud,
            azp,
            scope,
            iss,
            exp,
            iat,
            extra,
        })
}

/// A well-formed token from arbitrary parts.
pub fn token() -> impl Strategy<Value = String> {
    (
        header(),
        claims(),
        prop::collection::vec(any::<u8>(), 0..300),
    )
        .prop_map(|(h, c, sig)| assemble(&encode_signing_input(&h, &c), &sig))
}

/// One edit of a token's bytes.
#[derive(Debug, Clone)]
pub enum Mutation {
    /// XOR one byte (index taken modulo the length) with a non-zero mask.
    Flip(usize, u8),
    /// Keep only the first `n` bytes.
    Truncate(usize),
    /// Insert a byte at an index.
    Insert(usize, u8),
    /// Remove the byte at an index.
    Remove(usize),
}

pub fn mutation() -> impl Strategy<Value = Mutation> {
    let interesting = prop_oneof![
        Just(b'.'),
        Just(b'='),
        Just(b' '),
        Just(b'+'),
        Just(b'/'),
        Just(b'-'),
        Just(b'_'),
        any::<u8>()
    ];
    prop_oneof![
        (any::<usize>(), 1..=255u8).prop_map(|(i, m)| Mutation::Flip(i, m)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), interesting).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<usize>().prop_map(Mutation::Remove),
    ]
}

impl Mutation {
    /// Applies the edit; the result may not be UTF-8, so it is returned as
    /// bytes and callers convert lossily.
    pub fn apply(&self, token: &str) -> Vec<u8> {
        let mut bytes = token.as_bytes().to_vec();
        let len = bytes.len();
        match *self {
            Mutation::Flip(i, mask) if len > 0 => bytes[i % len] ^= mask,
            Mutation::Truncate(n) => bytes.truncate(n % (len + 1)),
            Mutation::Insert(i, b) => bytes.insert(i % (len + 1), b),
            Mutation::Remove(i) if len > 0 => {
                bytes.remove(i % len);
            }
            _ => {}
        }
        bytes
    }
}
