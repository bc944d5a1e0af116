//! The ordinary life of a client: lookup, fetch, validate, cache, refresh.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use lp_appjwt::ApiVersion;
use lp_emulator::{Endpoint, Fault};
use lp_jwt::NumericDate;

use crate::support::{self, ACCOUNT, CLIENT_ID, SECRET};

#[tokio::test]
async fn happy_path_lookup_fetch_validate() {
    let emu = support::start(support::emulator()).await;
    let client = support::client(&emu);

    let jwt = client.token().await.unwrap_or_else(|e| panic!("{e}"));

    let (h, c) = (jwt.header(), jwt.claims());
    assert_eq!(h.alg, "RS256");
    assert_eq!(h.typ.as_deref(), Some("JWT"));
    assert_eq!(h.kid_parts().map(|k| k.prefix), Some("appjwt"));
    assert!(c.aud.as_ref().is_some_and(|a| a.contains(ACCOUNT)));
    assert_eq!(c.azp.as_deref(), Some(CLIENT_ID));
    assert_eq!(c.scope.as_deref(), Some("msg.consumer"));
    assert_eq!(c.iss.as_deref(), Some("Sentinel"));
    let (exp, iat) = (
        c.exp.map(NumericDate::as_secs),
        c.iat.map(NumericDate::as_secs),
    );
    assert_eq!(exp.zip(iat).map(|(e, i)| e - i), Some(3600));
    assert_eq!(jwt.token_type().to_ascii_lowercase(), "bearer");
    let left = jwt
        .expires_at_system()
        .duration_since(SystemTime::now())
        .unwrap_or_default();
    assert!(left > Duration::from_secs(3500), "{left:?}");

    assert_eq!(emu.request_count(Endpoint::Domain), 1);
    assert_eq!(emu.request_count(Endpoint::Token), 1);
}

#[tokio::test]
async fn api_v2_and_fixed_sentinel_host_skip_the_lookup() {
    let emu = support::start(support::emulator()).await;
    let client = support::client_builder(&emu)
        .sentinel_host(emu.host())
        .api_version(ApiVersion::V2)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let jwt = client.token().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(jwt.claims().azp.as_deref(), Some(CLIENT_ID));
    assert_eq!(emu.request_count(Endpoint::Domain), 0);
    assert_eq!(emu.request_count(Endpoint::Token), 1);
}

#[tokio::test]
async fn second_call_is_served_from_the_cache() {
    let emu = support::start(support::emulator()).await;
    let client = support::client(&emu);
    let first = client.token().await.unwrap_or_else(|e| panic!("{e}"));
    let second = client.token().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(first.secret(), second.secret());
    assert_eq!(emu.request_count(Endpoint::Token), 1);
    assert_eq!(emu.request_count(Endpoint::Domain), 1);
}

#[tokio::test]
async fn refreshes_when_the_token_nears_expiry() {
    // Two-second tokens and a one-second refresh margin: after 1.2 s the
    // cached token is inside the margin and the next call fetches anew.
    let emu = support::start(support::emulator().lifetime(Duration::from_secs(2))).await;
    let client = support::client_builder(&emu)
        .refresh_ahead(Duration::from_secs(1))
        .refresh_jitter(Duration::ZERO)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let first = client.token().await.unwrap_or_else(|e| panic!("{e}"));
    tokio::time::sleep(Duration::from_millis(1200)).await;
    // Refresh-ahead may hand out the still-valid token while the refresh runs;
    // a few calls later the new one must be there.
    let mut fresh = None;
    for _ in 0..50 {
        let t = client.token().await.unwrap_or_else(|e| panic!("{e}"));
        if t.secret() != first.secret() {
            fresh = Some(t);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(fresh.is_some(), "no new token after the refresh margin");
    assert_eq!(emu.request_count(Endpoint::Token), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stampede_of_10_000_callers_makes_one_request() {
    let emu = support::start(support::emulator()).await;
    // Hold the one token request open so that every caller arrives while it
    // is in flight.
    emu.inject(Endpoint::Token, Fault::Delay(Duration::from_millis(300)), 1);
    let client = Arc::new(support::client(&emu));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..10_000 {
        let c = Arc::clone(&client);
        tasks.spawn(async move { c.token().await.map(|t| t.secret().len()) });
    }
    let mut ok = 0;
    while let Some(r) = tasks.join_next().await {
        if matches!(r, Ok(Ok(n)) if n > 0) {
            ok += 1;
        }
    }
    assert_eq!(ok, 10_000);
    assert_eq!(emu.request_count(Endpoint::Token), 1);
    assert_eq!(emu.request_count(Endpoint::Domain), 1);
}

#[tokio::test]
async fn secret_never_reaches_the_token_or_debug_output() {
    let emu = support::start(support::emulator()).await;
    let client = support::client(&emu);
    let jwt = client.token().await.unwrap_or_else(|e| panic!("{e}"));
    for text in [format!("{client:?}"), format!("{jwt:?}")] {
        assert!(!text.contains(SECRET), "{text}");
        assert!(!text.contains(jwt.secret()), "{text}");
    }
}
