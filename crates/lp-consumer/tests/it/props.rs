//! Properties: the body round-trips any valid ext consumer id, nothing
//! panics on arbitrary input, and errors never echo a token.

use lp_consumer::{
    AccountId, ConsumerError, ConsumerJws, ExtConsumerId, Host, MAX_EXT_CONSUMER_ID_LEN,
    consumer_request, parse_consumer_response, send_api_headers,
};
use proptest::prelude::*;

use crate::request::APP_JWT;
use crate::response::response;

mod strategies {
    use proptest::prelude::*;

    /// Ext ids rich in what JSON must escape: quotes, backslashes, slashes,
    /// non-ASCII and astral characters.
    pub fn ext_id() -> impl Strategy<Value = String> {
        prop_oneof![
            r#"[A-Za-z0-9_"\\/ .@+-]{1,64}"#,
            "[^\\p{Cc}]{1,64}",
            "[\"\\\\é東🙂]{1,64}",
        ]
    }

    /// Visible-ASCII token texts.
    pub fn token() -> impl Strategy<Value = String> {
        "[!-~]{1,300}"
    }

    pub fn status() -> impl Strategy<Value = u16> {
        prop_oneof![
            Just(200u16),
            Just(201),
            Just(401),
            Just(429),
            Just(503),
            100u16..600
        ]
    }
}

proptest! {
    #[test]
    fn request_body_round_trips(ext in strategies::ext_id()) {
        let id = ExtConsumerId::new(ext.clone()).unwrap();
        let request = consumer_request(
            &Host::parse("idp.example").unwrap(),
            &AccountId::new("56072331").unwrap(),
            APP_JWT,
            &id,
        ).unwrap();
        let body: serde_json::Value = serde_json::from_slice(request.body()).unwrap();
        prop_assert_eq!(body, serde_json::json!({ "ext_consumer_id": ext }));
    }

    #[test]
    fn ext_id_new_never_panics_and_keeps_its_promise(s in ".{0,300}") {
        match ExtConsumerId::new(s.clone()) {
            Ok(id) => {
                prop_assert_eq!(id.as_str(), s.as_str());
                prop_assert!(!s.is_empty() && s.len() <= MAX_EXT_CONSUMER_ID_LEN);
                prop_assert!(!s.chars().any(char::is_control));
            }
            Err(_) => prop_assert!(
                s.is_empty() || s.len() > MAX_EXT_CONSUMER_ID_LEN || s.chars().any(char::is_control)
            ),
        }
    }

    #[test]
    fn request_never_panics(app_jwt in ".{0,100}", ext in "[^\\p{Cc}]{1,50}") {
        let id = ExtConsumerId::new(ext).unwrap();
        let host = Host::parse("idp.example").unwrap();
        let account = AccountId::new("1").unwrap();
        if let Err(e) = consumer_request(&host, &account, &app_jwt, &id) {
            // The error never repeats the token.
            prop_assert!(app_jwt.len() < 8 || !e.to_string().contains(&app_jwt));
        }
    }

    #[test]
    fn success_round_trips(token in strategies::token(), status in prop_oneof![Just(200u16), Just(201)]) {
        let body = serde_json::to_vec(&serde_json::json!({ "token": token })).unwrap();
        let jws = parse_consumer_response(&response(status, &[("content-type", "application/json")], &body)).unwrap();
        prop_assert_eq!(jws.secret(), token.as_str());
        let headers = send_api_headers(APP_JWT, &jws).unwrap();
        prop_assert_eq!(headers["x-lp-on-behalf"].to_str().unwrap(), token.as_str());
        prop_assert_eq!(ConsumerJws::new(token.clone()).map(|j| j.into_string()), Ok(token));
    }

    #[test]
    fn parse_never_panics(status in strategies::status(), body in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_consumer_response(&response(status, &[], &body));
    }

    #[test]
    fn errors_never_echo_the_body(status in strategies::status(), secret in "[A-Za-z0-9]{16,40}") {
        // A body that carries something secret-looking in every shape the
        // parser might quote: as the token, as a key, as an error message.
        let bodies = [
            format!(r#"{{"token":"{secret} "}}"#),
            format!(r#"{{"{secret}":1}}"#),
            format!(r#"{{"error":"{secret}"}}"#),
            format!(r#"{{"token":{secret}}}"#),
            secret.clone(),
        ];
        for body in bodies {
            let r = response(status, &[("retry-after", "1")], body.as_bytes());
            if let Err(e) = parse_consumer_response(&r) {
                prop_assert!(!e.to_string().contains(&secret), "{}", e);
                prop_assert!(!format!("{e:?}").contains(&secret), "{:?}", e);
                let _: &ConsumerError = &e;
            }
        }
    }
}
