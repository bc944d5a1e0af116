//! ConsumerJWS: exact request, cache, single flight per consumer, the
//! 401-refresh path, LRU bound, expiry, Send API headers.

use std::sync::Arc;
use std::time::Duration;

use lp_appjwt::{
    AppJwtClient, ConsumerError, ConsumerJws, Error, ExtConsumerId, Host, RetryPolicy,
    TransportError, X_LP_ON_BEHALF,
};

use crate::support::*;

fn ext(id: &str) -> ExtConsumerId {
    ExtConsumerId::new(id).unwrap()
}

/// The JWS payload's claims.
fn claims(jws: &ConsumerJws) -> serde_json::Value {
    use base64::Engine;
    let payload = jws.secret().split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn quick_retries() -> RetryPolicy {
    RetryPolicy {
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
        ..RetryPolicy::default()
    }
}

#[tokio::test(start_paused = true)]
async fn looks_up_idp_posts_the_exact_request_and_caches_the_answer() {
    let fake = Fake::new();
    let client = fake.client().build().unwrap();
    let id = ext("John_Doe_facebook12345");
    // The exact request (method, URI, headers, raw AppJWT, body) is checked
    // by the fake for every ConsumerJWS request.
    let jws = client.consumer_jws(&id).await.unwrap();
    let c = claims(&jws);
    assert_eq!(c["account_id"], ACCOUNT);
    assert_eq!(c["ext_consumer_id"], "John_Doe_facebook12345");
    assert_eq!(
        c["lp_consumer_id"],
        fake_lp_consumer_id("John_Doe_facebook12345")
    );
    // One lookup served both sentinel and idp.
    assert_eq!(
        (fake.lookups(), fake.fetches(), fake.consumer_requests()),
        (1, 1, 1)
    );
    let app_jwt = client.token().await.unwrap();
    assert_eq!(
        *fake.consumer_auths.lock().unwrap(),
        vec![app_jwt.secret().to_owned()]
    );

    for _ in 0..100 {
        assert_eq!(
            client.consumer_jws(&id).await.unwrap().secret(),
            jws.secret()
        );
    }
    assert_eq!(fake.consumer_requests(), 1);
    // Long after the AppJWT expired, the JWS (no `exp`) is still cached.
    tokio::time::advance(secs(10 * 3600)).await;
    assert_eq!(
        client.consumer_jws(&id).await.unwrap().secret(),
        jws.secret()
    );
    assert_eq!((fake.fetches(), fake.consumer_requests()), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn fixed_hosts_skip_the_domain_api() {
    let fake = Fake::new();
    let client = fake
        .client()
        .sentinel_host(Host::parse(SENTINEL).unwrap())
        .idp_host(Host::parse(IDP).unwrap())
        .build()
        .unwrap();
    client.consumer_jws(&ext("a")).await.unwrap();
    assert_eq!(
        (fake.lookups(), fake.fetches(), fake.consumer_requests()),
        (0, 1, 1)
    );
}

#[tokio::test(start_paused = true)]
async fn a_domain_map_without_idp_is_a_domain_error() {
    let fake = Fake::new();
    let body = serde_json::json!({ "baseURIs": [
        { "service": "sentinel", "account": ACCOUNT, "baseURI": SENTINEL },
    ]})
    .to_string();
    fake.script_lookups([Reply::Status(
        200,
        vec![("content-type", "application/json".into())],
        body,
    )]);
    let client = fake.client().build().unwrap();
    let err = client.consumer_jws(&ext("a")).await.unwrap_err();
    assert!(matches!(err, Error::Domain(_)), "{err:?}");
    assert_eq!(fake.consumer_requests(), 0);
}

async fn concurrently(
    client: &AppJwtClient,
    ids: impl Iterator<Item = String>,
) -> Vec<Result<ConsumerJws, Error>> {
    let tasks: Vec<_> = ids
        .map(|id| {
            let client = client.clone();
            tokio::spawn(async move { client.consumer_jws(&ext(&id)).await })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

#[tokio::test(start_paused = true)]
async fn a_thousand_concurrent_calls_for_one_consumer_make_one_request() {
    let fake = Fake::new();
    fake.set_latency(Duration::from_millis(50));
    let client = fake.client().build().unwrap();
    let results = concurrently(&client, (0..1000).map(|_| "one".to_owned())).await;
    assert_eq!(
        (fake.lookups(), fake.fetches(), fake.consumer_requests()),
        (1, 1, 1)
    );
    let first = results[0].as_ref().unwrap().secret().to_owned();
    assert!(
        results
            .iter()
            .all(|r| r.as_ref().unwrap().secret() == first)
    );
}

#[tokio::test(start_paused = true)]
async fn waiters_share_a_failed_request_and_a_later_call_asks_again() {
    let fake = Fake::new();
    fake.set_latency(Duration::from_millis(50));
    fake.script_consumers([Reply::Status(403, vec![], "{}".into())]);
    let client = fake.client().build().unwrap();
    let results = concurrently(&client, (0..1000).map(|_| "one".to_owned())).await;
    assert_eq!(fake.consumer_requests(), 1);
    for r in &results {
        assert!(
            matches!(r, Err(Error::Consumer(ConsumerError::Rejected { .. }))),
            "{r:?}"
        );
    }
    tokio::time::advance(secs(5)).await;
    client.consumer_jws(&ext("one")).await.unwrap();
    assert_eq!(fake.consumer_requests(), 2);
}

#[tokio::test(start_paused = true)]
async fn distinct_consumers_each_get_their_own_request_and_token() {
    let fake = Fake::new();
    fake.set_latency(Duration::from_millis(50));
    let client = fake.client().build().unwrap();
    let results = concurrently(&client, (0..1000).map(|i| format!("user-{i}"))).await;
    assert_eq!(
        (fake.lookups(), fake.fetches(), fake.consumer_requests()),
        (1, 1, 1000)
    );
    for (i, r) in results.iter().enumerate() {
        assert_eq!(
            claims(r.as_ref().unwrap())["ext_consumer_id"],
            format!("user-{i}")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_flight_per_consumer_holds_on_real_threads() {
    let fake = Fake::new();
    let client = fake.client().build().unwrap();
    // 10 consumers, 200 callers each, interleaved.
    let results = concurrently(&client, (0..2000).map(|i| format!("c{}", i % 10))).await;
    assert!(results.iter().all(|r| r.is_ok()));
    assert_eq!((fake.fetches(), fake.consumer_requests()), (1, 10));
}

#[tokio::test(start_paused = true)]
async fn a_401_refreshes_the_appjwt_once_and_retries_once() {
    let fake = Fake::new();
    let client = fake.client().build().unwrap();
    let old = client.token().await.unwrap();
    fake.script_consumers([Reply::Status(
        401,
        vec![],
        r#"{"error":"unauthorized"}"#.into(),
    )]);
    let jws = client.consumer_jws(&ext("a")).await.unwrap();
    assert_eq!(claims(&jws)["ext_consumer_id"], "a");
    assert_eq!((fake.fetches(), fake.consumer_requests()), (2, 2));
    let new = client.token().await.unwrap();
    assert_ne!(new.secret(), old.secret());
    assert_eq!(
        *fake.consumer_auths.lock().unwrap(),
        vec![old.secret().to_owned(), new.secret().to_owned()]
    );
}

#[tokio::test(start_paused = true)]
async fn a_401_refresh_obeys_the_invalidate_rate_limit() {
    let fake = Fake::new();
    let client = fake.client().build().unwrap();
    client.token().await.unwrap();
    // A user invalidation just took effect, so invalidation is rate
    // limited: the 401 does not refetch the AppJWT, and asking the idp
    // again with the same token would get the same answer.
    client.invalidate();
    client.token().await.unwrap();
    fake.script_consumers([Reply::Status(401, vec![], String::new())]);
    let err = client.consumer_jws(&ext("a")).await.unwrap_err();
    assert!(
        matches!(err, Error::Consumer(ConsumerError::Unauthorized { .. })),
        "{err:?}"
    );
    assert_eq!((fake.fetches(), fake.consumer_requests()), (2, 1));
    // After the interval the 401 refreshes it.
    tokio::time::advance(secs(5)).await;
    fake.script_consumers([Reply::Status(401, vec![], String::new())]);
    client.consumer_jws(&ext("b")).await.unwrap();
    assert_eq!((fake.fetches(), fake.consumer_requests()), (3, 3));
}

#[tokio::test(start_paused = true)]
async fn two_401s_give_an_error_after_exactly_two_requests() {
    let fake = Fake::new();
    let client = fake.client().build().unwrap();
    fake.script_consumers([
        Reply::Status(401, vec![], String::new()),
        Reply::Status(401, vec![], String::new()),
    ]);
    let err = client.consumer_jws(&ext("a")).await.unwrap_err();
    assert!(
        matches!(err, Error::Consumer(ConsumerError::Unauthorized { .. })),
        "{err:?}"
    );
    assert_eq!(err.status(), Some(http::StatusCode::UNAUTHORIZED));
    assert!(!err.is_retryable());
    assert_eq!((fake.fetches(), fake.consumer_requests()), (2, 2));
    assert_error_clean(&err);
    // Not cached; remembered for 5 s, then the next call asks again (and
    // succeeds).
    tokio::time::advance(secs(5)).await;
    client.consumer_jws(&ext("a")).await.unwrap();
    assert_eq!(fake.consumer_requests(), 3);
}

#[tokio::test(start_paused = true)]
async fn many_consumers_refused_with_the_same_token_cause_one_refresh() {
    let fake = Fake::new();
    let client = fake.client().build().unwrap();
    client.token().await.unwrap();
    fake.set_latency(Duration::from_millis(50));
    fake.script_consumers((0..10).map(|_| Reply::Status(401, vec![], String::new())));
    let results = concurrently(&client, (0..10).map(|i| format!("c{i}"))).await;
    assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
    assert_eq!((fake.fetches(), fake.consumer_requests()), (2, 20));
}

/// What a case expects of the outcome.
type Expect = fn(&Result<ConsumerJws, Error>) -> bool;

/// One case of the retry table: the idp's scripted answers, then the
/// outcome and the number of requests made.
fn retry_case(
    replies: Vec<Reply>,
    expected: Expect,
    requests: usize,
) -> (Vec<Reply>, Expect, usize) {
    (replies, expected, requests)
}

#[tokio::test(start_paused = true)]
async fn other_errors_follow_the_retry_policy() {
    let status = |s: u16| Reply::Status(s, vec![], "{}".into());
    let cases = [
        retry_case(vec![status(503)], |r| r.is_ok(), 2),
        retry_case(vec![status(429)], |r| r.is_ok(), 2),
        retry_case(
            vec![Reply::Fail(TransportError::connect())],
            |r| r.is_ok(),
            2,
        ),
        retry_case(
            vec![status(400)],
            |r| matches!(r, Err(Error::Consumer(ConsumerError::Rejected { .. }))),
            1,
        ),
        retry_case(
            vec![status(503), status(503), status(503), status(503)],
            |r| matches!(r, Err(Error::Consumer(ConsumerError::Server { .. }))),
            4,
        ),
        retry_case(
            vec![Reply::Status(201, vec![], r#"{"token":""}"#.into())],
            |r| matches!(r, Err(Error::Consumer(ConsumerError::Malformed { .. }))),
            1,
        ),
    ];
    for (i, (replies, expected, requests)) in cases.into_iter().enumerate() {
        let fake = Fake::new();
        fake.script_consumers(replies);
        let client = fake.client().retry_policy(quick_retries()).build().unwrap();
        let result = client.consumer_jws(&ext("a")).await;
        assert!(expected(&result), "case {i}: {result:?}");
        assert_eq!(fake.consumer_requests(), requests, "case {i}");
        assert_eq!(fake.fetches(), 1, "case {i}");
        if let Err(e) = &result {
            assert_error_clean(e);
        }
    }
}

#[tokio::test(start_paused = true)]
async fn the_cache_drops_the_least_recently_used_consumer_at_its_bound() {
    let fake = Fake::new();
    let client = fake.client().consumer_cache_size(2).build().unwrap();
    // Each step: the consumer asked for and the requests made so far.
    let steps = [
        ("a", 1),
        ("b", 2),
        ("c", 3), // evicts a
        ("c", 3),
        ("b", 3),
        ("a", 4), // evicts c (b was used later)
        ("b", 4),
        ("c", 5), // evicts a
        ("a", 6),
    ];
    for (id, requests) in steps {
        client.consumer_jws(&ext(id)).await.unwrap();
        assert_eq!(fake.consumer_requests(), requests, "after {id}");
    }
    assert!(format!("{client:?}").contains("consumer_jws_cached: 2"));
}

#[tokio::test(start_paused = true)]
async fn a_cache_of_size_zero_asks_every_time() {
    let fake = Fake::new();
    let client = fake.client().consumer_cache_size(0).build().unwrap();
    for n in 1..=3 {
        client.consumer_jws(&ext("a")).await.unwrap();
        assert_eq!(fake.consumer_requests(), n);
    }
}

#[tokio::test(start_paused = true)]
async fn without_a_cache_a_429_from_the_idp_is_still_waited_out() {
    let fake = Fake::new();
    let throttled = || Reply::Status(429, vec![("retry-after", "120".to_owned())], "{}".into());
    fake.script_consumers(vec![throttled()]);
    let client = fake
        .client()
        .consumer_cache_size(0)
        .retry_policy(quick_retries())
        .build()
        .unwrap();
    let first = client.consumer_jws(&ext("a")).await.unwrap_err();
    assert!(!matches!(first, Error::Backoff { .. }), "{first:?}");
    let asked = fake.consumer_requests();
    for _ in 0..3 {
        let err = client.consumer_jws(&ext("a")).await.unwrap_err();
        assert!(matches!(err, Error::Backoff { .. }), "{err:?}");
    }
    assert_eq!(
        fake.consumer_requests(),
        asked,
        "no request before the 120 s"
    );
    tokio::time::advance(Duration::from_secs(121)).await;
    client.consumer_jws(&ext("a")).await.unwrap();
    assert_eq!(fake.consumer_requests(), asked + 1);
}

#[tokio::test(start_paused = true)]
async fn a_jws_with_exp_is_renewed_shortly_before_it() {
    let fake = Fake::new();
    *fake.consumer_exp_in.lock().unwrap() = Some(600);
    let client = fake.client().build().unwrap();
    let first = client.consumer_jws(&ext("a")).await.unwrap();
    // Cached up to 60 s before exp.
    tokio::time::advance(secs(539)).await;
    assert_eq!(
        client.consumer_jws(&ext("a")).await.unwrap().secret(),
        first.secret()
    );
    assert_eq!(fake.consumer_requests(), 1);
    tokio::time::advance(secs(2)).await;
    let second = client.consumer_jws(&ext("a")).await.unwrap();
    assert_ne!(second.secret(), first.secret());
    assert_eq!(fake.consumer_requests(), 2);

    // A JWS already expired on arrival is handed out but not cached.
    *fake.consumer_exp_in.lock().unwrap() = Some(-10);
    client.invalidate_consumer(&ext("a"));
    client.consumer_jws(&ext("a")).await.unwrap();
    client.consumer_jws(&ext("a")).await.unwrap();
    assert_eq!(fake.consumer_requests(), 4);
}

#[tokio::test(start_paused = true)]
async fn invalidate_consumer_drops_only_that_consumer() {
    let fake = Fake::new();
    let client = fake.client().build().unwrap();
    let a = client.consumer_jws(&ext("a")).await.unwrap();
    client.consumer_jws(&ext("b")).await.unwrap();
    assert!(client.invalidate_consumer(&ext("a")));
    assert!(!client.invalidate_consumer(&ext("a")));
    assert!(!client.invalidate_consumer(&ext("never-asked")));
    let a2 = client.consumer_jws(&ext("a")).await.unwrap();
    assert_ne!(a2.secret(), a.secret());
    client.consumer_jws(&ext("b")).await.unwrap();
    assert_eq!(fake.consumer_requests(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_caller_does_not_block_the_consumer() {
    let fake = Fake::new();
    fake.set_latency(Duration::from_secs(5));
    let client = Arc::new(fake.client().build().unwrap());
    let c = Arc::clone(&client);
    let task = tokio::spawn(async move { c.consumer_jws(&ext("a")).await });
    tokio::time::advance(secs(1)).await;
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    fake.set_latency(Duration::ZERO);
    client.consumer_jws(&ext("a")).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn send_api_headers_carry_both_tokens_marked_sensitive() {
    let fake = Fake::new();
    let client = fake.client().build().unwrap();
    let id = ext("John_Doe_facebook12345");
    let headers = client.send_api_headers(&id).await.unwrap();
    let jwt = client.token().await.unwrap();
    let jws = client.consumer_jws(&id).await.unwrap();
    assert_eq!(headers.len(), 2);
    assert_eq!(headers[http::header::AUTHORIZATION], jwt.secret());
    assert_eq!(headers[X_LP_ON_BEHALF], jws.secret());
    assert!(headers.values().all(|v| v.is_sensitive()));
    let debug = format!("{headers:?}");
    assert!(!debug.contains(jws.secret()) && !debug.contains(jwt.secret()));
    assert_eq!(format!("{jws:?}"), "ConsumerJws([redacted])");
    assert_eq!((fake.fetches(), fake.consumer_requests()), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn send_api_headers_after_a_401_use_the_new_appjwt() {
    let fake = Fake::new();
    let client = fake.client().build().unwrap();
    let old = client.token().await.unwrap();
    fake.script_consumers([Reply::Status(401, vec![], String::new())]);
    let headers = client.send_api_headers(&ext("a")).await.unwrap();
    assert_ne!(headers[http::header::AUTHORIZATION], old.secret());
    assert_eq!(
        headers[http::header::AUTHORIZATION],
        client.token().await.unwrap().secret()
    );
}

#[tokio::test(start_paused = true)]
async fn an_app_jwt_that_cannot_be_had_is_not_retried_again() {
    let fake = Fake::new();
    fake.script_fetches(std::iter::repeat_n(
        Reply::Status(503, Vec::new(), String::new()),
        100,
    ));
    let client = fake.client().retry_policy(quick_retries()).build().unwrap();
    let err = client.consumer_jws(&ext("John_Doe")).await.unwrap_err();
    assert!(
        matches!(&err, Error::Token(_)) && err.status().map(|s| s.as_u16()) == Some(503),
        "{err:?}"
    );
    // token() ran the policy's 4 attempts; the ConsumerJWS loop did not
    // run them again.
    assert_eq!(fake.fetches(), 4);
    assert_eq!(fake.consumer_requests(), 0);
}
