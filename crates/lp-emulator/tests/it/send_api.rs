//! The Send API (`asyncMessagingEnt`): the whole flow, one consumer
//! touching another's conversation, AppJWT revocation, faults and counts.
//! The requests are written out by hand, as LivePerson documents them.

use http::StatusCode;
use lp_emulator::{EmulatorHandle, Endpoint, Fault};
use serde_json::{Value, json};

use crate::support::*;

pub fn conversation_path(account: &str) -> String {
    format!("/api/account/{account}/messaging/consumer/conversation?v=3")
}

pub fn send_path(account: &str) -> String {
    format!("/api/account/{account}/messaging/consumer/conversation/send?v=3")
}

/// The documented CONVERSATION batch for `account`.
pub fn batch(account: &str) -> Value {
    json!([
        {"kind": "req", "id": "1,", "type": "userprofile.SetUserProfile", "body": {}},
        {"kind": "req", "id": "2,", "type": "cm.ConsumerRequestConversation",
         "body": {"ttrDefName": "NORMAL", "channelType": "MESSAGING", "brandId": account}},
    ])
}

/// The documented SEND body of a text message.
pub fn message(conversation_id: &str, text: &str) -> Value {
    json!({"kind": "req", "id": "1", "type": "ms.PublishEvent",
           "body": {"dialogId": conversation_id,
                    "event": {"type": "ContentEvent", "contentType": "text/plain", "message": text}}})
}

/// The documented SEND body that closes a conversation.
pub fn close(conversation_id: &str) -> Value {
    json!({"kind": "req", "id": "9", "type": "cm.UpdateConversationField",
           "body": {"conversationId": conversation_id,
                    "conversationField": {"field": "ConversationStateField", "conversationState": "CLOSE"}}})
}

/// A Send API request with both tokens.
pub fn post(target: String, app_jwt: &str, jws: &str, body: &Value) -> Req {
    Req::post_json(target, app_jwt, body).on_behalf(Some(jws))
}

/// A ConsumerJWS from the emulator's idp endpoint.
pub async fn jws_for(emu: &EmulatorHandle, account: &str, app_jwt: &str, ext: &str) -> String {
    let req = Req::post_json(
        format!("/api/account/{account}/consumer?v=1.0"),
        app_jwt,
        &json!({ "ext_consumer_id": ext }),
    );
    let reply = call(emu, req).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    reply.json()["token"].as_str().expect("jws").to_owned()
}

/// Opens a conversation and returns its id.
pub async fn open(emu: &EmulatorHandle, account: &str, app_jwt: &str, jws: &str) -> String {
    let reply = call(
        emu,
        post(conversation_path(account), app_jwt, jws, &batch(account)),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    reply.json()[1]["body"]["conversationId"]
        .as_str()
        .expect("conversationId")
        .to_owned()
}

/// A started emulator, an AppJWT, a ConsumerJWS for `ext` and the id of a
/// conversation it opened.
pub async fn opened(ext: &str) -> (EmulatorHandle, String, String, String) {
    let emu = emulator().await;
    let jwt = fetch_token_for(&emu, ACCOUNT).await;
    let jws = jws_for(&emu, ACCOUNT, &jwt, ext).await;
    let id = open(&emu, ACCOUNT, &jwt, &jws).await;
    (emu, jwt, jws, id)
}

/// Status and, for a 400, the message of a reply.
fn outcome(reply: &Reply) -> (u16, String) {
    let message = match reply.status {
        StatusCode::BAD_REQUEST => reply.json()["message"].as_str().unwrap_or("").to_owned(),
        _ => String::new(),
    };
    (reply.status.as_u16(), message)
}

#[tokio::test]
async fn whole_flow() {
    let emu = emulator().await;
    // The Domain API names this emulator for the Send API's service.
    let lookup = call(
        &emu,
        Req::get(format!(
            "/api/account/{ACCOUNT}/service/asyncMessagingEnt/baseURI.json?version=1.0"
        )),
    )
    .await;
    assert_eq!(lookup.json()["baseURI"], emu.host().to_string());
    let app_jwt = fetch_token_for(&emu, ACCOUNT).await;
    let jws = jws_for(&emu, ACCOUNT, &app_jwt, "John_Doe_facebook12345").await;

    let reply = call(
        &emu,
        post(conversation_path(ACCOUNT), &app_jwt, &jws, &batch(ACCOUNT)),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(
        reply.header("content-type"),
        Some("application/json;charset=utf-8")
    );
    let answer = reply.json();
    let id = answer[1]["body"]["conversationId"]
        .as_str()
        .expect("conversationId")
        .to_owned();
    let groups: Vec<usize> = id.split('-').map(str::len).collect();
    assert_eq!(groups, [8, 4, 4, 4, 12], "a uuid: {id}");
    assert_eq!(
        answer,
        json!([
            {"kind": "resp", "reqId": "1,", "code": 200, "body": "OK Consumer profile set", "type": "GenericResponse"},
            {"kind": "resp", "reqId": "2,", "code": 200, "body": {"conversationId": id}, "type": "cm.RequestConversationResponse"},
        ])
    );

    // (body, over HTTP/2, status, answer's body or 400 message)
    let steps: Vec<(Value, bool, u16, Value)> = vec![
        (message(&id, "Hi"), false, 200, json!({"sequence": 0})),
        (
            message(&id, "Jörg 東京 🙂"),
            true,
            200,
            json!({"sequence": 1}),
        ),
        (close(&id), false, 200, json!("OK Conversation was closed")),
        (
            message(&id, "too late"),
            false,
            400,
            json!("the conversation is closed"),
        ),
        (close(&id), false, 400, json!("the conversation is closed")),
    ];
    for (i, (body, h2, status, expected)) in steps.iter().enumerate() {
        let mut req = post(send_path(ACCOUNT), &app_jwt, &jws, body);
        req.h2 = *h2;
        let reply = call(&emu, req).await;
        assert_eq!(reply.status.as_u16(), *status, "step {i}: {:?}", reply.body);
        let answer = reply.json();
        if *status == 200 {
            assert_eq!(answer["kind"], "resp", "step {i}");
            assert_eq!(answer["reqId"], body["id"], "step {i}");
            assert_eq!(answer["code"], 200, "step {i}");
            assert_eq!(answer["body"], *expected, "step {i}");
        } else {
            assert_eq!(answer["message"], *expected, "step {i}");
        }
    }

    let texts: Vec<(String, String, String, String)> = emu
        .messages()
        .into_iter()
        .map(|m| {
            assert_eq!(m.account, ACCOUNT);
            assert_eq!(
                m.lp_consumer_id,
                lp_emulator::lp_consumer_id(ACCOUNT, "John_Doe_facebook12345")
            );
            (m.conversation_id, m.ext_consumer_id, m.content_type, m.text)
        })
        .collect();
    let expected = |text: &str| {
        (
            id.clone(),
            "John_Doe_facebook12345".to_owned(),
            "text/plain".to_owned(),
            text.to_owned(),
        )
    };
    assert_eq!(texts, [expected("Hi"), expected("Jörg 東京 🙂")]);
    let conversations = emu.conversations();
    assert_eq!(conversations.len(), 1);
    assert_eq!(conversations[0].id, id);
    assert_eq!(conversations[0].ext_consumer_id, "John_Doe_facebook12345");
    assert!(!conversations[0].open);
    let counts = [
        Endpoint::Token,
        Endpoint::Consumer,
        Endpoint::Conversation,
        Endpoint::Send,
    ]
    .map(|e| emu.request_count(e));
    assert_eq!(counts, [1, 1, 1, 5]);
}

#[tokio::test]
async fn a_consumer_cannot_touch_another_ones_conversation() {
    let emu = emulator().await;
    let app_jwt = fetch_token_for(&emu, ACCOUNT).await;
    let alice = jws_for(&emu, ACCOUNT, &app_jwt, "alice").await;
    let bob = jws_for(&emu, ACCOUNT, &app_jwt, "bob").await;
    let other_jwt = fetch_token_for(&emu, OTHER_ACCOUNT).await;
    // The same ext_consumer_id in another account is another consumer.
    let alice_elsewhere = jws_for(&emu, OTHER_ACCOUNT, &other_jwt, "alice").await;
    let alices = open(&emu, ACCOUNT, &app_jwt, &alice).await;
    let bobs = open(&emu, ACCOUNT, &app_jwt, &bob).await;
    assert_ne!(alices, bobs);
    let as_bob = |body: Value| post(send_path(ACCOUNT), &app_jwt, &bob, &body);
    let cases: Vec<(&str, Req, u16)> = vec![
        (
            "bob writes into alice's",
            as_bob(message(&alices, "x")),
            401,
        ),
        ("bob closes alice's", as_bob(close(&alices)), 401),
        (
            "unknown conversation",
            as_bob(message("no-such-id", "x")),
            401,
        ),
        (
            "alice of another account",
            post(
                send_path(OTHER_ACCOUNT),
                &other_jwt,
                &alice_elsewhere,
                &message(&alices, "x"),
            ),
            401,
        ),
        ("bob writes into his", as_bob(message(&bobs, "bob's")), 200),
        (
            "alice writes into hers",
            post(
                send_path(ACCOUNT),
                &app_jwt,
                &alice,
                &message(&alices, "alice's"),
            ),
            200,
        ),
    ];
    let refused = call(&emu, as_bob(message(&alices, "x"))).await;
    for (name, req, status) in cases {
        let reply = call(&emu, req).await;
        assert_eq!(reply.status.as_u16(), status, "{name}: {:?}", reply.body);
        if status == 401 {
            // Exactly the answer a bad token gets: nothing tells them apart.
            assert_eq!(reply.bytes(), refused.bytes(), "{name}");
        }
    }
    let bad_token = call(
        &emu,
        post(send_path(ACCOUNT), "garbage", &bob, &message(&bobs, "x")),
    )
    .await;
    assert_eq!(bad_token.bytes(), refused.bytes());
    let got: Vec<(String, String)> = emu
        .messages()
        .into_iter()
        .map(|m| (m.ext_consumer_id, m.text))
        .collect();
    let s = String::from;
    assert_eq!(got, [(s("bob"), s("bob's")), (s("alice"), s("alice's"))]);
    assert!(emu.conversations().iter().all(|c| c.open));
}

#[tokio::test]
async fn revoked_app_jwts_are_refused_and_a_new_one_works() {
    let (emu, first, jws, id) = opened("alice").await;
    let send = |jwt: &str| post(send_path(ACCOUNT), jwt, &jws, &message(&id, "x"));

    assert!(emu.revoke_app_jwt(&first));
    assert!(!emu.revoke_app_jwt("not-one-of-ours"));
    assert_eq!(
        call(&emu, send(&first)).await.status,
        StatusCode::UNAUTHORIZED
    );
    let idp = call(
        &emu,
        Req::post_json(
            format!("/api/account/{ACCOUNT}/consumer?v=1.0"),
            &first,
            &json!({"ext_consumer_id": "alice"}),
        ),
    )
    .await;
    assert_eq!(idp.status, StatusCode::UNAUTHORIZED);
    assert_eq!(idp.json()["message"], "the appjwt has been revoked");

    // Fetched at once (most likely in the same second): a new token, which
    // works; the ConsumerJWS did not change.
    let second = fetch_token_for(&emu, ACCOUNT).await;
    assert_ne!(second, first);
    assert_eq!(verify_with_jwks(&second, &emu.jwks_json()), Ok(()));
    let claims = decode_jwt(&second).claims;
    let lifetime = claims["exp"].as_i64().expect("exp") - claims["iat"].as_i64().expect("iat");
    assert_eq!(lifetime, 3600);
    assert_eq!(call(&emu, send(&second)).await.status, StatusCode::OK);

    let direct = emu.issue_token(ACCOUNT, CLIENT).expect("token");
    // `first` is revoked already: `second` and `direct` are new (one token
    // if both were signed in the same second: RS256 is deterministic).
    let distinct: std::collections::HashSet<&String> = [&second, &direct].into_iter().collect();
    assert_eq!(emu.revoke_all_app_jwts(), distinct.len());
    for jwt in [&first, &second, &direct] {
        assert_eq!(call(&emu, send(jwt)).await.status, StatusCode::UNAUTHORIZED);
    }
    let third = fetch_token_for(&emu, ACCOUNT).await;
    assert_eq!(call(&emu, send(&third)).await.status, StatusCode::OK);
    assert_eq!(emu.messages().len(), 2);
}

#[tokio::test]
async fn faults_and_counts() {
    let emu = emulator().await;
    let app_jwt = fetch_token_for(&emu, ACCOUNT).await;
    let jws = jws_for(&emu, ACCOUNT, &app_jwt, "alice").await;
    emu.reset_counts();
    let status = |status: u16, retry_after: Option<&str>| Fault::Status {
        status,
        retry_after: retry_after.map(str::to_owned),
        body: None,
    };
    emu.inject(Endpoint::Conversation, status(503, None), 1);
    emu.inject(Endpoint::Send, status(429, Some("2")), 1);
    emu.inject(Endpoint::Send, status(500, None), 1);
    emu.inject(Endpoint::Send, Fault::MalformedJson, 1);

    let faulted = call(
        &emu,
        post(conversation_path(ACCOUNT), &app_jwt, &jws, &batch(ACCOUNT)),
    )
    .await;
    assert_eq!(faulted.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        emu.conversations().is_empty(),
        "a faulted call opens nothing"
    );
    let id = open(&emu, ACCOUNT, &app_jwt, &jws).await;

    // (status, Retry-After, the body parses)
    let expected: [(u16, Option<&str>, bool); 4] = [
        (429, Some("2"), true),
        (500, None, true),
        (200, None, false),
        (200, None, true),
    ];
    for (i, (status, retry_after, parses)) in expected.into_iter().enumerate() {
        let reply = call(
            &emu,
            post(
                send_path(ACCOUNT),
                &app_jwt,
                &jws,
                &message(&id, &format!("m{i}")),
            ),
        )
        .await;
        assert_eq!(outcome(&reply), (status, String::new()), "step {i}");
        assert_eq!(reply.header("retry-after"), retry_after, "step {i}");
        if status == 200 {
            let json = serde_json::from_slice::<Value>(reply.bytes());
            assert_eq!(json.is_ok(), parses, "step {i}");
        }
    }
    // A faulted request is not processed: only the last message arrived.
    let texts: Vec<String> = emu.messages().into_iter().map(|m| m.text).collect();
    assert_eq!(texts, ["m3"]);
    let counts = [
        Endpoint::Conversation,
        Endpoint::Send,
        Endpoint::Consumer,
        Endpoint::Any,
    ]
    .map(|e| emu.request_count(e));
    assert_eq!(counts, [2, 4, 0, 6]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_sends_are_all_delivered_in_sequence() {
    let (emu, jwt, jws, id) = opened("alice").await;
    let target = Target::from(&emu);
    let sends: Vec<_> = (0..50)
        .map(|i| {
            let req = post(
                send_path(ACCOUNT),
                &jwt,
                &jws,
                &message(&id, &format!("m{i}")),
            );
            let target = target.clone();
            tokio::spawn(async move { tokio::time::timeout(GUARD, send(target, req)).await })
        })
        .collect();
    let mut sequences = Vec::new();
    for task in sends {
        let reply = task.await.expect("task").expect("in time").expect("reply");
        assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
        sequences.push(reply.json()["body"]["sequence"].as_u64().expect("sequence"));
    }
    sequences.sort_unstable();
    assert_eq!(sequences, (0..50).collect::<Vec<u64>>());
    let mut texts: Vec<String> = emu.messages().into_iter().map(|m| m.text).collect();
    texts.sort_unstable();
    let mut expected: Vec<String> = (0..50).map(|i| format!("m{i}")).collect();
    expected.sort_unstable();
    assert_eq!(texts, expected);
    assert_eq!(emu.request_count(Endpoint::Send), 50);
}
