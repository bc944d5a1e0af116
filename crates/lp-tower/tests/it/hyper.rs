//! The layer around hyper-util's client, against a loopback socket that
//! reads each request off the wire and answers from a script.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use lp_appjwt::ExtConsumerId;
use lp_tower::AppJwtLayer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tower::{Layer, ServiceExt};

use crate::support::Fake;

/// One request as it arrived on the socket: its head in lower case, and
/// its body.
struct Wire {
    head: String,
    body: Vec<u8>,
}

impl Wire {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// Serves `statuses` in order, one connection per request (each answer
/// says `connection: close`), and returns what it read.
async fn serve(listener: TcpListener, statuses: Vec<u16>) -> Vec<Wire> {
    let mut seen = Vec::new();
    for status in statuses {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut buf = Vec::new();
        let head_end = loop {
            let mut chunk = [0; 4096];
            let n = socket.read(&mut chunk).await.unwrap();
            assert!(n > 0, "connection closed mid-request");
            buf.extend_from_slice(&chunk[..n]);
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
        };
        let head = String::from_utf8(buf[..head_end].to_vec()).unwrap();
        let mut wire = Wire {
            head,
            body: buf[head_end..].to_vec(),
        };
        let length: usize = wire
            .header("content-length")
            .unwrap_or("0")
            .parse()
            .unwrap();
        while wire.body.len() < length {
            let mut chunk = [0; 4096];
            let n = socket.read(&mut chunk).await.unwrap();
            assert!(n > 0, "connection closed mid-body");
            wire.body.extend_from_slice(&chunk[..n]);
        }
        let answer =
            format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        socket.write_all(answer.as_bytes()).await.unwrap();
        socket.shutdown().await.unwrap();
        seen.push(wire);
    }
    seen
}

#[tokio::test]
async fn around_hyper_utils_client_the_retry_goes_over_the_wire() {
    let fake = Fake::new();
    let client = fake.client().build().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(serve(listener, vec![401, 401, 200]));

    let http = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let service = AppJwtLayer::new(client.clone()).layer(http);
    let consumer = ExtConsumerId::new("John_Doe_facebook12345").unwrap();
    let mut request = http::Request::post(format!(
        "http://{addr}/api/account/56072331/messaging/consumer/conversation/send?v=3"
    ))
    .body(Full::new(Bytes::from_static(b"{\"kind\":\"req\"}")))
    .unwrap();
    request.extensions_mut().insert(consumer.clone());
    let response = tokio::time::timeout(Duration::from_secs(30), service.oneshot(request))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(response.status(), 200);

    let seen = server.await.unwrap();
    assert_eq!(seen.len(), 3);
    let jwt = client.token().await.unwrap();
    let jws = client.consumer_jws(&consumer).await.unwrap();
    let last = &seen[2];
    assert_eq!(last.header("authorization"), Some(jwt.secret()));
    assert_eq!(last.header("x-lp-on-behalf"), Some(jws.secret()));
    // The first attempt went out with the tokens that were replaced.
    assert_ne!(seen[0].header("authorization"), Some(jwt.secret()));
    assert_ne!(seen[1].header("x-lp-on-behalf"), Some(jws.secret()));
    for wire in &seen {
        assert_eq!(wire.body, b"{\"kind\":\"req\"}");
        assert!(
            wire.head.starts_with("POST /api/account/56072331/"),
            "{}",
            wire.head
        );
    }
    assert_eq!(fake.token_fetches(), 2);
    assert_eq!(fake.consumer_fetches(), 2);
}
