//! The JOSE header.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::ser::SerializeMap;

use crate::strict::{
    Ctx, Key, KeySeed, Problem, StringSeed, duplicate, insert_extra, reject_other_types,
};

/// JOSE header (RFC 7515 section 4). Unknown members are kept in `extra`.
///
/// `alg` is required; `typ` and `kid` are optional strings. A member of the
/// wrong type or a repeated member is a decoding error, never silently
/// dropped or overwritten.
///
/// `alg` and `typ` are a [`Cow`] so that decoding the usual values (`JWT`,
/// `RS256` and the other registered JWS algorithms) borrows a static
/// string instead of allocating one; any other value is owned. Compare them
/// with a `&str` (`header.alg == "RS256"`); `"RS256".into()` builds one.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    /// The signature algorithm the token claims, e.g. `RS256`. Never used to
    /// choose how a signature is checked.
    pub alg: Cow<'static, str>,
    /// The media type, usually `JWT`.
    pub typ: Option<Cow<'static, str>>,
    /// The signing key's id, e.g. `appjwt-13-05-17`.
    pub kid: Option<String>,
    /// Every other member, as decoded. Entries named `alg`, `typ` or `kid`
    /// are ignored when serializing, so the output never repeats a key.
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

/// The key id prefix Sentinel uses.
const APPJWT_PREFIX: &str = "appjwt";

impl Header {
    /// A header with only `alg` set.
    pub fn new(alg: &str) -> Self {
        Header {
            alg: known(alg, ALGORITHMS),
            typ: None,
            kid: None,
            extra: serde_json::Map::new(),
        }
    }

    /// A header for decoding to fill in: `alg` empty, nothing else.
    pub(crate) fn unfilled() -> Self {
        Header {
            alg: Cow::Borrowed(""),
            typ: None,
            kid: None,
            extra: serde_json::Map::new(),
        }
    }

    /// Splits `kid` at its first `-` when it starts with `appjwt`.
    ///
    /// ```
    /// # use lp_jwt::{Header, KidParts};
    /// let mut header = Header::new("RS256");
    /// header.kid = Some("appjwt-13-05-17".to_owned());
    /// assert_eq!(header.kid_parts(), Some(KidParts { prefix: "appjwt", date: "13-05-17" }));
    /// ```
    ///
    /// Returns `None` when there is no `kid`, it has another prefix, or the
    /// date part is empty.
    pub fn kid_parts(&self) -> Option<KidParts<'_>> {
        let kid = self.kid.as_deref()?;
        let (prefix, date) = kid.split_once('-')?;
        (prefix == APPJWT_PREFIX && !date.is_empty()).then_some(KidParts { prefix, date })
    }
}

const HEADER_NAMES: &[&str] = &["alg", "typ", "kid"];

/// The registered JWS `alg` values (RFC 7518 section 3.1) and `EdDSA`.
pub(crate) const ALGORITHMS: &[&str] = &[
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "HS256",
    "HS384", "HS512", "EdDSA", "none",
];

/// The `typ` value issuers write.
pub(crate) const TYPES: &[&str] = &["JWT"];

/// `value` borrowed from `known` when it is one of them, else owned.
pub(crate) fn known(value: &str, known: &'static [&'static str]) -> Cow<'static, str> {
    match known.iter().find(|k| **k == value) {
        Some(k) => Cow::Borrowed(k),
        None => Cow::Owned(value.to_owned()),
    }
}

impl serde::Serialize for Header {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        // `alg` first: it is what a reader of a debugger output looks for.
        map.serialize_entry("alg", &*self.alg)?;
        if let Some(typ) = &self.typ {
            map.serialize_entry("typ", &**typ)?;
        }
        if let Some(kid) = &self.kid {
            map.serialize_entry("kid", kid)?;
        }
        for (k, v) in &self.extra {
            if !HEADER_NAMES.contains(&k.as_str()) {
                map.serialize_entry(k, v)?;
            }
        }
        map.end()
    }
}

/// Deserializes a header with the strict rules of [`crate::UnverifiedToken`]
/// (duplicate keys and wrongly typed members are errors).
impl<'de> serde::Deserialize<'de> for Header {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        HeaderSeed(&Ctx::default()).deserialize(d)
    }
}

/// Deserializes a [`Header`], recording problems in a [`Ctx`].
pub(crate) struct HeaderSeed<'c>(pub(crate) &'c Ctx);

impl<'de> DeserializeSeed<'de> for HeaderSeed<'_> {
    type Value = Header;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Header, D::Error> {
        d.deserialize_any(self)
    }
}

impl HeaderSeed<'_> {
    fn fail<E: de::Error>(&self) -> E {
        self.0.fail(Problem::NotObject)
    }
}

impl<'de> Visitor<'de> for HeaderSeed<'_> {
    type Value = Header;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JOSE header object")
    }
    reject_other_types!(
        visit_bool(bool),
        visit_i64(i64),
        visit_u64(u64),
        visit_f64(f64),
        visit_str(&str),
        visit_unit(),
    );
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Header, A::Error> {
        Err(self.fail())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Header, A::Error> {
        let ctx = self.0;
        let mut slots: [Option<String>; 3] = [None, None, None];
        let mut extra = serde_json::Map::new();
        while let Some(key) = map.next_key_seed(KeySeed(HEADER_NAMES))? {
            match key {
                Key::Known(i) => {
                    let name = HEADER_NAMES.get(i).copied().unwrap_or_default();
                    let slot = slots.get_mut(i).ok_or_else(|| ctx.fail(duplicate(name)))?;
                    if slot.is_some() {
                        return Err(ctx.fail(duplicate(name)));
                    }
                    *slot = Some(map.next_value_seed(StringSeed {
                        name,
                        expected: "a string",
                        ctx,
                    })?);
                }
                Key::Other(key) => insert_extra(&mut map, &mut extra, key, ctx)?,
            }
        }
        let [alg, typ, kid] = slots;
        let alg = alg.ok_or_else(|| ctx.fail(Problem::Missing { name: "alg" }))?;
        Ok(Header {
            alg: known(&alg, ALGORITHMS),
            typ: typ.map(|t| known(&t, TYPES)),
            kid,
            extra,
        })
    }
}
