//! The fault-matrix rows `faults.rs` does not cover, and the input
//! validation table of RELIABILITY.md: every rejected input with the exact
//! message a user sees.

use std::time::{Duration, UNIX_EPOCH};

use lp_appjwt::{AppJwtClient, Error, RetryPolicy, TransportErrorKind, VerifyWith};
use lp_domain::{DomainError, ServiceName};
use lp_emulator::{EmulatorHandle, Endpoint, Fault};
use lp_ids::{AccountId, ClientId, Host};
use lp_jwt::{UnverifiedToken, Validation};
use lp_oauth::{ClientSecret, TokenError};

use crate::support::{self, ACCOUNT, CLIENT_ID, SECRET};

fn status(status: u16, retry_after: Option<&str>) -> Fault {
    Fault::Status {
        status,
        retry_after: retry_after.map(str::to_owned),
        body: None,
    }
}

fn client_with(emu: &EmulatorHandle, policy: RetryPolicy) -> AppJwtClient {
    support::client_builder(emu)
        .retry_policy(policy)
        .build()
        .unwrap_or_else(|e| panic!("client: {e}"))
}

fn expect_err<T>(r: Result<T, Error>, what: &str) -> Error {
    match r {
        Ok(_) => panic!("{what}: expected an error"),
        Err(e) => {
            for text in [e.to_string(), format!("{e:?}")] {
                assert!(!text.contains(SECRET), "{what}: secret in {text}");
            }
            e
        }
    }
}

/// Three attempts allowed, three 503s: the client stops after the third,
/// with the server's error (not a deadline error: the deadline was not the
/// limit).
#[tokio::test]
async fn three_503s_exhaust_three_attempts() {
    let emu = support::start(support::emulator()).await;
    emu.inject(Endpoint::Token, status(503, None), 3);
    let client = client_with(
        &emu,
        RetryPolicy {
            max_attempts: 3,
            ..support::fast_retries()
        },
    );
    let e = expect_err(client.token().await, "503 x3");
    assert!(
        matches!(&e, Error::Token(TokenError::Server { status, .. }) if status.as_u16() == 503),
        "{e:?}"
    );
    assert_eq!(emu.request_count(Endpoint::Token), 3);
    // Remembered for the retry backoff (at most 50 ms here): no request.
    let again = expect_err(client.token().await, "held back");
    assert!(matches!(again, Error::Backoff { .. }), "{again:?}");
    assert_eq!(emu.request_count(Endpoint::Token), 3);
    // The fourth request would have succeeded: the faults are used up.
    tokio::time::sleep(Duration::from_millis(60)).await;
    assert!(client.token().await.is_ok());
    assert_eq!(emu.request_count(Endpoint::Token), 4);
}

/// A 503 asking for a wait longer than the whole retry deadline: the client
/// gives up at once instead of sleeping past its deadline.
#[tokio::test]
async fn retry_after_beyond_the_deadline_gives_up_at_once() {
    let emu = support::start(support::emulator()).await;
    emu.inject(Endpoint::Token, status(503, Some("120")), 100);
    let client = client_with(
        &emu,
        RetryPolicy {
            deadline: Duration::from_secs(5),
            ..support::fast_retries()
        },
    );
    let e = expect_err(client.token().await, "503 retry-after 120");
    match &e {
        Error::DeadlineExceeded { attempts, last } => {
            assert_eq!(*attempts, 1);
            assert!(
                matches!(**last, Error::Token(TokenError::Server { .. })),
                "{e:?}"
            );
        }
        other => panic!("expected a deadline error, got {other:?}"),
    }
    assert_eq!(emu.request_count(Endpoint::Token), 1);
}

/// Bad signature with verification explicitly off (`VerifyWith::None`, the
/// documented dangerous setting): the forged token is handed out, but marked
/// unverified, and it really does not verify against the emulator's key.
/// (With verification on, the default, `verify.rs` shows it refused after
/// one request.)
#[tokio::test]
async fn bad_signature_with_verification_off_is_marked_unverified() {
    let emu = support::start(support::emulator()).await;
    emu.inject(Endpoint::Token, Fault::BadSignatureToken, 1);
    let client = support::client_builder(&emu)
        .verify_with(VerifyWith::None)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let jwt = client.token().await.unwrap_or_else(|e| panic!("{e}"));
    assert!(!jwt.is_verified());
    let token = UnverifiedToken::decode(jwt.secret()).unwrap_or_else(|e| panic!("{e}"));
    let key = lp_jwt::Rs256Verifier::from_spki_der(&emu.public_key_spki_der())
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        key.verify(&token).is_err(),
        "the emulator's bad-signature token verifies: the row tests nothing"
    );
    assert_eq!(emu.request_count(Endpoint::Token), 1);
    assert_eq!(emu.request_count(Endpoint::Jwks), 0);
}

/// The Domain API does not list `sentinel`: a typed error, and the secret is
/// never sent anywhere.
#[tokio::test]
async fn csds_without_sentinel_is_service_not_found() {
    let emu = support::start(support::emulator().without_service("sentinel")).await;
    let client = support::client(&emu);
    let e = expect_err(client.token().await, "no sentinel");
    assert!(
        matches!(&e, Error::Domain(DomainError::ServiceNotFound { service }) if service == "sentinel"),
        "{e:?}"
    );
    assert!(!e.is_retryable());
    assert_eq!(emu.request_count(Endpoint::Domain), 1);
    assert_eq!(emu.request_count(Endpoint::Token), 0);
}

/// A 10 MiB Domain API answer is refused at the transport's cap like a
/// 10 MiB token answer (`faults.rs`), and no token request follows.
#[tokio::test]
async fn huge_domain_answer_is_refused_at_the_cap() {
    let emu = support::start(support::emulator()).await;
    emu.inject(Endpoint::Domain, Fault::HugeBody(10 * 1024 * 1024), 100);
    let client = support::client(&emu);
    let e = expect_err(client.token().await, "huge domain body");
    let root = e.root();
    assert!(
        matches!(root, Error::Transport(t) if t.kind() == TransportErrorKind::BodyTooLarge)
            || matches!(root, Error::Domain(DomainError::BodyTooLarge { .. })),
        "{e:?}"
    );
    assert_eq!(emu.request_count(Endpoint::Domain), 1);
    assert_eq!(emu.request_count(Endpoint::Token), 0);
}

/// The emulator goes away and comes back on the same port, over TLS with
/// the same CA (`tls_identity`), as a restarted server would. While it is
/// down, a cached token is still served and an invalidated one gives a
/// retryable connection error; once it is back, the same client (same
/// transport, same connection pool) fetches again.
#[tokio::test]
async fn emulator_restarted_mid_run_client_reconnects() {
    let first = support::start(support::emulator()).await;
    let addr = first.addr();
    let identity = first
        .tls_identity()
        .unwrap_or_else(|| panic!("a TLS emulator has an identity"));
    let client = support::client_builder(&first)
        .invalidate_min_interval(Duration::ZERO)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let before = client.token().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(first.request_count(Endpoint::Token), 1);
    first.shutdown().await;

    // Down: the cached token is still good.
    let cached = client.token().await.unwrap_or_else(|e| panic!("{e}"));
    // Compared as booleans: a failing assert_eq would print the tokens.
    assert!(cached.secret() == before.secret());
    // Down, no valid token: a connection error after the retries.
    client.invalidate();
    let e = expect_err(client.token().await, "emulator down");
    assert!(
        matches!(e.root(), Error::Transport(t) if t.kind() == TransportErrorKind::Connect),
        "{e:?}"
    );

    let second = support::start(support::emulator().listen(addr).tls_identity(identity)).await;
    // The connection errors are remembered for the retry backoff (at most
    // 50 ms here): wait it out.
    tokio::time::sleep(Duration::from_millis(60)).await;
    // Same key and claims within the same second may give the same token
    // (RS256 signatures are deterministic): the request count tells.
    let after = client.token().await.unwrap_or_else(|e| panic!("{e}"));
    assert!(!after.secret().is_empty());
    assert_eq!(second.request_count(Endpoint::Token), 1);
    // The connection errors made the Domain API map due, not dropped it:
    // the token request went to the host it named, and the map is looked
    // up again in the background (once, if that has happened yet).
    assert!(second.request_count(Endpoint::Domain) <= 1);
}

/// Rejected inputs and their exact messages (the table in RELIABILITY.md).
/// Mismatches are collected so one run shows them all.
#[derive(Default)]
struct Table(Vec<String>);

impl Table {
    fn check(&mut self, kind: &str, input: &str, got: Result<(), String>, expected: &str) {
        match got {
            Ok(()) => self.0.push(format!(
                "{kind} {input:?} was accepted, expected {expected:?}"
            )),
            Err(message) if message != expected => self.0.push(format!(
                "{kind} {input:?}: got {message:?}, expected {expected:?}"
            )),
            Err(_) => {}
        }
    }

    fn assert_all_matched(self) {
        assert!(self.0.is_empty(), "\n{}", self.0.join("\n"));
    }
}

fn msg<T, E: std::fmt::Display>(r: Result<T, E>) -> Result<(), String> {
    r.map(|_| ()).map_err(|e| e.to_string())
}

/// Unpadded base64url, to build test tokens.
fn b64(s: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in s.as_bytes().chunks(3) {
        let mut n = 0u32;
        for (i, b) in chunk.iter().enumerate() {
            n |= u32::from(*b) << (16 - 8 * i);
        }
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

fn jwt(header: &str, claims: &str) -> String {
    format!("{}.{}.c2ln", b64(header), b64(claims))
}

const RS256_HEADER: &str = r#"{"alg":"RS256","typ":"JWT"}"#;

#[test]
fn rejected_ids_and_their_messages() {
    let mut t = Table::default();
    let cases = [
        ("", "account id is empty"),
        (
            "5607 2331",
            "account id has invalid character ' ' at byte 4",
        ),
        (
            "123/../admin",
            "account id has invalid character '/' at byte 3",
        ),
        (
            "56072331?x=1",
            "account id has invalid character '?' at byte 8",
        ),
        ("٣٣", "account id has an invalid character at byte 0"),
        (
            &"1".repeat(65),
            "account id is 65 bytes long, at most 64 allowed",
        ),
    ];
    for (input, expected) in cases {
        t.check("account id", input, msg(AccountId::new(input)), expected);
    }
    let cases = [
        ("", "client id is empty"),
        ("my app", "client id has invalid character ' ' at byte 2"),
        ("é", "client id has an invalid character at byte 0"),
        ("a\u{0}b", "client id has an invalid character at byte 1"),
        (
            &"1".repeat(257),
            "client id is 257 bytes long, at most 256 allowed",
        ),
    ];
    for (input, expected) in cases {
        t.check("client id", input, msg(ClientId::new(input)), expected);
    }
    let label = format!("{}.com", "a".repeat(64));
    let cases = [
        ("", "host is empty"),
        (
            "https://va.sentinel.liveperson.net",
            "host has invalid character '/' at byte 6",
        ),
        ("host/path", "host has invalid character '/' at byte 4"),
        ("user@host", "host has invalid character '@' at byte 4"),
        ("host?x", "host has invalid character '?' at byte 4"),
        (" host", "host has invalid character ' ' at byte 0"),
        ("hôst", "host has an invalid character at byte 1"),
        ("host:0", "invalid host: port must be 1 to 65535"),
        ("host:65536", "invalid host: port must be 1 to 65535"),
        ("host:", "invalid host: port must be 1 to 65535"),
        ("a..b", "invalid host: empty label in host name"),
        (
            "-a.com",
            "invalid host: label starts or ends with '-' in host name",
        ),
        (
            &label,
            "invalid host: label longer than 63 bytes in host name",
        ),
        ("999.1.1.1", "invalid host: invalid IPv4 address"),
        ("[::1", "invalid host: unclosed '[' in IPv6 literal"),
        ("[::1]x", "invalid host: unexpected text after IPv6 literal"),
        ("[1.2.3.4]", "invalid host: invalid IPv6 literal"),
        (
            "a[b]",
            "invalid host: brackets are only allowed around an IPv6 literal",
        ),
    ];
    for (input, expected) in cases {
        t.check("host", input, msg(Host::parse(input)), expected);
    }
    let cases = [
        ("", "client secret is empty"),
        ("x\u{7}y", "client secret contains a control character"),
        (&"s".repeat(1025), "client secret is longer than 1024 bytes"),
    ];
    for (input, expected) in cases {
        let got = msg(ClientSecret::new(input));
        if let Err(m) = &got {
            assert!(input.is_empty() || !m.contains(input), "secret in {m}");
        }
        t.check("client secret", input, got, expected);
    }
    let cases = [
        ("", "service name is empty"),
        (
            "a/b",
            "service name may only hold ascii letters, digits, '-', '_' and '.'",
        ),
    ];
    for (input, expected) in cases {
        t.check(
            "service name",
            input,
            msg(ServiceName::new(input)),
            expected,
        );
    }
    t.assert_all_matched();
}

#[test]
fn rejected_tokens_and_their_messages() {
    let mut t = Table::default();
    let cases = [
        (String::new(), "token has 1 segment, expected 3"),
        ("a.b".to_owned(), "token has 2 segments, expected 3"),
        ("a.b.c.d".to_owned(), "token has 4 segments, expected 3"),
        (
            "a".repeat(16 * 1024 + 1),
            "token is 16385 bytes long, the limit is 16384",
        ),
        (
            format!("{}=.{}.c2ln", b64(RS256_HEADER), b64("{}")),
            "header segment: base64url padding is not allowed (byte 36)",
        ),
        (
            "e*.e30.c2ln".to_owned(),
            "header segment: invalid base64url character at byte 1",
        ),
        (
            jwt("not json", "{}"),
            "header segment: invalid JSON at line 1 column 2: expected ident",
        ),
        (jwt("[]", "{}"), "header segment: not a JSON object"),
        (
            jwt(r#"{"alg":"RS256","alg":"none"}"#, "{}"),
            "header segment: duplicate key `alg` at line 1 column 20",
        ),
        (
            jwt(r#"{"typ":"JWT"}"#, "{}"),
            "header segment: required member `alg` is missing",
        ),
        (
            jwt(r#"{"alg":"RS256","typ":null}"#, "{}"),
            "header segment: `typ` must be a string (line 1 column 25)",
        ),
        (
            jwt(RS256_HEADER, r#"{"exp":"soon"}"#),
            "claims segment: `exp` must be a number (line 1 column 13)",
        ),
        (
            jwt(RS256_HEADER, r#"{"exp":-1}"#),
            "claims segment: `exp` is not a NumericDate within 0 ..= 253402300799 (line 1 column 9)",
        ),
        (
            jwt(RS256_HEADER, r#"{"exp":253402300800}"#),
            "claims segment: `exp` is not a NumericDate within 0 ..= 253402300799 (line 1 column 19)",
        ),
        (
            jwt(RS256_HEADER, r#"{"aud":5}"#),
            "claims segment: `aud` must be a string or an array of strings (line 1 column 8)",
        ),
        (
            format!("{}.{}.c2ln", b64(RS256_HEADER), "_w"),
            "claims segment: not UTF-8 (decoded byte 0)",
        ),
    ];
    for (token, expected) in cases {
        t.check(
            "token",
            &token,
            msg(UnverifiedToken::decode(&token)),
            expected,
        );
    }
    t.assert_all_matched();
}

/// Well-formed tokens that validation refuses, at a fixed `now`.
#[test]
fn refused_claims_and_their_messages() {
    let mut t = Table::default();
    let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let validation = Validation::new(ACCOUNT).client_id(CLIENT_ID);
    let good =
        format!(r#""aud":"{ACCOUNT}","azp":"{CLIENT_ID}","iss":"Sentinel","iat":1700000000"#);
    let cases = [
        (
            jwt(
                r#"{"alg":"none"}"#,
                &format!(r#"{{{good},"exp":1700003600}}"#),
            ),
            "algorithm `none` is not accepted, expected RS256",
        ),
        (
            jwt(RS256_HEADER, &format!(r#"{{{good}}}"#)),
            "required claim `exp` is missing",
        ),
        (
            jwt(RS256_HEADER, &format!(r#"{{{good},"exp":1699990000}}"#)),
            "token expired at 1699990000, now is 1700000000",
        ),
        (
            jwt(
                RS256_HEADER,
                &format!(
                    r#"{{"aud":"{ACCOUNT}","azp":"{CLIENT_ID}","iss":"Sentinel","iat":1700001000,"exp":1700003600}}"#
                ),
            ),
            "token issued in the future at 1700001000, now is 1700000000",
        ),
        (
            jwt(
                RS256_HEADER,
                &format!(r#"{{"aud":"1","azp":"{CLIENT_ID}","iss":"Sentinel","exp":1700003600}}"#),
            ),
            "audience does not name account `56072331` (nor `le56072331`)",
        ),
        (
            jwt(
                RS256_HEADER,
                &format!(r#"{{"aud":"{ACCOUNT}","azp":"x","iss":"Sentinel","exp":1700003600}}"#),
            ),
            "authorized party (azp) is not client id `75588e18-0213-4e33-8174-883acac7e3c4`",
        ),
        (
            jwt(
                RS256_HEADER,
                &format!(
                    r#"{{"aud":"{ACCOUNT}","azp":"{CLIENT_ID}","iss":"Evil","exp":1700003600}}"#
                ),
            ),
            "issuer is `Evil`, expected `Sentinel`",
        ),
    ];
    for (token, expected) in cases {
        let decoded = UnverifiedToken::decode(&token).unwrap_or_else(|e| panic!("{e}"));
        let got = msg(validation.validate(decoded.header(), decoded.claims(), now));
        t.check("claims", &token, got, expected);
    }
    t.assert_all_matched();
}

/// Token answers refused by the parser, with their messages.
#[test]
fn refused_token_answers_and_their_messages() {
    let mut t = Table::default();
    let answer = |content_type: &str, body: &str| {
        http::Response::builder()
            .status(200)
            .header("content-type", content_type)
            .body(body.as_bytes().to_vec())
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let json = "application/json";
    let cases = [
        (
            answer(json, r#"{"access_token":"a.b.c","token_type":"mac"}"#),
            "malformed token response with http status 200: token_type is \"mac\", expected \"Bearer\"",
        ),
        (
            answer(json, r#"{"access_token":"","token_type":"Bearer"}"#),
            "malformed token response with http status 200: access_token is empty",
        ),
        (
            answer(
                json,
                r#"{"access_token":"a.b.c","token_type":"Bearer","expires_in":-1}"#,
            ),
            "malformed token response with http status 200: expires_in is negative",
        ),
        (
            answer("text/html", "<html>"),
            "malformed token response with http status 200: content type \"text/html\" is not json",
        ),
        (
            answer(json, r#"{"access_token":"a.b.c","token_type":"Bearer""#),
            "malformed token response with http status 200: body ends early (EOF while parsing) at line 1 column 45",
        ),
    ];
    for (response, expected) in cases {
        let got = msg(lp_oauth::parse_token_response(&response));
        t.check("token answer", "", got, expected);
    }
    t.assert_all_matched();
}
