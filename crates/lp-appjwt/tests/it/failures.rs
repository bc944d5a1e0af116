//! Failures: what is retried, how long it waits, and what callers see.

use std::time::Duration;

use lp_appjwt::{Error, RetryPolicy, TransportError, TransportErrorKind};
use lp_domain::DomainError;
use lp_oauth::TokenError;

use crate::support::*;

fn status(code: u16, body: &str) -> Reply {
    Reply::Status(
        code,
        vec![("content-type", "application/json".to_owned())],
        body.to_owned(),
    )
}

fn bad_token(f: impl FnOnce(&mut TokenSpec)) -> Reply {
    let mut spec = TokenSpec::default();
    f(&mut spec);
    Reply::Token(spec)
}

/// Asks once with a fake that answers `reply` to the first token request;
/// the error must satisfy `expected` and exactly one request must be sent.
async fn check_not_retried(reply: Reply, expected: fn(&Error) -> bool) {
    let fake = Fake::new();
    fake.script_fetches([reply]);
    let client = fake.client().build().unwrap();
    let err = client.token().await.unwrap_err();
    assert!(expected(&err), "unexpected error {err:?}");
    assert!(!err.is_retryable(), "{err:?}");
    assert_eq!(fake.fetches(), 1, "{err:?} was retried");
    assert_error_clean(&err);
}

#[tokio::test(start_paused = true)]
async fn rejections_and_bad_tokens_are_not_retried() {
    let invalid_client = r#"{"error":"invalid_client","error_description":"bad secret"}"#;
    check_not_retried(status(401, invalid_client), |e| {
        matches!(e, Error::Token(TokenError::Rejected { status, oauth: Some(o) })
            if status.as_u16() == 401 && o.error == "invalid_client")
    })
    .await;
    for code in [400, 403, 404, 405, 418] {
        check_not_retried(status(code, "{}"), |e| {
            matches!(e, Error::Token(TokenError::Rejected { .. }))
        })
        .await;
    }
    // Redirects are not followed: a 3xx is an error of its own.
    check_not_retried(
        Reply::Status(302, vec![("location", "https://evil.example/".to_owned())], String::new()),
        |e| matches!(e, Error::Token(TokenError::UnexpectedStatus { status }) if status.as_u16() == 302),
    )
    .await;
    check_not_retried(status(200, "not json"), |e| {
        matches!(e, Error::Token(TokenError::Malformed { .. }))
    })
    .await;
    check_not_retried(
        status(200, r#"{"access_token":"not-a-jwt","token_type":"Bearer"}"#),
        |e| matches!(e, Error::Decode(_)),
    )
    .await;
    check_not_retried(bad_token(|s| s.aud = "99999999".into()), |e| {
        matches!(
            e,
            Error::Validation(lp_jwt::ValidationError::Audience { .. })
        )
    })
    .await;
    check_not_retried(bad_token(|s| s.azp = "someone-else".into()), |e| {
        matches!(
            e,
            Error::Validation(lp_jwt::ValidationError::AuthorizedParty { .. })
        )
    })
    .await;
    check_not_retried(bad_token(|s| s.iss = "Mallory".into()), |e| {
        matches!(e, Error::Validation(lp_jwt::ValidationError::Issuer { .. }))
    })
    .await;
    check_not_retried(
        bad_token(|s| {
            s.exp_in = -3600;
            s.expires_in = None;
        }),
        |e| {
            matches!(
                e,
                Error::Validation(lp_jwt::ValidationError::Expired { .. })
            )
        },
    )
    .await;
    // An untrusted certificate stays untrusted.
    check_not_retried(
        Reply::Fail(TransportError::tls()),
        |e| matches!(e, Error::Transport(t) if t.kind() == TransportErrorKind::Tls),
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn domain_api_rejection_is_not_retried() {
    let fake = Fake::new();
    fake.script_lookups([status(401, "")]);
    let client = fake.client().build().unwrap();
    let err = client.token().await.unwrap_err();
    assert!(
        matches!(&err, Error::Domain(DomainError::Status { status, .. }) if status.as_u16() == 401),
        "{err:?}"
    );
    assert_eq!((fake.lookups(), fake.fetches()), (1, 0));

    // A map without sentinel is a typed error too.
    let fake = Fake::new();
    fake.script_lookups([status(200, r#"{"baseURIs":[]}"#)]);
    let err = fake.client().build().unwrap().token().await.unwrap_err();
    assert!(
        matches!(err, Error::Domain(DomainError::ServiceNotFound { .. })),
        "{err:?}"
    );
}

/// A 429 with `retry_after` (the header value, if any) followed by success:
/// the second request must come exactly `expected` later.
async fn check_throttle(retry_after: Option<String>, expected: Duration) {
    let fake = Fake::new();
    let headers = retry_after
        .iter()
        .map(|v| ("retry-after", v.clone()))
        .collect();
    fake.script_fetches([Reply::Status(429, headers, String::new())]);
    let client = fake.client().build().unwrap();
    client.token().await.unwrap();
    assert_eq!(fake.fetches(), 2);
    assert_eq!(
        fake.fetch_gaps(),
        vec![expected],
        "retry-after {retry_after:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn throttling_waits_for_retry_after_and_at_least_one_second() {
    check_throttle(Some("7".into()), secs(7)).await;
    check_throttle(Some("0".into()), secs(1)).await;
    check_throttle(None, secs(1)).await;
    // An HTTP date is read against the injected wall clock (the fake's
    // clock, which starts at WALL_START when the fake is made).
    check_throttle(Some("Mon, 04 Nov 2019 16:01:00 GMT".into()), secs(13)).await;
    // Garbage is ignored, the minimum applies.
    check_throttle(Some("soon".into()), secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn throttling_beyond_the_deadline_gives_up_at_once() {
    let fake = Fake::new();
    fake.script_fetches([Reply::Status(
        429,
        vec![("retry-after", "120".into())],
        String::new(),
    )]);
    let client = fake.client().build().unwrap();
    let started = tokio::time::Instant::now();
    let err = client.token().await.unwrap_err();
    assert!(
        matches!(&err, Error::DeadlineExceeded { attempts: 1, last }
            if matches!(**last, Error::Token(TokenError::Throttled { .. }))),
        "{err:?}"
    );
    assert!(err.is_throttled());
    assert_eq!(tokio::time::Instant::now(), started);
    assert_eq!(fake.fetches(), 1);
}

#[tokio::test(start_paused = true)]
async fn server_errors_are_retried_with_backoff_then_surfaced() {
    let fake = Fake::new();
    fake.script_fetches(std::iter::repeat_n(status(503, ""), 4));
    let client = fake.client().build().unwrap();
    let err = client.token().await.unwrap_err();
    assert!(
        matches!(&err, Error::Token(TokenError::Server { status, .. }) if status.as_u16() == 503),
        "{err:?}"
    );
    assert!(err.is_retryable());
    assert_eq!(fake.fetches(), 4);
    // Full jitter: each pause is at most base * 2^n, capped.
    let gaps = fake.fetch_gaps();
    let caps = [500, 1000, 2000].map(Duration::from_millis);
    assert_eq!(gaps.len(), 3);
    for (gap, cap) in gaps.iter().zip(caps) {
        assert!(*gap <= cap, "{gaps:?}");
    }
    assert_error_clean(&err);

    // Two failures, then Sentinel recovers: the caller never sees them.
    let fake = Fake::new();
    fake.script_fetches([
        status(500, ""),
        Reply::Fail(TransportError::connect()),
        Reply::Ok,
    ]);
    let client = fake.client().build().unwrap();
    client.token().await.unwrap();
    assert_eq!(fake.fetches(), 3);
}

#[tokio::test(start_paused = true)]
async fn the_deadline_bounds_a_hanging_transport() {
    let fake = Fake::new();
    fake.set_latency(secs(3600));
    let client = fake
        .client()
        .retry_policy(RetryPolicy {
            deadline: secs(10),
            ..RetryPolicy::default()
        })
        .build()
        .unwrap();
    let started = tokio::time::Instant::now();
    let err = client.token().await.unwrap_err();
    assert!(
        matches!(err, Error::DeadlineExceeded { attempts: 1, .. }),
        "{err:?}"
    );
    assert_eq!(tokio::time::Instant::now() - started, secs(10));
}

#[tokio::test(start_paused = true)]
async fn connection_error_to_sentinel_looks_it_up_again() {
    let fake = Fake::new();
    fake.script_fetches([Reply::Fail(TransportError::connect())]);
    let client = fake.client().build().unwrap();
    client.token().await.unwrap();
    assert_eq!((fake.lookups(), fake.fetches()), (2, 2));

    // A 5xx is not a sign of a stale host: the map is kept.
    let fake = Fake::new();
    fake.script_fetches([status(503, "")]);
    let client = fake.client().build().unwrap();
    client.token().await.unwrap();
    assert_eq!((fake.lookups(), fake.fetches()), (1, 2));
}

#[tokio::test(start_paused = true)]
async fn failing_refresh_serves_the_cached_token_until_it_expires() {
    let fake = Fake::new();
    let client = fake.client().domain_ttl(secs(100_000)).build().unwrap();
    let first = client.token().await.unwrap();
    fake.script_fetches(std::iter::repeat_n(status(503, ""), 10_000));

    // Through the refresh window every refresh fails, in the background,
    // and every caller gets the cached token.
    tokio::time::advance(secs(3300)).await;
    let mut served = 0;
    // Handed out until its last second.
    while first.remaining() > Duration::from_millis(1250) {
        assert_eq!(client.token().await.unwrap().secret(), first.secret());
        served += 1;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(served > 1000);
    // Between two failed refreshes, or in the middle of one (the backoff
    // is jittered, so which one this instant falls in varies).
    let state = client.status().state;
    assert!(
        matches!(
            state,
            lp_appjwt::TokenState::ServingStale | lp_appjwt::TokenState::Refreshing
        ),
        "{state:?}"
    );
    // Each refresh runs the retry policy (4 attempts) and then backs off
    // up to 15 s: a few dozen refreshes in 5 minutes at most.
    let attempts_in_window = fake.fetches() - 1;
    assert!(
        (8..=4 * 50).contains(&attempts_in_window),
        "{attempts_in_window} attempts"
    );

    // In its last second, and then expired: now callers see the failure.
    tokio::time::sleep(secs(1)).await;
    let err = client.token().await.unwrap_err();
    assert!(
        matches!(err.root(), Error::Token(TokenError::Server { .. })),
        "{err:?}"
    );
}

/// Fails the test instead of hanging it: paused time jumps to this timer
/// when nothing else can make progress.
async fn within<T>(limit: Duration, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(limit, f)
        .await
        .expect("hung: a caller waited without bound")
}

#[tokio::test(start_paused = true)]
async fn a_refresh_that_never_answers_is_bounded() {
    // (While the token is due and valid no caller waits at all:
    // `engine::s5_the_refresh_ahead_runs_off_the_callers_path`.)
    let fake = Fake::new();
    let client = fake.client().domain_ttl(secs(100_000)).build().unwrap();
    client.token().await.unwrap();
    fake.script_fetches(std::iter::repeat_n(Reply::Hang, 100));
    tokio::time::advance(secs(3301)).await;

    // Past the end every caller gets an error within its own deadline.
    tokio::time::sleep(secs(300)).await;
    let started = tokio::time::Instant::now();
    let callers: Vec<_> = (0..3)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.token().await })
        })
        .collect();
    let mut last = None;
    for caller in callers {
        let err = within(secs(100), caller).await.unwrap().unwrap_err();
        assert!(matches!(err, Error::DeadlineExceeded { .. }), "{err:?}");
        last = Some(err);
    }
    assert!(tokio::time::Instant::now() - started <= secs(30));
    assert_error_clean(&last.unwrap());
}

#[tokio::test(start_paused = true)]
async fn a_follower_waits_no_longer_than_the_retry_deadline_in_all() {
    let fake = Fake::new();
    fake.script_fetches(std::iter::repeat_n(Reply::Hang, 100));
    let client = fake.client().build().unwrap();
    // The leader starts a fetch and is cancelled 25 s later; the follower,
    // waiting since 20 s, fetches in its turn but only until 20 + 30 s.
    let leader = tokio::spawn({
        let client = client.clone();
        async move { client.token().await }
    });
    tokio::task::yield_now().await;
    tokio::time::advance(secs(20)).await;
    let started = tokio::time::Instant::now();
    let follower = tokio::spawn({
        let client = client.clone();
        async move { client.token().await }
    });
    tokio::task::yield_now().await;
    tokio::time::advance(secs(5)).await;
    leader.abort();
    // The fetch the leader started goes on; the follower gets its outcome
    // (its own deadline is later), at the fetch's deadline.
    let err = within(secs(100), follower).await.unwrap().unwrap_err();
    assert!(matches!(err, Error::DeadlineExceeded { .. }), "{err:?}");
    assert!(tokio::time::Instant::now() - started <= secs(30));
}

/// A policy whose deadline leaves room for a 30 s `Retry-After`.
fn patient() -> RetryPolicy {
    RetryPolicy {
        deadline: secs(120),
        ..RetryPolicy::default()
    }
}

#[tokio::test(start_paused = true)]
async fn domain_api_retry_after_is_honoured() {
    for code in [429, 503] {
        let fake = Fake::new();
        fake.script_lookups([Reply::Status(
            code,
            vec![("retry-after", "30".to_owned())],
            String::new(),
        )]);
        let client = fake.client().retry_policy(patient()).build().unwrap();
        let started = tokio::time::Instant::now();
        client.token().await.unwrap();
        assert_eq!(tokio::time::Instant::now() - started, secs(30), "{code}");
        assert_eq!((fake.lookups(), fake.fetches()), (2, 1), "{code}");
    }

    // What the error tells the caller.
    let fake = Fake::new();
    fake.script_lookups([Reply::Status(
        429,
        vec![("retry-after", "30".to_owned())],
        String::new(),
    )]);
    let client = fake
        .client()
        .retry_policy(RetryPolicy::no_retry())
        .build()
        .unwrap();
    let err = client.domains().await.unwrap_err();
    assert!(err.is_throttled(), "{err:?}");
    assert_eq!(
        err.retry_after(),
        Some(lp_appjwt::RetryAfter::Delay(secs(30)))
    );
}

#[tokio::test(start_paused = true)]
async fn key_set_retry_after_is_honoured() {
    for code in [429, 503] {
        let fake = Fake::new();
        fake.script_jwks([Reply::Status(
            code,
            vec![("retry-after", "30".to_owned())],
            String::new(),
        )]);
        let client = fake
            .bare_client()
            .verify_with(lp_appjwt::VerifyWith::Jwks)
            .retry_policy(patient())
            .build()
            .unwrap();
        let started = tokio::time::Instant::now();
        client.token().await.unwrap();
        assert_eq!(tokio::time::Instant::now() - started, secs(30), "{code}");
        assert_eq!(fake.jwks_fetches(), 2, "{code}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_failed_refresh_does_not_serve_a_token_invalidated_meanwhile() {
    let fake = Fake::new();
    let client = fake.client().domain_ttl(secs(100_000)).build().unwrap();
    let old = client.token().await.unwrap();
    // Due for refresh; the background refresh takes 5 s and fails.
    fake.set_latency(secs(5));
    fake.script_fetches(std::iter::repeat_n(status(503, ""), 4));
    tokio::time::advance(secs(3301)).await;
    settle().await;
    // A 401 elsewhere while the refresh runs.
    client.invalidate();
    fake.set_latency(Duration::ZERO);
    // The next caller never gets the invalidated token.
    let got = within(secs(100), client.token()).await;
    if let Ok(t) = &got {
        assert_ne!(t.secret(), old.secret());
    }
    tokio::time::sleep(secs(20)).await;
    let new = client.token().await.unwrap();
    assert_ne!(new.secret(), old.secret());
}
