//! The idp's ConsumerJWS endpoint: issued tokens, every refusal, faults and
//! counts. Requests are built and answers read with `lp-consumer`, the
//! client's own protocol crate, wherever the request is a valid one.

use std::time::Duration;

use http::StatusCode;
use lp_consumer::{
    AccountId, ConsumerError, ConsumerJws, ExtConsumerId, consumer_request, parse_consumer_response,
};
use lp_emulator::{EmulatorHandle, Endpoint, Fault};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::json;

use crate::support::*;

fn path(account: &str) -> String {
    format!("/api/account/{account}/consumer?v=1.0")
}

/// The request `lp-consumer` builds, in the test client's form.
fn request(emu: &EmulatorHandle, account: &str, app_jwt: &str, ext: &str) -> Req {
    let built = consumer_request(
        &emu.host(),
        &AccountId::new(account).expect("account"),
        app_jwt,
        &ExtConsumerId::new(ext).expect("ext consumer id"),
    )
    .expect("request");
    assert_eq!(
        built.uri().authority().map(|a| a.as_str()),
        Some(emu.host().to_string().as_str())
    );
    let header = |name: &str| built.headers().get(name).and_then(|v| v.to_str().ok());
    assert_eq!(header("content-type"), Some("application/json"));
    Req {
        method: "POST",
        target: built
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_default(),
        content_type: Some("application/json"),
        body: built.body().clone(),
        h2: false,
        authorization: header("authorization").map(str::to_owned),
        on_behalf: None,
    }
}

/// The reply as `lp-consumer` reads it.
fn parse(reply: &Reply) -> Result<ConsumerJws, ConsumerError> {
    let mut builder = http::Response::builder().status(reply.status);
    for (k, v) in &reply.headers {
        builder = builder.header(k, v);
    }
    let response = builder
        .body(reply.body.clone().unwrap_or_default().to_vec())
        .expect("response");
    parse_consumer_response(&response)
}

/// Checks an issued ConsumerJWS: header, exact claims, signature against
/// the served JWKS, and the stable `lp_consumer_id`.
fn check_jws(emu: &EmulatorHandle, name: &str, jws: &str, account: &str, ext: &str) {
    let jwt = decode_jwt(jws);
    let kid = emu.current_kid();
    assert_eq!(
        jwt.raw_header,
        format!(r#"{{"kid":"{kid}","typ":"JWT","alg":"RS256"}}"#),
        "{name}"
    );
    let iat = jwt.claims["iat"].as_i64().expect("iat");
    assert!((iat - now()).abs() <= 5, "{name}: iat is now");
    let lp_consumer_id = lp_emulator::lp_consumer_id(account, ext);
    let expected = json!({
        "account_id": account,
        "ext_consumer_id": ext,
        "lp_consumer_id": lp_consumer_id,
        "iat": iat,
    });
    assert_eq!(jwt.claims, expected, "{name}");
    assert!(
        jwt.raw_claims.starts_with(r#"{"account_id":"#),
        "{name}: claims in LivePerson's order"
    );
    assert_eq!(verify_with_jwks(jws, &emu.jwks_json()), Ok(()), "{name}");
}

#[tokio::test]
async fn issues_signed_consumer_jws() {
    let emu = emulator().await;
    let app_jwt = fetch_token(&emu).await;
    let other_jwt = fetch_token_for(&emu, OTHER_ACCOUNT).await;
    let cases: Vec<(&str, &str, &str, &str, bool)> = vec![
        (
            "documented example",
            ACCOUNT,
            &app_jwt,
            "John_Doe_facebook12345",
            false,
        ),
        (
            "quotes and backslashes",
            ACCOUNT,
            &app_jwt,
            r#"say "hi" \ bye"#,
            false,
        ),
        ("unicode", ACCOUNT, &app_jwt, "Jörg 東京 🙂", false),
        (
            "other account",
            OTHER_ACCOUNT,
            &other_jwt,
            "John_Doe_facebook12345",
            false,
        ),
        ("http/2", ACCOUNT, &app_jwt, "h2-consumer", true),
    ];
    for (name, account, jwt, ext, h2) in cases {
        let mut req = request(&emu, account, jwt, ext);
        req.h2 = h2;
        let reply = call(&emu, req).await;
        assert_eq!(
            reply.status,
            StatusCode::CREATED,
            "{name}: {:?}",
            reply.body
        );
        assert_eq!(
            reply.header("content-type"),
            Some("application/json;charset=utf-8"),
            "{name}"
        );
        assert_eq!(reply.header("cache-control"), Some("no-store"), "{name}");
        let jws = parse(&reply).unwrap_or_else(|e| panic!("{name}: {e}"));
        check_jws(&emu, name, jws.secret(), account, ext);
    }
    assert_eq!(emu.request_count(Endpoint::Consumer), 5);
}

#[tokio::test]
async fn lp_consumer_id_is_stable_per_account_and_consumer() {
    let emu = emulator().await;
    let app_jwt = fetch_token(&emu).await;
    let mut ids = Vec::new();
    for ext in ["alice", "alice", "bob"] {
        let reply = call(&emu, request(&emu, ACCOUNT, &app_jwt, ext)).await;
        let jws = parse(&reply).expect("jws");
        ids.push(decode_jwt(jws.secret()).claims["lp_consumer_id"].clone());
    }
    assert_eq!(ids[0], ids[1]);
    assert_ne!(ids[0], ids[2]);
    // The helper agrees with the endpoint, and the account is part of it.
    assert_eq!(ids[0], lp_emulator::lp_consumer_id(ACCOUNT, "alice"));
    assert_ne!(
        lp_emulator::lp_consumer_id(ACCOUNT, "alice"),
        lp_emulator::lp_consumer_id(OTHER_ACCOUNT, "alice")
    );
    let id = lp_emulator::lp_consumer_id(ACCOUNT, "alice");
    let groups: Vec<usize> = id.split('-').map(str::len).collect();
    assert_eq!(groups, [8, 4, 4, 4, 12], "{id}");
    assert!(
        id.bytes()
            .all(|b| b == b'-' || b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    // And `issue_consumer_jws` gives the same claims as the endpoint.
    let direct = emu.issue_consumer_jws(ACCOUNT, "alice").expect("jws");
    check_jws(&emu, "issue_consumer_jws", &direct, ACCOUNT, "alice");
}

#[tokio::test]
async fn refuses_bad_app_jwts_with_401() {
    let emu = emulator().await;
    let good = fetch_token(&emu).await;
    let issue = |fault: Fault| {
        emu.issue_token_with(ACCOUNT, CLIENT, &fault)
            .expect("token")
    };
    // Another emulator's key: same kid scheme, other key material.
    let stranger = stranger()
        .await
        .issue_token(ACCOUNT, CLIENT)
        .expect("token");
    // A zero lifetime gives a token whose `exp` is its `iat`: expired as
    // soon as it is issued, through the real token endpoint.
    let expired_by_lifetime = {
        let short = builder()
            .lifetime(Duration::ZERO)
            .start()
            .await
            .expect("start");
        let token = fetch_token(&short).await;
        short.shutdown().await;
        token
    };
    let ext = json!({"ext_consumer_id": "John_Doe_facebook12345"});
    let with = |auth: Option<&str>| Req::post_json(path(ACCOUNT), "", &ext).authorization(auth);
    let bearer = format!("Bearer {good}");
    let other_account_token = emu.issue_token(OTHER_ACCOUNT, OTHER_CLIENT).expect("token");
    let (head, rest) = good.split_once('.').expect("dot");
    let unsigned = format!("{head}.{}", rest.rsplit_once('.').expect("dot").0);
    // (name, request, expected message, or "*" for any)
    let cases: Vec<(&str, Req, &str)> = vec![
        (
            "no authorization",
            with(None),
            "authorization header with an appjwt is required",
        ),
        (
            "empty",
            with(Some("")),
            "the appjwt is not a well-formed jwt",
        ),
        (
            "bearer prefix",
            with(Some(&bearer)),
            "the appjwt is not a well-formed jwt",
        ),
        (
            "garbage",
            with(Some("abc")),
            "the appjwt is not a well-formed jwt",
        ),
        (
            "two parts",
            with(Some(&unsigned)),
            "the appjwt is not a well-formed jwt",
        ),
        (
            "expired",
            with(Some(&issue(Fault::ExpiredToken))),
            "the appjwt has expired",
        ),
        (
            "zero lifetime",
            with(Some(&expired_by_lifetime)),
            "the appjwt has expired",
        ),
        (
            "wrong account",
            with(Some(&issue(Fault::WrongAccountToken))),
            "the appjwt is for another account",
        ),
        (
            "other account's token",
            with(Some(&other_account_token)),
            "the appjwt is for another account",
        ),
        (
            "wrong issuer",
            with(Some(&issue(Fault::WrongIssuerToken))),
            "the appjwt was not issued by sentinel",
        ),
        (
            "bad signature",
            with(Some(&issue(Fault::BadSignatureToken))),
            "the appjwt's signature does not verify",
        ),
        (
            "future iat",
            with(Some(&issue(Fault::FutureIatToken))),
            "the appjwt is issued in the future",
        ),
        ("another emulator's key", with(Some(&stranger)), "*"),
    ];
    for (name, req, message) in cases {
        let reply = call(&emu, req).await;
        assert_eq!(
            reply.status,
            StatusCode::UNAUTHORIZED,
            "{name}: {:?}",
            reply.body
        );
        let body = reply.json();
        assert_eq!(body["error"], "unauthorized", "{name}");
        if message != "*" {
            assert_eq!(body["message"], message, "{name}");
        }
        assert!(
            matches!(parse(&reply), Err(ConsumerError::Unauthorized { .. })),
            "{name}"
        );
    }
    // The good token still works after all that.
    let reply = call(&emu, Req::post_json(path(ACCOUNT), &good, &ext)).await;
    assert_eq!(reply.status, StatusCode::CREATED);
}

#[tokio::test]
async fn refuses_bad_requests() {
    let emu = emulator().await;
    let jwt = fetch_token(&emu).await;
    let ext = json!({"ext_consumer_id": "x"});
    let post = |body: serde_json::Value| Req::post_json(path(ACCOUNT), &jwt, &body);
    let raw = |body: &[u8]| post(json!(null)).body(body.to_vec());
    let huge = format!(r#"{{"ext_consumer_id":"{}"}}"#, "x".repeat(70 * 1024));
    // (name, request, status, message or "*")
    let cases: Vec<(&str, Req, u16, &str)> = vec![
        (
            "text/plain",
            post(ext.clone()).content_type(Some("text/plain")),
            400,
            "content type must be application/json",
        ),
        (
            "form",
            post(ext.clone()).content_type(Some(FORM)),
            400,
            "content type must be application/json",
        ),
        (
            "no content type",
            post(ext.clone()).content_type(None),
            400,
            "content type must be application/json",
        ),
        (
            "not json",
            raw(b"ext_consumer_id=x"),
            400,
            "the body is not valid json",
        ),
        ("empty body", raw(b""), 400, "the body is not valid json"),
        (
            "array",
            post(json!(["x"])),
            400,
            "the body must be a json object",
        ),
        (
            "missing",
            post(json!({"consumer": "x"})),
            400,
            "ext_consumer_id is required",
        ),
        (
            "empty id",
            post(json!({"ext_consumer_id": ""})),
            400,
            "ext_consumer_id is empty",
        ),
        (
            "number",
            post(json!({"ext_consumer_id": 12345})),
            400,
            "ext_consumer_id must be a string",
        ),
        (
            "null",
            post(json!({"ext_consumer_id": null})),
            400,
            "ext_consumer_id must be a string",
        ),
        (
            "no version",
            Req::post_json(format!("/api/account/{ACCOUNT}/consumer"), &jwt, &ext),
            400,
            "query parameter v=1.0 is required",
        ),
        (
            "v=2.0",
            Req::post_json(format!("/api/account/{ACCOUNT}/consumer?v=2.0"), &jwt, &ext),
            400,
            "unsupported api version",
        ),
        (
            "repeated v",
            Req::post_json(
                format!("/api/account/{ACCOUNT}/consumer?v=1.0&v=1.0"),
                &jwt,
                &ext,
            ),
            400,
            "repeated query parameter v",
        ),
        ("get", post(ext.clone()).method("GET"), 405, "*"),
        ("too large", raw(huge.as_bytes()), 413, "*"),
        (
            "charset is fine",
            post(ext.clone()).content_type(Some("application/json; charset=utf-8")),
            201,
            "*",
        ),
    ];
    check_replies(&emu, cases).await;
    let allow = call(&emu, post(ext).method("GET")).await;
    assert_eq!(allow.header("allow"), Some("POST"));
}

#[tokio::test]
async fn accepts_tokens_of_keys_still_published() {
    let emu = emulator().await;
    let before = fetch_token(&emu).await;
    let ext = json!({"ext_consumer_id": "x"});
    // One rotation: the old key stays in the JWKS, so its tokens still work,
    // and the new JWS is signed with the new key.
    emu.rotate_key_to(second_key());
    let reply = call(&emu, Req::post_json(path(ACCOUNT), &before, &ext)).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    let jws = parse(&reply).expect("jws");
    check_jws(&emu, "after one rotation", jws.secret(), ACCOUNT, "x");
    // Another rotation retires the first key for good.
    emu.rotate_key_to(key());
    let reply = call(&emu, Req::post_json(path(ACCOUNT), &before, &ext)).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        reply.json()["message"],
        "the appjwt's kid names no key of this sentinel"
    );
}

#[tokio::test]
async fn faults_and_counts() {
    let emu = emulator().await;
    let jwt = fetch_token(&emu).await;
    emu.reset_counts();
    let ok = || request(&emu, ACCOUNT, &jwt, "x");
    let s = StatusCode::from_u16;
    // A fault for `Any` that only applies to the consumer endpoint waits
    // for a consumer request.
    emu.inject(Endpoint::Any, Fault::ConsumerUnauthorized, 1);
    emu.inject(Endpoint::Consumer, Fault::ConsumerUnauthorized, 1);
    emu.inject(
        Endpoint::Consumer,
        Fault::Status {
            status: 429,
            retry_after: Some("3".to_owned()),
            body: None,
        },
        1,
    );
    emu.inject(
        Endpoint::Consumer,
        Fault::Status {
            status: 503,
            retry_after: None,
            body: Some("down".to_owned()),
        },
        1,
    );
    emu.inject(Endpoint::Consumer, Fault::MalformedJson, 1);
    emu.inject(Endpoint::Consumer, Fault::NonJson200, 1);
    emu.inject(Endpoint::Consumer, Fault::HugeBody(100 * 1024), 1);
    emu.inject(
        Endpoint::Consumer,
        Fault::Delay(Duration::from_millis(10)),
        1,
    );
    // The token endpoint is not affected by consumer faults.
    let token = call(&emu, seed_request(ACCOUNT, CLIENT, SECRET)).await;
    assert_eq!(token.status, StatusCode::OK);
    let expected: Vec<Result<(), ConsumerError>> = vec![
        Err(ConsumerError::Unauthorized {
            status: s(401).unwrap(),
        }),
        Err(ConsumerError::Unauthorized {
            status: s(401).unwrap(),
        }),
        Err(ConsumerError::Throttled {
            status: s(429).unwrap(),
            retry_after: Some(lp_consumer::RetryAfter::Delay(Duration::from_secs(3))),
        }),
        Err(ConsumerError::Server {
            status: s(503).unwrap(),
            retry_after: None,
        }),
        Err(ConsumerError::Malformed {
            status: s(200).unwrap(),
            reason: "body ends early (EOF while parsing) at line 1 column 30".to_owned(),
        }),
        Err(ConsumerError::Malformed {
            status: s(200).unwrap(),
            reason: "content type \"text/html\" is not json".to_owned(),
        }),
        Err(ConsumerError::BodyTooLarge {
            status: s(200).unwrap(),
            limit: 64 * 1024,
        }),
        Ok(()),
        Ok(()),
    ];
    for (i, expected) in expected.into_iter().enumerate() {
        let reply = call(&emu, ok()).await;
        assert_eq!(parse(&reply).map(|_| ()), expected, "step {i}");
    }
    assert_eq!(emu.request_count(Endpoint::Consumer), 9);
    assert_eq!(emu.request_count(Endpoint::Token), 1);
    assert_eq!(emu.request_count(Endpoint::Any), 10);

    // A hanging consumer request never answers; the next one does.
    emu.inject(Endpoint::Consumer, Fault::Hang, 1);
    let hung = tokio::time::timeout(Duration::from_millis(300), send(&emu, ok())).await;
    assert!(hung.is_err(), "no answer while hanging");
    let reply = call(&emu, ok()).await;
    assert_eq!(reply.status, StatusCode::CREATED);
    assert_eq!(emu.request_count(Endpoint::Consumer), 11);
    emu.reset_counts();
    assert_eq!(emu.request_count(Endpoint::Consumer), 0);
}

#[test]
fn arbitrary_ext_consumer_ids_round_trip() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let emu = rt
        .block_on(builder().plain_http(true).start())
        .expect("start");
    let jwt = emu.issue_token(ACCOUNT, CLIENT).expect("token");
    let strategy = prop_oneof!["[^\\p{Cc}]{1,60}", "[\"\\\\/é東🙂 a]{1,40}",];
    // Fewer cases than the default: each one is a real HTTP exchange.
    let mut runner = TestRunner::new(Config {
        cases: Config::default().cases.min(64),
        ..Config::default()
    });
    let result = runner.run(&strategy, |ext| {
        let reply = rt.block_on(call(&emu, request(&emu, ACCOUNT, &jwt, &ext)));
        let jws = parse(&reply).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let claims = decode_jwt(jws.secret()).claims;
        prop_assert_eq!(claims["ext_consumer_id"].as_str(), Some(ext.as_str()));
        let expected_id = lp_emulator::lp_consumer_id(ACCOUNT, &ext);
        prop_assert_eq!(
            claims["lp_consumer_id"].as_str(),
            Some(expected_id.as_str())
        );
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
