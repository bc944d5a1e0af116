//! Parsing Sentinel's answers, as a table.

use std::time::{Duration, UNIX_EPOCH};

use http::StatusCode;
use lp_oauth::{
    OAuthError, RetryAfter, TokenError, parse_token_response, parse_token_response_with_limit,
};

/// The readable parts of a success: token text, token type, expires_in, scope.
type Success = (
    &'static str,
    &'static str,
    Option<u64>,
    Option<&'static str>,
);

pub fn response(status: u16, headers: &[(&str, &str)], body: &str) -> http::Response<Vec<u8>> {
    let mut builder = http::Response::builder().status(status);
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    builder.body(body.as_bytes().to_vec()).unwrap()
}

fn check(response: http::Response<Vec<u8>>, expected: Result<Success, TokenError>) {
    let got = parse_token_response(&response).map(|t| {
        (
            t.access_token.secret().to_owned(),
            t.token_type,
            t.expires_in.map(|d| d.as_secs()),
            t.scope,
        )
    });
    let expected =
        expected.map(|(a, t, e, s)| (a.to_owned(), t.to_owned(), e, s.map(str::to_owned)));
    assert_eq!(got, expected, "response {response:?}");
}

const JSON: &[(&str, &str)] = &[("content-type", "application/json;charset=utf-8")];
const TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJTZW50aW5lbCJ9.c2ln";

fn ok(body: &str) -> http::Response<Vec<u8>> {
    response(200, JSON, body)
}

fn malformed(reason: &str) -> Result<Success, TokenError> {
    Err(TokenError::Malformed {
        status: StatusCode::OK,
        reason: reason.to_owned(),
    })
}

fn oauth(error: &str, description: Option<&str>, uri: Option<&str>) -> Option<OAuthError> {
    Some(OAuthError {
        error: error.to_owned(),
        error_description: description.map(str::to_owned),
        error_uri: uri.map(str::to_owned),
    })
}

fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap()
}

#[test]
fn successes() {
    let seed = format!(r#"{{ "access_token": "{TOKEN}", "token_type": "Bearer" }}"#);
    check(ok(&seed), Ok((TOKEN, "Bearer", None, None)));
    check(
        ok(
            r#"{"access_token":"t","token_type":"BEARER","expires_in":3600,"scope":"msg.consumer"}"#,
        ),
        Ok(("t", "BEARER", Some(3600), Some("msg.consumer"))),
    );
    check(
        ok(r#"{"access_token":"t","token_type":"bearer","expires_in":"3599"}"#),
        Ok(("t", "bearer", Some(3599), None)),
    );
    check(
        ok(r#"{"access_token":"t","token_type":"Bearer","expires_in":null,"scope":null}"#),
        Ok(("t", "Bearer", None, None)),
    );
    check(
        ok(r#"{"access_token":"t","token_type":"Bearer","expires_in":0}"#),
        Ok(("t", "Bearer", Some(0), None)),
    );
    check(
        ok(r#"{"access_token":"t","token_type":"Bearer","refresh_token":"r","x":{"y":[1,2]}}"#),
        Ok(("t", "Bearer", None, None)),
    );
    check(
        ok(r#"{"access_token":"t","token_type":"Bearer","expires_in":315360000}"#),
        Ok(("t", "Bearer", Some(315_360_000), None)),
    );
    // Content types: missing, JSON with parameters, +json, text/plain.
    let body = r#"{"access_token":"t","token_type":"Bearer"}"#;
    for headers in [
        &[][..],
        &[("content-type", "application/json")][..],
        &[("content-type", "Application/JSON; charset=UTF-8")][..],
        &[("content-type", "application/vnd.lp+json")][..],
        &[("content-type", "text/plain")][..],
    ] {
        check(
            response(200, headers, body),
            Ok(("t", "Bearer", None, None)),
        );
    }
}

#[test]
fn malformed_successes() {
    check(
        ok(r#"{"token_type":"Bearer"}"#),
        malformed("access_token is missing"),
    );
    check(
        ok(r#"{"access_token":null,"token_type":"Bearer"}"#),
        malformed("access_token is missing"),
    );
    check(
        ok(r#"{"access_token":"","token_type":"Bearer"}"#),
        malformed("access_token is empty"),
    );
    check(
        ok(r#"{"access_token":42,"token_type":"Bearer"}"#),
        malformed("access_token is a number, expected a string"),
    );
    check(
        ok(r#"{"access_token":"a\r\nb","token_type":"Bearer"}"#),
        malformed("access_token has a character outside visible ascii at byte 1"),
    );
    check(
        ok(r#"{"access_token":"t"}"#),
        malformed("token_type is missing"),
    );
    check(
        ok(r#"{"access_token":"t","token_type":"mac"}"#),
        malformed(r#"token_type is "mac", expected "Bearer""#),
    );
    check(
        ok(r#"{"access_token":"t","token_type":["Bearer"]}"#),
        malformed("token_type is an array, expected a string"),
    );
    check(
        ok(r#"{"access_token":"t","token_type":"Bearer","expires_in":-1}"#),
        malformed("expires_in is negative"),
    );
    check(
        ok(r#"{"access_token":"t","token_type":"Bearer","expires_in":"-5"}"#),
        malformed("expires_in is negative"),
    );
    check(
        ok(r#"{"access_token":"t","token_type":"Bearer","expires_in":1.5}"#),
        malformed("expires_in is not a whole number"),
    );
    check(
        ok(r#"{"access_token":"t","token_type":"Bearer","expires_in":"soon"}"#),
        malformed("expires_in is a string that is not a whole number"),
    );
    check(
        ok(r#"{"access_token":"t","token_type":"Bearer","expires_in":true}"#),
        malformed("expires_in is a boolean, expected a number"),
    );
    check(
        ok(r#"{"access_token":"t","token_type":"Bearer","expires_in":315360001}"#),
        malformed("expires_in is 315360001 s, more than the 315360000 s (ten years) accepted"),
    );
    check(
        ok(r#"{"access_token":"t","token_type":"Bearer","expires_in":"99999999999999999999999"}"#),
        malformed(
            "expires_in is 18446744073709551615 s, more than the 315360000 s (ten years) accepted",
        ),
    );
    check(
        ok(r#"{"access_token":"t","token_type":"Bearer","scope":["a"]}"#),
        malformed("scope is an array, expected a string"),
    );
    check(
        ok("[1]"),
        malformed("expected a json object, found an array"),
    );
    check(ok("null"), malformed("expected a json object, found null"));
    check(
        ok("<html>oops</html>"),
        malformed("expected value at line 1 column 1"),
    );
    check(
        ok(""),
        malformed("body ends early (EOF while parsing) at line 1 column 0"),
    );
    check(
        ok(r#"{"access_token":"secret-token","token_ty"#),
        malformed("body ends early (EOF while parsing) at line 1 column 40"),
    );
    check(
        ok("{\n  \"access_token\": \"t\",\n  oops\n}"),
        malformed("key must be a string at line 3 column 3"),
    );
    check(
        response(
            200,
            &[("content-type", "text/html; charset=utf-8")],
            r#"{"access_token":"t","token_type":"Bearer"}"#,
        ),
        malformed(r#"content type "text/html" is not json"#),
    );
}

#[test]
fn body_cap() {
    let padding = "x".repeat(lp_oauth::DEFAULT_MAX_BODY);
    let big = format!(r#"{{"access_token":"t","token_type":"Bearer","pad":"{padding}"}}"#);
    check(
        ok(&big),
        Err(TokenError::BodyTooLarge {
            status: StatusCode::OK,
            limit: lp_oauth::DEFAULT_MAX_BODY,
        }),
    );
    let small = r#"{"access_token":"t","token_type":"Bearer"}"#;
    assert_eq!(
        parse_token_response_with_limit(&ok(small), small.len()).map(|t| t.token_type),
        Ok("Bearer".to_owned())
    );
    assert_eq!(
        parse_token_response_with_limit(&ok(small), small.len() - 1).map(|t| t.token_type),
        Err(TokenError::BodyTooLarge {
            status: StatusCode::OK,
            limit: small.len() - 1
        })
    );
    // An oversized error body is ignored; the status still classifies.
    let big_error = format!(r#"{{"error":"invalid_client","pad":"{padding}"}}"#);
    check(
        response(401, JSON, &big_error),
        Err(TokenError::Rejected {
            status: status(401),
            oauth: None,
        }),
    );
}

#[test]
fn error_statuses() {
    let invalid_client = r#"{"error":"invalid_client","error_description":"client authentication failed","error_uri":"https://example.invalid/e"}"#;
    check(
        response(401, JSON, invalid_client),
        Err(TokenError::Rejected {
            status: status(401),
            oauth: oauth(
                "invalid_client",
                Some("client authentication failed"),
                Some("https://example.invalid/e"),
            ),
        }),
    );
    check(
        response(400, JSON, r#"{"error":"invalid_request"}"#),
        Err(TokenError::Rejected {
            status: status(400),
            oauth: oauth("invalid_request", None, None),
        }),
    );
    check(
        response(403, &[("content-type", "text/html")], "<h1>Forbidden</h1>"),
        Err(TokenError::Rejected {
            status: status(403),
            oauth: None,
        }),
    );
    // `error` must be a string for the body to count as an OAuth error.
    check(
        response(400, JSON, r#"{"error":7,"error_description":"x"}"#),
        Err(TokenError::Rejected {
            status: status(400),
            oauth: None,
        }),
    );
    check(
        response(429, &[("retry-after", "30")], ""),
        Err(TokenError::Throttled {
            status: status(429),
            retry_after: Some(RetryAfter::Delay(Duration::from_secs(30))),
            oauth: None,
        }),
    );
    check(
        response(
            429,
            &[("retry-after", "Sun, 06 Nov 1994 08:49:37 GMT")],
            r#"{"error":"slow_down"}"#,
        ),
        Err(TokenError::Throttled {
            status: status(429),
            retry_after: Some(RetryAfter::At(
                UNIX_EPOCH + Duration::from_secs(784_111_777),
            )),
            oauth: oauth("slow_down", None, None),
        }),
    );
    check(
        response(429, &[("retry-after", "later")], ""),
        Err(TokenError::Throttled {
            status: status(429),
            retry_after: None,
            oauth: None,
        }),
    );
    check(
        response(500, &[], "Internal Server Error"),
        Err(TokenError::Server {
            status: status(500),
            retry_after: None,
            oauth: None,
        }),
    );
    check(
        response(
            503,
            &[("retry-after", "120")],
            r#"{"error":"temporarily_unavailable"}"#,
        ),
        Err(TokenError::Server {
            status: status(503),
            retry_after: Some(RetryAfter::Delay(Duration::from_secs(120))),
            oauth: oauth("temporarily_unavailable", None, None),
        }),
    );
    // Retry-After is not read for plain rejections.
    check(
        response(401, &[("retry-after", "5")], ""),
        Err(TokenError::Rejected {
            status: status(401),
            oauth: None,
        }),
    );
    for code in [100, 201, 204, 302, 304, 307] {
        check(
            response(code, &[("location", "https://evil.example/")], ""),
            Err(TokenError::UnexpectedStatus {
                status: status(code),
            }),
        );
    }
}

/// (error, status, retryable, has retry-after, Display)
fn check_error(error: TokenError, expected: (u16, bool, Option<RetryAfter>, &str)) {
    let got = (
        error.status().as_u16(),
        error.is_retryable(),
        error.retry_after(),
        error.to_string(),
    );
    let want = (expected.0, expected.1, expected.2, expected.3.to_owned());
    assert_eq!(got, want);
}

#[test]
fn error_helpers_and_messages() {
    let thirty = Some(RetryAfter::Delay(Duration::from_secs(30)));
    check_error(
        TokenError::Rejected {
            status: status(401),
            oauth: oauth(
                "invalid_client",
                Some("bad\ncredentials"),
                Some("https://u"),
            ),
        },
        (
            401,
            false,
            None,
            "token request rejected with http status 401: invalid_client: bad\\ncredentials",
        ),
    );
    check_error(
        TokenError::Throttled {
            status: status(429),
            retry_after: thirty,
            oauth: None,
        },
        (
            429,
            true,
            thirty,
            "token request throttled with http status 429 (retry after 30 s)",
        ),
    );
    let at = Some(RetryAfter::At(
        UNIX_EPOCH + Duration::from_secs(784_111_777),
    ));
    check_error(
        TokenError::Server {
            status: status(503),
            retry_after: at,
            oauth: oauth("x", None, None),
        },
        (
            503,
            true,
            at,
            "token endpoint failed with http status 503: x (retry after Sun, 06 Nov 1994 08:49:37 GMT)",
        ),
    );
    check_error(
        TokenError::UnexpectedStatus {
            status: status(302),
        },
        (
            302,
            false,
            None,
            "unexpected http status 302 from token endpoint",
        ),
    );
    check_error(
        TokenError::BodyTooLarge {
            status: status(200),
            limit: 10,
        },
        (
            200,
            false,
            None,
            "token response with http status 200 is larger than 10 bytes",
        ),
    );
    check_error(
        TokenError::Malformed {
            status: status(200),
            reason: "access_token is missing".into(),
        },
        (
            200,
            false,
            None,
            "malformed token response with http status 200: access_token is missing",
        ),
    );
    let long = "d".repeat(300);
    let e = TokenError::Rejected {
        status: status(400),
        oauth: oauth("e", Some(&long), None),
    };
    assert_eq!(
        e.to_string(),
        format!(
            "token request rejected with http status 400: e: {}...",
            "d".repeat(200)
        )
    );
    assert_eq!(e.oauth().map(|o| o.error.as_str()), Some("e"));
    assert_eq!(
        TokenError::UnexpectedStatus {
            status: status(302)
        }
        .oauth(),
        None
    );
}

#[test]
fn retry_after_delay_from_now() {
    let now = UNIX_EPOCH + Duration::from_secs(1_000);
    let check = |r: RetryAfter, secs: u64| {
        assert_eq!(r.delay_from(now), Duration::from_secs(secs), "{r:?}")
    };
    check(RetryAfter::Delay(Duration::from_secs(7)), 7);
    check(RetryAfter::At(UNIX_EPOCH + Duration::from_secs(1_060)), 60);
    check(RetryAfter::At(UNIX_EPOCH + Duration::from_secs(1_000)), 0);
    check(RetryAfter::At(UNIX_EPOCH), 0);
    let parse = |s: &str, want: Option<RetryAfter>| assert_eq!(RetryAfter::parse(s), want, "{s:?}");
    parse(" 15 ", Some(RetryAfter::Delay(Duration::from_secs(15))));
    parse(
        "99999999999999999999999",
        Some(RetryAfter::Delay(Duration::from_secs(u64::MAX))),
    );
    parse("-1", None);
    parse("1.5", None);
    parse("", None);
    parse(
        "Sunday, 06-Nov-94 08:49:37 GMT",
        Some(RetryAfter::At(
            UNIX_EPOCH + Duration::from_secs(784_111_777),
        )),
    );
}

#[test]
fn server_text_in_messages_is_escaped_and_cut() {
    // The OAuth error body, through `lp_jwt::Untrusted`.
    for (error, description, shown) in [
        ("a\u{1b}[31m", None, r"a\u{1b}[31m"),
        ("c", Some("x\\n\r\nINFO forged"), r"c: x\\n\r\nINFO forged"),
        ("Zürich", Some("東京"), "Zürich: 東京"),
        ("bidi\u{202e}", Some("\u{2028}"), r"bidi\u{202e}: \u{2028}"),
    ] {
        let e = oauth(error, description, None).unwrap();
        assert_eq!(e.to_string(), shown);
    }
    // A token_type other than Bearer, cut after 32 characters.
    for (token_type, shown) in [
        ("mac\u{1b}[0m", r"mac\u{1b}[0m"),
        (&"t".repeat(10_000), &format!("{}...", "t".repeat(32))),
    ] {
        let body = serde_json::json!({ "access_token": "t", "token_type": token_type });
        check(
            ok(&body.to_string()),
            malformed(&format!("token_type is \"{shown}\", expected \"Bearer\"")),
        );
    }
}
