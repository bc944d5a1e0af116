//! Properties: parsing never panics; the form body round-trips.

use lp_oauth::{ApiVersion, ClientSecret, TokenError, parse_token_response_with_limit};
use proptest::prelude::*;

/// Strategies, kept together.
mod strategy {
    use proptest::prelude::*;

    /// A client id as `ClientId` accepts it: visible ASCII.
    pub fn client_id() -> impl Strategy<Value = String> {
        "[!-~]{1,64}"
    }

    /// A secret as `ClientSecret` accepts it: any non-control characters.
    pub fn secret() -> impl Strategy<Value = String> {
        "[^\\p{Cc}]{1,100}"
    }

    /// Bodies that are sometimes near-valid token responses.
    pub fn body() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..200),
            "\\PC{0,200}".prop_map(String::into_bytes),
            (
                prop::option::of("\\PC{0,20}"),
                prop::option::of("[a-zA-Z]{0,8}"),
                prop::option::of(any::<i64>()),
                0usize..60,
            )
                .prop_map(|(token, ty, exp, cut)| {
                    let mut parts = Vec::new();
                    if let Some(t) = token {
                        parts.push(format!("\"access_token\":{}", serde_json_string(&t)));
                    }
                    if let Some(ty) = ty {
                        parts.push(format!("\"token_type\":\"{ty}\""));
                    }
                    if let Some(e) = exp {
                        parts.push(format!("\"expires_in\":{e}"));
                    }
                    let mut s = format!("{{{}}}", parts.join(","));
                    if cut > 0 && cut < s.len() && s.is_char_boundary(cut) {
                        s.truncate(cut);
                    }
                    s.into_bytes()
                }),
        ]
    }

    fn serde_json_string(s: &str) -> String {
        let mut out = String::from("\"");
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }
}

proptest! {
    #[test]
    fn parse_never_panics(
        status in 100u16..1000,
        body in strategy::body(),
        content_type in prop::option::of("\\PC{0,30}"),
        retry_after in prop::option::of("\\PC{0,40}"),
        limit in prop::option::of(0usize..300),
    ) {
        let mut builder = http::Response::builder().status(status);
        if let Some(ct) = content_type.as_deref() {
            if http::HeaderValue::from_str(ct).is_ok() {
                builder = builder.header("content-type", ct);
            }
        }
        if let Some(ra) = retry_after.as_deref() {
            if http::HeaderValue::from_str(ra).is_ok() {
                builder = builder.header("retry-after", ra);
            }
        }
        let response = builder.body(body).unwrap();
        let limit = limit.unwrap_or(lp_oauth::DEFAULT_MAX_BODY);
        match parse_token_response_with_limit(&response, limit) {
            Ok(t) => {
                prop_assert_eq!(status, 200);
                prop_assert!(!t.access_token.secret().is_empty());
                prop_assert!(t.token_type.eq_ignore_ascii_case("bearer"));
            }
            Err(e) => {
                prop_assert_eq!(e.status().as_u16(), status);
                let _ = e.to_string();
                if let TokenError::Malformed { .. } | TokenError::BodyTooLarge { .. } = e {
                    prop_assert_eq!(status, 200);
                }
            }
        }
    }

    #[test]
    fn form_body_round_trips(client in strategy::client_id(), secret in strategy::secret(), v2 in any::<bool>()) {
        prop_assume!(ClientSecret::new(secret.as_str()).is_ok());
        let version = if v2 { ApiVersion::V2 } else { ApiVersion::V1 };
        let request = crate::token_request(&client, &secret, version).to_http();
        let form: Vec<(String, String)> = form_urlencoded::parse(request.body())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let mut want = vec![
            ("client_id".to_owned(), client.clone()),
            ("client_secret".to_owned(), secret.clone()),
        ];
        if v2 {
            want.push(("grant_type".to_owned(), "client_credentials".to_owned()));
        }
        prop_assert_eq!(form, want);
        // The URI does not depend on the secret at all.
        let other = crate::token_request(&client, "other", version).to_http();
        prop_assert_eq!(request.uri(), other.uri());
    }
}
