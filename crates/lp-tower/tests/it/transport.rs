//! `TransportService`: an lp-appjwt `Transport` as the layer's inner
//! service, with `Vec<u8>` bodies, which can be replayed.

use std::sync::{Arc, Mutex};

use lp_appjwt::TransportError;
use lp_tower::{AppJwtLayer, ExtConsumerId, TransportService};
use tower::{Layer, ServiceExt};

use crate::support::Fake;

/// What the Send API stand-in saw: each request's `Authorization` and body.
type Seen = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// The Send API as a transport: refuses the first request with 401 and
/// records the `Authorization` and body of each request.
fn send_api(seen: Seen) -> TransportService<impl lp_appjwt::Transport> {
    TransportService::new(move |req: http::Request<Vec<u8>>| {
        let seen = Arc::clone(&seen);
        async move {
            let auth = req.headers()["authorization"].to_str().unwrap().to_owned();
            assert!(req.headers()["x-lp-on-behalf"].is_sensitive());
            let mut seen = seen.lock().unwrap();
            seen.push((auth, req.into_body()));
            let status = if seen.len() == 1 { 401 } else { 200 };
            Ok::<_, TransportError>(
                http::Response::builder()
                    .status(status)
                    .body(b"{}".to_vec())
                    .unwrap(),
            )
        }
    })
}

#[tokio::test(start_paused = true)]
async fn a_transport_serves_the_layer_and_its_401_is_retried_with_a_new_appjwt() {
    let fake = Fake::new();
    let client = fake.client().build().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let service = AppJwtLayer::new(client).layer(send_api(Arc::clone(&seen)));

    let mut request = http::Request::post("https://va.msg.liveperson.net/send")
        .body(b"{\"kind\":\"req\"}".to_vec())
        .unwrap();
    request
        .extensions_mut()
        .insert(ExtConsumerId::new("John_Doe_facebook12345").unwrap());
    let response = service.clone().oneshot(request).await.unwrap();

    assert_eq!(response.status(), 200);
    assert_eq!(response.into_body(), b"{}");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2, "the 401 was retried once");
    assert_ne!(seen[0].0, seen[1].0, "with another appjwt");
    assert_eq!(seen[0].1, seen[1].1, "and the same body");
    assert_eq!(fake.token_fetches(), 2);
}
