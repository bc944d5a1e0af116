//! The Send API end to end: lp-tower's layer around hyper-util's own
//! client, over rustls trusting only the emulator's CA, to the host the
//! Domain API names for `asyncMessagingEnt`. What the emulator received
//! and counted is the evidence: its messages, conversations and request
//! counts per endpoint.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use http_body_util::Full;
use http_body_util::combinators::BoxBody;
use lp_appjwt::AppJwtClient;
use lp_emulator::{EmulatorHandle, Endpoint, Fault, SigningKey};
use serde_json::json;

use crate::send_support::{SendApi, close, json_body, message};
use crate::support::{self, ACCOUNT};

const CONSUMER: &str = "John_Doe_facebook12345";
const OTHER_CONSUMER: &str = "Jane_Roe_facebook67890";

/// Requests per endpoint, to compare before and after a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Counts {
    token: u64,
    consumer: u64,
    conversation: u64,
    send: u64,
}

impl Counts {
    fn of(emu: &EmulatorHandle) -> Self {
        Counts {
            token: emu.request_count(Endpoint::Token),
            consumer: emu.request_count(Endpoint::Consumer),
            conversation: emu.request_count(Endpoint::Conversation),
            send: emu.request_count(Endpoint::Send),
        }
    }

    /// The requests made since `before`.
    fn since(emu: &EmulatorHandle, before: Counts) -> Self {
        let now = Counts::of(emu);
        Counts {
            token: now.token - before.token,
            consumer: now.consumer - before.consumer,
            conversation: now.conversation - before.conversation,
            send: now.send - before.send,
        }
    }
}

/// The send, token and ConsumerJWS requests since `before`: what a
/// retry can cost.
fn costs(emu: &EmulatorHandle, before: Counts) -> (u64, u64, u64) {
    let made = Counts::since(emu, before);
    (made.send, made.token, made.consumer)
}

/// The texts the emulator received, in order.
fn texts(emu: &EmulatorHandle) -> Vec<String> {
    emu.messages().into_iter().map(|m| m.text).collect()
}

/// An emulator, a client of it, the layered Send API, and a conversation
/// of [`CONSUMER`] (so both tokens are cached).
async fn opened(
    builder: lp_emulator::EmulatorBuilder,
) -> (EmulatorHandle, AppJwtClient, SendApi<Full<Bytes>>, String) {
    let emu = support::start(builder).await;
    let client = support::client(&emu);
    let api = SendApi::new(&emu, &client).await;
    let conversation = api.open(CONSUMER).await;
    (emu, client, api, conversation)
}

#[tokio::test]
async fn the_whole_path_through_the_middleware() {
    let emu = support::start(support::emulator()).await;
    let client = support::client(&emu);
    let api = SendApi::new(&emu, &client).await;

    let conversation = api.open(CONSUMER).await;
    let opened = emu.conversations();
    assert_eq!(opened.len(), 1);
    assert_eq!(opened[0].id, conversation);
    assert_eq!(opened[0].account, ACCOUNT);
    assert_eq!(opened[0].ext_consumer_id, CONSUMER);
    assert!(opened[0].open);

    let sent = api
        .say(CONSUMER, &conversation, "Hi from the middleware")
        .await;
    assert_eq!(sent.status, StatusCode::OK, "{sent:?}");
    assert_eq!(sent.json["body"], json!({"sequence": 0}));

    let closed = api
        .post(
            "conversation/send?v=3",
            CONSUMER,
            json_body(&close(&conversation)),
        )
        .await;
    assert_eq!(closed.status, StatusCode::OK, "{closed:?}");
    assert!(!emu.conversations()[0].open);

    let messages = emu.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].conversation_id, conversation);
    assert_eq!(messages[0].ext_consumer_id, CONSUMER);
    assert_eq!(messages[0].content_type, "text/plain");
    assert_eq!(messages[0].text, "Hi from the middleware");
    // One AppJWT and one ConsumerJWS served all three calls.
    let expected = Counts {
        token: 1,
        consumer: 1,
        conversation: 1,
        send: 2,
    };
    assert_eq!(Counts::of(&emu), expected);
}

#[tokio::test]
async fn fifty_sends_after_a_revocation_make_one_token_request() {
    let (emu, _client, api, conversation) = opened(support::emulator()).await;
    assert!(emu.revoke_all_app_jwts() >= 1);
    // The first 25 sends to arrive are answered late, so their 401s come
    // after the new AppJWT is cached: they must not throw it away.
    emu.inject(Endpoint::Send, Fault::Delay(Duration::from_millis(300)), 25);
    let before = Counts::of(&emu);

    let api = Arc::new(api);
    let sends: Vec<_> = (0..50)
        .map(|i| {
            let api = Arc::clone(&api);
            let conversation = conversation.clone();
            tokio::spawn(async move {
                api.say(CONSUMER, &conversation, &format!("message {i}"))
                    .await
            })
        })
        .collect();
    for send in sends {
        let answer = send.await.unwrap_or_else(|e| panic!("send task: {e}"));
        assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    }

    let made = Counts::since(&emu, before);
    assert_eq!(made.token, 1, "{made:?}");
    // The ConsumerJWS was never in question: the retry with a new AppJWT
    // got through.
    assert_eq!(made.consumer, 0, "{made:?}");
    // Each send at most twice: refused with the revoked token, then sent.
    assert!((50..=100).contains(&made.send), "{made:?}");
    let mut received = texts(&emu);
    received.sort();
    let mut expected: Vec<String> = (0..50).map(|i| format!("message {i}")).collect();
    expected.sort();
    assert_eq!(received, expected);
}

#[tokio::test]
async fn a_body_that_cannot_be_replayed_gets_the_401_back() {
    let (emu, client, api, conversation) = opened(support::emulator()).await;
    // A second service with a streaming body type, sharing the client's
    // caches.
    let streaming = SendApi::<BoxBody<Bytes, Infallible>>::new(&emu, &client).await;
    assert!(emu.revoke_all_app_jwts() >= 1);
    let before = Counts::of(&emu);

    let body = BoxBody::new(json_body(&message(&conversation, "streamed")));
    let answer = streaming
        .post("conversation/send?v=3", CONSUMER, body)
        .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{answer:?}");
    assert_eq!(costs(&emu, before), (1, 0, 0));
    assert!(texts(&emu).is_empty());

    // The refused AppJWT was still dropped: the caller's own retry, with a
    // body it can make again, gets a new one and goes through at once.
    let again = api.say(CONSUMER, &conversation, "sent again").await;
    assert_eq!(again.status, StatusCode::OK, "{again:?}");
    assert_eq!(costs(&emu, before), (2, 1, 0));
    assert_eq!(texts(&emu), ["sent again"]);
}

/// The emulator has no switch that refuses one ConsumerJWS, so it is
/// refused the way LivePerson would after a key rotation: the key that
/// signed it leaves the JWKS at once (no grace). The AppJWT of that key is
/// refused too, so the ladder's first rung (a new AppJWT) does not help and
/// its second (a new ConsumerJWS) does.
#[tokio::test]
async fn a_refused_consumer_jws_is_fetched_again_once() {
    let builder = support::emulator().key_grace(Some(Duration::ZERO));
    let (emu, _client, api, conversation) = opened(builder).await;
    let key = tokio::task::spawn_blocking(SigningKey::generate)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|e| panic!("key generation: {e}"));
    emu.rotate_key_to(key);
    let before = Counts::of(&emu);

    let answer = api.say(CONSUMER, &conversation, "after the rotation").await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    assert_eq!(costs(&emu, before), (3, 1, 1));
    assert_eq!(texts(&emu), ["after the rotation"]);
}

/// Another consumer's conversation is refused with the same 401 as a bad
/// token: each rung is climbed once, and the 401 comes back.
#[tokio::test]
async fn another_consumers_conversation_ends_in_401_after_one_consumer_refetch() {
    let (emu, _client, api, conversation) = opened(support::emulator()).await;
    // The other consumer's ConsumerJWS is cached before counting.
    let theirs = api.open(OTHER_CONSUMER).await;
    assert_ne!(theirs, conversation);
    let before = Counts::of(&emu);

    let answer = api.say(OTHER_CONSUMER, &conversation, "not mine").await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{answer:?}");
    assert_eq!(answer.json["errorCode"], 40102);
    let made = Counts::since(&emu, before);
    assert_eq!((made.token, made.consumer), (1, 1), "{made:?}");
    // The AppJWT was never revoked: fetched again in the same second, it
    // is the same token (same claims, deterministic RS256), and the layer
    // skips a retry that would carry the same headers. In the next second
    // it differs and is tried. Either way the ConsumerJWS rung runs once.
    assert!((2..=3).contains(&made.send), "{made:?}");
    assert!(texts(&emu).is_empty());
}

#[tokio::test]
async fn a_403_or_a_429_is_handed_back_without_a_retry() {
    let (emu, _client, api, conversation) = opened(support::emulator()).await;
    let status = |status, retry_after: Option<&str>| Fault::Status {
        status,
        retry_after: retry_after.map(str::to_owned),
        body: None,
    };
    // (fault, status, whether a RetryAfter is attached)
    let cases = [
        (status(403, None), 403, false),
        (status(429, Some("2")), 429, true),
    ];
    for (fault, expected, retry_after) in cases {
        emu.inject(Endpoint::Send, fault, 1);
        let before = Counts::of(&emu);
        let answer = api.say(CONSUMER, &conversation, "refused").await;
        assert_eq!(answer.status.as_u16(), expected, "{answer:?}");
        assert_eq!(answer.retry_after.is_some(), retry_after, "{answer:?}");
        assert_eq!(costs(&emu, before), (1, 0, 0), "{expected}");
    }
    assert!(texts(&emu).is_empty());
    // The faults are spent; the same request goes through.
    let answer = api.say(CONSUMER, &conversation, "accepted").await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    assert_eq!(texts(&emu), ["accepted"]);
}
