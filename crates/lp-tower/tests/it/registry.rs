//! The layer over an `AppJwtRegistry`: the account from the request.

use std::sync::{Arc, Mutex};

use lp_appjwt::{AccountId, AppJwtRegistry, ClientId, ClientSecret, Host, TransportError};
use lp_tower::{AppJwtLayer, Error, TransportService};
use tower::{Layer, ServiceExt};

use crate::support::{ACCOUNT, CLIENT_ID, Fake, SECRET};

#[tokio::test(start_paused = true)]
async fn the_account_comes_from_the_request_and_a_request_without_one_is_not_sent() {
    let fake = Fake::new();
    let sentinel = Arc::clone(&fake);
    let clock = Arc::clone(&fake);
    let registry = AppJwtRegistry::builder()
        .transport(move |req: http::Request<Vec<u8>>| {
            let fake = Arc::clone(&sentinel);
            async move { Ok::<_, TransportError>(fake.answer(&req)) }
        })
        .clock(move || clock.now())
        .verify_with(lp_appjwt::VerifyWith::None)
        .configure(|b| b.sentinel_host(Host::parse("va.sentinel.liveperson.net").unwrap()))
        .build()
        .unwrap();
    registry.add(
        AccountId::new(ACCOUNT).unwrap(),
        ClientId::new(CLIENT_ID).unwrap(),
        ClientSecret::new(SECRET).unwrap(),
    );
    let sent = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&sent);
    let send_api = TransportService::new(move |req: http::Request<Vec<u8>>| {
        let seen = Arc::clone(&seen);
        async move {
            let auth = req
                .headers()
                .get("authorization")
                .map(|v| v.to_str().unwrap().to_owned());
            seen.lock().unwrap().push(auth);
            Ok::<_, TransportError>(http::Response::new(Vec::new()))
        }
    });
    let service = AppJwtLayer::registry(registry).layer(send_api);
    let request = |account: Option<&str>| {
        let mut r = http::Request::post("https://va.msg.liveperson.net/x")
            .body(Vec::new())
            .unwrap();
        if let Some(a) = account {
            r.extensions_mut().insert(AccountId::new(a).unwrap());
        }
        r
    };

    let response = service
        .clone()
        .oneshot(request(Some(ACCOUNT)))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let err = service.clone().oneshot(request(None)).await.unwrap_err();
    assert!(matches!(err, Error::NoAccount), "{err:?}");
    let err = service
        .clone()
        .oneshot(request(Some("99999999")))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Registry(lp_appjwt::RegistryError::UnknownAccount(_))
        ),
        "{err:?}"
    );
    assert!(!err.to_string().contains(SECRET), "{err}");

    let sent = sent.lock().unwrap();
    assert_eq!(
        sent.len(),
        1,
        "only the request with a known account was sent"
    );
    assert!(
        sent[0]
            .as_deref()
            .is_some_and(|a| a.split('.').count() == 3),
        "{sent:?}"
    );
    assert_eq!(fake.token_fetches(), 1);
}
