//! The Send API's auth headers and `ConsumerJws` itself.

use lp_consumer::{ConsumerJws, RequestError, TokenKind, X_LP_ON_BEHALF, send_api_headers};

use crate::request::APP_JWT;

const JWS: &str = "eyJhbGciOiJSUzI1NiJ9.eyJscF9jb25zdW1lcl9pZCI6IngifQ.c2ln";

#[test]
fn send_api_header_sets() {
    fn check(app_jwt: &str, expected: Result<Vec<(&str, &str)>, RequestError>) {
        let jws = ConsumerJws::new(JWS).unwrap();
        let got = send_api_headers(app_jwt, &jws).map(|headers| {
            assert!(headers.values().all(|v| v.is_sensitive()), "all sensitive");
            headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_owned()))
                .collect::<Vec<_>>()
        });
        let expected = expected.map(|pairs| {
            pairs
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect::<Vec<_>>()
        });
        assert_eq!(got, expected, "{app_jwt:?}");
    }
    check(
        APP_JWT,
        Ok(vec![("authorization", APP_JWT), ("x-lp-on-behalf", JWS)]),
    );
    check(
        "",
        Err(RequestError::EmptyToken {
            kind: TokenKind::AppJwt,
        }),
    );
    check(
        "a\nb",
        Err(RequestError::InvalidToken {
            kind: TokenKind::AppJwt,
            position: 1,
        }),
    );
    assert_eq!(X_LP_ON_BEHALF.as_str(), "x-lp-on-behalf");
}

#[test]
fn header_debug_hides_tokens() {
    let jws = ConsumerJws::new(JWS).unwrap();
    let headers = send_api_headers(APP_JWT, &jws).unwrap();
    let debug = format!("{headers:?} {jws:?}");
    assert!(!debug.contains(APP_JWT) && !debug.contains(JWS), "{debug}");
    assert_eq!(format!("{jws:?}"), "ConsumerJws([redacted])");
}

#[test]
fn consumer_jws_texts() {
    fn check(text: &str, expected: Result<(), RequestError>) {
        let got = ConsumerJws::new(text);
        assert_eq!(
            got.as_ref().map(|_| ()),
            expected.as_ref().copied(),
            "{text:?}"
        );
        if let Ok(jws) = got {
            assert_eq!(jws.secret(), text);
            assert_eq!(jws.into_string(), text);
        }
    }
    let kind = TokenKind::ConsumerJws;
    check(JWS, Ok(()));
    check("x", Ok(()));
    check("", Err(RequestError::EmptyToken { kind }));
    check(" x", Err(RequestError::InvalidToken { kind, position: 0 }));
    check(
        "x\u{7f}",
        Err(RequestError::InvalidToken { kind, position: 1 }),
    );
}
