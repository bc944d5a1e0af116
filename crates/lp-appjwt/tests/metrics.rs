//! The `metrics` feature, checked with metrics-util's debugging recorder.
//! A binary of its own: the recorder is process-global, and the other
//! tests would add to its counts.
#![cfg(feature = "metrics")]

#[allow(dead_code)]
#[path = "it/support.rs"]
mod support;

use std::collections::HashMap;

use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use support::{Fake, Reply, secs};

/// `name{label=value,...}` for every metric recorded, with its value.
fn snapshot(snapshotter: &metrics_util::debugging::Snapshotter) -> HashMap<String, f64> {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let key = key.key();
            let mut labels: Vec<String> = key
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            labels.sort();
            let name = format!("{}{{{}}}", key.name(), labels.join(","));
            let value = match value {
                DebugValue::Counter(c) => c as f64,
                DebugValue::Gauge(g) => g.into_inner(),
                DebugValue::Histogram(h) => h.len() as f64,
            };
            (name, value)
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn counters_and_gauge_follow_what_happened() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder.install().unwrap();

    let fake = Fake::new();
    fake.set_latency(std::time::Duration::from_millis(10));
    let client = fake
        .client()
        .retry_policy(lp_appjwt::RetryPolicy::no_retry())
        .build()
        .unwrap();
    // A cold start with 10 callers: one fetch, 9 coalesced.
    let callers: Vec<_> = (0..10)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.token().await })
        })
        .collect();
    for c in callers {
        c.await.unwrap().unwrap();
    }
    let m = snapshot(&snapshotter);
    assert_eq!(
        m["appjwt_fetches_total{cache=token,outcome=ok}"], 1.0,
        "{m:?}"
    );
    assert_eq!(
        m["appjwt_fetches_total{cache=domain,outcome=ok}"], 1.0,
        "{m:?}"
    );
    assert_eq!(m["appjwt_coalesced_total{cache=token}"], 9.0, "{m:?}");
    let left = m["appjwt_token_expires_in_seconds{}"];
    assert!((3599.0..=3600.0).contains(&left), "{left}");

    // Expired, then a 429 with Retry-After: one throttled fetch, then
    // fast fails without a request.
    tokio::time::advance(secs(3601)).await;
    fake.script_fetches(std::iter::repeat_n(
        Reply::Status(429, vec![("retry-after", "60".to_owned())], String::new()),
        10,
    ));
    // (`advance` jumps past the refresh point in one step, so the
    // background refresh wakes only after the token's end and lets it go.)
    for _ in 0..4 {
        client.token().await.unwrap_err();
    }
    // Counts since the last snapshot (taking one drains the counters).
    let m = snapshot(&snapshotter);
    assert_eq!(
        m["appjwt_fetches_total{cache=token,outcome=throttled}"], 1.0,
        "{m:?}"
    );
    assert_eq!(
        m["appjwt_fast_fails_total{cache=token,reason=throttled}"], 3.0,
        "{m:?}"
    );
    assert_eq!(
        m["appjwt_fetches_total{cache=token,outcome=ok}"], 0.0,
        "{m:?}"
    );
    assert_eq!(fake.fetches(), 2, "{m:?}");

    // A token store: a miss then a hit; then a store whose directory
    // others may write, so every call fails (the token's get, lease and
    // put, the Domain map's get and put).
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("metrics-store-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = lp_store::FileStore::open(&dir).unwrap();
    let fake = Fake::new();
    for _ in 0..2 {
        let client = fake.client().token_store(store.clone()).build().unwrap();
        client.token().await.unwrap();
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let client = fake.client().token_store(store.clone()).build().unwrap();
        client.token().await.unwrap();
    }
    let m = snapshot(&snapshotter);
    assert_eq!(
        m["appjwt_store_reads_total{outcome=miss,store=file}"], 1.0,
        "{m:?}"
    );
    assert_eq!(
        m["appjwt_store_reads_total{outcome=hit,store=file}"], 1.0,
        "{m:?}"
    );
    #[cfg(unix)]
    assert_eq!(
        m["appjwt_store_errors_total{kind=denied,store=file}"], 5.0,
        "{m:?}"
    );
    assert_eq!(fake.fetches(), 1 + usize::from(cfg!(unix)), "{m:?}");
}
