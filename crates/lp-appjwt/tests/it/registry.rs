//! `AppJwtRegistry`: many accounts in one process over one transport.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lp_appjwt::{
    AccountId, AppJwtRegistry, ClientId, ClientSecret, CredentialError, Credentials, Host,
    RegistryError, TransportError, VerifyWith,
};
use proptest::prelude::*;

use crate::support::{TestClock, TestKey, TokenSpec, jwks_json, make_token};

const SENTINEL: &str = "va.sentinel.liveperson.net";

/// Requests per account and kind, as the fake saw them.
#[derive(Default)]
struct Seen {
    lookups: HashMap<String, usize>,
    tokens: HashMap<String, usize>,
    jwks: usize,
}

/// Domain API, Sentinel and its JWKS for any account: the token is for
/// the account in the path and the client id `client-{account}`, signed
/// with test key A when `signed`, else unsigned.
fn fake(clock: TestClock, signed: bool) -> (Arc<Mutex<Seen>>, impl lp_appjwt::Transport) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let counts = Arc::clone(&seen);
    let transport = move |req: http::Request<Vec<u8>>| {
        let counts = Arc::clone(&counts);
        async move {
            let path = req.uri().path().to_owned();
            let account = path
                .split('/')
                .skip_while(|p| *p != "account")
                .nth(1)
                .unwrap_or_default()
                .to_owned();
            let body = if path.ends_with("/well-known/jwks") {
                counts.lock().unwrap().jwks += 1;
                jwks_json(&[(TestKey::A, "k1")])
            } else if path.contains("/service/") {
                *counts
                    .lock()
                    .unwrap()
                    .lookups
                    .entry(account.clone())
                    .or_default() += 1;
                serde_json::json!({"baseURIs": [
                    {"service": "sentinel", "account": account, "baseURI": SENTINEL}
                ]})
                .to_string()
            } else {
                let n = {
                    let mut c = counts.lock().unwrap();
                    let n = c.tokens.entry(account.clone()).or_default();
                    *n += 1;
                    *n
                };
                let spec = TokenSpec {
                    aud: account.clone(),
                    azp: format!("client-{account}"),
                    kid: Some("k1".to_owned()),
                    ..TokenSpec::default()
                };
                let token = if signed {
                    make_token(&spec, clock.now_secs(), n, TestKey::A, "k1")
                } else {
                    let claims = lp_jwt::AppJwtClaims {
                        aud: Some(lp_jwt::Audience::One(account.clone())),
                        azp: Some(format!("client-{account}")),
                        iss: Some("Sentinel".into()),
                        exp: lp_jwt::NumericDate::from_secs(clock.now_secs() + 3600),
                        iat: lp_jwt::NumericDate::from_secs(clock.now_secs()),
                        ..Default::default()
                    };
                    let input =
                        lp_jwt::encode_signing_input(&lp_jwt::Header::new("RS256"), &claims);
                    lp_jwt::assemble(&input, b"unsigned")
                };
                format!(r#"{{"access_token":"{token}","token_type":"Bearer","expires_in":3600}}"#)
            };
            Ok::<_, TransportError>(
                http::Response::builder()
                    .header("content-type", "application/json")
                    .body(body.into_bytes())
                    .unwrap(),
            )
        }
    };
    (seen, transport)
}

fn account(n: usize) -> AccountId {
    AccountId::new((10_000_000 + n).to_string()).unwrap()
}

fn credentials(account: &AccountId) -> Credentials {
    Credentials {
        client_id: ClientId::new(format!("client-{account}")).unwrap(),
        secret: ClientSecret::new(format!("secret-{account}")).unwrap(),
    }
}

fn registry(signed: bool, max: usize) -> (Arc<Mutex<Seen>>, AppJwtRegistry) {
    let clock = TestClock::new();
    let (seen, transport) = fake(clock, signed);
    let registry = AppJwtRegistry::builder()
        .csds_host(Host::parse("api.liveperson.net").unwrap())
        .transport(transport)
        .clock(move || clock.now())
        .verify_with(if signed {
            VerifyWith::Jwks
        } else {
            VerifyWith::None
        })
        .max_accounts(max)
        .credential_source(|account: AccountId| async move { Ok(Some(credentials(&account))) })
        .configure(|b| b.refresh_jitter(Duration::ZERO))
        .build()
        .unwrap();
    (seen, registry)
}

#[tokio::test(start_paused = true)]
async fn a_thousand_accounts_make_a_thousand_token_requests() {
    let (seen, registry) = registry(false, 10_000);
    for round in 0..2 {
        for n in 0..1000 {
            let acc = account(n);
            let jwt = registry.token(&acc).await.unwrap();
            assert_eq!(
                jwt.claims().azp.as_deref(),
                Some(format!("client-{acc}").as_str()),
                "round {round}"
            );
        }
    }
    let seen = seen.lock().unwrap();
    assert_eq!(seen.tokens.len(), 1000);
    assert!(
        seen.tokens.values().all(|n| *n == 1),
        "one token request per account"
    );
    assert!(
        seen.lookups.values().all(|n| *n <= 1),
        "at most one lookup per account"
    );
    assert_eq!(registry.len(), 1000);
}

#[tokio::test(start_paused = true)]
async fn one_key_set_serves_every_account_of_a_sentinel_host() {
    let (seen, registry) = registry(true, 100);
    for n in 0..20 {
        let jwt = registry.token(&account(n)).await.unwrap();
        assert!(jwt.is_verified());
    }
    assert_eq!(seen.lock().unwrap().jwks, 1);
}

#[tokio::test(start_paused = true)]
async fn concurrent_first_calls_make_one_client_and_one_request() {
    let (seen, registry) = registry(false, 100);
    let calls: Vec<_> = (0..20)
        .map(|_| {
            let registry = registry.clone();
            tokio::spawn(async move {
                registry
                    .token(&account(7))
                    .await
                    .map(|t| t.secret().to_owned())
            })
        })
        .collect();
    let mut tokens = Vec::new();
    for c in calls {
        tokens.push(c.await.unwrap().unwrap());
    }
    tokens.dedup();
    assert_eq!(tokens.len(), 1);
    assert_eq!(seen.lock().unwrap().tokens[account(7).as_str()], 1);
}

#[tokio::test(start_paused = true)]
async fn the_least_recently_used_account_is_dropped_and_made_again_on_use() {
    let (seen, registry) = registry(false, 10);
    for n in 0..20 {
        registry.token(&account(n)).await.unwrap();
    }
    assert_eq!(registry.len(), 10);
    // Account 19 is cached, account 0 was dropped: asked again.
    registry.token(&account(19)).await.unwrap();
    registry.token(&account(0)).await.unwrap();
    let seen = seen.lock().unwrap();
    assert_eq!(seen.tokens[account(19).as_str()], 1);
    assert_eq!(seen.tokens[account(0).as_str()], 2);
}

#[tokio::test(start_paused = true)]
async fn added_removed_and_unknown_accounts() {
    let clock = TestClock::new();
    let (seen, transport) = fake(clock, false);
    let registry = AppJwtRegistry::builder()
        .transport(transport)
        .clock(move || clock.now())
        .verify_with(VerifyWith::None)
        .build()
        .unwrap();
    let acc = account(1);
    let err = registry.token(&acc).await.unwrap_err();
    assert!(matches!(err, RegistryError::UnknownAccount(_)), "{err:?}");
    let c = credentials(&acc);
    registry.add(acc.clone(), c.client_id, c.secret);
    registry.token(&acc).await.unwrap();
    assert!(registry.remove(&acc));
    assert!(!registry.remove(&acc));
    let err = registry.token(&acc).await.unwrap_err();
    assert!(matches!(err, RegistryError::UnknownAccount(_)), "{err:?}");
    assert_eq!(seen.lock().unwrap().tokens[acc.as_str()], 1);
    // Neither the secret nor the registry's Debug give the secret away.
    let shown = format!("{registry:?} {err} {err:?}");
    assert!(!shown.contains("secret-"), "{shown}");
}

#[tokio::test(start_paused = true)]
async fn a_failing_credential_source_is_a_typed_error_without_a_request() {
    let clock = TestClock::new();
    let (seen, transport) = fake(clock, false);
    let registry = AppJwtRegistry::builder()
        .transport(transport)
        .clock(move || clock.now())
        .credential_source(|_account: AccountId| async move {
            Err(CredentialError::new("vault answered 503"))
        })
        .build()
        .unwrap();
    let err = registry.token(&account(3)).await.unwrap_err();
    assert!(matches!(err, RegistryError::Credentials { .. }), "{err:?}");
    assert!(err.to_string().contains("vault answered 503"), "{err}");
    assert!(seen.lock().unwrap().tokens.is_empty());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]
    /// Whatever the order and overlap of calls, and however small the
    /// bound, every call gets a token for its own account.
    #[test]
    fn no_call_gets_another_accounts_token(
        calls in proptest::collection::vec(0usize..12, 1..60),
        max in 1usize..8,
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap();
        rt.block_on(async {
            let (_seen, registry) = registry(false, max);
            let handles: Vec<_> = calls.iter().map(|&n| {
                let registry = registry.clone();
                tokio::spawn(async move { (n, registry.token(&account(n)).await) })
            }).collect();
            for h in handles {
                let (n, got) = h.await.unwrap();
                let jwt = got.unwrap();
                let acc = account(n);
                let expected = format!("client-{acc}");
                prop_assert_eq!(jwt.claims().azp.as_deref(), Some(expected.as_str()));
            }
            Ok(())
        })?;
    }
}

/// The status a token request of each listed account gets.
type Statuses = Arc<Mutex<HashMap<String, u16>>>;

/// A registry over [`fake`], except that a token request for an account
/// in `refuse` gets that status (with `Retry-After: 120` for a 429).
fn refusing_registry(max: usize) -> (Arc<Mutex<Seen>>, Statuses, AppJwtRegistry) {
    let clock = TestClock::new();
    let (seen, inner) = fake(clock, false);
    let refuse: Statuses = Arc::default();
    let (inner, statuses, counts) = (Arc::new(inner), Arc::clone(&refuse), Arc::clone(&seen));
    let transport = move |req: http::Request<Vec<u8>>| {
        let (inner, statuses, counts) = (
            Arc::clone(&inner),
            Arc::clone(&statuses),
            Arc::clone(&counts),
        );
        async move {
            let path = req.uri().path().to_owned();
            let refused = statuses
                .lock()
                .unwrap()
                .iter()
                .find(|(a, _)| path.contains(&format!("/account/{a}/app/token")))
                .map(|(a, s)| (a.clone(), *s));
            let Some((account, status)) = refused else {
                return lp_appjwt::Transport::send(&*inner, req).await;
            };
            *counts.lock().unwrap().tokens.entry(account).or_default() += 1;
            let mut answer = http::Response::builder()
                .status(status)
                .header("content-type", "application/json");
            if status == 429 {
                answer = answer.header("retry-after", "120");
            }
            Ok(answer
                .body(br#"{"error":"invalid_client"}"#.to_vec())
                .unwrap())
        }
    };
    let registry = AppJwtRegistry::builder()
        .csds_host(Host::parse("api.liveperson.net").unwrap())
        .transport(transport)
        .clock(move || clock.now())
        .verify_with(VerifyWith::None)
        .max_accounts(max)
        .credential_source(|account: AccountId| async move { Ok(Some(credentials(&account))) })
        .build()
        .unwrap();
    (seen, refuse, registry)
}

fn is_backoff(err: &RegistryError) -> bool {
    matches!(err, RegistryError::Client(lp_appjwt::Error::Backoff { .. }))
}

#[tokio::test(start_paused = true)]
async fn an_evicted_or_removed_account_still_waits_as_it_was_told() {
    let (seen, refuse, registry) = refusing_registry(1);
    let a = account(1);
    refuse.lock().unwrap().insert(a.to_string(), 429);
    let err = registry.token(&a).await.unwrap_err();
    assert!(!is_backoff(&err), "the server's own answer first: {err:?}");
    assert!(is_backoff(&registry.token(&a).await.unwrap_err()));
    // Another account takes the only place: account 1's client is dropped,
    // and its next one must still wait out the 120 s.
    registry.token(&account(2)).await.unwrap();
    assert!(
        is_backoff(&registry.token(&a).await.unwrap_err()),
        "after eviction"
    );
    // Removed and added back with new credentials: a 429 holds for them.
    assert!(registry.remove(&a));
    let c = credentials(&a);
    registry.add(a.clone(), c.client_id, c.secret);
    assert!(
        is_backoff(&registry.token(&a).await.unwrap_err()),
        "after add"
    );
    assert_eq!(
        seen.lock().unwrap().tokens[a.as_str()],
        1,
        "one request in all"
    );
    // Once the wait is over the account is asked for again.
    refuse.lock().unwrap().clear();
    tokio::time::advance(Duration::from_secs(121)).await;
    registry.token(&a).await.unwrap();
    assert_eq!(seen.lock().unwrap().tokens[a.as_str()], 2);
}

#[tokio::test(start_paused = true)]
async fn new_credentials_are_tried_at_once_after_a_refusal_of_the_old() {
    let (seen, refuse, registry) = refusing_registry(10);
    let a = account(1);
    refuse.lock().unwrap().insert(a.to_string(), 401);
    registry.token(&a).await.unwrap_err();
    assert!(
        is_backoff(&registry.token(&a).await.unwrap_err()),
        "401 remembered"
    );
    // Evicted or removed, the refusal is kept for the same credentials...
    assert!(registry.remove(&a));
    assert!(
        is_backoff(&registry.token(&a).await.unwrap_err()),
        "after remove"
    );
    // ...but a new secret gets its chance at once.
    refuse.lock().unwrap().clear();
    let c = credentials(&a);
    registry.add(a.clone(), c.client_id, c.secret);
    registry.token(&a).await.unwrap();
    assert_eq!(seen.lock().unwrap().tokens[a.as_str()], 2);
}

#[tokio::test(start_paused = true)]
async fn what_the_credential_source_could_not_answer_is_remembered_for_a_while() {
    let clock = TestClock::new();
    let (seen, transport) = fake(clock, false);
    let asked: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let counts = Arc::clone(&asked);
    let registry = AppJwtRegistry::builder()
        .transport(transport)
        .clock(move || clock.now())
        .verify_with(VerifyWith::None)
        .credential_source(move |account: AccountId| {
            *counts
                .lock()
                .unwrap()
                .entry(account.to_string())
                .or_default() += 1;
            async move {
                match account.as_str() {
                    "10000001" => Err(CredentialError::new("vault answered 503")),
                    _ => Ok(None),
                }
            }
        })
        .build()
        .unwrap();
    let (failing, unknown) = (account(1), account(2));
    for _ in 0..10 {
        let err = registry.token(&failing).await.unwrap_err();
        assert!(err.to_string().contains("vault answered 503"), "{err}");
        let err = registry.token(&unknown).await.unwrap_err();
        assert!(matches!(err, RegistryError::UnknownAccount(_)), "{err:?}");
    }
    let times = |a: &AccountId| asked.lock().unwrap()[a.as_str()];
    assert_eq!(
        (times(&failing), times(&unknown)),
        (1, 1),
        "asked once each"
    );
    // After the default 5 s the source is asked again.
    tokio::time::advance(Duration::from_secs(6)).await;
    registry.token(&failing).await.unwrap_err();
    assert_eq!(times(&failing), 2);
    // Credentials added by hand end it at once, without the source.
    let c = credentials(&unknown);
    registry.add(unknown.clone(), c.client_id, c.secret);
    registry.token(&unknown).await.unwrap();
    assert_eq!(times(&unknown), 1);
    assert_eq!(seen.lock().unwrap().tokens[unknown.as_str()], 1);
}

#[tokio::test(start_paused = true)]
async fn a_zero_credential_retry_asks_the_source_every_time() {
    let asked = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counts = Arc::clone(&asked);
    let registry = AppJwtRegistry::builder()
        .transport(|_req: http::Request<Vec<u8>>| async {
            Err::<http::Response<Vec<u8>>, _>(TransportError::connect())
        })
        .credential_retry(Duration::ZERO)
        .credential_source(move |_account: AccountId| {
            counts.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async { Ok(None) }
        })
        .build()
        .unwrap();
    for _ in 0..3 {
        registry.token(&account(1)).await.unwrap_err();
    }
    assert_eq!(asked.load(std::sync::atomic::Ordering::SeqCst), 3);
}
