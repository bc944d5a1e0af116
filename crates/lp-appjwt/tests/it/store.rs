//! The token store behind the in-memory cache: asked only when the cache has
//! no usable token, before the Domain lookup; records sealed; a failing,
//! hanging or lying store never stops the client.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lp_appjwt::{
    AccountId, AppJwtClient, AppJwtClientBuilder, ClientId, ClientSecret, Lease, LeaseOutcome,
    RecordKey, RetryPolicy, StoreError, StoreErrorKind, StoreFuture, TokenStore, Transport,
    VerifyWith,
};
use lp_store::FileStore;
use tokio::time::Instant;

use crate::support::*;

/// The key the client keeps its token under (documented in the crate).
fn record_key() -> RecordKey {
    RecordKey::new(format!("appjwt:v1:token:{ACCOUNT}:{CLIENT_ID}:v1")).unwrap()
}

fn scratch(name: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("store-it-{}-{n}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn file_store(name: &str) -> FileStore {
    FileStore::open(scratch(name)).unwrap()
}

/// What the fault-injecting store does with every call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Keeps records in memory, like a real store.
    Works,
    /// Fails every call, like a store that is down.
    Fails,
    /// Never answers.
    Hangs,
    /// Answers every `get` with bytes that are not a record.
    Garbage,
}

/// A [`TokenStore`] whose every call can be made to fail, hang or lie:
/// the fault injector for the trait (the real backends have their own
/// tests).
struct Faulty {
    mode: Mutex<Mode>,
    records: Mutex<HashMap<RecordKey, Vec<u8>>>,
    lease: Mutex<Option<String>>,
    calls: AtomicUsize,
}

impl Faulty {
    fn new(mode: Mode) -> Arc<Self> {
        Arc::new(Faulty {
            mode: Mutex::new(mode),
            records: Mutex::new(HashMap::new()),
            lease: Mutex::new(None),
            calls: AtomicUsize::new(0),
        })
    }

    fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// Counts the call and applies the mode; `Ok` for a working store.
    async fn enter(&self) -> Result<Mode, StoreError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let mode = *self.mode.lock().unwrap();
        match mode {
            Mode::Fails => Err(StoreError::new(
                StoreErrorKind::Unavailable,
                "connection refused",
            )),
            Mode::Hangs => std::future::pending().await,
            m => Ok(m),
        }
    }
}

impl TokenStore for Faulty {
    fn name(&self) -> &'static str {
        "faulty"
    }

    fn get<'a>(&'a self, key: &'a RecordKey) -> StoreFuture<'a, Option<Vec<u8>>> {
        Box::pin(async move {
            if self.enter().await? == Mode::Garbage {
                return Ok(Some(b"\x01not a sealed record at all, just bytes".to_vec()));
            }
            Ok(self.records.lock().unwrap().get(key).cloned())
        })
    }

    fn put<'a>(
        &'a self,
        key: &'a RecordKey,
        record: &'a [u8],
        _ttl: Duration,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.enter().await?;
            self.records
                .lock()
                .unwrap()
                .insert(key.clone(), record.to_vec());
            Ok(())
        })
    }

    fn delete<'a>(&'a self, key: &'a RecordKey) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.enter().await?;
            self.records.lock().unwrap().remove(key);
            Ok(())
        })
    }

    fn try_lease<'a>(
        &'a self,
        key: &'a RecordKey,
        _ttl: Duration,
    ) -> StoreFuture<'a, LeaseOutcome> {
        Box::pin(async move {
            self.enter().await?;
            let mut lease = self.lease.lock().unwrap();
            if lease.is_some() {
                return Ok(LeaseOutcome::HeldByOther);
            }
            *lease = Some("me".to_owned());
            Ok(LeaseOutcome::Acquired(Lease::new(key.clone(), "me")))
        })
    }

    fn release<'a>(&'a self, lease: &'a Lease) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.enter().await?;
            let mut held = self.lease.lock().unwrap();
            if held.as_deref() == Some(lease.owner()) {
                *held = None;
            }
            Ok(())
        })
    }
}

/// A client of `fake` using the fault-injecting `store`.
fn with_store(fake: &Arc<Fake>, store: &Arc<Faulty>) -> AppJwtClientBuilder {
    fake.client().token_store(Arc::clone(store))
}

#[tokio::test(start_paused = true)]
async fn a_second_client_takes_the_stored_token_without_any_request() {
    let fake = Fake::new();
    let store = file_store("second-client");
    let first = fake.client().token_store(store.clone()).build().unwrap();
    let jwt = first.token().await.unwrap();
    assert_eq!((fake.lookups(), fake.fetches()), (1, 1));

    let second = fake.client().token_store(store.clone()).build().unwrap();
    let again = second.token().await.unwrap();
    assert_eq!(again.secret(), jwt.secret());
    // No lookup, no token request: the record came first.
    assert_eq!((fake.lookups(), fake.fetches()), (1, 1));
    // Its real window: what is left of the first client's.
    assert!(again.remaining() <= jwt.remaining());
    assert!(again.remaining() > secs(3590), "{:?}", again.remaining());
    let status = second.status().store.unwrap();
    assert_eq!(
        (status.name, status.hits, status.failures, status.dropped),
        ("file", 1, 0, 0)
    );
    assert_eq!(first.status().store.unwrap().hits, 0);
}

#[tokio::test(start_paused = true)]
async fn a_cold_client_takes_the_domain_map_from_the_store() {
    let fake = Fake::new();
    let store = file_store("domain-map");
    let first = fake.client().token_store(store.clone()).build().unwrap();
    first.token().await.unwrap();
    let map = first.domains().await.unwrap();
    assert_eq!(fake.lookups(), 1);
    // Without the token record (another API version, or refused), the map
    // still saves the lookup.
    store.delete(&record_key()).await.unwrap();
    let second = fake.client().token_store(store.clone()).build().unwrap();
    second.token().await.unwrap();
    assert_eq!((fake.lookups(), fake.fetches()), (1, 2));
    let hosts = |m: &lp_appjwt::DomainMap| {
        m.iter()
            .map(|(s, h)| format!("{s}={h}"))
            .collect::<Vec<_>>()
    };
    assert_eq!(hosts(&second.domains().await.unwrap()), hosts(&map));
    // Fresh for the domain TTL from its lookup; after it, a cold client
    // looks the map up again (and writes it).
    tokio::time::advance(lp_domain::DEFAULT_TTL + secs(1)).await;
    store.delete(&record_key()).await.unwrap();
    let third = fake.client().token_store(store).build().unwrap();
    third.token().await.unwrap();
    assert_eq!((fake.lookups(), fake.fetches()), (2, 3));
}

#[tokio::test(start_paused = true)]
async fn the_fresh_path_never_touches_the_store() {
    let fake = Fake::new();
    let store = Faulty::new(Mode::Works);
    let client = with_store(&fake, &store).build().unwrap();
    client.token().await.unwrap();
    // get, lease, get again under the lease, the Domain map's get and
    // put, put, release.
    assert_eq!(store.calls(), 7);
    for _ in 0..100 {
        client.token().await.unwrap();
    }
    assert_eq!(store.calls(), 7);
}

/// A transport that lets a client with another secret fetch from the fake
/// (which expects [`SECRET`]): it swaps the secret in the form body.
fn as_other_secret(fake: &Arc<Fake>, other: &'static str) -> impl Transport + use<> {
    let inner = Arc::new(fake.transport());
    move |mut req: http::Request<Vec<u8>>| {
        let inner = Arc::clone(&inner);
        let body = String::from_utf8_lossy(req.body()).replace(other, SECRET);
        *req.body_mut() = body.into_bytes();
        async move { inner.send(req).await }
    }
}

fn client_with_secret(fake: &Arc<Fake>, secret: &'static str) -> AppJwtClientBuilder {
    let clock = fake.clock;
    AppJwtClient::builder(
        AccountId::new(ACCOUNT).unwrap(),
        ClientId::new(CLIENT_ID).unwrap(),
        ClientSecret::new(secret).unwrap(),
    )
    .transport(as_other_secret(fake, secret))
    .clock(move || clock.now())
    .refresh_jitter(Duration::ZERO)
    .verify_with(VerifyWith::Key(TestKey::A.verifier()))
}

#[tokio::test(start_paused = true)]
async fn a_record_sealed_with_another_secret_is_ignored_and_replaced() {
    let fake = Fake::new();
    let store = file_store("other-secret");
    let other = client_with_secret(&fake, "an0ther-secret").token_store(store.clone());
    let theirs = other.build().unwrap().token().await.unwrap();
    assert_eq!(fake.fetches(), 1);
    assert!(std::fs::metadata(store.dir().join(format!("{}.rec", record_key()))).is_ok());

    // Not deleted by a reader that cannot open it (both secrets are in use
    // during a rotation): here Sentinel refuses us, so nothing replaces it.
    fake.script_fetches([Reply::Status(
        401,
        vec![],
        r#"{"error":"invalid_client"}"#.into(),
    )]);
    let refused = fake
        .client()
        .token_store(store.clone())
        .retry_policy(RetryPolicy::no_retry())
        .build()
        .unwrap();
    refused.token().await.unwrap_err();
    assert!(store.get(&record_key()).await.unwrap().is_some());
    assert_eq!(fake.fetches(), 2);

    let ours = fake.client().token_store(store.clone()).build().unwrap();
    let mine = ours.token().await.unwrap();
    assert_ne!(mine.secret(), theirs.secret());
    assert_eq!(fake.fetches(), 3);
    let status = ours.status().store.unwrap();
    // Read before the lease and under it: dropped both times.
    assert_eq!((status.dropped, status.hits, status.failures), (2, 0, 0));

    // Overwritten with ours: the next client of this secret takes it.
    let third = fake.client().token_store(store).build().unwrap();
    assert_eq!(third.token().await.unwrap().secret(), mine.secret());
    assert_eq!(fake.fetches(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_store_answering_garbage_is_a_miss() {
    let fake = Fake::new();
    let store = Faulty::new(Mode::Garbage);
    let client = with_store(&fake, &store).build().unwrap();
    client.token().await.unwrap();
    assert_eq!(fake.fetches(), 1);
    let status = client.status().store.unwrap();
    // The token record read before the lease and again under it, and the
    // Domain map's: dropped each time.
    assert_eq!((status.dropped, status.hits, status.failing), (3, 0, false));
}

/// Status of the store after `token()` calls, and how long each took.
#[tokio::test(start_paused = true)]
async fn a_hanging_store_costs_at_most_its_timeout_per_call() {
    let fake = Fake::new();
    let store = Faulty::new(Mode::Hangs);
    let timeout = Duration::from_millis(200);
    let client = with_store(&fake, &store)
        .token_store_timeout(timeout)
        .build()
        .unwrap();
    let started = Instant::now();
    client.token().await.unwrap();
    let took = started.elapsed();
    // The token's get, lease and put, the Domain map's get and put: each
    // waited its timeout, nothing more (the lease failed, so there is
    // nothing to release, and no second read under it).
    assert_eq!(store.calls(), 5);
    assert!(
        took >= timeout * 5 && took < timeout * 5 + Duration::from_millis(50),
        "{took:?}"
    );
    assert_eq!(fake.fetches(), 1);
    let status = client.status().store.unwrap();
    assert!(status.failing);
    assert_eq!(status.failures, 5);
    assert_eq!(
        status.last_error.map(|e| e.kind()),
        Some(StoreErrorKind::Timeout)
    );
}

#[tokio::test(start_paused = true)]
async fn one_warning_per_outage() {
    let (logs, _capture) = capture_logs();
    let fake = Fake::new();
    let store = Faulty::new(Mode::Fails);
    let client = with_store(&fake, &store).build().unwrap();
    let warnings = || logs.text().matches("token store failed").count();
    let recoveries = || logs.text().matches("token store recovered").count();
    let fetch_again = async || {
        tokio::time::advance(secs(6)).await;
        client.invalidate();
        client.token().await.unwrap();
    };

    client.token().await.unwrap();
    assert_eq!((warnings(), recoveries()), (1, 0));
    fetch_again().await;
    assert_eq!((warnings(), recoveries()), (1, 0), "{}", logs.text());
    store.set(Mode::Works);
    fetch_again().await;
    assert_eq!((warnings(), recoveries()), (1, 1));
    store.set(Mode::Fails);
    fetch_again().await;
    assert_eq!((warnings(), recoveries()), (2, 1));
    assert_eq!(fake.fetches(), 4);
    let status = client.status().store.unwrap();
    // get, lease, put: three failures per fetch, in three fetches, and the
    // Domain map's get and put in the first (later fetches keep the map in
    // memory); and the read of each invalidation's deletion while the store
    // was down.
    assert_eq!((status.failures, status.failing), (13, true));
    assert_eq!(
        status.last_error.map(|e| e.kind()),
        Some(StoreErrorKind::Unavailable)
    );
    assert!(logs.text().contains("connection refused"));
    assert_clean(&logs.text());
}

#[tokio::test(start_paused = true)]
async fn clients_started_together_make_one_request() {
    let fake = Fake::new();
    fake.set_latency(Duration::from_millis(100));
    let store = file_store("together");
    let clients: Vec<_> = (0..2)
        .map(|_| fake.client().token_store(store.clone()).build().unwrap())
        .collect();
    let (a, b) = tokio::join!(clients[0].token(), clients[1].token());
    assert_eq!(a.unwrap().secret(), b.unwrap().secret());
    assert_eq!((fake.lookups(), fake.fetches()), (1, 1));
    let hits: u64 = clients.iter().map(|c| c.status().store.unwrap().hits).sum();
    assert_eq!(hits, 1);
}

#[tokio::test(start_paused = true)]
async fn a_lease_whose_holder_died_delays_the_fetch_by_the_lease_wait_only() {
    let fake = Fake::new();
    let store = file_store("dead-holder");
    // Someone took the lease and will never write a record.
    let LeaseOutcome::Acquired(_) = store.try_lease(&record_key(), secs(3600)).await.unwrap()
    else {
        panic!("lease not free");
    };
    let wait = secs(2);
    let client = fake
        .client()
        .token_store(store.clone())
        .token_store_lease_wait(wait)
        .build()
        .unwrap();
    let started = Instant::now();
    client.token().await.unwrap();
    let took = started.elapsed();
    assert!(
        took >= wait && took < wait + Duration::from_millis(300),
        "{took:?}"
    );
    assert_eq!(fake.fetches(), 1);

    // The lease wait also keeps within the retry deadline: half of it.
    store.delete(&record_key()).await.unwrap();
    let fake = Fake::new();
    let client = fake
        .client()
        .token_store(store)
        .token_store_lease_wait(secs(60))
        .retry_policy(RetryPolicy {
            deadline: secs(4),
            ..RetryPolicy::default()
        })
        .build()
        .unwrap();
    let started = Instant::now();
    client.token().await.unwrap();
    let took = started.elapsed();
    assert!(took >= secs(2) && took < secs(3), "{took:?}");
}

#[tokio::test(start_paused = true)]
async fn a_refused_token_leaves_the_store_too() {
    let fake = Fake::new();
    let store = file_store("refused");
    let first = fake.client().token_store(store.clone()).build().unwrap();
    let refused = first.token().await.unwrap();
    assert!(first.invalidate_token(&refused));
    settle().await;
    assert_eq!(store.get(&record_key()).await.unwrap(), None);

    // Neither this client nor another gets the refused token back.
    let other = fake.client().token_store(store.clone()).build().unwrap();
    let fresh = other.token().await.unwrap();
    assert_ne!(fresh.secret(), refused.secret());
    assert_eq!(fake.fetches(), 2);
    assert_eq!(first.token().await.unwrap().secret(), fresh.secret());
    assert_eq!(fake.fetches(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_remembered_failure_is_not_asked_around_by_the_store() {
    let fake = Fake::new();
    fake.script_fetches([Reply::Status(
        429,
        vec![("retry-after", "30".to_owned())],
        r#"{"error":"too_many_requests"}"#.to_owned(),
    )]);
    let store = Faulty::new(Mode::Works);
    let client = with_store(&fake, &store)
        .retry_policy(RetryPolicy::no_retry())
        .build()
        .unwrap();
    assert!(client.token().await.unwrap_err().is_throttled());
    let calls = store.calls();
    // get, lease, get, the Domain map's get and put, release: the lease is
    // given back after the failure.
    assert_eq!(calls, 6);
    assert!(store.lease.lock().unwrap().is_none());
    // Remembered: no request, and no store call either.
    assert!(matches!(
        client.token().await,
        Err(lp_appjwt::Error::Backoff { .. })
    ));
    assert_eq!((fake.fetches(), store.calls()), (1, calls));
}

#[tokio::test(start_paused = true)]
async fn a_due_token_is_refreshed_from_the_record_another_client_wrote() {
    let fake = Fake::new();
    let store = file_store("refresh");
    let a = fake.client().token_store(store.clone()).build().unwrap();
    let b = fake.client().token_store(store.clone()).build().unwrap();
    let first = a.token().await.unwrap();
    assert_eq!(b.token().await.unwrap().secret(), first.secret());
    // Both are due at 3300 s and refresh in the background: the one that
    // gets the lease fetches, the other takes the record it writes.
    tokio::time::advance(secs(3301)).await;
    settle().await;
    tokio::time::sleep(secs(1)).await;
    let (a_now, b_now) = (a.token().await.unwrap(), b.token().await.unwrap());
    assert_ne!(a_now.secret(), first.secret());
    assert_eq!(b_now.secret(), a_now.secret());
    assert_eq!(fake.fetches(), 2, "one fetch per token, not per client");
}
