//! Serde machinery shared by the header and claims decoders.
//!
//! serde's derived code and `serde_json::Value` both let a repeated key
//! silently overwrite the first one, and a derive cannot tell "absent" from
//! "wrong type" in a way the caller can inspect. The visitors here reject
//! repeated keys at every depth and record *why* they failed in a [`Ctx`],
//! so [`crate::DecodeError`] can report a typed variant instead of parsing a
//! serde message.

use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use crate::untrusted::Untrusted;

/// What went wrong inside a visitor, recorded before the serde error is
/// returned so the decoder can turn it into a typed error.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Problem {
    /// The top-level JSON value was not an object.
    NotObject,
    /// A key occurred twice in one object.
    Duplicate { key: String },
    /// A registered member had the wrong JSON type.
    WrongType {
        name: &'static str,
        expected: &'static str,
    },
    /// A required member was absent.
    Missing { name: &'static str },
    /// A NumericDate was negative or after year 9999.
    DateRange { name: &'static str },
}

/// Side channel for [`Problem`]s. The first problem wins.
#[derive(Default)]
pub(crate) struct Ctx(Cell<Option<Problem>>);

impl Ctx {
    /// Records `problem` (unless one is already recorded) and returns a serde
    /// error describing it, for the visitor to return.
    pub(crate) fn fail<E: de::Error>(&self, problem: Problem) -> E {
        let msg = problem.to_string();
        let previous = self.0.take();
        self.0.set(Some(previous.unwrap_or(problem)));
        E::custom(msg)
    }

    pub(crate) fn take(&self) -> Option<Problem> {
        self.0.take()
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::NotObject => f.write_str("expected a JSON object"),
            Problem::Duplicate { key } => write!(f, "duplicate key `{}`", Untrusted::new(key)),
            Problem::WrongType { name, expected } => write!(f, "`{name}` must be {expected}"),
            Problem::Missing { name } => write!(f, "missing `{name}`"),
            Problem::DateRange { name } => {
                write!(f, "`{name}` is outside 0 ..= 253402300799")
            }
        }
    }
}

/// A duplicate-key problem. The key is kept whole (it is bounded by the
/// token's size limit); `Display` of the errors cuts it.
pub(crate) fn duplicate(key: &str) -> Problem {
    Problem::Duplicate {
        key: key.to_owned(),
    }
}

/// An object key: one of the registered names (by index) or another key.
pub(crate) enum Key {
    Known(usize),
    Other(String),
}

/// Reads an object key, matching it against `names` without allocating.
pub(crate) struct KeySeed(pub(crate) &'static [&'static str]);

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Key;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Key, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Key;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
        Ok(match self.0.iter().position(|n| *n == v) {
            Some(i) => Key::Known(i),
            None => Key::Other(v.to_owned()),
        })
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Key, E> {
        Ok(match self.0.iter().position(|n| *n == v) {
            Some(i) => Key::Known(i),
            None => Key::Other(v),
        })
    }
}

/// Implements the `visit_*` methods a visitor does not accept by recording a
/// wrong-type problem. `$self.fail()` must return the error.
macro_rules! reject_other_types {
    ($($method:ident($($arg:ty)?)),* $(,)?) => {
        $(
            fn $method<E: de::Error>(self $(, _: $arg)?) -> Result<Self::Value, E> {
                Err(self.fail())
            }
        )*
    };
}
pub(crate) use reject_other_types;

/// A JSON string member whose wrong type is reported as `name`.
pub(crate) struct StringSeed<'c> {
    pub(crate) name: &'static str,
    pub(crate) expected: &'static str,
    pub(crate) ctx: &'c Ctx,
}

impl StringSeed<'_> {
    fn fail<E: de::Error>(&self) -> E {
        self.ctx.fail(Problem::WrongType {
            name: self.name,
            expected: self.expected,
        })
    }
}

impl<'de> DeserializeSeed<'de> for StringSeed<'_> {
    type Value = String;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StringSeed<'_> {
    type Value = String;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expected)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_owned())
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<String, E> {
        Ok(v)
    }
    reject_other_types!(
        visit_bool(bool),
        visit_i64(i64),
        visit_u64(u64),
        visit_f64(f64),
        visit_unit()
    );
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<String, A::Error> {
        Err(self.fail())
    }
    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<String, A::Error> {
        Err(self.fail())
    }
}

/// Any JSON value, rejecting duplicate keys in nested objects.
pub(crate) struct StrictValue<'c>(pub(crate) &'c Ctx);

impl<'de> DeserializeSeed<'de> for StrictValue<'_> {
    type Value = Value;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictValue<'_> {
    type Value = Value;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        // JSON numbers are always finite, so this only maps the impossible
        // NaN/inf case to null, as serde_json itself does.
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(16));
        while let Some(v) = seq.next_element_seed(StrictValue(self.0))? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(self.0.fail(duplicate(&key)));
            }
            let value = map.next_value_seed(StrictValue(self.0))?;
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

/// Reads the members of an unknown key into `extra`, rejecting a repeat.
pub(crate) fn insert_extra<'de, A: MapAccess<'de>>(
    map: &mut A,
    extra: &mut Map<String, Value>,
    key: String,
    ctx: &Ctx,
) -> Result<(), A::Error> {
    if extra.contains_key(&key) {
        return Err(ctx.fail(duplicate(&key)));
    }
    let value = map.next_value_seed(StrictValue(ctx))?;
    extra.insert(key, value);
    Ok(())
}
