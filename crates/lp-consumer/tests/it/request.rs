//! Building the ConsumerJWS request and validating ext consumer ids.

use lp_consumer::{
    AccountId, ExtConsumerId, ExtConsumerIdError, Host, MAX_EXT_CONSUMER_ID_LEN, RequestError,
    TokenKind, consumer_request,
};

pub const APP_JWT: &str = "eyJraWQiOiJhcHBqd3QtMTMtMDUtMTciLCJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiI1NjA3MjMzMSJ9.c2lnbmF0dXJl";

#[test]
fn ext_consumer_ids() {
    fn check(input: &str, expected: Result<(), ExtConsumerIdError>) {
        let got = ExtConsumerId::new(input);
        assert_eq!(
            got.as_ref().map(|_| ()),
            expected.as_ref().map(|_| ()),
            "{input:?}"
        );
        if let Ok(id) = got {
            assert_eq!(id.as_str(), input);
            assert_eq!(id.to_string(), input);
        }
    }
    let longest = "x".repeat(MAX_EXT_CONSUMER_ID_LEN);
    let too_long = "x".repeat(MAX_EXT_CONSUMER_ID_LEN + 1);
    // 128 two-byte characters: 256 bytes, at the bound.
    let longest_unicode = "é".repeat(MAX_EXT_CONSUMER_ID_LEN / 2);
    let too_long_unicode = "é".repeat(MAX_EXT_CONSUMER_ID_LEN / 2 + 1);
    check("John_Doe_facebook12345", Ok(()));
    check("a", Ok(()));
    check("with space", Ok(()));
    check(r#"quote" and \backslash"#, Ok(()));
    check("Jörg 東京 🙂", Ok(()));
    check("{\"json\":1}", Ok(()));
    check(&longest, Ok(()));
    check(&longest_unicode, Ok(()));
    check("", Err(ExtConsumerIdError::Empty));
    check(
        &too_long,
        Err(ExtConsumerIdError::TooLong {
            len: MAX_EXT_CONSUMER_ID_LEN + 1,
            max: MAX_EXT_CONSUMER_ID_LEN,
        }),
    );
    check(
        &too_long_unicode,
        Err(ExtConsumerIdError::TooLong {
            len: MAX_EXT_CONSUMER_ID_LEN + 2,
            max: MAX_EXT_CONSUMER_ID_LEN,
        }),
    );
    check(
        "a\nb",
        Err(ExtConsumerIdError::ControlCharacter { position: 1 }),
    );
    check(
        "\0",
        Err(ExtConsumerIdError::ControlCharacter { position: 0 }),
    );
    check(
        "é\u{7f}",
        Err(ExtConsumerIdError::ControlCharacter { position: 2 }),
    );
    check(
        "a\u{85}",
        Err(ExtConsumerIdError::ControlCharacter { position: 1 }),
    );
    check(
        "tab\t",
        Err(ExtConsumerIdError::ControlCharacter { position: 3 }),
    );
}

#[test]
fn ext_consumer_id_conversions_and_debug() {
    let id: ExtConsumerId = "abc".parse().unwrap();
    assert_eq!(format!("{id:?}"), r#"ExtConsumerId("abc")"#);
    assert_eq!(ExtConsumerId::try_from("abc"), Ok(id.clone()));
    assert_eq!(ExtConsumerId::try_from(String::from("abc")), Ok(id.clone()));
    assert_eq!(AsRef::<str>::as_ref(&id), "abc");
    assert_eq!(id.into_string(), "abc");
    let messages = [
        (ExtConsumerIdError::Empty, "ext consumer id is empty"),
        (
            ExtConsumerIdError::TooLong { len: 300, max: 256 },
            "ext consumer id is 300 bytes long, more than the 256 allowed",
        ),
        (
            ExtConsumerIdError::ControlCharacter { position: 4 },
            "ext consumer id has a control character at byte 4",
        ),
    ];
    for (error, message) in messages {
        assert_eq!(error.to_string(), message);
    }
}

/// What a built request looks like, in comparable parts.
#[derive(Debug, PartialEq)]
struct Built {
    method: String,
    uri: String,
    headers: Vec<(String, String, bool)>,
    body: String,
}

fn built(request: &http::Request<Vec<u8>>) -> Built {
    Built {
        method: request.method().to_string(),
        uri: request.uri().to_string(),
        headers: request
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.to_string(),
                    v.to_str().unwrap().to_owned(),
                    v.is_sensitive(),
                )
            })
            .collect(),
        body: String::from_utf8(request.body().clone()).unwrap(),
    }
}

#[test]
fn requests() {
    fn check(
        idp: &str,
        account: &str,
        app_jwt: &str,
        ext: &str,
        expected: Result<Built, RequestError>,
    ) {
        let got = consumer_request(
            &Host::parse(idp).unwrap(),
            &AccountId::new(account).unwrap(),
            app_jwt,
            &ExtConsumerId::new(ext).unwrap(),
        );
        assert_eq!(
            got.as_ref().map(built).map_err(Clone::clone),
            expected,
            "{idp} {account} {ext:?}"
        );
    }
    let ok = |uri: &str, body: &str| {
        Ok(Built {
            method: "POST".to_owned(),
            uri: uri.to_owned(),
            headers: vec![
                (
                    "content-type".to_owned(),
                    "application/json".to_owned(),
                    false,
                ),
                ("accept".to_owned(), "application/json".to_owned(), false),
                ("authorization".to_owned(), APP_JWT.to_owned(), true),
            ],
            body: body.to_owned(),
        })
    };
    check(
        "va.idp.liveperson.net",
        "56072331",
        APP_JWT,
        "John_Doe_facebook12345",
        ok(
            "https://va.idp.liveperson.net/api/account/56072331/consumer?v=1.0",
            r#"{"ext_consumer_id":"John_Doe_facebook12345"}"#,
        ),
    );
    check(
        "127.0.0.1:8443",
        "le81823118",
        APP_JWT,
        r#"say "hi" \ bye"#,
        ok(
            "https://127.0.0.1:8443/api/account/le81823118/consumer?v=1.0",
            r#"{"ext_consumer_id":"say \"hi\" \\ bye"}"#,
        ),
    );
    check(
        "[::1]:9000",
        "1",
        APP_JWT,
        "Jörg</script>",
        ok(
            "https://[::1]:9000/api/account/1/consumer?v=1.0",
            r#"{"ext_consumer_id":"Jörg</script>"}"#,
        ),
    );
    let app = TokenKind::AppJwt;
    check(
        "h",
        "1",
        "",
        "x",
        Err(RequestError::EmptyToken { kind: app }),
    );
    check(
        "h",
        "1",
        "Bearer abc",
        "x",
        Err(RequestError::InvalidToken {
            kind: app,
            position: 6,
        }),
    );
    check(
        "h",
        "1",
        "abc\r\nX-Evil: 1",
        "x",
        Err(RequestError::InvalidToken {
            kind: app,
            position: 3,
        }),
    );
    check(
        "h",
        "1",
        "ab\u{e9}",
        "x",
        Err(RequestError::InvalidToken {
            kind: app,
            position: 2,
        }),
    );
}

#[test]
fn request_debug_hides_the_app_jwt() {
    let request = consumer_request(
        &Host::parse("h").unwrap(),
        &AccountId::new("1").unwrap(),
        APP_JWT,
        &ExtConsumerId::new("x").unwrap(),
    )
    .unwrap();
    let debug = format!("{request:?}");
    assert!(!debug.contains(APP_JWT), "{debug}");
    assert!(debug.contains("Sensitive"), "{debug}");
}

#[test]
fn request_error_messages() {
    let cases = [
        (
            RequestError::EmptyToken {
                kind: TokenKind::AppJwt,
            },
            "the appjwt is empty",
        ),
        (
            RequestError::InvalidToken {
                kind: TokenKind::ConsumerJws,
                position: 7,
            },
            "the consumer jws has a byte outside visible ascii at byte 7",
        ),
    ];
    for (error, message) in cases {
        assert_eq!(error.to_string(), message);
    }
}
