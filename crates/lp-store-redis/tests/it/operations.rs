//! get, put, delete, time to live and leases on a healthy server.

use std::time::Duration;

use integration_tests::redis_server::RedisServer;
use lp_store::{Lease, TokenStore};
use lp_store_redis::RedisStore;

use crate::support::{acquire, held_by_other, key, raw, store, store_on};

#[tokio::test]
async fn put_get_delete() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let store = store_on(&redis);
    let k = key("appjwt:v1:token:56072331:client-1:v2");
    assert_eq!(store.get(&k).await.unwrap(), None);
    // Records are bytes, not text: every byte value goes through.
    let record: Vec<u8> = (0..=255).collect();
    store
        .put(&k, &record, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(store.get(&k).await.unwrap(), Some(record));
    store
        .put(&k, b"newer", Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(store.get(&k).await.unwrap().as_deref(), Some(&b"newer"[..]));
    store.delete(&k).await.unwrap();
    assert_eq!(store.get(&k).await.unwrap(), None);
    // Deleting what is not there is not an error.
    store.delete(&k).await.unwrap();
    store.ping().await.unwrap();
}

#[tokio::test]
async fn records_expire_after_their_ttl() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let store = store_on(&redis);
    let k = key("short");
    // Redis holds the TTL itself, in milliseconds.
    store.put(&k, b"r", Duration::from_secs(20)).await.unwrap();
    let mut raw = raw(&redis).await;
    let pttl: i64 = redis::cmd("PTTL")
        .arg("lp-appjwt:record:short")
        .query_async(&mut raw)
        .await
        .unwrap();
    assert!((1..=20_000).contains(&pttl), "{pttl}");
    // Long enough to read it back on a loaded machine, short enough to
    // wait for.
    store
        .put(&k, b"r", Duration::from_millis(600))
        .await
        .unwrap();
    assert!(store.get(&k).await.unwrap().is_some());
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(store.get(&k).await.unwrap(), None);
}

#[tokio::test]
async fn a_lease_is_exclusive_between_stores() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let (a, b) = (store_on(&redis), store_on(&redis));
    let k = key("leased");
    let lease = acquire(&a, &k, Duration::from_secs(10)).await;
    assert_eq!(lease.key(), &k);
    assert!(held_by_other(&b, &k).await);
    // Not re-entrant either: the holder itself is told to wait.
    assert!(held_by_other(&a, &k).await);
    // The lease lives beside the record, not on it.
    assert_eq!(a.get(&k).await.unwrap(), None);
    a.release(&lease).await.unwrap();
    let lease = acquire(&b, &k, Duration::from_secs(10)).await;
    b.release(&lease).await.unwrap();
}

#[tokio::test]
async fn a_release_by_another_owner_leaves_the_lease() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let (a, b) = (store_on(&redis), store_on(&redis));
    let k = key("contested");
    let _held = acquire(&a, &k, Duration::from_secs(10)).await;
    let forged = Lease::new(k.clone(), "0123456789abcdef0123456789abcdef");
    b.release(&forged).await.unwrap();
    assert!(held_by_other(&b, &k).await);

    // The case that matters: A's lease expired, B took it, and A's late
    // release must not remove B's.
    let k = key("expired-then-taken");
    let stale = acquire(&a, &k, Duration::from_millis(100)).await;
    tokio::time::sleep(Duration::from_millis(250)).await;
    let _current = acquire(&b, &k, Duration::from_secs(10)).await;
    a.release(&stale).await.unwrap();
    assert!(held_by_other(&a, &k).await);
}

#[tokio::test]
async fn a_holder_that_never_releases_lets_the_lease_expire() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let (holder, waiter) = (store_on(&redis), store_on(&redis));
    let k = key("abandoned");
    let lease = acquire(&holder, &k, Duration::from_millis(600)).await;
    drop(holder);
    assert!(held_by_other(&waiter, &k).await);
    tokio::time::sleep(Duration::from_millis(900)).await;
    let taken = acquire(&waiter, &k, Duration::from_secs(10)).await;
    assert_ne!(taken.owner(), lease.owner());
}

#[tokio::test]
async fn prefixes_keep_applications_apart() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let with = |prefix: &str| {
        RedisStore::builder(&redis.url())
            .unwrap()
            .key_prefix(prefix)
            .build()
            .unwrap()
    };
    let (billing, support, billing_too) = (with("billing:"), with("support:"), with("billing:"));
    let k = key("appjwt:v1:token:1:c:v2");
    billing
        .put(&k, b"b", Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(support.get(&k).await.unwrap(), None);
    assert_eq!(
        billing_too.get(&k).await.unwrap().as_deref(),
        Some(&b"b"[..])
    );
    let _lease = acquire(&support, &k, Duration::from_secs(10)).await;
    let lease = acquire(&billing, &k, Duration::from_secs(10)).await;
    billing.release(&lease).await.unwrap();

    let mut raw = raw(&redis).await;
    let mut keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut raw)
        .await
        .unwrap();
    keys.sort();
    assert_eq!(
        keys,
        [
            "billing:record:appjwt:v1:token:1:c:v2",
            "support:lease:appjwt:v1:token:1:c:v2"
        ]
    );
    assert_eq!(store(&redis.url()).key_prefix(), "lp-appjwt:");
}

#[tokio::test]
async fn many_tasks_share_one_store() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let store = std::sync::Arc::new(store_on(&redis));
    let k = key("herd");
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let store = store.clone();
            let k = k.clone();
            tokio::spawn(async move { store.try_lease(&k, Duration::from_secs(10)).await })
        })
        .collect();
    let mut acquired = 0;
    for task in tasks {
        if let lp_store::LeaseOutcome::Acquired(_) = task.await.unwrap().unwrap() {
            acquired += 1;
        }
    }
    assert_eq!(acquired, 1);
}
