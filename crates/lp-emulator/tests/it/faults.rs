//! Every fault kind, observed from the client side, and request counts.

use std::time::{Duration, Instant};

use lp_emulator::{Endpoint, Fault};

use crate::support::*;

fn sentinel_lookup() -> Req {
    Req::get(format!(
        "/api/account/{ACCOUNT}/service/sentinel/baseURI.json?version=1.0"
    ))
}

fn all_lookup() -> Req {
    Req::get(format!(
        "/api/account/{ACCOUNT}/service/baseURI.json?version=1.0"
    ))
}

fn jwks() -> Req {
    Req::get("/sentinel/well-known/jwks")
}

#[tokio::test]
async fn status_faults_then_recovery() {
    let emu = emulator().await;
    let status = |status: u16, retry_after: Option<&str>, body: Option<&str>| Fault::Status {
        status,
        retry_after: retry_after.map(String::from),
        body: body.map(String::from),
    };
    emu.inject(Endpoint::Token, status(503, None, None), 2);
    emu.inject(
        Endpoint::Token,
        status(429, Some("2"), Some("slow down")),
        1,
    );
    emu.inject(Endpoint::Domain, status(500, None, None), 1);
    emu.inject(Endpoint::Jwks, status(1000, None, None), 1);

    // (request, status, Retry-After, body)
    let cases: Vec<(Req, u16, Option<&str>, &str)> = vec![
        (sentinel_lookup(), 500, None, ""),
        (sentinel_lookup(), 200, None, "*"),
        (seed_request(ACCOUNT, CLIENT, SECRET), 503, None, ""),
        (seed_request(ACCOUNT, CLIENT, SECRET), 503, None, ""),
        (
            seed_request(ACCOUNT, CLIENT, SECRET),
            429,
            Some("2"),
            "slow down",
        ),
        (seed_request(ACCOUNT, CLIENT, SECRET), 200, None, "*"),
        (jwks(), 500, None, ""),
        (jwks(), 200, None, "*"),
    ];
    for (i, (req, status, retry_after, body)) in cases.into_iter().enumerate() {
        let reply = call(&emu, req).await;
        assert_eq!(reply.status.as_u16(), status, "step {i}");
        assert_eq!(reply.header("retry-after"), retry_after, "step {i}");
        if body != "*" {
            assert_eq!(reply.bytes(), body.as_bytes(), "step {i}");
        }
    }
}

#[tokio::test]
async fn any_endpoint_and_clear() {
    let emu = emulator().await;
    let fault = Fault::Status {
        status: 502,
        retry_after: None,
        body: None,
    };
    emu.inject(Endpoint::Any, fault.clone(), 3);
    let cases = [
        (jwks(), 502),
        (sentinel_lookup(), 502),
        (Req::get("/nowhere"), 502),
        (jwks(), 200),
    ];
    for (i, (req, status)) in cases.into_iter().enumerate() {
        assert_eq!(call(&emu, req).await.status.as_u16(), status, "step {i}");
    }
    emu.inject(Endpoint::Token, fault, 5);
    emu.clear_faults();
    assert_eq!(
        call(&emu, seed_request(ACCOUNT, CLIENT, SECRET))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn delay_then_normal_answer() {
    let emu = emulator().await;
    let delay = Duration::from_millis(300);
    emu.inject(Endpoint::Token, Fault::Delay(delay), 1);
    let started = Instant::now();
    let token = fetch_token(&emu).await;
    // A lower bound only: the emulator sleeps at least this long.
    assert!(started.elapsed() >= delay, "{:?}", started.elapsed());
    assert_eq!(verify_with_jwks(&token, &emu.jwks_json()), Ok(()));
}

#[tokio::test]
async fn hang_never_answers_until_shutdown() {
    let emu = emulator().await;
    emu.inject(Endpoint::Token, Fault::Hang, 2);
    let target = Target::from(&emu);
    let tasks = [
        seed_request(ACCOUNT, CLIENT, SECRET),
        seed_request(ACCOUNT, CLIENT, SECRET).h2(),
    ]
    .map(|req| tokio::spawn(send(target.clone(), req)));
    while emu.request_count(Endpoint::Token) < 2 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    for task in &tasks {
        assert!(!task.is_finished(), "a hung request got an answer");
    }
    emu.shutdown().await;
    for (i, task) in tasks.into_iter().enumerate() {
        let outcome = tokio::time::timeout(GUARD, task)
            .await
            .expect("request ended after shutdown")
            .expect("task joined");
        assert!(outcome.is_err(), "request {i}: {outcome:?}");
    }
}

#[tokio::test]
async fn close_mid_body() {
    let emu = emulator().await;
    emu.inject(Endpoint::Token, Fault::CloseMidBody, 1);
    let reply = call(&emu, seed_request(ACCOUNT, CLIENT, SECRET)).await;
    assert_eq!(reply.status, 200);
    let declared: usize = reply
        .header("content-length")
        .expect("content-length")
        .parse()
        .expect("number");
    assert!(declared > 100, "{declared}");
    assert!(reply.body.is_err(), "body completed: {:?}", reply.body);

    emu.inject(Endpoint::Domain, Fault::CloseMidBody, 1);
    let reply = call(&emu, sentinel_lookup().h2()).await;
    assert_eq!(reply.status, 200);
    assert!(reply.body.is_err(), "h2 body completed: {:?}", reply.body);
    // The next request is served normally.
    assert_eq!(call(&emu, sentinel_lookup()).await.status, 200);
}

#[tokio::test]
async fn bad_bodies() {
    let emu = emulator().await;
    let cases: Vec<(Endpoint, Fault, Req, &str)> = vec![
        (
            Endpoint::Token,
            Fault::MalformedJson,
            seed_request(ACCOUNT, CLIENT, SECRET),
            "application/json;charset=utf-8",
        ),
        (
            Endpoint::Domain,
            Fault::MalformedJson,
            sentinel_lookup(),
            "application/json;charset=utf-8",
        ),
        (
            Endpoint::Jwks,
            Fault::MalformedJson,
            jwks(),
            "application/json;charset=utf-8",
        ),
        (
            Endpoint::Token,
            Fault::NonJson200,
            seed_request(ACCOUNT, CLIENT, SECRET),
            "text/html;charset=utf-8",
        ),
        (
            Endpoint::Domain,
            Fault::NonJson200,
            sentinel_lookup(),
            "text/html;charset=utf-8",
        ),
    ];
    for (endpoint, fault, req, content_type) in cases {
        let name = format!("{endpoint:?} {fault:?}");
        emu.inject(endpoint, fault, 1);
        let reply = call(&emu, req).await;
        assert_eq!(reply.status, 200, "{name}");
        assert_eq!(reply.header("content-type"), Some(content_type), "{name}");
        assert!(
            serde_json::from_slice::<serde_json::Value>(reply.bytes()).is_err(),
            "{name}"
        );
    }
}

#[tokio::test]
async fn huge_body_is_streamed_with_its_length() {
    let emu = emulator().await;
    let size = 3 * 1024 * 1024 + 17;
    emu.inject(Endpoint::Token, Fault::HugeBody(size), 1);
    let reply = call(&emu, seed_request(ACCOUNT, CLIENT, SECRET)).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("content-length"),
        Some(size.to_string().as_str())
    );
    assert_eq!(reply.bytes().len(), size);
    assert!(reply.bytes().starts_with(b"{\"access_token\":\"AAA"));
}

#[tokio::test]
async fn token_faults_alter_claims_and_type() {
    let emu = emulator().await;
    type Check = fn(&serde_json::Value, &Jwt, Result<(), String>) -> bool;
    let cases: Vec<(Fault, Check)> = vec![
        (Fault::TokenType("MAC".into()), |body, _, sig| {
            body["token_type"] == "MAC" && sig.is_ok()
        }),
        (Fault::WrongAccountToken, |_, jwt, sig| {
            jwt.claims["aud"] != ACCOUNT && jwt.claims["aud"].is_string() && sig.is_ok()
        }),
        (Fault::ExpiredToken, |_, jwt, sig| {
            let exp = jwt.claims["exp"].as_i64().unwrap_or(i64::MAX);
            let iat = jwt.claims["iat"].as_i64().unwrap_or(i64::MAX);
            exp < now() && exp - iat == 3600 && sig.is_ok()
        }),
        (Fault::WrongIssuerToken, |_, jwt, sig| {
            jwt.claims["iss"] != "Sentinel" && sig.is_ok()
        }),
        (Fault::BadSignatureToken, |body, jwt, sig| {
            body["token_type"] == "Bearer" && jwt.claims["iss"] == "Sentinel" && sig.is_err()
        }),
        (Fault::FutureIatToken, |_, jwt, sig| {
            jwt.claims["iat"].as_i64().unwrap_or(0) > now() + 600 && sig.is_ok()
        }),
    ];
    for (fault, check) in cases {
        let name = format!("{fault:?}");
        // Injected for any endpoint: it waits for the token request.
        emu.inject(Endpoint::Any, fault, 1);
        assert_eq!(call(&emu, jwks()).await.status, 200, "{name}");
        let reply = call(&emu, seed_request(ACCOUNT, CLIENT, SECRET)).await;
        assert_eq!(reply.status, 200, "{name}");
        let body = reply.json();
        let token = body["access_token"].as_str().expect("token");
        let jwt = decode_jwt(token);
        let sig = verify_with_jwks(token, &emu.jwks_json());
        assert!(
            check(&body, &jwt, sig.clone()),
            "{name}: {body} {:?} {sig:?}",
            jwt.claims
        );
        // Used up: the next token is normal.
        let normal = fetch_token(&emu).await;
        assert_eq!(decode_jwt(&normal).claims["aud"], ACCOUNT, "{name}");
        assert_eq!(
            verify_with_jwks(&normal, &emu.jwks_json()),
            Ok(()),
            "{name}"
        );
    }
}

#[tokio::test]
async fn domain_host_fault() {
    let emu = emulator().await;
    let host = emu.host().to_string();
    for raw in ["evil@host", "host/path", "https://x"] {
        emu.inject(Endpoint::Domain, Fault::DomainHost(raw.into()), 2);
        let one = call(&emu, sentinel_lookup()).await.json();
        assert_eq!(one["baseURI"], raw);
        let all = call(&emu, all_lookup()).await.json();
        for e in all["baseURIs"].as_array().expect("baseURIs") {
            let expected = if e["service"] == "sentinel" {
                raw
            } else {
                host.as_str()
            };
            assert_eq!(e["baseURI"], expected, "{raw} {e}");
        }
        assert_eq!(
            call(&emu, sentinel_lookup()).await.json()["baseURI"],
            host.as_str()
        );
    }
}

#[tokio::test]
async fn counts_every_request() {
    let emu = emulator().await;
    emu.inject(
        Endpoint::Token,
        Fault::Status {
            status: 500,
            retry_after: None,
            body: None,
        },
        1,
    );
    let reqs = [
        seed_request(ACCOUNT, CLIENT, SECRET),
        seed_request(ACCOUNT, CLIENT, SECRET),
        seed_request(ACCOUNT, CLIENT, "wrong"),
        sentinel_lookup(),
        all_lookup(),
        jwks(),
        Req::get("/nowhere"),
    ];
    for req in reqs {
        call(&emu, req).await;
    }
    let counts = [
        Endpoint::Domain,
        Endpoint::Token,
        Endpoint::Jwks,
        Endpoint::Any,
    ]
    .map(|e| emu.request_count(e));
    assert_eq!(counts, [2, 3, 1, 7]);
    emu.reset_counts();
    assert_eq!(emu.request_count(Endpoint::Any), 0);
    call(&emu, jwks()).await;
    assert_eq!(emu.request_count(Endpoint::Jwks), 1);
}
