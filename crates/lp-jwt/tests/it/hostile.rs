//! Text from a token, key or server in error messages: escaped and cut.

use std::time::UNIX_EPOCH;

use lp_jwt::{
    AppJwtClaims, DecodeError, Header, Segment, Untrusted, UnverifiedToken, Validation,
    ValidationError,
};
use proptest::prelude::*;
use serde_json::json;

use crate::token;

/// Longest message any error may have: two quoted texts of 200 characters
/// at 10 bytes each at worst, and the fixed words around them.
pub const MAX_MESSAGE_LEN: usize = 4096;

/// Characters that must never reach a log line as themselves: controls,
/// and the invisible ones that reorder or split what a reader sees.
pub fn is_forbidden(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
}

/// Asserts a message is safe to log.
pub fn assert_loggable(message: &str) {
    assert!(
        !message.chars().any(is_forbidden),
        "unescaped character in {message:?}"
    );
    assert!(message.len() <= MAX_MESSAGE_LEN, "{} bytes", message.len());
}

/// How a hostile input must be shown when cut after a number of characters.
type Shown = Box<dyn Fn(usize) -> String>;

/// The hostile inputs, each with how it must be shown when cut after
/// `cap` characters.
fn hostile() -> Vec<(String, Shown)> {
    vec![
        (
            "ok\n2024-01-01 INFO forged".into(),
            Box::new(|_| r"ok\n2024-01-01 INFO forged".into()),
        ),
        (
            "\u{1b}[31mred\u{1b}[0m\r".into(),
            Box::new(|_| r"\u{1b}[31mred\u{1b}[0m\r".into()),
        ),
        (
            "x".repeat(10_000),
            Box::new(|cap| format!("{}...", "x".repeat(cap))),
        ),
        (
            "Zürich Ελλάδα 東京".into(),
            Box::new(|_| "Zürich Ελλάδα 東京".into()),
        ),
        (
            "abc\u{202e}fed\u{2028}".into(),
            Box::new(|_| r"abc\u{202e}fed\u{2028}".into()),
        ),
    ]
}

/// `{}` in `template` stands for the shown text.
fn check(template: &str, cap: usize, make: impl Fn(&str) -> String) {
    for (input, shown) in hostile() {
        let message = make(&input);
        assert_eq!(message, template.replace("{}", &shown(cap)), "{input:?}");
        assert_loggable(&message);
    }
}

const RS256: &str = r#"{"alg":"RS256"}"#;
const NAME: usize = Untrusted::DEFAULT_MAX_CHARS;
const MESSAGE: usize = 200;

#[test]
fn validation_errors_escape_what_they_quote() {
    check(
        "algorithm `{}` is not accepted, expected RS256",
        NAME,
        |s| ValidationError::Algorithm { found: s.into() }.to_string(),
    );
    check("issuer is `{}`, expected `Sentinel`", NAME, |s| {
        ValidationError::Issuer {
            expected: "Sentinel".into(),
            found: s.into(),
        }
        .to_string()
    });
    check("issuer is `{}`, expected `{}`", NAME, |s| {
        ValidationError::Issuer {
            expected: s.into(),
            found: s.into(),
        }
        .to_string()
    });
    check(
        "audience does not name account `{}` (nor `le{}`)",
        NAME,
        |s| ValidationError::Audience { expected: s.into() }.to_string(),
    );
    check("authorized party (azp) is not client id `{}`", NAME, |s| {
        ValidationError::AuthorizedParty { expected: s.into() }.to_string()
    });
}

#[test]
fn decode_errors_escape_what_they_quote() {
    check(
        "claims segment: duplicate key `{}` at line 1 column 2",
        NAME,
        |s| {
            DecodeError::DuplicateKey {
                segment: Segment::Claims,
                key: s.into(),
                line: 1,
                column: 2,
            }
            .to_string()
        },
    );
    check(
        "header segment: invalid JSON at line 3 column 4: {}",
        MESSAGE,
        |s| {
            DecodeError::Json {
                segment: Segment::Header,
                line: 3,
                column: 4,
                message: s.into(),
            }
            .to_string()
        },
    );
}

/// Decodes a token from raw JSON, with room for a 10 kB member.
pub fn decode_big(header: &str, claims: &str) -> Result<(Header, AppJwtClaims), DecodeError> {
    UnverifiedToken::decode_with_limit(&token(header, claims), 1 << 20).map(|t| t.into_parts())
}

#[test]
fn errors_from_real_tokens_escape_what_they_quote() {
    // Each hostile string as the token's alg, then as its iss.
    let validate = |(header, claims): (Header, AppJwtClaims)| {
        let result = Validation::new("1").validate(&header, &claims, UNIX_EPOCH);
        result.unwrap_err().to_string()
    };
    check(
        "algorithm `{}` is not accepted, expected RS256",
        NAME,
        |s| validate(decode_big(&json!({ "alg": s }).to_string(), "{}").unwrap()),
    );
    check("issuer is `{}`, expected `Sentinel`", NAME, |s| {
        validate(decode_big(RS256, &json!({ "iss": s }).to_string()).unwrap())
    });
    check("claims segment: duplicate key `{}`", NAME, |s| {
        let key = serde_json::to_string(s).unwrap();
        let message = decode_big(RS256, &format!("{{{key}:1,{key}:2}}"))
            .unwrap_err()
            .to_string();
        // The position depends on the key's length; it is not the point.
        let (head, _position) = message.rsplit_once(" at line ").unwrap();
        head.to_owned()
    });
}

#[cfg(feature = "verify")]
mod keys {
    use lp_jwt::{Jwks, KeyError, UnverifiedToken, VerifyError};
    use serde_json::json;

    use super::{MESSAGE, NAME, check};
    use crate::token;

    #[test]
    fn verify_errors_escape_what_they_quote() {
        check(
            "token algorithm `{}` is refused, only RS256 is accepted",
            NAME,
            |s| VerifyError::Algorithm { found: s.into() }.to_string(),
        );
        check("no verification key with kid `{}`", NAME, |s| {
            VerifyError::UnknownKeyId {
                kid: Some(s.into()),
            }
            .to_string()
        });
        // From a real token's kid.
        check("no verification key with kid `{}`", NAME, |s| {
            let header = json!({ "alg": "RS256", "kid": s }).to_string();
            let t = token(&header, "{}");
            let jwt = UnverifiedToken::decode_with_limit(&t, 1 << 20).unwrap();
            let jwks = Jwks::from_verifiers(Vec::new());
            jwks.verify(&jwt).unwrap_err().to_string()
        });
    }

    #[test]
    fn key_errors_escape_what_they_quote() {
        check("JWK kty `{}` is not RSA", NAME, |s| {
            KeyError::KeyType { kty: s.into() }.to_string()
        });
        check("JWK alg `{}` is not RS256", NAME, |s| {
            KeyError::Algorithm { alg: s.into() }.to_string()
        });
        check("JWK use `{}` is not sig", NAME, |s| {
            KeyError::Use { key_use: s.into() }.to_string()
        });
        check("invalid JWK JSON: {}", MESSAGE, |s| {
            KeyError::Json { message: s.into() }.to_string()
        });
    }

    #[test]
    fn skipped_keys_escape_kid_and_reason() {
        // A set whose only key has the hostile text as kid and kty.
        check(
            "JWKS holds no RS256 signing key (1 skipped, first key 0 (kid `{}`): \
             JWK kty `{}` is not RSA)",
            NAME,
            |s| {
                let set = json!({ "keys": [{ "kty": s, "kid": s }] }).to_string();
                Jwks::from_json_lenient(&set).unwrap_err().to_string()
            },
        );
        check(
            "JWKS holds no RS256 signing key (1 skipped, first key 0 (kid `{}`): \
             JWK use `{}` is not sig)",
            NAME,
            |s| {
                let set = json!({ "keys": [{ "kty": "RSA", "kid": s, "use": s }] });
                Jwks::from_json_lenient(&set.to_string())
                    .unwrap_err()
                    .to_string()
            },
        );
    }
}

/// Every error variant that quotes outside text, built around `s`.
fn every_message(s: &str) -> Vec<String> {
    let messages = vec![
        ValidationError::Algorithm { found: s.into() }.to_string(),
        ValidationError::Issuer {
            expected: s.into(),
            found: s.into(),
        }
        .to_string(),
        ValidationError::Audience { expected: s.into() }.to_string(),
        ValidationError::AuthorizedParty { expected: s.into() }.to_string(),
        DecodeError::DuplicateKey {
            segment: Segment::Header,
            key: s.into(),
            line: usize::MAX,
            column: usize::MAX,
        }
        .to_string(),
        DecodeError::Json {
            segment: Segment::Claims,
            line: usize::MAX,
            column: usize::MAX,
            message: s.into(),
        }
        .to_string(),
    ];
    messages.into_iter().chain(key_messages(s)).collect()
}

#[cfg(not(feature = "verify"))]
fn key_messages(_: &str) -> Vec<String> {
    Vec::new()
}

#[cfg(feature = "verify")]
fn key_messages(s: &str) -> Vec<String> {
    use lp_jwt::{Jwks, KeyError, VerifyError};
    let mut messages = vec![
        VerifyError::Algorithm { found: s.into() }.to_string(),
        VerifyError::UnknownKeyId {
            kid: Some(s.into()),
        }
        .to_string(),
        KeyError::KeyType { kty: s.into() }.to_string(),
        KeyError::Algorithm { alg: s.into() }.to_string(),
        KeyError::Use { key_use: s.into() }.to_string(),
        KeyError::Json { message: s.into() }.to_string(),
    ];
    // A skipped key with a hostile kid and kty, and a hostile document
    // (whose JSON error message may quote it).
    let set = json!({ "keys": [{ "kty": s, "kid": s, "alg": s }] });
    for document in [set.to_string(), s.to_owned()] {
        if let Err(e) = Jwks::from_json_lenient(&document) {
            messages.push(e.to_string());
        }
    }
    messages
}

proptest! {
    #[test]
    fn no_error_message_holds_a_control_character_or_grows_without_bound(
        s in prop_oneof![
            any::<String>(),
            "[\\x00-\\x1f\\x7f\\u{80}-\\u{9f}\\u{2028}-\\u{202e}a-z]{0,400}",
            any::<String>().prop_map(|s| s.repeat(50)),
        ],
    ) {
        for message in every_message(&s) {
            prop_assert!(!message.chars().any(is_forbidden), "{:?}", message);
            prop_assert!(message.len() <= MAX_MESSAGE_LEN, "{} bytes", message.len());
        }
    }
}
