//! Signature verification against the emulator's own keys: its JWKS, its
//! bad-signature fault, and key rotation while callers keep asking.

use std::sync::Arc;
use std::time::Duration;

use lp_appjwt::{
    AccountId, ApiVersion, AppJwtClient, AppJwtClientBuilder, ClientId, ClientSecret, Error, Jwks,
    Rs256Verifier, VerifyError, VerifyWith,
};
use lp_emulator::{EmulatorHandle, Endpoint, Fault, SigningKey};

use crate::support::{self, ACCOUNT, CLIENT_ID, SECRET};

/// A builder like `support::client_builder` but with the default
/// verification source.
fn default_verification(emu: &EmulatorHandle) -> AppJwtClientBuilder {
    let account = AccountId::new(ACCOUNT).unwrap_or_else(|e| panic!("{e}"));
    let client_id = ClientId::new(CLIENT_ID).unwrap_or_else(|e| panic!("{e}"));
    let secret = ClientSecret::new(SECRET).unwrap_or_else(|e| panic!("{e}"));
    AppJwtClient::builder(account, client_id, secret)
        .csds_host(emu.host())
        .transport(support::transport(emu))
        .retry_policy(support::fast_retries())
}

fn build(builder: AppJwtClientBuilder) -> AppJwtClient {
    builder.build().unwrap_or_else(|e| panic!("client: {e}"))
}

async fn new_key() -> SigningKey {
    match tokio::task::spawn_blocking(SigningKey::generate).await {
        Ok(Ok(key)) => key,
        other => panic!("key generation: {other:?}"),
    }
}

fn kid(jwt: &lp_appjwt::AppJwt) -> String {
    jwt.header().kid.clone().unwrap_or_default()
}

/// What one cold `token()` should give with a source, and the requests.
struct Case {
    name: &'static str,
    builder: fn(&EmulatorHandle) -> AppJwtClientBuilder,
    /// `Ok(verified)` or the verification error.
    expected: Result<bool, VerifyError>,
    tokens: u64,
    jwks: u64,
}

async fn check(case: Case) {
    let emu = support::start(support::emulator()).await;
    let client = build((case.builder)(&emu));
    let got = match client.token().await {
        Ok(jwt) => Ok(jwt.is_verified()),
        Err(Error::Verify(e)) => Err(e),
        Err(other) => panic!("{}: {other:?}", case.name),
    };
    assert_eq!(got, case.expected, "{}", case.name);
    assert_eq!(
        emu.request_count(Endpoint::Token),
        case.tokens,
        "{}",
        case.name
    );
    assert_eq!(
        emu.request_count(Endpoint::Jwks),
        case.jwks,
        "{}",
        case.name
    );
}

#[tokio::test]
async fn sources_against_the_emulator() {
    let cases = [
        Case {
            name: "jwks, as the tests use it",
            builder: support::client_builder,
            expected: Ok(true),
            tokens: 1,
            jwks: 1,
        },
        Case {
            name: "api v2 defaults to the jwks",
            builder: |emu| default_verification(emu).api_version(ApiVersion::V2),
            expected: Ok(true),
            tokens: 1,
            jwks: 1,
        },
        Case {
            name: "api v2 with a fixed sentinel host",
            builder: |emu| {
                default_verification(emu)
                    .api_version(ApiVersion::V2)
                    .sentinel_host(emu.host())
            },
            expected: Ok(true),
            tokens: 1,
            jwks: 1,
        },
        Case {
            // The emulator does not hold LivePerson's private key: this is
            // why clients of the emulator must choose the JWKS.
            name: "api v1 defaults to liveperson's key",
            builder: default_verification,
            expected: Err(VerifyError::BadSignature),
            tokens: 1,
            jwks: 0,
        },
        Case {
            name: "the emulator's key given as spki der",
            builder: |emu| {
                let key = Rs256Verifier::from_spki_der(&emu.public_key_spki_der())
                    .unwrap_or_else(|e| panic!("{e}"));
                default_verification(emu).verify_with(VerifyWith::Key(key))
            },
            expected: Ok(true),
            tokens: 1,
            jwks: 0,
        },
        Case {
            name: "the emulator's jwks given as a document",
            builder: |emu| {
                let set = Jwks::from_json(&emu.jwks_json()).unwrap_or_else(|e| panic!("{e}"));
                default_verification(emu).verify_with(VerifyWith::KeySet(set))
            },
            expected: Ok(true),
            tokens: 1,
            jwks: 0,
        },
        Case {
            name: "off",
            builder: |emu| default_verification(emu).verify_with(VerifyWith::None),
            expected: Ok(false),
            tokens: 1,
            jwks: 0,
        },
    ];
    for case in cases {
        check(case).await;
    }
}

#[tokio::test]
async fn emulator_tokens_verify_and_the_key_set_is_cached() {
    let emu = support::start(support::emulator()).await;
    let client = support::client(&emu);
    let first = client.token().await.unwrap_or_else(|e| panic!("{e}"));
    assert!(first.is_verified());
    assert_eq!(kid(&first), emu.current_kid());
    client.invalidate();
    let second = client.token().await.unwrap_or_else(|e| panic!("{e}"));
    assert!(second.is_verified());
    assert_eq!(emu.request_count(Endpoint::Token), 2);
    assert_eq!(emu.request_count(Endpoint::Jwks), 1);
}

#[tokio::test]
async fn a_bad_signature_is_a_typed_error_after_one_request() {
    let emu = support::start(support::emulator()).await;
    emu.inject(Endpoint::Token, Fault::BadSignatureToken, 1);
    let client = support::client_builder(&emu)
        .failure_memory(lp_appjwt::FailureMemory {
            rejection_initial: Duration::from_millis(300),
            rejection_max: Duration::from_millis(300),
        })
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let err = client.token().await.err();
    assert!(
        matches!(err, Some(Error::Verify(VerifyError::BadSignature))),
        "{err:?}"
    );
    assert!(err.is_some_and(|e| !e.is_retryable()));
    assert_eq!(emu.request_count(Endpoint::Token), 1);

    // Remembered: no request during the backoff.
    let err = client.token().await.err();
    assert!(matches!(err, Some(Error::Backoff { .. })), "{err:?}");
    assert_eq!(emu.request_count(Endpoint::Token), 1);
    // Not cached: after the backoff the next call asks again and gets a
    // good token.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let jwt = client.token().await.unwrap_or_else(|e| panic!("{e}"));
    assert!(jwt.is_verified());
    assert_eq!(emu.request_count(Endpoint::Token), 2);
    assert_eq!(emu.request_count(Endpoint::Jwks), 1);
}

#[tokio::test]
async fn a_failing_key_set_is_retried() {
    let emu = support::start(support::emulator()).await;
    emu.inject(
        Endpoint::Jwks,
        Fault::Status {
            status: 503,
            retry_after: None,
            body: None,
        },
        1,
    );
    let client = support::client(&emu);
    let jwt = client.token().await.unwrap_or_else(|e| panic!("{e}"));
    assert!(jwt.is_verified());
    assert_eq!(emu.request_count(Endpoint::Jwks), 2);
    // A cold start asks for the key set alongside the token; after the
    // set failed, the retry gets it first, then the token: its failure
    // cost one token request.
    assert_eq!(emu.request_count(Endpoint::Token), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_mid_run_is_followed_without_errors() {
    let emu = support::start(support::emulator()).await;
    let client = support::client(&emu);
    let old = kid(&client.token().await.unwrap_or_else(|e| panic!("{e}")));
    let next = new_key().await;

    // Callers keep asking while the emulator rotates and the client is
    // told (as by a 401) that its token is no longer good.
    let rotated = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let callers: Vec<_> = (0..20)
        .map(|_| {
            let client = client.clone();
            let rotated = Arc::clone(&rotated);
            tokio::spawn(async move {
                let mut kids = Vec::new();
                for _ in 0..20 {
                    let jwt = client.token().await?;
                    kids.push((rotated.load(std::sync::atomic::Ordering::SeqCst), kid(&jwt)));
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Ok::<_, Error>(kids)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(30)).await;
    emu.rotate_key_to(next);
    let new = emu.current_kid();
    assert_ne!(old, new);
    rotated.store(true, std::sync::atomic::Ordering::SeqCst);
    client.invalidate();

    for caller in callers {
        let kids = match caller.await {
            Ok(Ok(kids)) => kids,
            other => panic!("a caller saw {other:?}"),
        };
        // Every token handed out is one of the two, in order.
        assert!(kids.iter().all(|(_, k)| *k == old || *k == new), "{kids:?}");
        assert!(kids.windows(2).all(|w| !(w[0].1 == new && w[1].1 == old)));
    }
    let jwt = client.token().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(kid(&jwt), new);
    assert_eq!(emu.request_count(Endpoint::Token), 2);
    assert_eq!(emu.request_count(Endpoint::Jwks), 2);
}

#[tokio::test]
async fn rotation_is_followed_at_expiry() {
    let emu = support::start(support::emulator().lifetime(Duration::from_secs(2))).await;
    // No refresh ahead (and no jitter, which would move a background
    // refresh into the token's life): the token is fetched at expiry.
    let client = build(
        support::client_builder(&emu)
            .refresh_ahead(Duration::ZERO)
            .refresh_jitter(Duration::ZERO),
    );
    let old = kid(&client.token().await.unwrap_or_else(|e| panic!("{e}")));
    emu.rotate_key_to(new_key().await);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let jwt = client.token().await.unwrap_or_else(|e| panic!("{e}"));
    assert_ne!(kid(&jwt), old);
    assert_eq!(kid(&jwt), emu.current_kid());
    assert_eq!(emu.request_count(Endpoint::Token), 2);
    assert_eq!(emu.request_count(Endpoint::Jwks), 2);
}
