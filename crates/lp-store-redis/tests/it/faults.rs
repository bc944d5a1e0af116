//! What a fleet meets: a wrong password, Redis down at start, killed,
//! restarted, stopped (answering nothing), a key of the wrong type.
//! Every call must come back with a typed error, none may hang.

use std::time::{Duration, Instant};

use integration_tests::redis_server::RedisServer;
use lp_store::{StoreErrorKind, TokenStore};
use lp_store_redis::RedisStore;

use crate::support::{check_error, key, raw, store, store_on};

/// A bound no healthy call comes near, so that a hang fails the test
/// instead of stalling it.
const HANG: Duration = Duration::from_secs(10);

async fn bounded<F: std::future::Future>(call: F) -> F::Output {
    tokio::time::timeout(HANG, call)
        .await
        .unwrap_or_else(|_| panic!("the call hung for {HANG:?}"))
}

#[tokio::test]
async fn wrong_or_missing_passwords_are_denied() {
    let right = "correct-horse-4417";
    let wrong = "wrong-battery-9923";
    let Some(redis) = RedisServer::start_with_password(right) else {
        return;
    };
    let k = key("k");
    // WRONGPASS, at AUTH.
    let store = store(&redis.url_with_password(wrong));
    check_error(
        bounded(store.get(&k)).await,
        StoreErrorKind::Denied,
        "refused",
        &[right, wrong],
    );
    // The next call tries again (the password may have been fixed on the
    // server), and is refused again.
    check_error(
        bounded(store.put(&k, b"r", HANG)).await,
        StoreErrorKind::Denied,
        "",
        &[wrong],
    );
    check_error(
        bounded(RedisStore::connect(&redis.url_with_password(wrong))).await,
        StoreErrorKind::Denied,
        "[redacted]",
        &[right, wrong],
    );
    // An unknown user is refused the same way.
    let unknown = format!("redis://nobody:{wrong}@127.0.0.1:{}", redis.port());
    check_error(
        bounded(store_get(&unknown)).await,
        StoreErrorKind::Denied,
        "nobody",
        &[wrong],
    );
    // No password at all: the server answers NOAUTH to the command.
    let anonymous = format!("redis://127.0.0.1:{}", redis.port());
    check_error(
        bounded(store_get(&anonymous)).await,
        StoreErrorKind::Denied,
        "NOAUTH",
        &[right],
    );
    // And the right one works.
    let good = bounded(RedisStore::connect(&redis.url())).await.unwrap();
    good.put(&k, b"r", HANG).await.unwrap();
    assert!(good.get(&k).await.unwrap().is_some());
}

async fn store_get(url: &str) -> Result<Option<Vec<u8>>, lp_store::StoreError> {
    store(url).get(&key("k")).await
}

#[tokio::test]
async fn redis_down_at_start_then_up() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    redis.kill();
    // Building does no IO: a store exists before its Redis does.
    let early = store_on(&redis);
    let k = key("k");
    check_error(
        bounded(early.get(&k)).await,
        StoreErrorKind::Unavailable,
        "connection refused",
        &[],
    );
    check_error(
        bounded(RedisStore::connect(&redis.url())).await,
        StoreErrorKind::Unavailable,
        &format!("127.0.0.1:{}", redis.port()),
        &[],
    );
    redis.restart();
    // The same store connects once Redis is there.
    bounded(early.put(&k, b"r", HANG)).await.unwrap();
    assert!(early.get(&k).await.unwrap().is_some());
}

#[tokio::test]
async fn redis_killed_mid_run_then_restarted() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let store = store_on(&redis);
    let k = key("k");
    store.put(&k, b"r", HANG).await.unwrap();
    redis.kill();
    for _ in 0..3 {
        check_error(
            bounded(store.get(&k)).await,
            StoreErrorKind::Unavailable,
            "",
            &[],
        );
    }
    check_error(
        bounded(store.try_lease(&k, HANG)).await,
        StoreErrorKind::Unavailable,
        "try_lease",
        &[],
    );
    redis.restart();
    // Persistence is off: the record went with the old server, and the
    // store reconnects on its own.
    assert_eq!(bounded(store.get(&k)).await.unwrap(), None);
    store.put(&k, b"again", HANG).await.unwrap();
    assert_eq!(store.get(&k).await.unwrap().as_deref(), Some(&b"again"[..]));
}

#[tokio::test]
async fn a_restart_between_two_calls_costs_no_failure() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let store = store_on(&redis);
    let k = key("k");
    store.put(&k, b"r", HANG).await.unwrap();
    redis.restart();
    // The idle connection died with the old server; the call notices and
    // goes again on a new one instead of failing.
    assert_eq!(bounded(store.get(&k)).await.unwrap(), None);
}

#[tokio::test]
async fn a_stopped_redis_never_holds_a_caller_past_its_timeout() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let store = RedisStore::builder(&redis.url())
        .unwrap()
        .response_timeout(Duration::from_millis(400))
        .connect_timeout(Duration::from_millis(400))
        .build()
        .unwrap();
    let k = key("k");
    store.put(&k, b"r", HANG).await.unwrap();
    redis.pause();

    // The facade's bound: the call gives up at 200 ms, so its future must
    // be one that yields rather than blocks.
    let started = Instant::now();
    let outcome = tokio::time::timeout(Duration::from_millis(200), store.get(&k)).await;
    let waited = started.elapsed();
    assert!(outcome.is_err(), "a stopped redis answered: {outcome:?}");
    assert!(waited < Duration::from_secs(2), "{waited:?}");

    // Without a bound of its own, the caller still gets a typed error at
    // the store's response timeout.
    check_error(
        bounded(store.get(&k)).await,
        StoreErrorKind::Timeout,
        "in time",
        &[],
    );
    // A store that has not connected yet is bounded by its connect timeout
    // (the kernel accepts the connection; nobody answers the handshake).
    let fresh = RedisStore::builder(&redis.url())
        .unwrap()
        .connect_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    check_error(
        bounded(fresh.get(&k)).await,
        StoreErrorKind::Timeout,
        "get, connecting",
        &[],
    );

    redis.resume();
    // The connection was kept: the server was slow, not gone.
    assert_eq!(
        bounded(store.get(&k)).await.unwrap().as_deref(),
        Some(&b"r"[..])
    );
    assert!(bounded(fresh.get(&k)).await.unwrap().is_some());
}

#[tokio::test]
async fn a_key_of_another_type_is_a_protocol_error() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let mut raw = raw(&redis).await;
    let _: i64 = redis::cmd("LPUSH")
        .arg("lp-appjwt:record:typed")
        .arg("x")
        .query_async(&mut raw)
        .await
        .unwrap();
    let store = store_on(&redis);
    check_error(
        bounded(store.get(&key("typed"))).await,
        StoreErrorKind::Protocol,
        "WRONGTYPE",
        &[],
    );
    // The connection is still good for the next call.
    assert_eq!(store.get(&key("other")).await.unwrap(), None);
}
