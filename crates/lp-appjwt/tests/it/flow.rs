//! The happy path: exact requests, caching, refresh ahead.

use std::time::Duration;

use lp_appjwt::{ApiVersion, Host};

use crate::support::*;

#[tokio::test(start_paused = true)]
async fn v1_looks_up_sentinel_then_fetches_a_validated_token() {
    let fake = Fake::new();
    let client = fake.client().build().unwrap();
    let jwt = client.token().await.unwrap();
    assert_eq!((fake.lookups(), fake.fetches()), (1, 1));

    let claims = jwt.claims();
    assert_eq!(claims.azp.as_deref(), Some(CLIENT_ID));
    assert_eq!(claims.iss.as_deref(), Some("Sentinel"));
    assert_eq!(claims.scope.as_deref(), Some("msg.consumer"));
    assert_eq!(jwt.header().kid.as_deref(), Some("appjwt-13-05-17"));
    assert_eq!(jwt.token_type(), "Bearer");
    assert_eq!(jwt.secret().split('.').count(), 3);
    assert_eq!(jwt.authorization_header_value(), jwt.secret());
    assert_eq!(jwt.remaining(), secs(3600));
    assert_eq!(jwt.expires_at_system(), fake.clock.now() + secs(3600));
}

#[tokio::test(start_paused = true)]
async fn v2_with_a_fixed_sentinel_skips_the_lookup() {
    let mut fake = Fake::with_version(ApiVersion::V2);
    std::sync::Arc::get_mut(&mut fake).unwrap().sentinel = "127.0.0.1:8443".to_owned();
    let client = fake
        .client()
        .sentinel_host(Host::parse("127.0.0.1:8443").unwrap())
        .build()
        .unwrap();
    client.token().await.unwrap();
    assert_eq!((fake.lookups(), fake.fetches()), (0, 1));
}

#[tokio::test(start_paused = true)]
async fn cached_token_is_reused_until_the_refresh_point() {
    let fake = Fake::new();
    let client = fake.client().build().unwrap();
    let first = client.token().await.unwrap();
    for _ in 0..100 {
        assert_eq!(client.token().await.unwrap().secret(), first.secret());
    }
    tokio::time::advance(secs(3600 - 300 - 1)).await;
    assert_eq!(client.token().await.unwrap().secret(), first.secret());
    assert_eq!(fake.fetches(), 1);

    // The refresh runs in the background from the refresh point on.
    tokio::time::advance(secs(2)).await;
    settle().await;
    let second = client.token().await.unwrap();
    assert_ne!(second.secret(), first.secret());
    assert_eq!(fake.fetches(), 2);
    // The domain map's TTL (600 s) ran out meanwhile, so the refresh looked
    // sentinel up again.
    assert_eq!(fake.lookups(), 2);
}

#[tokio::test(start_paused = true)]
async fn domain_map_is_cached_for_its_ttl() {
    let fake = Fake::new();
    let client = fake
        .client()
        .domain_ttl(secs(600))
        .invalidate_min_interval(Duration::ZERO)
        .build()
        .unwrap();
    client.token().await.unwrap();
    tokio::time::advance(secs(599)).await;
    client.invalidate();
    client.token().await.unwrap();
    assert_eq!((fake.lookups(), fake.fetches()), (1, 2));
    tokio::time::advance(secs(2)).await;
    client.invalidate();
    client.token().await.unwrap();
    assert_eq!((fake.lookups(), fake.fetches()), (2, 3));

    // `domains()` shares the cache and asks the Domain API only when stale.
    let map = client.domains().await.unwrap();
    assert_eq!(
        map.get("sentinel").map(|h| h.to_string()).as_deref(),
        Some(SENTINEL)
    );
    assert_eq!(map.len(), 3);
    assert_eq!(fake.lookups(), 2);
}

/// One case of the refresh-point table: the answer's `expires_in` and `exp`,
/// the fake's latency, and when (after the call returned) a refresh must
/// happen.
struct RefreshCase {
    expires_in: Option<u64>,
    exp_in: i64,
    latency: u64,
    refresh_after: u64,
}

async fn check_refresh(case: RefreshCase) {
    let fake = Fake::new();
    fake.set_latency(secs(case.latency));
    fake.script_fetches([Reply::Token(TokenSpec {
        expires_in: case.expires_in,
        exp_in: case.exp_in,
        ..TokenSpec::default()
    })]);
    let client = fake.client().build().unwrap();
    let first = client.token().await.unwrap();
    let label = format!("expires_in {:?} exp +{}", case.expires_in, case.exp_in);

    tokio::time::advance(secs(case.refresh_after) - Duration::from_millis(1)).await;
    assert_eq!(
        client.token().await.unwrap().secret(),
        first.secret(),
        "{label}"
    );
    assert_eq!(fake.fetches(), 1, "{label}: refreshed too early");

    tokio::time::advance(Duration::from_millis(2)).await;
    // The background refresh started at the refresh point; let it answer.
    tokio::time::sleep(secs(case.latency)).await;
    settle().await;
    assert_ne!(
        client.token().await.unwrap().secret(),
        first.secret(),
        "{label}"
    );
    assert_eq!(fake.fetches(), 2, "{label}: did not refresh");
}

#[tokio::test(start_paused = true)]
async fn refresh_point_follows_the_lifetime() {
    let cases = [
        // Both agree; refresh 5 min before the end.
        RefreshCase {
            expires_in: Some(3600),
            exp_in: 3600,
            latency: 0,
            refresh_after: 3300,
        },
        // Without expires_in the lifetime is exp minus the injected clock.
        RefreshCase {
            expires_in: None,
            exp_in: 3600,
            latency: 0,
            refresh_after: 3300,
        },
        RefreshCase {
            expires_in: None,
            exp_in: 1800,
            latency: 0,
            refresh_after: 1500,
        },
        // The shorter of expires_in and exp counts: here expires_in.
        RefreshCase {
            expires_in: Some(1200),
            exp_in: 3600,
            latency: 0,
            refresh_after: 900,
        },
        // ... and here exp, earlier than expires_in says: never served
        // past its own exp.
        RefreshCase {
            expires_in: Some(3600),
            exp_in: 1200,
            latency: 0,
            refresh_after: 900,
        },
        // Short lifetimes refresh at half-life, not immediately.
        RefreshCase {
            expires_in: Some(120),
            exp_in: 3600,
            latency: 0,
            refresh_after: 60,
        },
        RefreshCase {
            expires_in: None,
            exp_in: 10,
            latency: 0,
            refresh_after: 5,
        },
        // Lifetime is measured from when the token request was sent: 2 s
        // of latency (on the lookup and on the token request) move the
        // refresh point 2 s closer to the answer.
        RefreshCase {
            expires_in: Some(3600),
            exp_in: 3600,
            latency: 2,
            refresh_after: 3298,
        },
        RefreshCase {
            expires_in: None,
            exp_in: 3600,
            latency: 2,
            refresh_after: 3298,
        },
        // Absurd lifetimes are capped at a day.
        RefreshCase {
            expires_in: Some(10_000_000),
            exp_in: 10_000_000,
            latency: 0,
            refresh_after: 86_100,
        },
    ];
    for case in cases {
        check_refresh(case).await;
    }
}

#[tokio::test(start_paused = true)]
async fn jitter_moves_the_refresh_point_earlier_only() {
    let fake = Fake::new();
    let client = fake.client().refresh_jitter(secs(60)).build().unwrap();
    let first = client.token().await.unwrap();
    // Latest possible refresh point: 3300 s; earliest 3240 s.
    tokio::time::advance(secs(3239)).await;
    assert_eq!(client.token().await.unwrap().secret(), first.secret());
    assert_eq!(fake.fetches(), 1);
    tokio::time::advance(secs(61)).await;
    settle().await;
    client.token().await.unwrap();
    assert_eq!(fake.fetches(), 2);
}

#[tokio::test(start_paused = true)]
async fn during_a_refresh_callers_get_the_cached_token_at_once() {
    let fake = Fake::new();
    let client = fake.client().domain_ttl(secs(100_000)).build().unwrap();
    let first = client.token().await.unwrap();
    fake.set_latency(secs(5));
    // The refresh point: the background refresh starts and takes 5 s.
    tokio::time::advance(secs(3301)).await;
    settle().await;
    let started = tokio::time::Instant::now();
    for _ in 0..100 {
        assert_eq!(client.token().await.unwrap().secret(), first.secret());
    }
    assert_eq!(tokio::time::Instant::now(), started, "a caller waited");
    assert_eq!(fake.fetches(), 2);
    tokio::time::sleep(secs(5)).await;
    settle().await;
    assert_ne!(client.token().await.unwrap().secret(), first.secret());
    assert_eq!(fake.fetches(), 2);
}

#[tokio::test(start_paused = true)]
async fn prefetch_fetches_at_build_so_the_first_call_finds_a_token() {
    let fake = Fake::new();
    fake.set_latency(secs(1));
    let client = fake.client().prefetch(true).build().unwrap();
    // The service's own start-up: nobody has asked for a token yet.
    tokio::time::sleep(secs(5)).await;
    assert_eq!((fake.lookups(), fake.fetches()), (1, 1));
    let started = tokio::time::Instant::now();
    client.token().await.unwrap();
    assert_eq!(
        started.elapsed(),
        Duration::ZERO,
        "no wait on the first call"
    );
    assert_eq!(fake.fetches(), 1);
    // With a token cached there is nothing to start.
    assert!(!client.prefetch());
    settle().await;
    assert_eq!(fake.fetches(), 1);
}

#[tokio::test(start_paused = true)]
async fn without_prefetch_nothing_is_fetched_until_asked() {
    let fake = Fake::new();
    let client = fake.client().build().unwrap();
    tokio::time::sleep(secs(5)).await;
    assert_eq!((fake.lookups(), fake.fetches()), (0, 0));
    // Later, by hand: one fetch, and a second call while it runs starts none.
    assert!(client.prefetch());
    assert!(!client.prefetch());
    settle().await;
    assert_eq!(fake.fetches(), 1);
    client.token().await.unwrap();
    assert_eq!(fake.fetches(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_failed_prefetch_is_remembered_like_any_failure() {
    let fake = Fake::new();
    fake.script_fetches([Reply::Status(
        429,
        vec![("retry-after", "120".to_owned())],
        String::new(),
    )]);
    let client = fake.client().prefetch(true).build().unwrap();
    settle().await;
    tokio::time::sleep(secs(60)).await;
    // The prefetch's 429 holds: no second request before Retry-After.
    let err = client.token().await.unwrap_err();
    assert!(matches!(err, lp_appjwt::Error::Backoff { .. }), "{err:?}");
    assert!(!client.prefetch());
    assert_eq!(fake.fetches(), 1);
}

#[test]
fn prefetch_outside_a_runtime_is_a_build_error_not_a_panic() {
    let fake = Fake::new();
    let err = fake.client().prefetch(true).build().unwrap_err();
    assert!(matches!(err, lp_appjwt::BuildError::NoRuntime), "{err:?}");
    assert!(err.to_string().contains("tokio runtime"), "{err}");
    let client = fake.client().build().unwrap();
    assert!(!client.prefetch());
}

#[tokio::test(start_paused = true)]
async fn a_cold_v2_start_asks_for_the_key_set_alongside_the_token() {
    let mut fake = Fake::with_version(ApiVersion::V2);
    std::sync::Arc::get_mut(&mut fake).unwrap().sentinel = "127.0.0.1:8443".to_owned();
    // Every request takes a second to answer.
    fake.set_latency(secs(1));
    let client = fake
        .client()
        .sentinel_host(Host::parse("127.0.0.1:8443").unwrap())
        .verify_with(lp_appjwt::VerifyWith::Jwks)
        .build()
        .unwrap();
    let started = tokio::time::Instant::now();
    let jwt = client.token().await.unwrap();
    assert!(jwt.is_verified());
    // One answer's time, not two: the key set and the token were asked
    // for at once.
    assert_eq!(started.elapsed(), secs(1));
    assert_eq!((fake.jwks_fetches(), fake.fetches()), (1, 1));
}

// The machine sleeps: CLOCK_MONOTONIC (tokio's clock) stops, the wall
// clock goes on. A token must never be handed out past its `exp`.

#[tokio::test(start_paused = true)]
async fn after_a_suspend_longer_than_its_life_the_token_is_never_handed_out() {
    let fake = Fake::new();
    let client = fake.client().build().unwrap();
    let before = client.token().await.unwrap();
    // Warm the fresh path, then sleep two hours.
    for _ in 0..10 {
        client.token().await.unwrap();
    }
    suspend_for(secs(2 * 3600));
    for _ in 0..10 {
        let jwt = client.token().await.unwrap();
        assert_ne!(
            jwt.secret(),
            before.secret(),
            "an expired token was handed out"
        );
        let exp = jwt.claims().exp.unwrap().to_system_time();
        assert!(exp > fake.clock.now(), "{exp:?}");
    }
    assert_eq!(fake.fetches(), 2);
}

#[tokio::test(start_paused = true)]
async fn after_a_suspend_into_the_refresh_margin_the_refresh_starts_at_once() {
    let fake = Fake::new();
    let client = fake.client().build().unwrap();
    let before = client.token().await.unwrap();
    // Past the refresh point (55 min), before the end (60 min).
    suspend_for(secs(56 * 60));
    // Still valid: handed out at once, and the refresh runs behind it.
    assert_eq!(client.token().await.unwrap().secret(), before.secret());
    settle().await;
    assert_eq!(fake.fetches(), 2);
    assert_ne!(client.token().await.unwrap().secret(), before.secret());
}

#[tokio::test(start_paused = true)]
async fn a_wall_clock_set_back_does_not_hold_the_refresh_back() {
    let fake = Fake::new();
    let client = fake.client().build().unwrap();
    let before = client.token().await.unwrap();
    set_wall_clock_back(secs(2 * 3600));
    // The monotonic refresh point passes; the wall clock says two hours
    // earlier, but the cell's timer still ends the token's freshness.
    tokio::time::advance(secs(3600 - 300 + 1)).await;
    settle().await;
    assert_eq!(fake.fetches(), 2);
    assert_ne!(client.token().await.unwrap().secret(), before.secret());
}
