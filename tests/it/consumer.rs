//! ConsumerJWS against the emulator's idp endpoint: the real client, real
//! TLS, the idp host found through the Domain API.

use std::time::Duration;

use lp_appjwt::{ConsumerError, Error, ExtConsumerId, HyperTransport, X_LP_ON_BEHALF};
use lp_emulator::{Endpoint, Fault};
use lp_jwt::{Jwks, UnverifiedToken};

use crate::support::{ACCOUNT, client, client_builder, emulator, start};

fn ext(id: &str) -> ExtConsumerId {
    ExtConsumerId::new(id).unwrap_or_else(|e| panic!("{id}: {e}"))
}

/// The requests the emulator counted: (domain, token, consumer).
fn counts(emu: &lp_emulator::EmulatorHandle) -> (u64, u64, u64) {
    (
        emu.request_count(Endpoint::Domain),
        emu.request_count(Endpoint::Token),
        emu.request_count(Endpoint::Consumer),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_consumer_jws_verifies_with_the_emulators_jwks_and_names_the_consumer() {
    let emu = start(emulator()).await;
    let client = client(&emu);
    let id = "John_Doe_facebook12345";
    let jws = client
        .consumer_jws(&ext(id))
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let token = UnverifiedToken::decode(jws.secret()).unwrap_or_else(|e| panic!("{e}"));
    let keys = Jwks::from_json(&emu.jwks_json()).unwrap_or_else(|e| panic!("{e}"));
    keys.verify(&token).unwrap_or_else(|e| panic!("{e}"));
    let extra = &token.claims().extra;
    assert_eq!(extra["account_id"], ACCOUNT);
    assert_eq!(extra["ext_consumer_id"], id);
    assert_eq!(
        extra["lp_consumer_id"],
        lp_emulator::lp_consumer_id(ACCOUNT, id).as_str()
    );
    assert_eq!(counts(&emu), (1, 1, 1));

    // Cached; the Send API headers carry both tokens.
    let headers = client
        .send_api_headers(&ext(id))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(headers[X_LP_ON_BEHALF], jws.secret());
    let jwt = client.token().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(headers[http::header::AUTHORIZATION], jwt.secret());
    assert_eq!(counts(&emu), (1, 1, 1));
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_distinct_consumers_concurrently_make_one_request_each() {
    let emu = start(emulator()).await;
    // 1,000 RS256 signatures on a shared 2-core machine can take longer
    // than the usual 2 s request timeout; this test counts requests, so a
    // retry after a timeout would make it fail for the wrong reason.
    let patient = HyperTransport::builder()
        .add_root_pem(emu.ca_pem().as_bytes())
        .and_then(|b| b.request_timeout(Duration::from_secs(60)).build())
        .unwrap_or_else(|e| panic!("transport: {e}"));
    let client = client_builder(&emu)
        .transport(patient)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    // A connector holds its AppJWT before its consumers write.
    client.token().await.unwrap_or_else(|e| panic!("{e}"));
    let tasks: Vec<_> = (0..1000)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move {
                let id = format!("consumer-{i}");
                let jws = client.consumer_jws(&ext(&id)).await?;
                Ok::<_, Error>((id, jws))
            })
        })
        .collect();
    for task in tasks {
        let (id, jws) = task
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|e| panic!("{e}"));
        let token = UnverifiedToken::decode(jws.secret()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(token.claims().extra["ext_consumer_id"], id.as_str());
    }
    assert_eq!(counts(&emu), (1, 1, 1000));
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_calls_for_one_consumer_make_one_request() {
    let emu = start(emulator()).await;
    let client = client(&emu);
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.consumer_jws(&ext("one")).await })
        })
        .collect();
    let mut seen = Vec::new();
    for task in tasks {
        let jws = task
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|e| panic!("{e}"));
        seen.push(jws.into_string());
    }
    seen.dedup();
    assert_eq!(seen.len(), 1);
    assert_eq!(counts(&emu), (1, 1, 1));
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_401_from_idp_refreshes_the_appjwt_and_succeeds() {
    let emu = start(emulator()).await;
    let client = client(&emu);
    let old = client.token().await.unwrap_or_else(|e| panic!("{e}"));
    emu.inject(Endpoint::Consumer, Fault::ConsumerUnauthorized, 1);
    let jws = client
        .consumer_jws(&ext("a"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!jws.secret().is_empty());
    let (_, tokens, consumers) = counts(&emu);
    assert_eq!((tokens, consumers), (2, 2));
    // The emulator may mint the same token twice within a second, so
    // the counts, not the token text, show the refresh.
    let _ = old;
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_401s_from_idp_are_an_error_after_two_requests() {
    let emu = start(emulator()).await;
    let client = client_builder(&emu)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    emu.inject(Endpoint::Consumer, Fault::ConsumerUnauthorized, 2);
    let err = match client.consumer_jws(&ext("a")).await {
        Ok(_) => panic!("a second 401 must fail"),
        Err(e) => e,
    };
    assert!(
        matches!(err, Error::Consumer(ConsumerError::Unauthorized { .. })),
        "{err:?}"
    );
    let (_, tokens, consumers) = counts(&emu);
    assert_eq!((tokens, consumers), (2, 2));
    emu.shutdown().await;
}
