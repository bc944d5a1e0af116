//! What every test module shares.

use std::time::Duration;

use integration_tests::redis_server::RedisServer;
use lp_store::{Lease, LeaseOutcome, RecordKey, StoreErrorKind, TokenStore};
use lp_store_redis::RedisStore;

/// A checked record key.
pub fn key(text: &str) -> RecordKey {
    RecordKey::new(text).unwrap()
}

/// A store on `url` without connecting.
pub fn store(url: &str) -> RedisStore {
    RedisStore::open(url).unwrap()
}

/// A store on a running server.
pub fn store_on(redis: &RedisServer) -> RedisStore {
    store(&redis.url())
}

/// A raw connection for what the store never does (writing garbage,
/// reading TTLs).
pub async fn raw(redis: &RedisServer) -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// The lease from `try_lease`, which must have been granted.
pub async fn acquire(store: &RedisStore, key: &RecordKey, ttl: Duration) -> Lease {
    match store.try_lease(key, ttl).await.unwrap() {
        LeaseOutcome::Acquired(lease) => lease,
        LeaseOutcome::HeldByOther => panic!("lease on {key} held by another"),
    }
}

/// Whether `try_lease` says another holds the lease.
pub async fn held_by_other(store: &RedisStore, key: &RecordKey) -> bool {
    match store.try_lease(key, Duration::from_secs(5)).await.unwrap() {
        LeaseOutcome::Acquired(lease) => {
            store.release(&lease).await.unwrap();
            false
        }
        LeaseOutcome::HeldByOther => true,
    }
}

/// Checks that `result` failed with `kind` and that its text has `part`
/// and none of `secrets`.
pub fn check_error<T: std::fmt::Debug>(
    result: Result<T, lp_store::StoreError>,
    kind: StoreErrorKind,
    part: &str,
    secrets: &[&str],
) {
    let err = result.expect_err("the call should fail");
    let text = format!("{err} {err:?}");
    assert_eq!(err.kind(), kind, "{text}");
    assert!(text.contains(part), "{text:?} should contain {part:?}");
    for secret in secrets {
        assert!(!text.contains(secret), "{text:?} shows a secret");
    }
}
