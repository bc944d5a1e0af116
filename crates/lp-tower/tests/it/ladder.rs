//! Headers, the 401 ladder, what is never retried, and the burst.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use lp_appjwt::{AppJwtClient, ExtConsumerId, RetryAfter};
use lp_tower::{AppJwtLayer, Error, OnBehalfHeader, ReplayableBody};
use tower::{Layer, ServiceExt};

use crate::support::{Fake, Script, SendApi};

const CONSUMER: &str = "John_Doe_facebook12345";
const BODY: &[u8] = br#"{"kind":"req","id":"1","type":"ms.PublishEvent"}"#;

fn consumer() -> ExtConsumerId {
    ExtConsumerId::new(CONSUMER).unwrap()
}

fn request<B>(body: B, with_consumer: bool) -> http::Request<B> {
    let mut request = http::Request::post(
        "https://va.msg.liveperson.net/api/account/56072331/messaging/consumer/conversation/send?v=3",
    )
    .header("content-type", "application/json")
    .body(body)
    .unwrap();
    if with_consumer {
        request.extensions_mut().insert(consumer());
    }
    request
}

fn full() -> Full<Bytes> {
    Full::new(Bytes::from_static(BODY))
}

fn boxed() -> BoxBody<Bytes, Infallible> {
    full().boxed()
}

/// Each value replaced by the index of its first appearance, so that
/// "the same token as the first call" reads `[0, 0]` and "a new one"
/// `[0, 1]`.
fn shape(values: impl IntoIterator<Item = Option<String>>) -> Vec<usize> {
    let mut distinct: Vec<String> = Vec::new();
    values
        .into_iter()
        .flatten()
        .map(|v| match distinct.iter().position(|d| *d == v) {
            Some(i) => i,
            None => {
                distinct.push(v);
                distinct.len() - 1
            }
        })
        .collect()
}

/// One request through the layer, and what should follow.
struct Case {
    name: &'static str,
    /// The Send API's answers in order (then 200).
    replies: &'static [u16],
    with_consumer: bool,
    /// `Full<Bytes>` (true) or a `BoxBody` (false).
    replayable: bool,
    /// The status the caller gets.
    status: u16,
    /// The AppJWT of each request the Send API received (see [`shape`]).
    app_jwts: &'static [usize],
    /// The ConsumerJWS of each request the Send API received.
    consumer_jwss: &'static [usize],
    token_fetches: usize,
    consumer_fetches: usize,
}

async fn check(case: Case) {
    let fake = Fake::new();
    let client = fake.client().build().unwrap();
    let api = SendApi::answering(case.replies);
    let response = if case.replayable {
        through(&client, &api, request(full(), case.with_consumer)).await
    } else {
        through(&client, &api, request(boxed(), case.with_consumer)).await
    };
    let name = case.name;
    assert_eq!(response.unwrap().status(), case.status, "{name}: status");
    let seen = api.seen();
    assert_eq!(
        shape(seen.iter().map(|s| s.authorization.clone())),
        case.app_jwts,
        "{name}: appjwts"
    );
    assert_eq!(
        shape(seen.iter().map(|s| s.x_lp_on_behalf.clone())),
        case.consumer_jwss,
        "{name}: consumer jwss"
    );
    assert_eq!(
        fake.token_fetches(),
        case.token_fetches,
        "{name}: token fetches"
    );
    assert_eq!(
        fake.consumer_fetches(),
        case.consumer_fetches,
        "{name}: consumer fetches"
    );
    for s in &seen {
        assert_eq!(s.body, BODY, "{name}: every attempt carries the body");
        assert!(s.sensitive, "{name}: token headers are sensitive");
        assert!(s.lp_on_behalf.is_none(), "{name}");
        for token in [&s.authorization, &s.x_lp_on_behalf].into_iter().flatten() {
            assert!(!s.debug.contains(token.as_str()), "{name}: {}", s.debug);
        }
    }
}

async fn through<B>(
    client: &AppJwtClient,
    api: &Arc<SendApi>,
    request: http::Request<B>,
) -> Result<http::Response<()>, Error<Infallible>>
where
    B: BodyExt<Data = Bytes> + ReplayableBody + Send + 'static,
    B::Error: std::fmt::Debug,
{
    AppJwtLayer::new(client.clone())
        .layer(api.service::<B>())
        .oneshot(request)
        .await
}

#[tokio::test(start_paused = true)]
async fn the_401_ladder() {
    let cases = [
        Case {
            name: "accepted at once",
            replies: &[],
            with_consumer: true,
            replayable: true,
            status: 200,
            app_jwts: &[0],
            consumer_jwss: &[0],
            token_fetches: 1,
            consumer_fetches: 1,
        },
        Case {
            name: "401: the appjwt is replaced, one retry",
            replies: &[401],
            with_consumer: true,
            replayable: true,
            status: 200,
            app_jwts: &[0, 1],
            consumer_jwss: &[0, 0],
            token_fetches: 2,
            consumer_fetches: 1,
        },
        Case {
            name: "401 twice: then the consumer jws is replaced, one more retry",
            replies: &[401, 401],
            with_consumer: true,
            replayable: true,
            status: 200,
            app_jwts: &[0, 1, 1],
            consumer_jwss: &[0, 0, 1],
            token_fetches: 2,
            consumer_fetches: 2,
        },
        Case {
            name: "401 three times: the 401 is handed back",
            replies: &[401, 401, 401],
            with_consumer: true,
            replayable: true,
            status: 401,
            app_jwts: &[0, 1, 1],
            consumer_jwss: &[0, 0, 1],
            token_fetches: 2,
            consumer_fetches: 2,
        },
        Case {
            name: "no consumer: no consumer rung",
            replies: &[401, 401],
            with_consumer: false,
            replayable: true,
            status: 401,
            app_jwts: &[0, 1],
            consumer_jwss: &[],
            token_fetches: 2,
            consumer_fetches: 0,
        },
        Case {
            name: "no consumer, 401 once",
            replies: &[401],
            with_consumer: false,
            replayable: true,
            status: 200,
            app_jwts: &[0, 1],
            consumer_jwss: &[],
            token_fetches: 2,
            consumer_fetches: 0,
        },
        Case {
            name: "a body that cannot be replayed: no retry",
            replies: &[401],
            with_consumer: true,
            replayable: false,
            status: 401,
            app_jwts: &[0],
            consumer_jwss: &[0],
            token_fetches: 1,
            consumer_fetches: 1,
        },
        Case {
            name: "a body that cannot be replayed goes through when accepted",
            replies: &[],
            with_consumer: true,
            replayable: false,
            status: 200,
            app_jwts: &[0],
            consumer_jwss: &[0],
            token_fetches: 1,
            consumer_fetches: 1,
        },
    ];
    for case in cases {
        check(case).await;
    }
}

/// Statuses handed back as they are, after one request.
static NOT_RETRIED: [u16; 8] = [403, 400, 404, 409, 429, 500, 502, 503];

#[tokio::test(start_paused = true)]
async fn no_other_status_is_retried() {
    for status in &NOT_RETRIED {
        for replayable in [true, false] {
            check(Case {
                name: "not retried",
                replies: std::slice::from_ref(status),
                with_consumer: true,
                replayable,
                status: *status,
                app_jwts: &[0],
                consumer_jwss: &[0],
                token_fetches: 1,
                consumer_fetches: 1,
            })
            .await;
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_non_replayable_401_still_drops_the_refused_appjwt() {
    let fake = Fake::new();
    let client = fake.client().build().unwrap();
    let api = SendApi::answering(&[401]);
    let response = through(&client, &api, request(boxed(), true)).await;
    assert_eq!(response.unwrap().status(), 401);
    let refused = api.authorizations()[0].clone();
    // The caller's own retry, with a new body, gets a new AppJWT.
    let response = through(&client, &api, request(boxed(), true)).await;
    assert_eq!(response.unwrap().status(), 200);
    let second = api.authorizations()[1].clone();
    assert_ne!(refused, second);
    assert_eq!(fake.token_fetches(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_rate_limited_invalidation_goes_to_the_consumer_rung() {
    let fake = Fake::new();
    let client = fake.client().build().unwrap();
    let api = SendApi::answering(&[401, 200, 401, 200]);
    // First request: the AppJWT is replaced.
    let first = through(&client, &api, request(full(), true)).await;
    assert_eq!(first.unwrap().status(), 200);
    // Second, within the client's invalidation interval (5 s): the new
    // AppJWT cannot be dropped, so the same headers are not sent again;
    // the ConsumerJWS is replaced instead.
    let second = through(&client, &api, request(full(), true)).await;
    assert_eq!(second.unwrap().status(), 200);
    let seen = api.seen();
    assert_eq!(
        shape(seen.iter().map(|s| s.authorization.clone())),
        [0, 1, 1, 1]
    );
    assert_eq!(
        shape(seen.iter().map(|s| s.x_lp_on_behalf.clone())),
        [0, 0, 0, 1]
    );
    assert_eq!(fake.token_fetches(), 2);
    assert_eq!(fake.consumer_fetches(), 2);

    // After the interval a 401 drops the AppJWT again.
    tokio::time::advance(Duration::from_secs(6)).await;
    let api = SendApi::answering(&[401]);
    let third = through(&client, &api, request(full(), false)).await;
    assert_eq!(third.unwrap().status(), 200);
    assert_eq!(shape(api.authorizations().into_iter().map(Some)), [0, 1]);
    assert_eq!(fake.token_fetches(), 3);
}

#[tokio::test(start_paused = true)]
async fn the_headers_and_their_spelling() {
    struct Spelling {
        option: Option<OnBehalfHeader>,
        with_consumer: bool,
        // Which header the request arrives with (the ConsumerJWS, or the
        // caller's own value when there is no consumer).
        x_lp_on_behalf: bool,
        lp_on_behalf: bool,
    }
    let cases = [
        Spelling {
            option: None,
            with_consumer: true,
            x_lp_on_behalf: true,
            lp_on_behalf: false,
        },
        Spelling {
            option: Some(OnBehalfHeader::XLpOnBehalf),
            with_consumer: true,
            x_lp_on_behalf: true,
            lp_on_behalf: false,
        },
        Spelling {
            option: Some(OnBehalfHeader::LpOnBehalf),
            with_consumer: true,
            x_lp_on_behalf: false,
            lp_on_behalf: true,
        },
        Spelling {
            option: Some(OnBehalfHeader::LpOnBehalf),
            with_consumer: false,
            x_lp_on_behalf: false,
            lp_on_behalf: true,
        },
        Spelling {
            option: None,
            with_consumer: false,
            x_lp_on_behalf: true,
            lp_on_behalf: false,
        },
    ];
    for case in cases {
        let fake = Fake::new();
        let client = fake.client().build().unwrap();
        let api = SendApi::answering(&[]);
        let mut layer = AppJwtLayer::new(client.clone());
        if let Some(option) = case.option {
            layer = layer.on_behalf_header(option);
        }
        let mut req = request(full(), case.with_consumer);
        // The caller's own values are replaced, not sent alongside; without
        // a consumer the caller's own on-behalf header is left alone.
        req.headers_mut()
            .insert("authorization", "Bearer mine".parse().unwrap());
        let name = case.option.unwrap_or_default().name();
        let mut mine = http::HeaderValue::from_static("mine");
        mine.set_sensitive(true);
        req.headers_mut().insert(name, mine);
        let response = layer.layer(api.service()).oneshot(req).await.unwrap();
        assert_eq!(response.status(), 200);

        let seen = api.seen().pop().unwrap();
        let jwt = client.token().await.unwrap();
        assert_eq!(
            seen.authorization.as_deref(),
            Some(jwt.authorization_header_value())
        );
        let value = if case.with_consumer {
            Some(
                client
                    .consumer_jws(&consumer())
                    .await
                    .unwrap()
                    .into_string(),
            )
        } else {
            Some("mine".to_owned())
        };
        let expect = |wanted: bool| if wanted { value.clone() } else { None };
        assert_eq!(seen.x_lp_on_behalf, expect(case.x_lp_on_behalf));
        assert_eq!(seen.lp_on_behalf, expect(case.lp_on_behalf));
        assert!(seen.sensitive);
        assert!(!seen.debug.contains(jwt.secret()), "{}", seen.debug);
        assert_eq!(seen.body, BODY);
    }
}

#[tokio::test(start_paused = true)]
async fn a_429_is_handed_back_with_its_retry_after() {
    let date = "Wed, 21 Oct 2015 07:28:00 GMT";
    let at = UNIX_EPOCH + Duration::from_secs(1_445_412_480);
    let cases: [(Option<&'static str>, Option<RetryAfter>); 4] = [
        (
            Some("120"),
            Some(RetryAfter::Delay(Duration::from_secs(120))),
        ),
        (Some(date), Some(RetryAfter::At(at))),
        (Some("soon"), None),
        (None, None),
    ];
    for (header, expected) in cases {
        let fake = Fake::new();
        let client = fake.client().build().unwrap();
        let headers: Vec<_> = header.map(|h| ("retry-after", h)).into_iter().collect();
        let api = SendApi::with_headers([(429, headers)]);
        let response = through(&client, &api, request(full(), true)).await.unwrap();
        assert_eq!(response.status(), 429);
        assert_eq!(
            response.extensions().get::<RetryAfter>().copied(),
            expected,
            "{header:?}"
        );
        assert_eq!(api.seen().len(), 1, "not retried");
        assert_eq!(fake.token_fetches(), 1);
    }
    // The parsed date is usable as it is.
    let wait = RetryAfter::At(at).delay_from(at - Duration::from_secs(3));
    assert_eq!(wait, Duration::from_secs(3));
}

#[tokio::test(start_paused = true)]
async fn fifty_401s_for_one_token_cause_one_refresh() {
    let fake = Fake::new();
    let client = fake.client().build().unwrap();
    // Warm the caches so every request goes out with the same tokens.
    let refused = client.token().await.unwrap();
    client.consumer_jws(&consumer()).await.unwrap();
    // The Send API takes a while to answer, so all 50 are in flight with
    // the old token before the first 401 comes back.
    let api = SendApi::scripted(Script::RefuseToken(
        refused.secret().to_owned(),
        Duration::from_millis(50),
    ));
    let service = AppJwtLayer::new(client.clone()).layer(api.service());
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let service = service.clone();
            tokio::spawn(async move { service.oneshot(request(full(), true)).await })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap().status(), 200);
    }
    assert_eq!(fake.token_fetches(), 2, "the warm-up and one refresh");
    assert_eq!(fake.consumer_fetches(), 1);
    let auths = api.authorizations();
    assert_eq!(auths.len(), 100, "each request sent twice");
    assert_eq!(auths.iter().filter(|a| **a == refused.secret()).count(), 50);
    let fresh = client.token().await.unwrap();
    assert_eq!(auths.iter().filter(|a| **a == fresh.secret()).count(), 50);
}

#[tokio::test(start_paused = true)]
async fn no_token_no_request() {
    let fake = Fake::new();
    fake.script_tokens([401]);
    let client = fake.client().build().unwrap();
    let api = SendApi::answering(&[]);
    for with_consumer in [false, true] {
        let err = through(&client, &api, request(full(), with_consumer))
            .await
            .unwrap_err();
        match (&err, with_consumer) {
            (Error::Token(_), false) | (Error::ConsumerJws(_), true) => {}
            other => panic!("{other:?}"),
        }
        let text = format!("{err} {err:?}");
        assert!(!text.contains(crate::support::SECRET), "{text}");
    }
    assert!(api.seen().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_token_fetched_since_the_request_is_kept() {
    let fake = Fake::new();
    let client = fake.client().build().unwrap();
    let old = client.token().await.unwrap();
    // The Send API answers the old token's request 401, ten seconds on.
    let api = SendApi::scripted(Script::RefuseToken(
        old.secret().to_owned(),
        Duration::from_secs(10),
    ));
    let service = AppJwtLayer::new(client.clone()).layer(api.service());
    let slow = tokio::spawn(service.oneshot(request(full(), false)));
    // Meanwhile another part of the program replaces the token.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(client.invalidate_token(&old));
    let newer = client.token().await.unwrap();
    assert_eq!(fake.token_fetches(), 2);

    let response = slow.await.unwrap().unwrap();
    assert_eq!(response.status(), 200);
    // The late 401 did not throw the newer token away: the retry used it.
    assert_eq!(fake.token_fetches(), 2);
    assert_eq!(
        api.authorizations(),
        [old.secret().to_owned(), newer.secret().to_owned()]
    );
}

#[tokio::test(start_paused = true)]
async fn an_inner_failure_is_handed_back() {
    let fake = Fake::new();
    let client = fake.client().build().unwrap();
    let failing = tower::service_fn(|_: http::Request<Full<Bytes>>| async {
        Err::<http::Response<()>, _>(std::io::Error::other("connection refused"))
    });
    let err = AppJwtLayer::new(client)
        .layer(failing)
        .oneshot(request(full(), true))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Service(_)), "{err:?}");
    assert_eq!(err.to_string(), "connection refused");
}
