//! Builds an `http::Response` from fuzz input: status, a few headers and a
//! body, each drawn so that the interesting values come up often.

use libfuzzer_sys::arbitrary::{Result, Unstructured};

/// Statuses the parsers classify differently, drawn more often than the rest.
const STATUSES: [u16; 10] = [200, 200, 200, 400, 401, 404, 429, 500, 503, 302];
const HEADER_NAMES: [&str; 4] = ["content-type", "retry-after", "content-length", "x-other"];
const CONTENT_TYPES: [&str; 6] = [
    "application/json",
    "application/json;charset=utf-8",
    "application/problem+json",
    "text/plain",
    "text/html",
    "TEXT/JSON ; q=1",
];

/// A response whose body is `body`, with status and headers from `u`.
pub fn response(u: &mut Unstructured<'_>, body: Vec<u8>) -> Result<http::Response<Vec<u8>>> {
    let status = if u.ratio(3, 4)? {
        *u.choose(&STATUSES)?
    } else {
        u.int_in_range(100..=999)?
    };
    let mut builder = http::Response::builder().status(status);
    for _ in 0..u.int_in_range(0..=3)? {
        let name = if u.ratio(7, 8)? {
            (*u.choose(&HEADER_NAMES)?).to_owned()
        } else {
            let n = u.int_in_range(1..=16)?;
            String::from_utf8_lossy(u.bytes(n)?).into_owned()
        };
        let value: Vec<u8> = match name.as_str() {
            "content-type" if u.ratio(3, 4)? => u.choose(&CONTENT_TYPES)?.as_bytes().to_vec(),
            "retry-after" if u.ratio(1, 2)? => u.int_in_range(0..=u64::MAX)?.to_string().into_bytes(),
            _ => {
                let n = u.int_in_range(0..=40)?;
                u.bytes(n)?.to_vec()
            }
        };
        builder = builder.header(name.as_str(), value.as_slice());
    }
    // An invalid header name or value is not something a transport hands
    // over; such inputs are skipped rather than parsed.
    builder
        .body(body)
        .map_err(|_| libfuzzer_sys::arbitrary::Error::IncorrectFormat)
}

/// A JSON string literal for `s` (escaped as serde_json would).
pub fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A JSON value drawn from `u`: mostly of the types a field should have,
/// sometimes any other.
pub fn json_value(u: &mut Unstructured<'_>, string: &str) -> Result<String> {
    Ok(match u.int_in_range(0..=7)? {
        0 => "null".to_owned(),
        1 => u.arbitrary::<bool>()?.to_string(),
        2 => u.arbitrary::<i64>()?.to_string(),
        3 => format!("{:e}", u.arbitrary::<f64>()?),
        4 => "[]".to_owned(),
        5 => "{}".to_owned(),
        6 => json_string(&u.arbitrary::<String>()?),
        _ => json_string(string),
    })
}
