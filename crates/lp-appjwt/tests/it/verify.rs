//! Signature verification: the sources, the key set cache, rotation, the
//! refetch rate limit, and what a refused token does to the cache.

use std::sync::Arc;
use std::time::Duration;

use lp_appjwt::{
    ApiVersion, AppJwtClient, Error, Jwks, JwksError, VerifyError, VerifyWith, http::StatusCode,
};

use crate::support::{
    DEFAULT_KID, Fake, Reply, SENTINEL, TestKey, TokenSpec, jwks_json, secs, settle,
};

fn jwks_uri() -> String {
    format!("https://{SENTINEL}/sentinel/well-known/jwks")
}

fn build(fake: &Arc<Fake>, source: VerifyWith) -> AppJwtClient {
    fake.client().verify_with(source).build().unwrap()
}

/// What one `token()` call on a cold client should produce.
#[derive(Debug, PartialEq)]
enum Outcome {
    /// A token, verified or not.
    Ok { verified: bool },
    /// This verification error.
    Verify(VerifyError),
}

struct Case {
    name: &'static str,
    source: VerifyWith,
    /// The first token answer.
    spec: TokenSpec,
    expected: Outcome,
    /// Key set requests made.
    jwks_fetches: usize,
}

/// One cold `token()` per case: its outcome, exactly one token request
/// (nothing refused is retried), and the key set requests.
async fn check(case: Case) {
    let fake = Fake::new();
    fake.script_fetches([Reply::Token(case.spec)]);
    let client = build(&fake, case.source);
    let outcome = match client.token().await {
        Ok(jwt) => Outcome::Ok {
            verified: jwt.is_verified(),
        },
        Err(Error::Verify(e)) => Outcome::Verify(e),
        Err(other) => panic!("{}: unexpected error {other:?}", case.name),
    };
    assert_eq!(outcome, case.expected, "{}", case.name);
    assert_eq!(fake.fetches(), 1, "{}: token requests", case.name);
    assert_eq!(
        fake.jwks_fetches(),
        case.jwks_fetches,
        "{}: key set requests",
        case.name
    );
}

fn spec(f: impl FnOnce(&mut TokenSpec)) -> TokenSpec {
    let mut s = TokenSpec::default();
    f(&mut s);
    s
}

#[tokio::test]
async fn each_source_accepts_its_keys_and_refuses_others() {
    let key_a = || VerifyWith::Key(TestKey::A.verifier());
    let algorithm = |alg: &str| {
        Outcome::Verify(VerifyError::Algorithm {
            found: alg.to_owned(),
        })
    };
    let cases = [
        Case {
            name: "key: signed by it",
            source: key_a(),
            spec: TokenSpec::default(),
            expected: Outcome::Ok { verified: true },
            jwks_fetches: 0,
        },
        Case {
            name: "key: signed by another key",
            source: key_a(),
            spec: spec(|s| s.key = Some(TestKey::B)),
            expected: Outcome::Verify(VerifyError::BadSignature),
            jwks_fetches: 0,
        },
        Case {
            name: "key: one bit flipped",
            source: key_a(),
            spec: spec(|s| s.tamper = true),
            expected: Outcome::Verify(VerifyError::BadSignature),
            jwks_fetches: 0,
        },
        Case {
            name: "key: alg none",
            source: key_a(),
            spec: spec(|s| s.alg = "none".into()),
            expected: algorithm("none"),
            jwks_fetches: 0,
        },
        Case {
            name: "key: alg HS256",
            source: key_a(),
            spec: spec(|s| s.alg = "HS256".into()),
            expected: algorithm("HS256"),
            jwks_fetches: 0,
        },
        Case {
            name: "liveperson v1: signed by a test key",
            source: VerifyWith::LivePersonV1,
            spec: TokenSpec::default(),
            expected: Outcome::Verify(VerifyError::BadSignature),
            jwks_fetches: 0,
        },
        Case {
            name: "liveperson v1: alg none",
            source: VerifyWith::LivePersonV1,
            spec: spec(|s| s.alg = "none".into()),
            expected: algorithm("none"),
            jwks_fetches: 0,
        },
        Case {
            name: "jwks: signed by the published key",
            source: VerifyWith::Jwks,
            spec: TokenSpec::default(),
            expected: Outcome::Ok { verified: true },
            jwks_fetches: 1,
        },
        Case {
            name: "jwks: published kid, other key",
            source: VerifyWith::Jwks,
            spec: spec(|s| s.key = Some(TestKey::B)),
            expected: Outcome::Verify(VerifyError::BadSignature),
            jwks_fetches: 1,
        },
        Case {
            name: "jwks: one bit flipped",
            source: VerifyWith::Jwks,
            spec: spec(|s| s.tamper = true),
            expected: Outcome::Verify(VerifyError::BadSignature),
            jwks_fetches: 1,
        },
        Case {
            // The set was just fetched: no refetch for the unknown kid.
            name: "jwks: unknown kid on a fresh set",
            source: VerifyWith::Jwks,
            spec: spec(|s| s.kid = Some("appjwt-01-01-30".into())),
            expected: Outcome::Verify(VerifyError::UnknownKeyId {
                kid: Some("appjwt-01-01-30".into()),
            }),
            jwks_fetches: 1,
        },
        Case {
            name: "jwks: alg HS256",
            source: VerifyWith::Jwks,
            spec: spec(|s| s.alg = "HS256".into()),
            expected: algorithm("HS256"),
            jwks_fetches: 1,
        },
        Case {
            name: "key set: kid selects key b",
            source: VerifyWith::KeySet(
                Jwks::from_json(&jwks_json(&[(TestKey::A, "a"), (TestKey::B, "b")])).unwrap(),
            ),
            spec: spec(|s| {
                s.key = Some(TestKey::B);
                s.kid = Some("b".into());
            }),
            expected: Outcome::Ok { verified: true },
            jwks_fetches: 0,
        },
        Case {
            name: "key set: unknown kid, never fetched",
            source: VerifyWith::KeySet(Jwks::from_json(&jwks_json(&[(TestKey::A, "a")])).unwrap()),
            spec: spec(|s| s.kid = Some("c".into())),
            expected: Outcome::Verify(VerifyError::UnknownKeyId {
                kid: Some("c".into()),
            }),
            jwks_fetches: 0,
        },
        Case {
            name: "none: tampered, other key",
            source: VerifyWith::None,
            spec: spec(|s| {
                s.key = Some(TestKey::B);
                s.tamper = true;
            }),
            expected: Outcome::Ok { verified: false },
            jwks_fetches: 0,
        },
    ];
    for case in cases {
        check(case).await;
    }
}

#[tokio::test]
async fn unverified_tokens_must_still_be_well_formed_and_valid() {
    // `None` skips the signature only: the claims are still checked.
    let fake = Fake::new();
    fake.script_fetches([Reply::Token(spec(|s| s.alg = "none".into()))]);
    let client = build(&fake, VerifyWith::None);
    let err = client.token().await.unwrap_err();
    assert!(matches!(err, Error::Validation(_)), "{err:?}");
}

fn no_memory() -> lp_appjwt::FailureMemory {
    lp_appjwt::FailureMemory {
        rejection_initial: Duration::ZERO,
        rejection_max: Duration::ZERO,
    }
}

#[tokio::test(start_paused = true)]
async fn key_set_is_fetched_once_and_cached() {
    let fake = Fake::new();
    let client = fake
        .client()
        .verify_with(VerifyWith::Jwks)
        .jwks_refresh_interval(secs(100_000))
        .build()
        .unwrap();
    client.token().await.unwrap();
    assert_eq!(fake.jwks_fetches(), 1);
    assert_eq!(*fake.jwks_uris.lock().unwrap(), [jwks_uri()]);

    // New tokens (expiry, invalidation) are checked against the cached set.
    tokio::time::advance(secs(3600)).await;
    client.token().await.unwrap();
    client.invalidate();
    client.token().await.unwrap();
    assert_eq!(fake.fetches(), 3);
    assert_eq!(fake.jwks_fetches(), 1);
}

#[tokio::test(start_paused = true)]
async fn api_v2_verifies_against_the_key_set_by_default() {
    let fake = Fake::with_version(ApiVersion::V2);
    let client = fake.bare_client().build().unwrap();
    assert!(matches!(client.verify_with(), VerifyWith::Jwks));
    assert!(client.token().await.unwrap().is_verified());
    assert_eq!(fake.jwks_fetches(), 1);
}

#[tokio::test(start_paused = true)]
async fn api_v1_verifies_against_liveperson_key_by_default() {
    let fake = Fake::new();
    let client = fake.bare_client().build().unwrap();
    assert!(matches!(client.verify_with(), VerifyWith::LivePersonV1));
    // The fake does not hold LivePerson's private key.
    let err = client.token().await.unwrap_err();
    assert!(
        matches!(err, Error::Verify(VerifyError::BadSignature)),
        "{err:?}"
    );
    assert_eq!(fake.jwks_fetches(), 0);
}

#[tokio::test(start_paused = true)]
async fn rotation_is_followed_with_one_refetch() {
    let fake = Fake::new();
    let client = build(&fake, VerifyWith::Jwks);
    let first = client.token().await.unwrap();
    assert_eq!(first.header().kid.as_deref(), Some(DEFAULT_KID));

    fake.rotate_to(TestKey::B, "appjwt-02-02-20");
    client.invalidate();
    let second = client.token().await.unwrap();
    assert_eq!(second.header().kid.as_deref(), Some("appjwt-02-02-20"));
    assert_eq!(fake.jwks_fetches(), 2);
    assert_eq!(fake.fetches(), 2);

    // The refreshed set serves the next tokens; the only other fetch is
    // the scheduled one an hour after the last.
    tokio::time::advance(secs(3599)).await;
    client.token().await.unwrap();
    assert_eq!(fake.jwks_fetches(), 2);
    tokio::time::advance(secs(2)).await;
    settle().await;
    assert_eq!(fake.jwks_fetches(), 3);
}

#[tokio::test(start_paused = true)]
async fn unknown_kids_refetch_at_most_once_per_interval() {
    let fake = Fake::new();
    let client = fake
        .client()
        .verify_with(VerifyWith::Jwks)
        .invalidate_min_interval(secs(0))
        // These tests are about the key set: refused tokens are not
        // remembered here.
        .failure_memory(no_memory())
        .build()
        .unwrap();
    client.token().await.unwrap();
    assert_eq!(fake.jwks_fetches(), 1);

    // Sentinel signs with a key it has not published (yet).
    fake.sign_with(TestKey::B, "unpublished");
    let unknown = VerifyError::UnknownKeyId {
        kid: Some("unpublished".into()),
    };
    // (seconds to wait first, key set requests so far after the call)
    let steps = [(0, 2), (0, 2), (10, 2), (19, 2), (1, 3), (5, 3)];
    for (i, (wait, expected_jwks)) in steps.into_iter().enumerate() {
        tokio::time::advance(secs(wait)).await;
        client.invalidate();
        let err = client.token().await.unwrap_err();
        assert!(
            matches!(&err, Error::Verify(e) if *e == unknown),
            "step {i}: {err:?}"
        );
        assert!(!err.is_retryable());
        assert_eq!(fake.jwks_fetches(), expected_jwks, "step {i}");
    }
    // Each refused token was asked for once.
    assert_eq!(fake.fetches(), 1 + steps.len());

    // Once published, the next refetch allowed finds it.
    fake.publish(&[(TestKey::A, DEFAULT_KID), (TestKey::B, "unpublished")]);
    tokio::time::advance(secs(30)).await;
    let jwt = client.token().await.unwrap();
    assert_eq!(jwt.header().kid.as_deref(), Some("unpublished"));
    assert_eq!(fake.jwks_fetches(), 4);
}

#[tokio::test(start_paused = true)]
async fn the_refetch_interval_is_configurable() {
    let fake = Fake::new();
    let client = fake
        .client()
        .verify_with(VerifyWith::Jwks)
        .jwks_refetch_min_interval(secs(300))
        .invalidate_min_interval(secs(0))
        // These tests are about the key set: refused tokens are not
        // remembered here.
        .failure_memory(no_memory())
        .build()
        .unwrap();
    client.token().await.unwrap();
    fake.sign_with(TestKey::B, "unpublished");
    for (wait, expected_jwks) in [(0, 2), (60, 2), (239, 2), (1, 3)] {
        tokio::time::advance(secs(wait)).await;
        client.invalidate();
        assert!(client.token().await.is_err());
        assert_eq!(fake.jwks_fetches(), expected_jwks, "after {wait} s");
    }
}

#[tokio::test(start_paused = true)]
async fn a_bad_signature_is_not_cached_nor_retried() {
    let fake = Fake::new();
    fake.script_fetches([Reply::Token(spec(|s| s.tamper = true))]);
    let client = build(&fake, VerifyWith::Jwks);
    let err = client.token().await.unwrap_err();
    assert!(
        matches!(err, Error::Verify(VerifyError::BadSignature)),
        "{err:?}"
    );
    assert!(!err.is_retryable());
    assert_eq!(err.status(), None);
    assert_eq!(
        err.to_string(),
        "access token signature refused: signature does not match"
    );
    assert_eq!(fake.fetches(), 1);

    // Nothing was cached; the refusal is remembered for 5 s, then the
    // next call asks again and gets a good one.
    let err = client.token().await.unwrap_err();
    assert!(matches!(err, Error::Backoff { .. }), "{err:?}");
    assert_eq!(fake.fetches(), 1);
    tokio::time::advance(secs(5)).await;
    let jwt = client.token().await.unwrap();
    assert!(jwt.is_verified());
    assert_eq!(fake.fetches(), 2);
    assert_eq!(fake.jwks_fetches(), 1);
}

#[tokio::test(start_paused = true)]
async fn ten_thousand_callers_cause_one_key_set_request() {
    let fake = Fake::new();
    fake.set_latency(secs(1));
    let client = build(&fake, VerifyWith::Jwks);
    let calls: Vec<_> = (0..10_000)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.token().await.map(|t| t.secret().to_owned()) })
        })
        .collect();
    let mut tokens = Vec::new();
    for call in calls {
        tokens.push(call.await.unwrap().unwrap());
    }
    tokens.dedup();
    assert_eq!(tokens.len(), 1);
    assert_eq!(fake.fetches(), 1);
    assert_eq!(fake.jwks_fetches(), 1);
}

#[tokio::test(start_paused = true)]
async fn key_set_failures() {
    /// The key set answers `replies`; the outcome of one `token()` call
    /// and the requests made.
    async fn check(replies: Vec<Reply>, expected: Result<(), fn(&Error) -> bool>, fetches: usize) {
        let fake = Fake::new();
        let n = replies.len();
        fake.script_jwks(replies);
        let client = fake
            .client()
            .verify_with(VerifyWith::Jwks)
            .retry_policy(lp_appjwt::RetryPolicy {
                max_attempts: 3,
                ..lp_appjwt::RetryPolicy::default()
            })
            .build()
            .unwrap();
        let got = client.token().await;
        match (&got, expected) {
            (Ok(_), Ok(())) => {}
            // An attempt may find the key set's failure still remembered
            // (Error::Backoff): what counts is the failure it remembers.
            (Err(e), Err(matches)) => assert!(matches(e.root()), "{e:?}"),
            _ => panic!("{n} replies: got {got:?}"),
        }
        assert_eq!(fake.fetches(), fetches, "token requests");
    }
    let status = |code: u16| Reply::Status(code, vec![], String::new());
    // 5xx and connection failures are retried (with a new token). The
    // first attempt asks for the set alongside the token, so that a cold
    // start costs no round trip more; once the set has failed it is got
    // first, so a failing set costs one token request in all, however
    // many attempts follow.
    check(vec![status(503)], Ok(()), 2).await;
    check(
        vec![Reply::Fail(lp_appjwt::TransportError::connect())],
        Ok(()),
        2,
    )
    .await;
    check(
        vec![status(500), status(500), status(500)],
        Err(|e| {
            matches!(
                e,
                Error::Jwks(JwksError::Status { status, .. }) if *status == StatusCode::INTERNAL_SERVER_ERROR
            ) && e.status() == Some(StatusCode::INTERNAL_SERVER_ERROR)
        }),
        1,
    )
    .await;
    // A missing or unusable set is not.
    check(
        vec![status(404)],
        Err(|e| matches!(e, Error::Jwks(JwksError::Status { .. })) && !e.is_retryable()),
        1,
    )
    .await;
    check(
        vec![Reply::Status(200, vec![], r#"{"keys":[]}"#.into())],
        Err(|e| {
            matches!(e, Error::Jwks(JwksError::Keys(_)))
                && e.to_string()
                    == "cannot get the verification keys: key set is not usable: JWKS holds no RS256 signing key"
        }),
        1,
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_key_set_at_another_address() {
    let fake = Fake::new();
    let uri: lp_appjwt::http::Uri = "https://keys.example.com/keys/well-known/jwks"
        .parse()
        .unwrap();
    let client = build(&fake, VerifyWith::JwksUri(uri.clone()));
    client.token().await.unwrap();
    assert_eq!(*fake.jwks_uris.lock().unwrap(), [uri.to_string()]);
}

#[test]
fn sources_have_short_labels() {
    fn check(source: VerifyWith, expected: &str) {
        assert_eq!(source.to_string(), expected);
    }
    check(VerifyWith::LivePersonV1, "liveperson-v1");
    check(VerifyWith::Jwks, "jwks");
    check(
        VerifyWith::JwksUri("https://h/k".parse().unwrap()),
        "jwks https://h/k",
    );
    check(VerifyWith::Key(TestKey::A.verifier()), "key");
    check(VerifyWith::KeySet(Jwks::default()), "key-set");
    check(VerifyWith::None, "none");
}
