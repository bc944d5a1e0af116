//! The hyper transport against a tiny plain-HTTP server on loopback (the
//! TLS path is exercised by the workspace integration tests against the
//! emulator).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use lp_appjwt::{HyperTransport, Transport, TransportErrorKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Serves `response` (raw HTTP bytes; `None` = never answer) to every
/// connection and counts the requests.
async fn serve(response: Option<Vec<u8>>) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&count);
    tokio::spawn(async move {
        loop {
            let (mut sock, _) = listener.accept().await.unwrap();
            let response = response.clone();
            let seen = Arc::clone(&seen);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                seen.fetch_add(1, Ordering::SeqCst);
                match response {
                    Some(r) => {
                        let _ = sock.write_all(&r).await;
                        let _ = sock.shutdown().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            });
        }
    });
    (addr, count)
}

fn response(status: &str, headers: &str, body: &[u8]) -> Vec<u8> {
    let mut r = format!("HTTP/1.1 {status}\r\nconnection: close\r\n{headers}\r\n").into_bytes();
    r.extend_from_slice(body);
    r
}

fn get(uri: String) -> http::Request<Vec<u8>> {
    http::Request::get(uri).body(Vec::new()).unwrap()
}

fn loopback() -> HyperTransport {
    HyperTransport::builder()
        .allow_plain_http_loopback(true)
        .build()
        .unwrap()
}

#[tokio::test]
async fn plain_http_is_refused_unless_allowed_for_loopback() {
    let (addr, count) = serve(Some(response("200 OK", "content-length: 2\r\n", b"ok"))).await;
    let strict = HyperTransport::new().unwrap();
    let err = strict
        .send(get(format!("http://{addr}/x")))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), TransportErrorKind::InsecureScheme);
    assert!(!err.is_retryable());
    assert_eq!(count.load(Ordering::SeqCst), 0, "a request went out");

    // Allowed: http:// as is, and https:// rewritten, both to loopback.
    let t = loopback();
    for uri in [format!("http://{addr}/x"), format!("https://{addr}/x")] {
        let res = t.send(get(uri)).await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.body(), b"ok");
    }
    // Never to anything else, even when allowed.
    let err = t.send(get("http://192.0.2.1/x".into())).await.unwrap_err();
    assert_eq!(err.kind(), TransportErrorKind::InsecureScheme);
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let (addr, count) = serve(Some(response(
        "302 Found",
        "location: /elsewhere\r\ncontent-length: 0\r\n",
        b"",
    )))
    .await;
    let res = loopback()
        .send(get(format!("http://{addr}/x")))
        .await
        .unwrap();
    assert_eq!(res.status(), 302);
    assert_eq!(count.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn bodies_over_the_cap_are_refused() {
    let t = HyperTransport::builder()
        .allow_plain_http_loopback(true)
        .max_body(16)
        .build()
        .unwrap();
    let check = |raw: Vec<u8>, ok: bool| {
        let t = t.clone();
        async move {
            let (addr, _) = serve(Some(raw)).await;
            let res = t.send(get(format!("http://{addr}/"))).await;
            match (res, ok) {
                (Ok(r), true) => assert_eq!(r.body().len(), 16),
                (Err(e), false) => assert_eq!(e.kind(), TransportErrorKind::BodyTooLarge),
                (other, _) => panic!("unexpected {other:?}"),
            }
        }
    };
    check(
        response("200 OK", "content-length: 16\r\n", &[b'a'; 16]),
        true,
    )
    .await;
    // Declared too large: refused before reading.
    check(
        response("200 OK", "content-length: 17\r\n", &[b'a'; 17]),
        false,
    )
    .await;
    // Chunked, no length: refused once the cap is passed.
    let mut chunked = Vec::new();
    for _ in 0..10 {
        chunked.extend_from_slice(b"4\r\naaaa\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    check(
        response("200 OK", "transfer-encoding: chunked\r\n", &chunked),
        false,
    )
    .await;
    // Until the peer closes, no length either.
    check(response("200 OK", "", &[b'a'; 100]), false).await;
}

#[tokio::test(start_paused = true)]
async fn a_silent_server_times_out() {
    let (addr, _) = serve(None).await;
    let t = HyperTransport::builder()
        .allow_plain_http_loopback(true)
        .request_timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let err = t.send(get(format!("http://{addr}/"))).await.unwrap_err();
    assert_eq!(err.kind(), TransportErrorKind::Timeout);
    assert!(err.is_retryable());
}

#[tokio::test]
async fn a_closed_port_is_a_retryable_connect_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let err = loopback()
        .send(get(format!("http://{addr}/")))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), TransportErrorKind::Connect, "{err:?}");
    assert!(err.is_retryable());
}
