//! Pieces of answers and of reading requests that every handler uses.

use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt as _;
use hyper::body::Incoming;

use crate::body::EmuBody;

/// Time allowed for a request's body.
const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) const FORM: &str = "application/x-www-form-urlencoded";
pub(crate) const JSON: &str = "application/json";
pub(crate) const JSON_UTF8: &str = "application/json;charset=utf-8";

pub(crate) fn plain_status(status: StatusCode) -> Response<EmuBody> {
    let mut response = Response::new(EmuBody::empty());
    *response.status_mut() = status;
    response
}

pub(crate) fn with_type(
    status: StatusCode,
    content_type: &'static str,
    body: Bytes,
) -> Response<Bytes> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

pub(crate) fn json(status: StatusCode, value: &serde_json::Value) -> Response<Bytes> {
    with_type(status, JSON_UTF8, Bytes::from(value.to_string()))
}

pub(crate) fn method_not_allowed(allow: &'static str) -> Response<Bytes> {
    let mut response = json(
        StatusCode::METHOD_NOT_ALLOWED,
        &serde_json::json!({"error": "method_not_allowed"}),
    );
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    response
}

pub(crate) fn query_pairs(req: &Request<Incoming>) -> Vec<(String, String)> {
    req.uri()
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default()
}

/// An RFC 6749 section 5.2 error answer.
pub(crate) fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response<Bytes> {
    let mut response = json(
        status,
        &serde_json::json!({"error": error, "error_description": description}),
    );
    no_store(&mut response);
    response
}

pub(crate) fn no_store(response: &mut Response<Bytes>) {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

pub(crate) async fn read_body(
    req: Request<Incoming>,
    max: usize,
) -> Result<Bytes, Response<Bytes>> {
    let too_large = || {
        oauth_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request",
            "request body too large",
        )
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(too_large());
    }
    let limited = http_body_util::Limited::new(req.into_body(), max);
    match tokio::time::timeout(BODY_READ_TIMEOUT, limited.collect()).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Ok(Err(_)) => Err(oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "could not read the request body",
        )),
        Err(_) => Err(oauth_error(
            StatusCode::REQUEST_TIMEOUT,
            "invalid_request",
            "request body not received in time",
        )),
    }
}

/// Whether the request's media type (parameters such as `charset` aside)
/// is `expected`.
pub(crate) fn has_content_type(req: &Request<Incoming>, expected: &str) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(expected))
}

/// One parameter of a form or query, refusing repeats (RFC 6749 section 3.2).
pub(crate) fn single<'a>(pairs: &'a [(String, String)], name: &str) -> Result<Option<&'a str>, ()> {
    let mut found = pairs
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.as_str());
    let first = found.next();
    match found.next() {
        Some(_) => Err(()),
        None => Ok(first),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_parameters() {
        let pairs = |s: &str| -> Vec<(String, String)> {
            form_urlencoded::parse(s.as_bytes()).into_owned().collect()
        };
        let cases: [(&str, Result<Option<&str>, ()>); 4] = [
            ("a=1&b=2", Ok(Some("1"))),
            ("b=2", Ok(None)),
            ("a=1&a=1", Err(())),
            ("a=x%20y", Ok(Some("x y"))),
        ];
        for (input, expected) in cases {
            assert_eq!(single(&pairs(input), "a"), expected, "{input}");
        }
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn single_never_panics(input in ".{0,100}") {
            let pairs: Vec<(String, String)> =
                form_urlencoded::parse(input.as_bytes()).into_owned().collect();
            let _ = single(&pairs, "grant_type");
        }
    }
}
