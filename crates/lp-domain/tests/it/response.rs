//! Parsing Domain API answers, as tables.

use std::time::{Duration, UNIX_EPOCH};

use http::StatusCode;
use lp_domain::{
    DomainError, DomainMap, Host, IdError, RetryAfter, ServiceName, parse_all_services_response,
    parse_all_services_response_with_limit, parse_service_response,
    parse_service_response_with_limit,
};

use crate::response;

fn sentinel() -> ServiceName {
    ServiceName::sentinel()
}

/// Checks the single-service parse: `Ok((account, host))` or an error.
fn check_one(r: http::Response<Vec<u8>>, expected: Result<(&str, &str), DomainError>) {
    let got = parse_service_response(&r, &sentinel()).map(|d| {
        assert_eq!(d.service, sentinel());
        (d.account, d.host.to_string())
    });
    let expected = expected.map(|(a, h)| (a.to_owned(), h.to_owned()));
    assert_eq!(got, expected, "{:?}", String::from_utf8_lossy(r.body()));
}

fn malformed(reason: &str) -> DomainError {
    DomainError::Malformed {
        status: StatusCode::OK,
        reason: reason.to_owned(),
    }
}

fn not_found(service: &str) -> DomainError {
    DomainError::ServiceNotFound {
        service: service.to_owned(),
    }
}

fn invalid(service: &str, host: &str) -> DomainError {
    DomainError::InvalidHost {
        service: service.to_owned(),
        error: Host::parse(host).unwrap_err(),
    }
}

fn status(code: u16) -> DomainError {
    DomainError::Status {
        status: StatusCode::from_u16(code).unwrap(),
        retry_after: None,
    }
}

#[test]
fn one_service() {
    let ok = |body: &str| response(200, body);
    check_one(
        ok(r#"{"service":"sentinel","account":"56072331","baseURI":"va.sentinel.liveperson.net"}"#),
        Ok(("56072331", "va.sentinel.liveperson.net")),
    );
    check_one(
        ok(r#"{"service":"sentinel","account":56072331,"baseURI":"127.0.0.1:8443","extra":[1]}"#),
        Ok(("56072331", "127.0.0.1:8443")),
    );
    check_one(
        ok(r#"{"service":"sentinel","baseURI":"VA.Sentinel.LivePerson.net"}"#),
        Ok(("", "va.sentinel.liveperson.net")),
    );
    // The wanted service is not what came back.
    check_one(
        ok(r#"{"service":"idp","account":"1","baseURI":"va.idp.liveperson.net"}"#),
        Err(not_found("sentinel")),
    );
    check_one(
        ok(r#"{"service":"Sentinel","baseURI":"a.b"}"#),
        Err(not_found("sentinel")),
    );
    check_one(ok(r#"{"baseURI":"a.b"}"#), Err(not_found("sentinel")));
    check_one(ok(r#"{"service":"sentinel"}"#), Err(not_found("sentinel")));
    check_one(
        ok(r#"{"service":"sentinel","baseURI":""}"#),
        Err(not_found("sentinel")),
    );
    check_one(
        ok(r#"{"service":"sentinel","baseURI":null}"#),
        Err(not_found("sentinel")),
    );
    check_one(ok("{}"), Err(not_found("sentinel")));
    // Hosts that would send the secret somewhere unexpected.
    for bad in [
        "https://va.sentinel.liveperson.net",
        "va.sentinel.liveperson.net/path",
        "evil.example@va.sentinel.liveperson.net",
        "va.sentinel.liveperson.net evil",
        "a..b",
        "a:0",
        " va.sentinel.liveperson.net",
    ] {
        let body = format!(r#"{{"service":"sentinel","baseURI":"{bad}"}}"#);
        check_one(ok(&body), Err(invalid("sentinel", bad)));
    }
    // Wrong shapes.
    check_one(
        ok(r#"{"service":1,"baseURI":"a.b"}"#),
        Err(malformed("service is a number, expected a string")),
    );
    check_one(
        ok(r#"{"service":"sentinel","baseURI":["a.b"]}"#),
        Err(malformed("baseURI is an array, expected a string")),
    );
    check_one(
        ok(r#"{"service":"sentinel","account":{},"baseURI":"a.b"}"#),
        Err(malformed("account is an object, expected a string")),
    );
    check_one(
        ok("[]"),
        Err(malformed("expected a json object, found an array")),
    );
    check_one(
        ok(""),
        Err(malformed(
            "body ends early (EOF while parsing) at line 1 column 0",
        )),
    );
    check_one(
        ok(r#"{"service":"sentinel","baseURI":"va.sen"#),
        Err(malformed(
            "body ends early (EOF while parsing) at line 1 column 39",
        )),
    );
    check_one(
        ok("<html></html>"),
        Err(malformed("expected value at line 1 column 1")),
    );
    check_one(
        ok("{\"a\":1}\n}"),
        Err(malformed("trailing characters at line 2 column 1")),
    );
    // Statuses keep the status, whatever the body.
    for code in [201, 204, 302, 400, 401, 404, 429, 500, 503] {
        check_one(
            response(code, r#"{"service":"sentinel","baseURI":"a.b"}"#),
            Err(status(code)),
        );
    }
}

#[test]
fn body_cap() {
    let pad = "x".repeat(lp_domain::DEFAULT_MAX_BODY);
    let body = format!(r#"{{"service":"sentinel","baseURI":"a.b","pad":"{pad}"}}"#);
    let too_large = DomainError::BodyTooLarge {
        status: StatusCode::OK,
        limit: lp_domain::DEFAULT_MAX_BODY,
    };
    check_one(response(200, &body), Err(too_large.clone()));
    assert_eq!(
        parse_all_services_response(&response(200, &body)),
        Err(too_large)
    );
    let small = r#"{"service":"sentinel","baseURI":"a.b"}"#;
    assert!(
        parse_service_response_with_limit(&response(200, small), &sentinel(), small.len()).is_ok()
    );
    assert_eq!(
        parse_service_response_with_limit(&response(200, small), &sentinel(), small.len() - 1),
        Err(DomainError::BodyTooLarge {
            status: StatusCode::OK,
            limit: small.len() - 1
        })
    );
    let all = r#"{"baseURIs":[]}"#;
    assert_eq!(
        parse_all_services_response_with_limit(&response(200, all), 3).map(|m| m.len()),
        Err(DomainError::BodyTooLarge {
            status: StatusCode::OK,
            limit: 3
        })
    );
    // A big error page is still just a status.
    check_one(response(502, &body), Err(status(502)));
}

/// What a parsed map holds: valid entries and refused ones (service, host
/// text that was refused).
struct Map<'a> {
    valid: &'a [(&'a str, &'a str)],
    invalid: &'a [(&'a str, &'a str)],
}

fn check_all(body: &str, expected: Result<Map<'_>, DomainError>) {
    let got = parse_all_services_response(&response(200, body));
    match (got, expected) {
        (Ok(map), Ok(want)) => {
            let valid: Vec<(String, String)> = map
                .iter()
                .map(|(s, h)| (s.to_owned(), h.to_string()))
                .collect();
            let want_valid: Vec<(String, String)> = want
                .valid
                .iter()
                .map(|(s, h)| ((*s).to_owned(), (*h).to_owned()))
                .collect();
            assert_eq!(valid, want_valid, "{body}");
            let invalid: Vec<(String, IdError)> = map
                .invalid()
                .map(|(s, e)| (s.to_owned(), e.clone()))
                .collect();
            let want_invalid: Vec<(String, IdError)> = want
                .invalid
                .iter()
                .map(|(s, h)| ((*s).to_owned(), Host::parse(h).unwrap_err()))
                .collect();
            assert_eq!(invalid, want_invalid, "{body}");
            assert_eq!(map.len(), want.valid.len());
            assert_eq!(map.is_empty(), want.valid.is_empty());
        }
        (got, want) => assert_eq!(got.map(|_| ()), want.map(|_| ()), "{body}"),
    }
}

#[test]
fn all_services() {
    check_all(
        r#"{"baseURIs":[
            {"service":"liveEngageUI","account":"44661254","baseURI":"lo.le1.liveperson.net"},
            {"service":"sentinel","account":"44661254","baseURI":"lo.sentinel.liveperson.net"},
            {"service":"idp","account":"44661254","baseURI":"lo.idp.liveperson.net","x":1}
        ]}"#,
        Ok(Map {
            valid: &[
                ("idp", "lo.idp.liveperson.net"),
                ("liveEngageUI", "lo.le1.liveperson.net"),
                ("sentinel", "lo.sentinel.liveperson.net"),
            ],
            invalid: &[],
        }),
    );
    check_all(
        r#"{"baseURIs":[]}"#,
        Ok(Map {
            valid: &[],
            invalid: &[],
        }),
    );
    // A bad host poisons only its own service.
    check_all(
        r#"{"baseURIs":[
            {"service":"agentVep","baseURI":"evil@host"},
            {"service":"sentinel","baseURI":"va.sentinel.liveperson.net"}
        ]}"#,
        Ok(Map {
            valid: &[("sentinel", "va.sentinel.liveperson.net")],
            invalid: &[("agentVep", "evil@host")],
        }),
    );
    // Skipped: no or empty baseURI, service names that cannot be asked for.
    check_all(
        r#"{"baseURIs":[
            {"service":"msgHist"},
            {"service":"faasGW","baseURI":""},
            {"service":"etool","baseURI":null},
            {"service":"bad/name","baseURI":"a.b"},
            {"service":"","baseURI":"a.b"},
            {"service":"idp","baseURI":"c.d"}
        ]}"#,
        Ok(Map {
            valid: &[("idp", "c.d")],
            invalid: &[],
        }),
    );
    // Duplicates: the first entry wins, valid or not.
    check_all(
        r#"{"baseURIs":[
            {"service":"sentinel","baseURI":"first.example"},
            {"service":"sentinel","baseURI":"second.example"},
            {"service":"idp","baseURI":"https://bad"},
            {"service":"idp","baseURI":"good.example"}
        ]}"#,
        Ok(Map {
            valid: &[("sentinel", "first.example")],
            invalid: &[("idp", "https://bad")],
        }),
    );
    // Wrong shapes.
    check_all("{}", Err(malformed("baseURIs is missing")));
    check_all(
        r#"{"baseURIs":null}"#,
        Err(malformed("baseURIs is missing")),
    );
    check_all(
        r#"{"baseURIs":{}}"#,
        Err(malformed("baseURIs is an object, expected an array")),
    );
    check_all(
        r#"{"baseURIs":["a.b"]}"#,
        Err(malformed("baseURIs[0] is a string, expected an object")),
    );
    check_all(
        r#"{"baseURIs":[{"service":"a","baseURI":"a.b"},{"baseURI":"a.b"}]}"#,
        Err(malformed("baseURIs[1]: service is missing")),
    );
    check_all(
        r#"{"baseURIs":[{"service":"a","baseURI":7}]}"#,
        Err(malformed(
            "baseURIs[0]: baseURI is a number, expected a string",
        )),
    );
    check_all(
        r#"{"baseURIs":[{"service":"a","baseURI":"a.b"}"#,
        Err(malformed(
            "body ends early (EOF while parsing) at line 1 column 44",
        )),
    );
    check_all(
        "true",
        Err(malformed("expected a json object, found a boolean")),
    );
    assert_eq!(
        parse_all_services_response(&response(401, "{}")),
        Err(status(401))
    );
}

#[test]
fn require_on_a_map() {
    let body = r#"{"baseURIs":[
        {"service":"sentinel","baseURI":"va.sentinel.liveperson.net/x"},
        {"service":"idp","baseURI":"va.idp.liveperson.net"}
    ]}"#;
    let map = parse_all_services_response(&response(200, body)).unwrap();
    let check = |service: &str, expected: Result<&str, DomainError>| {
        let got = map
            .require(&ServiceName::new(service).unwrap())
            .map(|h| h.to_string());
        assert_eq!(got, expected.map(str::to_owned), "{service}");
    };
    check("idp", Ok("va.idp.liveperson.net"));
    check(
        "sentinel",
        Err(invalid("sentinel", "va.sentinel.liveperson.net/x")),
    );
    check("msgHist", Err(not_found("msgHist")));
    assert_eq!(map.get("sentinel"), None);
    assert_eq!(
        map.get("idp").map(Host::to_string).as_deref(),
        Some("va.idp.liveperson.net")
    );
    // Hand-made maps, e.g. for configured overrides.
    let mut own = DomainMap::new();
    assert!(own.is_empty());
    own.insert(ServiceName::sentinel(), Host::parse("127.0.0.1:9").unwrap());
    assert_eq!(
        own.require(&sentinel()).map(Host::to_string),
        Ok("127.0.0.1:9".to_owned())
    );
}

/// (status, retryable, Display, has a source)
fn check_error(error: DomainError, expected: (Option<u16>, bool, &str, bool)) {
    use std::error::Error;
    let got = (
        error.status().map(|s| s.as_u16()),
        error.is_retryable(),
        error.to_string(),
        error.source().is_some(),
    );
    assert_eq!(
        got,
        (expected.0, expected.1, expected.2.to_owned(), expected.3)
    );
}

#[test]
fn error_helpers_and_messages() {
    check_error(
        status(401),
        (
            Some(401),
            false,
            "domain api answered with http status 401",
            false,
        ),
    );
    check_error(
        status(404),
        (
            Some(404),
            false,
            "domain api answered with http status 404",
            false,
        ),
    );
    check_error(
        status(429),
        (
            Some(429),
            true,
            "domain api answered with http status 429",
            false,
        ),
    );
    check_error(
        status(500),
        (
            Some(500),
            true,
            "domain api answered with http status 500",
            false,
        ),
    );
    check_error(
        status(503),
        (
            Some(503),
            true,
            "domain api answered with http status 503",
            false,
        ),
    );
    check_error(
        not_found("sentinel"),
        (
            None,
            false,
            "service \"sentinel\" is not in the domain api answer",
            false,
        ),
    );
    check_error(
        invalid("sentinel", "evil@host"),
        (
            None,
            false,
            "domain api gave an unusable host for service \"sentinel\": host has invalid character '@' at byte 4",
            true,
        ),
    );
    check_error(
        DomainError::BodyTooLarge {
            status: StatusCode::OK,
            limit: 9,
        },
        (
            Some(200),
            false,
            "domain api answer with http status 200 is larger than 9 bytes",
            false,
        ),
    );
    check_error(
        malformed("baseURIs is missing"),
        (
            Some(200),
            false,
            "malformed domain api answer with http status 200: baseURIs is missing",
            false,
        ),
    );
}

/// A non-200 answer with these headers: the status error it must give.
fn check_retry_after(code: u16, retry_after: Option<&str>, expected: Option<RetryAfter>) {
    let mut builder = http::Response::builder().status(code);
    if let Some(v) = retry_after {
        builder = builder.header("retry-after", v);
    }
    let r = builder.body(Vec::new()).unwrap();
    let want = DomainError::Status {
        status: StatusCode::from_u16(code).unwrap(),
        retry_after: expected,
    };
    let label = format!("{code} {retry_after:?}");
    let one = parse_service_response(&r, &sentinel()).unwrap_err();
    assert_eq!(one, want, "{label}");
    assert_eq!(one.retry_after(), expected, "{label}");
    let all = parse_all_services_response(&r).unwrap_err();
    assert_eq!(all, want, "{label}");
}

#[test]
fn retry_after_is_read_for_throttling_and_server_errors() {
    let secs = |s| Some(RetryAfter::Delay(Duration::from_secs(s)));
    check_retry_after(429, Some("30"), secs(30));
    check_retry_after(503, Some(" 7 "), secs(7));
    check_retry_after(500, Some("0"), secs(0));
    check_retry_after(
        429,
        Some("Sun, 06 Nov 1994 08:49:37 GMT"),
        Some(RetryAfter::At(
            UNIX_EPOCH + Duration::from_secs(784_111_777),
        )),
    );
    check_retry_after(429, None, None);
    check_retry_after(429, Some("soon"), None);
    // Other statuses do not ask to come back later.
    check_retry_after(401, Some("30"), None);
    check_retry_after(404, Some("30"), None);

    let e = DomainError::Status {
        status: StatusCode::TOO_MANY_REQUESTS,
        retry_after: secs(30),
    };
    assert_eq!(
        e.to_string(),
        "domain api answered with http status 429 (retry after 30 s)"
    );
    let e = DomainError::Status {
        status: StatusCode::SERVICE_UNAVAILABLE,
        retry_after: Some(RetryAfter::At(UNIX_EPOCH)),
    };
    assert_eq!(
        e.to_string(),
        "domain api answered with http status 503 (retry after a given date)"
    );
    assert_eq!(not_found("sentinel").retry_after(), None);
}
