//! Reading the idp's answers, as a table.

use std::time::Duration;

use http::StatusCode;
use lp_consumer::{
    ConsumerError, DEFAULT_MAX_BODY, RetryAfter, parse_consumer_response,
    parse_consumer_response_with_limit,
};

pub fn response(status: u16, headers: &[(&str, &str)], body: &[u8]) -> http::Response<Vec<u8>> {
    let mut builder = http::Response::builder().status(status);
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    builder.body(body.to_vec()).unwrap()
}

const JSON: &[(&str, &str)] = &[("content-type", "application/json")];
const JWS: &str = "eyJhbGciOiJSUzI1NiJ9.eyJleHRfY29uc3VtZXJfaWQiOiJ4In0.c2ln";

fn check(response: http::Response<Vec<u8>>, expected: Result<&str, ConsumerError>) {
    let got = parse_consumer_response(&response);
    let got = got.as_ref().map(|jws| jws.secret());
    assert_eq!(got, expected.as_ref().map(|s| *s), "{response:?}");
}

fn malformed(status: u16, reason: &str) -> Result<&'static str, ConsumerError> {
    Err(ConsumerError::Malformed {
        status: StatusCode::from_u16(status).unwrap(),
        reason: reason.to_owned(),
    })
}

fn token_body(token: &str) -> Vec<u8> {
    format!(r#"{{"token":"{token}"}}"#).into_bytes()
}

#[test]
fn successes() {
    let body = token_body(JWS);
    check(response(201, JSON, &body), Ok(JWS));
    check(response(200, JSON, &body), Ok(JWS));
    check(response(201, &[], &body), Ok(JWS));
    check(
        response(
            201,
            &[("content-type", "application/json; charset=UTF-8")],
            &body,
        ),
        Ok(JWS),
    );
    check(
        response(201, &[("content-type", "application/jose+json")], &body),
        Ok(JWS),
    );
    check(
        response(201, &[("content-type", "text/plain")], &body),
        Ok(JWS),
    );
    check(
        response(
            201,
            JSON,
            format!(" {{ \"extra\": [1, {{}}], \"token\" : \"{JWS}\", \"n\": null }}\n").as_bytes(),
        ),
        Ok(JWS),
    );
}

#[test]
fn malformed_successes() {
    check(
        response(201, JSON, b""),
        malformed(
            201,
            "body ends early (EOF while parsing) at line 1 column 0",
        ),
    );
    check(
        response(201, JSON, br#"{"token":"abc"#),
        malformed(
            201,
            "body ends early (EOF while parsing) at line 1 column 13",
        ),
    );
    check(
        response(201, JSON, b"{\n  \"token\": x}"),
        malformed(201, "expected value at line 2 column 12"),
    );
    check(
        response(201, JSON, br#"{"token":"a"}trailing"#),
        malformed(201, "trailing characters at line 1 column 14"),
    );
    check(
        response(201, JSON, b"[]"),
        malformed(201, "expected a json object, found an array"),
    );
    check(
        response(200, JSON, b"\"t\""),
        malformed(200, "expected a json object, found a string"),
    );
    check(
        response(201, JSON, b"{}"),
        malformed(201, "token is missing"),
    );
    check(
        response(201, JSON, br#"{"access_token":"a"}"#),
        malformed(201, "token is missing"),
    );
    check(
        response(201, JSON, br#"{"token":null}"#),
        malformed(201, "token is null, expected a string"),
    );
    check(
        response(201, JSON, br#"{"token":42}"#),
        malformed(201, "token is a number, expected a string"),
    );
    check(
        response(201, JSON, br#"{"token":["a"]}"#),
        malformed(201, "token is an array, expected a string"),
    );
    check(
        response(201, JSON, br#"{"token":""}"#),
        malformed(201, "token is empty"),
    );
    check(
        response(201, JSON, br#"{"token":"a b"}"#),
        malformed(201, "token has a byte outside visible ascii at byte 1"),
    );
    check(
        response(201, JSON, br#"{"token":"a\nb"}"#),
        malformed(201, "token has a byte outside visible ascii at byte 1"),
    );
    check(
        response(201, JSON, "{\"token\":\"é\"}".as_bytes()),
        malformed(201, "token has a byte outside visible ascii at byte 0"),
    );
    check(
        response(201, JSON, b"{\"token\":\"\xff\"}"),
        malformed(201, "invalid unicode code point at line 1 column 11"),
    );
    check(
        response(201, &[("content-type", "text/html")], &token_body(JWS)),
        malformed(201, "content type \"text/html\" is not json"),
    );
}

#[test]
fn error_statuses() {
    let s = |code: u16| StatusCode::from_u16(code).unwrap();
    let body = token_body(JWS);
    let error_json = br#"{"error":"unauthorized","message":"appjwt expired"}"#;
    check(
        response(401, JSON, error_json),
        Err(ConsumerError::Unauthorized { status: s(401) }),
    );
    check(
        response(401, &[], b""),
        Err(ConsumerError::Unauthorized { status: s(401) }),
    );
    for code in [400, 403, 404, 405, 409, 413, 415, 422] {
        check(
            response(code, JSON, error_json),
            Err(ConsumerError::Rejected { status: s(code) }),
        );
    }
    check(
        response(429, &[("retry-after", "7")], b""),
        Err(ConsumerError::Throttled {
            status: s(429),
            retry_after: Some(RetryAfter::Delay(Duration::from_secs(7))),
        }),
    );
    check(
        response(429, &[("retry-after", "soon")], b""),
        Err(ConsumerError::Throttled {
            status: s(429),
            retry_after: None,
        }),
    );
    check(
        response(503, &[("retry-after", "120")], b"<html>down</html>"),
        Err(ConsumerError::Server {
            status: s(503),
            retry_after: Some(RetryAfter::Delay(Duration::from_secs(120))),
        }),
    );
    check(
        response(500, JSON, &body),
        Err(ConsumerError::Server {
            status: s(500),
            retry_after: None,
        }),
    );
    for code in [100, 202, 204, 301, 302, 304] {
        check(
            response(code, JSON, &body),
            Err(ConsumerError::UnexpectedStatus { status: s(code) }),
        );
    }
}

#[test]
fn body_cap() {
    let s = |code: u16| StatusCode::from_u16(code).unwrap();
    // A valid document padded with spaces to exactly the cap passes; one
    // byte more does not.
    let mut at_cap = token_body(JWS);
    at_cap.resize(DEFAULT_MAX_BODY, b' ');
    check(response(201, JSON, &at_cap), Ok(JWS));
    let mut over = at_cap.clone();
    over.push(b' ');
    check(
        response(201, JSON, &over),
        Err(ConsumerError::BodyTooLarge {
            status: s(201),
            limit: DEFAULT_MAX_BODY,
        }),
    );
    // An error status is classified by status whatever its size.
    check(
        response(503, &[], &over),
        Err(ConsumerError::Server {
            status: s(503),
            retry_after: None,
        }),
    );
    let small = response(200, JSON, &token_body(JWS));
    assert_eq!(
        parse_consumer_response_with_limit(&small, 10).map(|_| ()),
        Err(ConsumerError::BodyTooLarge {
            status: s(200),
            limit: 10
        })
    );
}

#[test]
fn error_methods_and_messages() {
    let s = |code: u16| StatusCode::from_u16(code).unwrap();
    // (error, retryable, unauthorized, retry_after, message)
    let cases = [
        (
            ConsumerError::Unauthorized { status: s(401) },
            false,
            true,
            None,
            "consumer jws request unauthorized with http status 401: the appjwt has expired or is invalid",
        ),
        (
            ConsumerError::Rejected { status: s(400) },
            false,
            false,
            None,
            "consumer jws request rejected with http status 400",
        ),
        (
            ConsumerError::Throttled {
                status: s(429),
                retry_after: Some(RetryAfter::Delay(Duration::from_secs(3))),
            },
            true,
            false,
            Some(RetryAfter::Delay(Duration::from_secs(3))),
            "consumer jws request throttled with http status 429 (retry after 3 s)",
        ),
        (
            ConsumerError::Server {
                status: s(502),
                retry_after: None,
            },
            true,
            false,
            None,
            "idp failed with http status 502",
        ),
        (
            ConsumerError::UnexpectedStatus { status: s(302) },
            false,
            false,
            None,
            "unexpected http status 302 from idp",
        ),
        (
            ConsumerError::BodyTooLarge {
                status: s(201),
                limit: 65536,
            },
            false,
            false,
            None,
            "consumer jws response with http status 201 is larger than 65536 bytes",
        ),
        (
            ConsumerError::Malformed {
                status: s(201),
                reason: "token is missing".to_owned(),
            },
            false,
            false,
            None,
            "malformed consumer jws response with http status 201: token is missing",
        ),
    ];
    for (error, retryable, unauthorized, retry_after, message) in cases {
        assert_eq!(error.is_retryable(), retryable, "{error:?}");
        assert_eq!(error.is_unauthorized(), unauthorized, "{error:?}");
        assert_eq!(error.retry_after(), retry_after, "{error:?}");
        assert_eq!(error.to_string(), message);
        assert_eq!(
            error.status().as_u16(),
            message.split("status ").nth(1).unwrap()[..3]
                .parse::<u16>()
                .unwrap()
        );
    }
}
