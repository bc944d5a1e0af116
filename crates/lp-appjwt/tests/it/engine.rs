//! Issue 12's scenarios, one test each, named after them: what goes wrong
//! when no good answer can be had. Paused time; request counts are the
//! fake's own.

use std::time::Duration;

use lp_appjwt::{Error, ExtConsumerId, RetryPolicy, TokenState, TransportError, VerifyWith};
use lp_oauth::TokenError;

use crate::support::*;

fn throttled(secs: u64) -> Reply {
    Reply::Status(429, vec![("retry-after", secs.to_string())], String::new())
}

fn invalid_client() -> Reply {
    Reply::Status(
        401,
        vec![("content-type", "application/json".to_owned())],
        r#"{"error":"invalid_client"}"#.to_owned(),
    )
}

#[tokio::test(start_paused = true)]
async fn s1_a_429_with_retry_after_is_remembered_between_calls() {
    let fake = Fake::new();
    fake.script_fetches(std::iter::repeat_n(throttled(120), 10));
    let client = fake
        .client()
        .retry_policy(RetryPolicy::no_retry())
        .build()
        .unwrap();
    let first = client.token().await.unwrap_err();
    assert!(first.is_throttled(), "{first:?}");
    for _ in 0..9 {
        let err = client.token().await.unwrap_err();
        assert!(matches!(err, Error::Backoff { .. }), "{err:?}");
        assert!(err.is_throttled() && err.is_retryable(), "{err:?}");
        let left = err.retry_after().unwrap().delay_from(fake.clock.now());
        assert!(left <= secs(120) && left > secs(119), "{left:?}");
        assert_error_clean(&err);
    }
    assert_eq!(fake.fetches(), 1, "Sentinel asked for none in 120 s");
    let status = client.status();
    assert_eq!(status.state, TokenState::Failing);
    assert!(status.next_attempt_in.unwrap() > secs(119));
    tokio::time::advance(secs(120)).await;
    fake.script_fetches([]);
    // The script still answers 429: one request, after the wait.
    client.token().await.unwrap_err();
    assert_eq!(fake.fetches(), 2);
}

#[tokio::test(start_paused = true)]
async fn s1_a_refused_secret_is_not_sent_again_in_a_burst() {
    let fake = Fake::new();
    fake.script_fetches(std::iter::repeat_n(invalid_client(), 100));
    let client = fake.client().build().unwrap();
    for _ in 0..20 {
        let err = client.token().await.unwrap_err();
        assert!(
            matches!(err.root(), Error::Token(TokenError::Rejected { .. })),
            "{err:?}"
        );
        assert!(!err.is_retryable());
    }
    assert_eq!(
        fake.fetches(),
        1,
        "20 calls, one POST with the refused secret"
    );
    // 5 s, then 10 s: the backoff doubles.
    tokio::time::advance(secs(5)).await;
    client.token().await.unwrap_err();
    assert_eq!(fake.fetches(), 2);
    tokio::time::advance(secs(9)).await;
    client.token().await.unwrap_err();
    assert_eq!(fake.fetches(), 2);
    tokio::time::advance(secs(1)).await;
    client.token().await.unwrap_err();
    assert_eq!(fake.fetches(), 3);
}

#[tokio::test(start_paused = true)]
async fn s2_a_fetch_at_the_tokens_end_keeps_its_retries() {
    let fake = Fake::new();
    // No refresh ahead: the token is used to its end, then fetched anew.
    let client = fake.client().refresh_ahead(Duration::ZERO).build().unwrap();
    let first = client.token().await.unwrap();
    // 200 ms before the end of what is handed out (the last second of the
    // token's life is kept back): the cached token, no request.
    tokio::time::advance(secs(3599) - Duration::from_millis(200)).await;
    assert_eq!(client.token().await.unwrap().secret(), first.secret());
    assert_eq!(fake.fetches(), 1);
    // Just after: a 503, retried as promised, then a new token.
    tokio::time::advance(Duration::from_millis(200)).await;
    fake.script_fetches([Reply::Status(503, vec![], String::new())]);
    let got = client.token().await.unwrap();
    assert_ne!(got.secret(), first.secret());
    assert_eq!(fake.fetches(), 3);
}

#[tokio::test(start_paused = true)]
async fn s3_a_domain_api_outage_longer_than_its_ttl_is_no_token_outage() {
    let fake = Fake::new();
    let client = fake.client().domain_ttl(secs(600)).build().unwrap();
    client.token().await.unwrap();
    fake.script_lookups(std::iter::repeat_n(
        Reply::Status(503, vec![], String::new()),
        1000,
    ));
    // Six hours: every refresh finds the map due, the lookup fails in the
    // background, and the stale map still names Sentinel.
    let mut errors = 0;
    for _ in 0..(6 * 60) {
        tokio::time::advance(secs(60)).await;
        settle().await;
        if client.token().await.is_err() {
            errors += 1;
        }
    }
    assert_eq!(errors, 0);
    assert!(fake.fetches() >= 6, "{} token requests", fake.fetches());
    assert!(fake.lookups() > 1, "the map was looked up again");
}

#[tokio::test(start_paused = true)]
async fn s3_a_connection_problem_to_sentinel_keeps_the_map() {
    let fake = Fake::new();
    fake.script_fetches([Reply::Fail(TransportError::timeout())]);
    fake.script_lookups([Reply::Ok, Reply::Status(503, vec![], String::new())]);
    let client = fake.client().build().unwrap();
    // The timeout makes the map due; its re-lookup fails in the background
    // and the retry still goes to the host the map named.
    client.token().await.unwrap();
    settle().await;
    assert_eq!(fake.fetches(), 2);
    // Looked up again in the background (once more if the first re-lookup
    // failed before the retry), never waited for.
    assert!((2..=3).contains(&fake.lookups()), "{}", fake.lookups());
}

#[tokio::test(start_paused = true)]
async fn s4_a_failed_jwks_refetch_does_not_lock_verification_out() {
    let fake = Fake::new();
    let client = fake
        .bare_client()
        .verify_with(VerifyWith::Jwks)
        .retry_policy(RetryPolicy::no_retry())
        .build()
        .unwrap();
    client.token().await.unwrap();
    tokio::time::advance(secs(31)).await;
    // Rotation; the first refetch fails.
    fake.rotate_to(TestKey::B, "appjwt-02-02-20");
    fake.script_jwks([Reply::Status(503, vec![], String::new())]);
    client.invalidate();
    client.token().await.unwrap_err();
    assert_eq!(fake.jwks_fetches(), 2);
    // Not locked out for 30 s: once the short hold-off has passed, the
    // next token is verified against a new fetch.
    tokio::time::advance(secs(1)).await;
    let token = client.token().await.unwrap();
    assert_eq!(token.header().kid.as_deref(), Some("appjwt-02-02-20"));
    assert_eq!(fake.jwks_fetches(), 3);
}

#[tokio::test(start_paused = true)]
async fn s4_the_key_set_is_refetched_on_a_schedule() {
    let fake = Fake::new();
    let client = fake
        .bare_client()
        .verify_with(VerifyWith::Jwks)
        .jwks_refresh_interval(secs(600))
        .build()
        .unwrap();
    client.token().await.unwrap();
    assert_eq!(fake.jwks_fetches(), 1);
    tokio::time::sleep(secs(601)).await;
    settle().await;
    assert_eq!(fake.jwks_fetches(), 2, "refetched in the background");
}

#[tokio::test(start_paused = true)]
async fn s5_the_refresh_ahead_runs_off_the_callers_path() {
    let fake = Fake::new();
    let client = fake.client().domain_ttl(secs(100_000)).build().unwrap();
    let first = client.token().await.unwrap();
    fake.script_fetches(std::iter::repeat_n(Reply::Hang, 10));
    tokio::time::advance(secs(3301)).await;
    // Sentinel hangs: the caller is not held.
    let started = tokio::time::Instant::now();
    let got = client.token().await.unwrap();
    assert_eq!(got.secret(), first.secret());
    assert_eq!(tokio::time::Instant::now(), started, "the caller waited");
    // A caller that times out after 500 ms cancels nothing: the refresh
    // started on its own when the token became due.
    fake.script_fetches([]);
    let _ = tokio::time::timeout(Duration::from_millis(500), client.token()).await;
    assert_eq!(client.status().state, TokenState::Refreshing);
}

#[tokio::test(start_paused = true)]
async fn s5_a_short_caller_timeout_does_not_cancel_the_refresh() {
    let fake = Fake::new();
    fake.set_latency(secs(2));
    let client = fake.client().build().unwrap();
    // Every caller gives up after 500 ms; the fetch goes on and the
    // fourth caller finds a token.
    for _ in 0..3 {
        let r = tokio::time::timeout(Duration::from_millis(500), client.token()).await;
        assert!(r.is_err());
    }
    assert!(client.token().await.is_ok());
    assert_eq!(fake.fetches(), 1);
}

#[tokio::test(start_paused = true)]
async fn s6_waiters_get_the_servers_outcome_not_another_callers_deadline() {
    let fake = Fake::new();
    fake.set_latency(secs(20));
    fake.script_fetches([invalid_client()]);
    let client = fake
        .client()
        .sentinel_host(lp_appjwt::Host::parse(SENTINEL).unwrap())
        .retry_policy(RetryPolicy {
            deadline: secs(30),
            ..RetryPolicy::default()
        })
        .build()
        .unwrap();
    let early = tokio::spawn({
        let client = client.clone();
        async move { client.token().await }
    });
    tokio::time::advance(secs(15)).await;
    // Joins 15 s later: its own deadline is 45 s, the fetch answers at 20 s.
    let late = client.token().await.unwrap_err();
    assert!(
        matches!(late, Error::Token(TokenError::Rejected { .. })),
        "{late:?}"
    );
    let early = early.await.unwrap().unwrap_err();
    assert!(
        matches!(early, Error::Token(TokenError::Rejected { .. })),
        "{early:?}"
    );
    assert_eq!(fake.fetches(), 1);
}

#[tokio::test(start_paused = true)]
async fn s7_an_idp_401_for_its_own_reasons_does_not_refetch_per_consumer() {
    let fake = Fake::new();
    let client = fake.client().build().unwrap();
    client.token().await.unwrap();
    fake.script_consumers((0..40).map(|_| Reply::Status(401, vec![], String::new())));
    for i in 0..20 {
        let ext = ExtConsumerId::new(format!("c{i}")).unwrap();
        client.consumer_jws(&ext).await.unwrap_err();
    }
    assert_eq!(fake.fetches(), 2, "one invalidation within the rate limit");
}

#[tokio::test(start_paused = true)]
async fn s7_a_waiter_for_another_callers_consumer_request_has_a_deadline() {
    let fake = Fake::new();
    let client = fake
        .client()
        .retry_policy(RetryPolicy {
            deadline: secs(10),
            ..RetryPolicy::default()
        })
        .build()
        .unwrap();
    client.token().await.unwrap();
    fake.script_consumers([Reply::Hang]);
    let ext = ExtConsumerId::new("a").unwrap();
    let first = tokio::spawn({
        let client = client.clone();
        let ext = ext.clone();
        async move { client.consumer_jws(&ext).await }
    });
    tokio::time::advance(secs(5)).await;
    let started = tokio::time::Instant::now();
    let err = client.consumer_jws(&ext).await.unwrap_err();
    assert!(matches!(err, Error::DeadlineExceeded { .. }), "{err:?}");
    assert!(tokio::time::Instant::now() - started <= secs(10));
    first.abort();
}

#[tokio::test(start_paused = true)]
async fn s8_a_token_with_no_lifetime_is_an_error_not_an_expired_token() {
    for spec in [
        TokenSpec {
            expires_in: Some(0),
            ..TokenSpec::default()
        },
        TokenSpec {
            expires_in: None,
            exp_in: -10,
            ..TokenSpec::default()
        },
    ] {
        let fake = Fake::new();
        fake.script_fetches(std::iter::repeat_n(Reply::Token(spec.clone()), 100));
        let client = fake.client().build().unwrap();
        let err = client.token().await.unwrap_err();
        assert!(matches!(err, Error::NoLifetime { .. }), "{err:?}");
        for _ in 0..10 {
            assert!(client.token().await.is_err());
        }
        assert_eq!(fake.fetches(), 1, "remembered, not fetched per call");
    }
}

#[tokio::test(start_paused = true)]
async fn s9_server_strings_in_errors_are_escaped() {
    let fake = Fake::new();
    fake.script_fetches([Reply::Token(TokenSpec {
        iss: "Evil\n[ERROR] forged log line\u{1b}[31m".to_owned(),
        ..TokenSpec::default()
    })]);
    let client = fake.client().build().unwrap();
    let err = client.token().await.unwrap_err();
    let text = err.to_string();
    assert!(!text.contains('\n') && !text.contains('\u{1b}'), "{text}");
    assert!(text.contains("Evil"), "{text}");
}

#[tokio::test(start_paused = true)]
async fn s7_invalidating_a_consumer_keeps_what_the_idp_said() {
    let fake = Fake::new();
    let client = fake
        .client()
        .retry_policy(RetryPolicy::no_retry())
        .build()
        .unwrap();
    fake.script_consumers([throttled(60)]);
    let ext = ExtConsumerId::new("a").unwrap();
    assert!(client.consumer_jws(&ext).await.unwrap_err().is_throttled());
    client.invalidate_consumer(&ext);
    let err = client.consumer_jws(&ext).await.unwrap_err();
    assert!(matches!(err, Error::Backoff { .. }), "{err:?}");
    assert_eq!(
        fake.consumer_requests(),
        1,
        "asked again before Retry-After"
    );
}
