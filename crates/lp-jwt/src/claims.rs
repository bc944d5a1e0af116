//! AppJWT claims: `aud`, `azp`, `scope`, `iss`, `exp`, `iat` and the rest.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::ser::SerializeMap;

use crate::strict::{
    Ctx, Key, KeySeed, Problem, StringSeed, duplicate, insert_extra, reject_other_types,
};

/// `aud`: one string or an array of strings (RFC 7519 section 4.1.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Audience {
    /// `"aud": "le81823118"`.
    One(String),
    /// `"aud": ["a", "b"]`.
    Many(Vec<String>),
}

impl Audience {
    /// Every audience value, in token order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        let all = match self {
            Audience::One(one) => std::slice::from_ref(one),
            Audience::Many(many) => many.as_slice(),
        };
        all.iter().map(String::as_str)
    }

    /// Whether `aud` is one of the values (exact, case-sensitive match).
    pub fn contains(&self, aud: &str) -> bool {
        self.iter().any(|a| a == aud)
    }
}

/// An RFC 7519 NumericDate: seconds since the epoch, possibly fractional,
/// within 0 ..= 253402300799 (year 9999).
///
/// The range makes every conversion here overflow-free.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct NumericDate(f64);

impl NumericDate {
    /// 9999-12-31T23:59:59Z, the latest accepted date.
    pub const MAX_SECS: i64 = 253_402_300_799;

    /// Whole seconds since the epoch; `None` outside 0 ..= [`Self::MAX_SECS`].
    pub fn from_secs(secs: i64) -> Option<Self> {
        // Exact: MAX_SECS is far below 2^53.
        (0..=Self::MAX_SECS)
            .contains(&secs)
            .then_some(NumericDate(secs as f64))
    }

    /// Possibly fractional seconds; `None` for NaN, infinities and values
    /// outside 0 ..= [`Self::MAX_SECS`].
    pub fn from_f64(secs: f64) -> Option<Self> {
        // NaN fails both comparisons; `+ 0.0` turns -0.0 into 0.0.
        (secs >= 0.0 && secs <= Self::MAX_SECS as f64).then_some(NumericDate(secs + 0.0))
    }

    /// The value in seconds.
    pub fn as_f64(self) -> f64 {
        self.0
    }

    /// Whole seconds, rounded down.
    pub fn as_secs(self) -> i64 {
        // In range by construction, so the cast neither saturates nor wraps.
        self.0.floor() as i64
    }

    /// The same instant as a [`SystemTime`].
    ///
    /// Every tier-1 platform can represent year 9999; on one that cannot,
    /// the epoch is returned rather than panicking.
    pub fn to_system_time(self) -> SystemTime {
        Duration::try_from_secs_f64(self.0)
            .ok()
            .and_then(|d| UNIX_EPOCH.checked_add(d))
            .unwrap_or(UNIX_EPOCH)
    }

    /// Whether the value has no fractional part.
    fn is_whole(self) -> bool {
        self.0.fract() == 0.0
    }
}

impl fmt::Display for NumericDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_whole() {
            write!(f, "{}", self.as_secs())
        } else {
            write!(f, "{}", self.0)
        }
    }
}

impl serde::Serialize for NumericDate {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // Whole seconds as an integer, which is what every issuer writes.
        if self.is_whole() {
            s.serialize_u64(self.as_secs().unsigned_abs())
        } else {
            s.serialize_f64(self.0)
        }
    }
}

/// AppJWT claims. All registered claims are optional at the type level;
/// [`crate::Validation`] decides which are required. Unknown claims are kept.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AppJwtClaims {
    /// Audience: the account id, e.g. `le81823118` or `81823118`.
    pub aud: Option<Audience>,
    /// Authorized party: the app installation id (the client id).
    pub azp: Option<String>,
    /// Granted scope, e.g. `msg.consumer`.
    pub scope: Option<String>,
    /// Issuer, `Sentinel`.
    pub iss: Option<String>,
    /// Expiry.
    pub exp: Option<NumericDate>,
    /// Issue time.
    pub iat: Option<NumericDate>,
    /// Every other claim, as decoded. Entries named like one of the fields
    /// above are ignored when serializing, so the output never repeats a key.
    pub extra: serde_json::Map<String, serde_json::Value>,
}

const CLAIM_NAMES: &[&str] = &["aud", "azp", "scope", "iss", "exp", "iat"];
const AUD: usize = 0;
const AZP: usize = 1;
const SCOPE: usize = 2;
const ISS: usize = 3;
const EXP: usize = 4;
// Index 5 is `iat`, the remaining arm of the matches below.

impl serde::Serialize for Audience {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Audience::One(one) => s.serialize_str(one),
            Audience::Many(many) => s.collect_seq(many),
        }
    }
}

impl serde::Serialize for AppJwtClaims {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        if let Some(v) = &self.aud {
            map.serialize_entry("aud", v)?;
        }
        for (name, v) in [
            ("azp", &self.azp),
            ("scope", &self.scope),
            ("iss", &self.iss),
        ] {
            if let Some(v) = v {
                map.serialize_entry(name, v)?;
            }
        }
        for (name, v) in [("exp", &self.exp), ("iat", &self.iat)] {
            if let Some(v) = v {
                map.serialize_entry(name, v)?;
            }
        }
        for (k, v) in &self.extra {
            if !CLAIM_NAMES.contains(&k.as_str()) {
                map.serialize_entry(k, v)?;
            }
        }
        map.end()
    }
}

/// Deserializes claims with the strict rules of [`crate::UnverifiedToken`]
/// (duplicate keys, wrongly typed registered claims and out-of-range dates
/// are errors).
impl<'de> serde::Deserialize<'de> for AppJwtClaims {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        ClaimsSeed(&Ctx::default()).deserialize(d)
    }
}

/// Deserializes [`AppJwtClaims`], recording problems in a [`Ctx`].
pub(crate) struct ClaimsSeed<'c>(pub(crate) &'c Ctx);

impl<'de> DeserializeSeed<'de> for ClaimsSeed<'_> {
    type Value = AppJwtClaims;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<AppJwtClaims, D::Error> {
        d.deserialize_any(self)
    }
}

impl ClaimsSeed<'_> {
    fn fail<E: de::Error>(&self) -> E {
        self.0.fail(Problem::NotObject)
    }
}

impl<'de> Visitor<'de> for ClaimsSeed<'_> {
    type Value = AppJwtClaims;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JWT claims object")
    }
    reject_other_types!(
        visit_bool(bool),
        visit_i64(i64),
        visit_u64(u64),
        visit_f64(f64),
        visit_str(&str),
        visit_unit(),
    );
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<AppJwtClaims, A::Error> {
        Err(self.fail())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<AppJwtClaims, A::Error> {
        let ctx = self.0;
        let mut c = AppJwtClaims::default();
        while let Some(key) = map.next_key_seed(KeySeed(CLAIM_NAMES))? {
            let i = match key {
                Key::Known(i) => i,
                Key::Other(key) => {
                    insert_extra(&mut map, &mut c.extra, key, ctx)?;
                    continue;
                }
            };
            let name = CLAIM_NAMES.get(i).copied().unwrap_or_default();
            let seen = match i {
                AUD => c.aud.is_some(),
                AZP => c.azp.is_some(),
                SCOPE => c.scope.is_some(),
                ISS => c.iss.is_some(),
                EXP => c.exp.is_some(),
                _ => c.iat.is_some(),
            };
            if seen {
                return Err(ctx.fail(duplicate(name)));
            }
            let string = StringSeed {
                name,
                expected: "a string",
                ctx,
            };
            match i {
                AUD => c.aud = Some(map.next_value_seed(AudienceSeed(ctx))?),
                AZP => c.azp = Some(map.next_value_seed(string)?),
                SCOPE => c.scope = Some(map.next_value_seed(string)?),
                ISS => c.iss = Some(map.next_value_seed(string)?),
                EXP => c.exp = Some(map.next_value_seed(DateSeed { name, ctx })?),
                _ => c.iat = Some(map.next_value_seed(DateSeed { name, ctx })?),
            }
        }
        Ok(c)
    }
}

const AUD_EXPECTED: &str = "a string or an array of strings";

struct AudienceSeed<'c>(&'c Ctx);

impl AudienceSeed<'_> {
    fn fail<E: de::Error>(&self) -> E {
        self.0.fail(Problem::WrongType {
            name: "aud",
            expected: AUD_EXPECTED,
        })
    }
}

impl<'de> DeserializeSeed<'de> for AudienceSeed<'_> {
    type Value = Audience;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Audience, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for AudienceSeed<'_> {
    type Value = Audience;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(AUD_EXPECTED)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Audience, E> {
        Ok(Audience::One(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Audience, E> {
        Ok(Audience::One(v))
    }
    reject_other_types!(
        visit_bool(bool),
        visit_i64(i64),
        visit_u64(u64),
        visit_f64(f64),
        visit_unit()
    );
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Audience, A::Error> {
        let mut all = Vec::new();
        while let Some(one) = seq.next_element_seed(StringSeed {
            name: "aud",
            expected: AUD_EXPECTED,
            ctx: self.0,
        })? {
            all.push(one);
        }
        Ok(Audience::Many(all))
    }
    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Audience, A::Error> {
        Err(self.fail())
    }
}

struct DateSeed<'c> {
    name: &'static str,
    ctx: &'c Ctx,
}

impl DateSeed<'_> {
    fn fail<E: de::Error>(&self) -> E {
        self.ctx.fail(Problem::WrongType {
            name: self.name,
            expected: "a number",
        })
    }
    fn range<E: de::Error>(&self, date: Option<NumericDate>) -> Result<NumericDate, E> {
        date.ok_or_else(|| self.ctx.fail(Problem::DateRange { name: self.name }))
    }
}

impl<'de> DeserializeSeed<'de> for DateSeed<'_> {
    type Value = NumericDate;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<NumericDate, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for DateSeed<'_> {
    type Value = NumericDate;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a NumericDate")
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<NumericDate, E> {
        self.range(i64::try_from(v).ok().and_then(NumericDate::from_secs))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<NumericDate, E> {
        self.range(NumericDate::from_secs(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<NumericDate, E> {
        self.range(NumericDate::from_f64(v))
    }
    reject_other_types!(visit_bool(bool), visit_str(&str), visit_unit());
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<NumericDate, A::Error> {
        Err(self.fail())
    }
    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<NumericDate, A::Error> {
        Err(self.fail())
    }
}
