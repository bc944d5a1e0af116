//! How the protocol crates read a JSON answer: the content type, the body
//! as one JSON object, and fields of it, with errors that say what and
//! where but never quote the body (which may hold a token).
//!
//! `lp-oauth`, `lp-domain` and `lp-consumer` each turn these `String`
//! reasons into their own typed `Malformed` errors. [`RetryAfter`] reads
//! the `Retry-After` header of their throttled or failed answers, and
//! [`cache_max_age`] the `Cache-Control: max-age` of answers worth keeping
//! (a key set, a domain map).
//!
//! ```
//! use lp_json::{check_content_type, field, parse_object, text_field};
//!
//! let mut headers = http::HeaderMap::new();
//! headers.insert("content-type", "application/json;charset=utf-8".parse()?);
//! assert_eq!(check_content_type(&headers), Ok(()));
//!
//! let object = parse_object(br#"{"token":"eyJ...","scope":null}"#)?;
//! assert_eq!(text_field(&object, "token"), Ok(Some("eyJ...")));
//! assert!(field(&object, "scope").is_none(), "null counts as absent");
//!
//! // Errors give a position, never the text.
//! assert_eq!(
//!     parse_object(br#"{"token":"eyJ"#).err().as_deref(),
//!     Some("body ends early (EOF while parsing) at line 1 column 13"),
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod cache_control;

use std::time::{Duration, SystemTime};

use http::HeaderMap;
use http::header::{CONTENT_TYPE, RETRY_AFTER};
use serde_json::{Map, Value};

pub use cache_control::{MAX_CACHE_AGE, cache_max_age};

/// `Retry-After`: delay seconds or an HTTP date. Shared by the protocol
/// crates so that every LivePerson answer reads it the same way
/// (re-exported as `lp_oauth::RetryAfter` and `lp_consumer::RetryAfter`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryAfter {
    /// `Retry-After: 120`.
    Delay(Duration),
    /// `Retry-After: Fri, 31 Dec 1999 23:59:59 GMT`.
    At(SystemTime),
}

impl RetryAfter {
    /// How long to wait from `now` (zero when the date is past).
    pub fn delay_from(&self, now: SystemTime) -> Duration {
        match *self {
            RetryAfter::Delay(d) => d,
            RetryAfter::At(at) => at.duration_since(now).unwrap_or(Duration::ZERO),
        }
    }

    /// Parses a `Retry-After` header value (RFC 9110 section 10.2.3).
    ///
    /// ```
    /// use lp_json::RetryAfter;
    /// use std::time::Duration;
    /// assert_eq!(RetryAfter::parse("30"), Some(RetryAfter::Delay(Duration::from_secs(30))));
    /// assert!(matches!(RetryAfter::parse("Sun, 06 Nov 1994 08:49:37 GMT"), Some(RetryAfter::At(_))));
    /// assert_eq!(RetryAfter::parse("soon"), None);
    /// ```
    pub fn parse(value: &str) -> Option<RetryAfter> {
        let value = value.trim();
        if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
            // An absurd number of seconds saturates rather than being lost:
            // the server clearly wants us to go away.
            let secs = value.parse::<u64>().unwrap_or(u64::MAX);
            return Some(RetryAfter::Delay(Duration::from_secs(secs)));
        }
        httpdate::parse_http_date(value).ok().map(RetryAfter::At)
    }

    /// The `Retry-After` of an answer's headers, when present and readable
    /// (the first one if repeated).
    ///
    /// ```
    /// use lp_json::RetryAfter;
    /// use std::time::Duration;
    /// let mut headers = http::HeaderMap::new();
    /// assert_eq!(RetryAfter::from_headers(&headers), None);
    /// headers.insert("retry-after", "30".parse()?);
    /// assert_eq!(RetryAfter::from_headers(&headers), Some(RetryAfter::Delay(Duration::from_secs(30))));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_headers(headers: &HeaderMap) -> Option<RetryAfter> {
        headers
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(RetryAfter::parse)
    }
}

/// Accepts a missing `Content-Type` or a JSON one: `application/json` with
/// any parameters, `application/*+json`, `text/json`, and `text/plain`
/// (some gateways label JSON that way). Anything else (e.g. `text/html`,
/// an error page) is refused, naming the type (at most 64 characters,
/// control characters replaced).
pub fn check_content_type(headers: &HeaderMap) -> Result<(), String> {
    let Some(value) = headers.get(CONTENT_TYPE) else {
        return Ok(());
    };
    let Ok(value) = value.to_str() else {
        return Err("content type is not readable text".to_owned());
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let json_like = essence == "application/json"
        || essence == "text/json"
        || essence == "text/plain"
        || (essence.starts_with("application/") && essence.ends_with("+json"));
    if json_like {
        Ok(())
    } else {
        let shown: String = essence
            .chars()
            .take(64)
            .map(|c| if c.is_control() { '?' } else { c })
            .collect();
        Err(format!("content type {shown:?} is not json"))
    }
}

/// Parses `body` as one JSON object.
pub fn parse_object(body: &[u8]) -> Result<Map<String, Value>, String> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(format!("expected a json object, found {}", kind_of(&other))),
        Err(e) => Err(json_error_reason(&e)),
    }
}

/// Describes a serde_json error by category and position. serde_json's
/// syntax messages are fixed phrases and are used as they are; its data
/// messages can quote the input and are not.
pub fn json_error_reason(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let (line, column) = (e.line(), e.column());
    match e.classify() {
        Category::Eof => {
            format!("body ends early (EOF while parsing) at line {line} column {column}")
        }
        Category::Syntax => e.to_string(),
        Category::Data | Category::Io => format!("invalid json at line {line} column {column}"),
    }
}

/// `a string`, `an array`, ...: for "x is a number, expected a string".
pub fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Looks up `key`, treating `null` as absent.
pub fn field<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    object.get(key).filter(|v| !v.is_null())
}

/// A string field: absent or `null` is `None`, another type an error.
pub fn text_field<'a>(
    object: &'a Map<String, Value>,
    key: &str,
) -> Result<Option<&'a str>, String> {
    match field(object, key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(format!("{key} is {}, expected a string", kind_of(other))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_type(value: Option<&str>, expected: Result<(), &str>) {
        let mut headers = HeaderMap::new();
        if let Some(v) = value {
            headers.insert(
                CONTENT_TYPE,
                http::HeaderValue::from_bytes(v.as_bytes()).unwrap(),
            );
        }
        assert_eq!(
            check_content_type(&headers),
            expected.map_err(str::to_owned),
            "{value:?}"
        );
    }

    #[test]
    fn content_types() {
        check_type(None, Ok(()));
        check_type(Some("application/json"), Ok(()));
        check_type(Some("Application/JSON; charset=utf-8"), Ok(()));
        check_type(Some("application/problem+json"), Ok(()));
        check_type(Some("text/json"), Ok(()));
        check_type(Some("text/plain;charset=utf-8"), Ok(()));
        check_type(
            Some("text/html"),
            Err("content type \"text/html\" is not json"),
        );
        check_type(
            Some("application/xml"),
            Err("content type \"application/xml\" is not json"),
        );
        check_type(Some("a\tb"), Err("content type \"a?b\" is not json"));
        check_type(
            Some(&"x".repeat(100)),
            Err(&format!("content type {:?} is not json", "x".repeat(64))),
        );
        check_type(Some("caf\u{e9}"), Err("content type is not readable text"));
    }

    fn check_parse(body: &str, expected: Result<&str, &str>) {
        let got = parse_object(body.as_bytes()).map(|m| Value::Object(m).to_string());
        assert_eq!(
            got,
            expected.map(str::to_owned).map_err(str::to_owned),
            "{body:?}"
        );
    }

    #[test]
    fn objects_and_reasons() {
        check_parse(r#"{"a":1}"#, Ok(r#"{"a":1}"#));
        check_parse("[]", Err("expected a json object, found an array"));
        check_parse("null", Err("expected a json object, found null"));
        check_parse(
            "\"secret-token\"",
            Err("expected a json object, found a string"),
        );
        check_parse(
            "",
            Err("body ends early (EOF while parsing) at line 1 column 0"),
        );
        check_parse(
            r#"{"a":"#,
            Err("body ends early (EOF while parsing) at line 1 column 5"),
        );
        check_parse("{x}", Err("key must be a string at line 1 column 2"));
        check_parse(r#"{"a":1}x"#, Err("trailing characters at line 1 column 8"));
    }

    #[test]
    fn fields() {
        let object = parse_object(br#"{"s":"t","n":null,"i":3}"#).unwrap();
        assert_eq!(text_field(&object, "s"), Ok(Some("t")));
        assert_eq!(text_field(&object, "n"), Ok(None));
        assert_eq!(text_field(&object, "missing"), Ok(None));
        assert_eq!(
            text_field(&object, "i"),
            Err("i is a number, expected a string".to_owned())
        );
        assert!(field(&object, "n").is_none());
        assert_eq!(field(&object, "i"), Some(&Value::from(3)));
    }
}
