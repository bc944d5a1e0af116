//! The Domain API (CSDS): both forms, every status.

use lp_emulator::{Emulator, UnknownService, WELL_KNOWN_SERVICES};
use serde_json::json;

use crate::support::*;

fn one(account: &str, service: &str) -> String {
    format!("/api/account/{account}/service/{service}/baseURI.json?version=1.0")
}

fn all(account: &str) -> String {
    format!("/api/account/{account}/service/baseURI.json?version=1.0")
}

#[tokio::test]
async fn single_service_answers() {
    let emu = emulator().await;
    let host = emu.host().to_string();
    assert!(host.starts_with("127.0.0.1:"), "{host}");
    let cases: Vec<(&str, Req, u16, Option<serde_json::Value>)> = vec![
        (
            "sentinel",
            Req::get(one(ACCOUNT, "sentinel")),
            200,
            Some(json!({"service": "sentinel", "account": ACCOUNT, "baseURI": host})),
        ),
        (
            "idp",
            Req::get(one(ACCOUNT, "idp")),
            200,
            Some(json!({"service": "idp", "account": ACCOUNT, "baseURI": host})),
        ),
        (
            "other account",
            Req::get(one(OTHER_ACCOUNT, "asyncMessagingEnt")),
            200,
            Some(
                json!({"service": "asyncMessagingEnt", "account": OTHER_ACCOUNT, "baseURI": host}),
            ),
        ),
        ("unknown service", Req::get(one(ACCOUNT, "nope")), 404, None),
        (
            "names are case sensitive",
            Req::get(one(ACCOUNT, "Sentinel")),
            404,
            None,
        ),
        (
            "unknown account",
            Req::get(one("99999999", "sentinel")),
            401,
            None,
        ),
        (
            "no version",
            Req::get(format!(
                "/api/account/{ACCOUNT}/service/sentinel/baseURI.json"
            )),
            400,
            None,
        ),
        (
            "wrong version",
            Req::get(format!(
                "/api/account/{ACCOUNT}/service/sentinel/baseURI.json?version=2.0"
            )),
            400,
            None,
        ),
        (
            "repeated version",
            Req::get(format!("{}&version=1.0", one(ACCOUNT, "sentinel"))),
            400,
            None,
        ),
        (
            "POST",
            Req::get(one(ACCOUNT, "sentinel")).method("POST"),
            405,
            None,
        ),
        (
            "unknown path",
            Req::get("/api/account/1/nothing"),
            404,
            None,
        ),
        ("http/2", Req::get(one(ACCOUNT, "sentinel")).h2(), 200, None),
    ];
    for (name, req, status, body) in cases {
        let reply = call(&emu, req).await;
        assert_eq!(reply.status.as_u16(), status, "{name}: {:?}", reply.body);
        if let Some(body) = body {
            assert_eq!(reply.json(), body, "{name}");
        }
    }
}

#[tokio::test]
async fn all_services_answer() {
    let emu = emulator().await;
    let reply = call(&emu, Req::get(all(ACCOUNT))).await;
    assert_eq!(reply.status, 200);
    let body = reply.json();
    let entries = body["baseURIs"].as_array().expect("baseURIs");
    let names: Vec<&str> = entries
        .iter()
        .filter_map(|e| e["service"].as_str())
        .collect();
    assert_eq!(names, WELL_KNOWN_SERVICES);
    for e in entries {
        assert_eq!(e["account"], ACCOUNT);
        assert_eq!(e["baseURI"], emu.host().to_string());
    }
    let cases = [
        (all("99999999"), 401),
        (format!("/api/account/{ACCOUNT}/service/baseURI.json"), 400),
    ];
    for (target, status) in cases {
        assert_eq!(
            call(&emu, Req::get(target.clone())).await.status.as_u16(),
            status,
            "{target}"
        );
    }
}

#[tokio::test]
async fn unknown_service_can_be_omitted() {
    let emu = builder()
        .unknown_service(UnknownService::Omit)
        .without_service("sentinel")
        .start()
        .await
        .expect("start");
    let reply = call(&emu, Req::get(one(ACCOUNT, "sentinel"))).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.json(),
        json!({"service": "sentinel", "account": ACCOUNT})
    );
    let reply = call(&emu, Req::get(all(ACCOUNT))).await;
    let body = reply.json();
    let names: Vec<&str> = body["baseURIs"]
        .as_array()
        .expect("baseURIs")
        .iter()
        .filter_map(|e| e["service"].as_str())
        .collect();
    assert!(
        !names.contains(&"sentinel") && names.contains(&"idp"),
        "{names:?}"
    );
}

#[tokio::test]
async fn accounts_come_from_registered_clients() {
    let emu = Emulator::builder()
        .signing_key(key())
        .start()
        .await
        .expect("start");
    let reply = call(&emu, Req::get(one(ACCOUNT, "sentinel"))).await;
    assert_eq!(reply.status, 401);
}
