//! Single flight and invalidation.

use std::time::Duration;

use lp_appjwt::{AppJwtClient, Error};
use lp_oauth::TokenError;

use crate::support::*;

async fn stampede(client: &AppJwtClient, callers: usize) -> Vec<Result<String, Error>> {
    let tasks: Vec<_> = (0..callers)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.token().await.map(|t| t.secret().to_owned()) })
        })
        .collect();
    let mut results = Vec::with_capacity(callers);
    for task in tasks {
        results.push(task.await.unwrap());
    }
    results
}

#[tokio::test(start_paused = true)]
async fn ten_thousand_callers_on_a_cold_cache_cause_one_lookup_and_one_fetch() {
    let fake = Fake::new();
    fake.set_latency(Duration::from_millis(50));
    let client = fake.client().build().unwrap();
    let results = stampede(&client, 10_000).await;
    assert_eq!((fake.lookups(), fake.fetches()), (1, 1));
    let first = results[0].as_ref().unwrap();
    assert!(results.iter().all(|r| r.as_ref().ok() == Some(first)));
}

#[tokio::test(start_paused = true)]
async fn callers_waiting_on_a_failed_fetch_share_its_error() {
    let fake = Fake::new();
    fake.set_latency(Duration::from_millis(50));
    fake.script_fetches([Reply::Status(
        401,
        vec![],
        r#"{"error":"invalid_client"}"#.into(),
    )]);
    let client = fake.client().build().unwrap();
    let results = stampede(&client, 10_000).await;
    assert_eq!((fake.lookups(), fake.fetches()), (1, 1));
    for r in &results {
        assert!(
            matches!(r, Err(Error::Token(TokenError::Rejected { .. }))),
            "{r:?}"
        );
    }
    // The refusal is remembered: a later caller is answered at once,
    // without a request, until the backoff (5 s) has passed.
    let err = client.token().await.unwrap_err();
    assert!(matches!(err, Error::Backoff { .. }), "{err:?}");
    assert_eq!(fake.fetches(), 1);
    tokio::time::advance(secs(5)).await;
    client.token().await.unwrap();
    assert_eq!(fake.fetches(), 2);
}

#[tokio::test(start_paused = true)]
async fn callers_on_an_expired_token_wait_for_one_refresh() {
    let fake = Fake::new();
    let client = fake.client().build().unwrap();
    let first = client.token().await.unwrap();
    tokio::time::advance(secs(3601)).await;
    fake.set_latency(Duration::from_millis(50));
    let results = stampede(&client, 1000).await;
    assert_eq!(fake.fetches(), 2);
    for r in results {
        assert_ne!(r.unwrap(), first.secret());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_flight_holds_on_real_threads() {
    let fake = Fake::new();
    // A real (not paused) runtime: the fake answers without sleeping, so
    // the race between callers is as tight as it gets.
    let client = fake.client().build().unwrap();
    let results = stampede(&client, 2_000).await;
    assert_eq!((fake.lookups(), fake.fetches()), (1, 1));
    assert!(results.iter().all(|r| r.is_ok()));
}

#[tokio::test(start_paused = true)]
async fn invalidate_forces_one_fetch_per_interval() {
    let fake = Fake::new();
    let client = fake
        .client()
        .invalidate_min_interval(secs(5))
        .build()
        .unwrap();
    // Nothing cached: nothing to do.
    client.invalidate();
    let a = client.token().await.unwrap();
    assert_eq!(fake.fetches(), 1);

    client.invalidate();
    let b = client.token().await.unwrap();
    assert_ne!(b.secret(), a.secret());
    assert_eq!(fake.fetches(), 2);

    // A burst of 401s within the interval: the token keeps being handed out.
    for _ in 0..1000 {
        client.invalidate();
        assert_eq!(client.token().await.unwrap().secret(), b.secret());
    }
    assert_eq!(fake.fetches(), 2);

    tokio::time::advance(secs(5)).await;
    client.invalidate();
    client.invalidate();
    let c = client.token().await.unwrap();
    assert_ne!(c.secret(), b.secret());
    assert_eq!(fake.fetches(), 3);
}

#[tokio::test(start_paused = true)]
async fn invalidated_token_is_not_served_when_the_fetch_fails() {
    let fake = Fake::new();
    let client = fake.client().build().unwrap();
    client.token().await.unwrap();
    fake.script_fetches([Reply::Status(401, vec![], String::new())]);
    client.invalidate();
    let err = client.token().await.unwrap_err();
    assert!(
        matches!(err, Error::Token(TokenError::Rejected { .. })),
        "{err:?}"
    );
    tokio::time::advance(secs(5)).await;
    client.token().await.unwrap();
    assert_eq!(fake.fetches(), 3);
}

#[test]
fn client_and_token_are_send_and_sync() {
    fn send_sync<T: Send + Sync + 'static>(_: &T) {}
    fn send<T: Send>(_: &T) {}
    let fake = Fake::new();
    let client = fake.client().build().unwrap();
    send_sync(&client);
    send(&client.token());
    send(&client.domains());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let jwt = runtime.block_on(client.token()).unwrap();
    send_sync(&jwt);
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_fetch_does_not_wedge_the_others() {
    let fake = Fake::new();
    fake.set_latency(secs(10));
    let client = fake.client().build().unwrap();
    let leader = tokio::spawn({
        let client = client.clone();
        async move { client.token().await }
    });
    tokio::time::advance(secs(1)).await;
    leader.abort();
    assert!(leader.await.unwrap_err().is_cancelled());
    fake.set_latency(Duration::ZERO);
    client.token().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn extreme_settings_do_not_panic() {
    let fake = Fake::new();
    fake.script_fetches([
        Reply::Status(
            503,
            vec![("retry-after", u64::MAX.to_string())],
            String::new(),
        ),
        Reply::Status(
            429,
            vec![("retry-after", "99999999999".into())],
            String::new(),
        ),
    ]);
    let client = fake
        .client()
        .retry_policy(lp_appjwt::RetryPolicy {
            max_attempts: u32::MAX,
            base_delay: Duration::MAX,
            max_delay: Duration::MAX,
            deadline: Duration::MAX,
            min_throttle_delay: Duration::MAX,
        })
        .refresh_ahead(Duration::MAX)
        .refresh_jitter(Duration::MAX)
        .invalidate_min_interval(Duration::MAX)
        .leeway(Duration::MAX)
        .domain_ttl(Duration::MAX)
        .build()
        .unwrap();
    let err = client.token().await.unwrap_err();
    assert!(
        matches!(err, Error::DeadlineExceeded { attempts: 1, .. }),
        "{err:?}"
    );
    let err = client.token().await.unwrap_err();
    assert!(
        matches!(err, Error::DeadlineExceeded { attempts: 1, .. }),
        "{err:?}"
    );
    client.token().await.unwrap();
    client.invalidate();
    client.invalidate();
    client.token().await.unwrap();
}
