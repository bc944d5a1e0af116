//! The blocking client: the same behaviour as the async one, from plain
//! threads, on a runtime of its own.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use lp_appjwt::blocking::{self, AppJwtClient, AppJwtClientBuilder};
use lp_appjwt::{AccountId, ClientId, ClientSecret, Error, TransportError, VerifyWith};
use lp_oauth::TokenError;

use crate::support::{ACCOUNT, CLIENT_ID, Fake, Reply, SECRET, assert_error_clean};

fn client(fake: &Arc<Fake>) -> AppJwtClient {
    AppJwtClientBuilder::from(fake.client()).build().unwrap()
}

#[test]
fn calls_block_until_done_and_share_the_cache() {
    let fake = Fake::new();
    let client = client(&fake);
    assert_eq!(client.account().as_str(), ACCOUNT);
    assert_eq!(client.client_id().as_str(), CLIENT_ID);

    let first = client.token().unwrap();
    assert!(first.is_verified());
    assert_eq!(client.token().unwrap().secret(), first.secret());
    assert_eq!((fake.lookups(), fake.fetches()), (1, 1));
    assert!(client.domains().unwrap().get("sentinel").is_some());

    client.invalidate();
    assert_ne!(client.token().unwrap().secret(), first.secret());
    assert_eq!(fake.fetches(), 2);
}

#[test]
fn threads_calling_at_once_make_one_request() {
    let fake = Fake::new();
    fake.set_latency(Duration::from_millis(100));
    let client = client(&fake);
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let client = client.clone();
            std::thread::spawn(move || client.token().map(|t| t.secret().to_owned()))
        })
        .collect();
    let tokens: Vec<String> = threads
        .into_iter()
        .map(|t| t.join().unwrap().unwrap())
        .collect();
    assert!(tokens.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(fake.fetches(), 1);
}

#[test]
fn errors_are_the_async_clients() {
    let fake = Fake::new();
    fake.script_fetches([Reply::Status(401, vec![], String::new())]);
    let err = client(&fake).token().unwrap_err();
    assert!(
        matches!(
            err,
            blocking::Error::Client(Error::Token(TokenError::Rejected { .. }))
        ),
        "{err:?}"
    );
    assert_error_clean(&err);
}

#[test]
fn builder_setters_reach_the_client() {
    let fake = Fake::new();
    let clock = fake.clock;
    let client = AppJwtClient::builder(
        AccountId::new(ACCOUNT).unwrap(),
        ClientId::new(CLIENT_ID).unwrap(),
        ClientSecret::new(SECRET).unwrap(),
    )
    .transport(fake.transport())
    .clock(move || clock.now())
    .verify_with(VerifyWith::None)
    .sentinel_host(crate::support::SENTINEL.parse().unwrap())
    .build()
    .unwrap();
    assert!(matches!(client.verify_with(), VerifyWith::None));
    assert!(!client.token().unwrap().is_verified());
    // sentinel_host skipped the lookup.
    assert_eq!((fake.lookups(), fake.fetches()), (0, 1));
    assert!(!format!("{client:?}").contains(SECRET));
}

/// Work the client spawns on its runtime goes on between calls: the
/// background refresh the client may start must not wait for the next call.
#[test]
fn spawned_tasks_run_between_calls() {
    let ran = Arc::new(AtomicBool::new(false));
    let seen = Arc::clone(&ran);
    let fake = Fake::new();
    let answering = Arc::clone(&fake);
    let transport = move |req: http::Request<Vec<u8>>| {
        let seen = Arc::clone(&seen);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            seen.store(true, Ordering::SeqCst);
        });
        let inner = answering.transport();
        async move { lp_appjwt::Transport::send(&inner, req).await }
    };
    let client = AppJwtClientBuilder::from(fake.client())
        .transport(transport)
        .build()
        .unwrap();
    client.domains().unwrap();
    assert!(!ran.load(Ordering::SeqCst), "the task ran before its sleep");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !ran.load(Ordering::SeqCst) {
        assert!(Instant::now() < deadline, "the spawned task never ran");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inside_an_async_runtime_calls_are_refused_not_deadlocked() {
    let fake = Fake::new();
    // Building is allowed anywhere.
    let client = client(&fake);
    let check = |err: blocking::Error| {
        assert!(
            matches!(err, blocking::Error::InsideAsyncRuntime),
            "{err:?}"
        );
        assert!(
            err.to_string().contains("use lp_appjwt::AppJwtClient"),
            "{err}"
        );
    };
    check(client.token().unwrap_err());
    check(client.domains().unwrap_err());
    // spawn_blocking and block_in_place threads are the runtime's too.
    let c = client.clone();
    check(
        tokio::task::spawn_blocking(move || c.token().unwrap_err())
            .await
            .unwrap(),
    );
    check(tokio::task::block_in_place(|| client.token().unwrap_err()));
    assert_eq!(fake.lookups(), 0);
    // Calls that do not block are fine, and so is dropping the client.
    client.invalidate();
    drop(client);
}

/// A transport that calls the blocking client from the client's own
/// runtime would deadlock it; it gets the error instead.
#[test]
fn a_call_from_the_clients_own_runtime_is_refused() {
    let slot: Arc<std::sync::OnceLock<AppJwtClient>> = Arc::new(std::sync::OnceLock::new());
    let inner = Arc::clone(&slot);
    let transport = move |_req: http::Request<Vec<u8>>| {
        let refused = inner.get().map(|c| c.token().err());
        async move {
            let refused = refused.flatten();
            assert!(
                matches!(refused, Some(blocking::Error::InsideAsyncRuntime)),
                "{refused:?}"
            );
            Err::<http::Response<Vec<u8>>, _>(TransportError::io())
        }
    };
    let fake = Fake::new();
    let client = AppJwtClientBuilder::from(fake.client())
        .transport(transport)
        .retry_policy(lp_appjwt::RetryPolicy {
            max_attempts: 1,
            ..lp_appjwt::RetryPolicy::default()
        })
        .build()
        .unwrap();
    slot.set(client.clone()).unwrap();
    let err = client.token().unwrap_err();
    assert!(matches!(err, blocking::Error::Client(_)), "{err:?}");
}

#[test]
fn the_token_store_works_from_plain_threads() {
    let fake = Fake::new();
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("blocking-store-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = lp_store::FileStore::open(&dir).unwrap();
    let make = || {
        AppJwtClientBuilder::from(fake.client())
            .token_store(store.clone())
            .token_store_timeout(Duration::from_millis(500))
            .build()
            .unwrap()
    };
    let first = make();
    let jwt = first.token().unwrap();
    assert_eq!(make().token().unwrap().secret(), jwt.secret());
    assert_eq!(fake.fetches(), 1);
    // Refused: the record goes too, deleted on the client's own runtime
    // though the call came from this thread.
    assert!(first.invalidate_token(&jwt));
    let record = dir.join(format!("appjwt:v1:token:{ACCOUNT}:{CLIENT_ID}:v1.rec"));
    let started = Instant::now();
    while record.exists() && started.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(!record.exists());
    assert_ne!(make().token().unwrap().secret(), jwt.secret());
    assert_eq!(fake.fetches(), 2);
}
