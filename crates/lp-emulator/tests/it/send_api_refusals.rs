//! Every refusal of the Send API: credentials (one indistinguishable 401)
//! and malformed requests (400 with a message, 405).

use http::StatusCode;
use lp_emulator::Fault;
use serde_json::{Value, json};

use crate::send_api::*;
use crate::support::*;

#[tokio::test]
async fn refuses_bad_credentials_with_one_401() {
    let (emu, good, jws, id) = opened("alice").await;
    let issue = |fault: Fault| {
        emu.issue_token_with(ACCOUNT, CLIENT, &fault)
            .expect("token")
    };
    let stranger = {
        let other = stranger().await;
        (
            other.issue_token(ACCOUNT, CLIENT).expect("token"),
            other.issue_consumer_jws(ACCOUNT, "alice").expect("jws"),
        )
    };
    let other_account_jws = emu.issue_consumer_jws(OTHER_ACCOUNT, "alice").expect("jws");
    let tampered_jws = {
        // Claims of another consumer under alice's signature.
        let (head, rest) = jws.split_once('.').expect("dot");
        let signature = rest.rsplit_once('.').expect("dot").1;
        let bob = emu.issue_consumer_jws(ACCOUNT, "bob").expect("jws");
        let claims = bob.split('.').nth(1).expect("claims");
        format!("{head}.{claims}.{signature}")
    };
    let revoked = emu.issue_token(ACCOUNT, CLIENT).expect("token");
    assert!(emu.revoke_app_jwt(&revoked));
    let bearer = format!("Bearer {good}");
    let expired = issue(Fault::ExpiredToken);
    let wrong_account = issue(Fault::WrongAccountToken);
    let bad_signature = issue(Fault::BadSignatureToken);
    // (name, Authorization, X-LP-ON-BEHALF)
    let cases: Vec<(&str, Option<&str>, Option<&str>)> = vec![
        ("no appjwt", None, Some(&jws)),
        ("no consumerjws", Some(&good), None),
        ("neither", None, None),
        ("swapped", Some(&jws), Some(&good)),
        ("appjwt twice", Some(&good), Some(&good)),
        ("bearer prefix", Some(&bearer), Some(&jws)),
        ("expired appjwt", Some(&expired), Some(&jws)),
        (
            "appjwt of another account",
            Some(&wrong_account),
            Some(&jws),
        ),
        ("bad appjwt signature", Some(&bad_signature), Some(&jws)),
        ("revoked appjwt", Some(&revoked), Some(&jws)),
        ("another emulator's appjwt", Some(&stranger.0), Some(&jws)),
        (
            "another emulator's consumerjws",
            Some(&good),
            Some(&stranger.1),
        ),
        (
            "consumerjws of another account",
            Some(&good),
            Some(&other_account_jws),
        ),
        ("tampered consumerjws", Some(&good), Some(&tampered_jws)),
        ("garbage consumerjws", Some(&good), Some("abc")),
        ("empty consumerjws", Some(&good), Some("")),
    ];
    let mut bodies = Vec::new();
    for (name, app, consumer) in cases {
        let requests = [
            (conversation_path(ACCOUNT), batch(ACCOUNT)),
            (send_path(ACCOUNT), message(&id, "x")),
            (send_path(ACCOUNT), close(&id)),
        ];
        for (path, body) in requests {
            let req = Req::post_json(path.clone(), "", &body)
                .authorization(app)
                .on_behalf(consumer);
            let reply = call(&emu, req).await;
            assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{name} {path}");
            assert_eq!(reply.header("cache-control"), Some("no-store"), "{name}");
            bodies.push(reply.bytes().to_vec());
        }
    }
    // Nothing in the body tells which token was refused.
    assert!(bodies.windows(2).all(|w| w[0] == w[1]));
    let body: Value = serde_json::from_slice(&bodies[0]).expect("json");
    assert_eq!(body["errorCode"], 40102);
    assert!(emu.messages().is_empty());
    assert_eq!(emu.conversations().len(), 1);
    assert!(emu.conversations()[0].open, "no refused close got through");
}

#[tokio::test]
async fn consumer_jws_lives_as_long_as_its_key_is_published() {
    let emu = emulator().await;
    let before = fetch_token_for(&emu, ACCOUNT).await;
    let jws = jws_for(&emu, ACCOUNT, &before, "alice").await;
    emu.rotate_key_to(second_key());
    let app_jwt = fetch_token_for(&emu, ACCOUNT).await;
    let id = open(&emu, ACCOUNT, &app_jwt, &jws).await;
    // A second rotation takes the ConsumerJWS's key out of the JWKS.
    emu.rotate_key_to(key());
    let app_jwt = fetch_token_for(&emu, ACCOUNT).await;
    let reply = call(
        &emu,
        post(send_path(ACCOUNT), &app_jwt, &jws, &message(&id, "x")),
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    let fresh = jws_for(&emu, ACCOUNT, &app_jwt, "alice").await;
    let reply = call(
        &emu,
        post(send_path(ACCOUNT), &app_jwt, &fresh, &message(&id, "x")),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
}

#[tokio::test]
async fn refuses_bad_requests() {
    let (emu, jwt, jws, id) = opened("alice").await;
    let to_conversation = |body: Value| post(conversation_path(ACCOUNT), &jwt, &jws, &body);
    let to_send = |body: Value| post(send_path(ACCOUNT), &jwt, &jws, &body);
    let with_query = |path: &str, body: Value| post(path.to_owned(), &jwt, &jws, &body);
    let base = format!("/api/account/{ACCOUNT}/messaging/consumer/conversation");
    let items = batch(ACCOUNT);
    let order =
        "the batch must hold userprofile.SetUserProfile then cm.ConsumerRequestConversation";
    let mut other_brand = batch(ACCOUNT);
    other_brand[1]["body"]["brandId"] = json!(OTHER_ACCOUNT);
    let mut chat = batch(ACCOUNT);
    chat[1]["body"]["channelType"] = json!("CHAT");
    let mut typing = message(&id, "x");
    typing["body"]["event"] = json!({"type": "ChatStateEvent", "chatState": "COMPOSING"});
    let mut reopen = close(&id);
    reopen["body"]["conversationField"]["conversationState"] = json!("OPEN");
    // (name, request, status, message or "*")
    let cases: Vec<(&str, Req, u16, &str)> = vec![
        (
            "swapped batch",
            to_conversation(json!([items[1], items[0]])),
            400,
            order,
        ),
        (
            "profile only",
            to_conversation(json!([items[0]])),
            400,
            order,
        ),
        (
            "conversation only",
            to_conversation(json!([items[1]])),
            400,
            order,
        ),
        (
            "object",
            to_conversation(items[0].clone()),
            400,
            "the body must be a json array of requests",
        ),
        (
            "other brand",
            to_conversation(other_brand),
            400,
            "brandId must be the account id",
        ),
        (
            "other channel",
            to_conversation(chat),
            400,
            "channelType must be MESSAGING",
        ),
        (
            "not json",
            to_conversation(json!(null)).body(b"[".to_vec()),
            400,
            "the body is not valid json",
        ),
        (
            "no version",
            with_query(&base, batch(ACCOUNT)),
            400,
            "query parameter v=3 is required",
        ),
        (
            "v=1",
            with_query(&format!("{base}?v=1"), batch(ACCOUNT)),
            400,
            "unsupported api version",
        ),
        (
            "repeated v",
            with_query(&format!("{base}/send?v=3&v=3"), message(&id, "x")),
            400,
            "repeated query parameter v",
        ),
        (
            "text/plain",
            to_send(message(&id, "x")).content_type(Some("text/plain")),
            400,
            "content type must be application/json",
        ),
        (
            "batch on send",
            to_send(json!([message(&id, "x")])),
            400,
            "a request must be a json object",
        ),
        (
            "typing",
            to_send(typing),
            400,
            "only an event of type ContentEvent is supported",
        ),
        (
            "reopen",
            to_send(reopen),
            400,
            "only ConversationStateField with conversationState CLOSE is supported",
        ),
        (
            "profile on send",
            to_send(items[0].clone()),
            400,
            "unsupported request type userprofile.SetUserProfile",
        ),
        ("get", to_send(message(&id, "x")).method("GET"), 405, "*"),
        (
            "too large",
            to_send(message(&id, &"x".repeat(70 * 1024))),
            413,
            "*",
        ),
        (
            "charset is fine",
            to_send(message(&id, "ok")).content_type(Some("application/json; charset=utf-8")),
            200,
            "*",
        ),
    ];
    check_replies(&emu, cases).await;
    let texts: Vec<String> = emu.messages().into_iter().map(|m| m.text).collect();
    assert_eq!(texts, ["ok"]);
    assert_eq!(emu.conversations().len(), 1);
}
