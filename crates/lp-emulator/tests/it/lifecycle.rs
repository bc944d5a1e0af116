//! Start, TLS, plain HTTP, logging, shutdown.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use lp_emulator::{Emulator, EmulatorError, Endpoint};

use crate::support::*;

#[tokio::test]
async fn tls_names_alpn_and_ca() {
    let emu = emulator().await;
    assert!(emu.base_url().starts_with("https://127.0.0.1:"));
    let pem = emu.ca_pem();
    assert!(emu.is_tls());
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
    for name in ["127.0.0.1", "localhost"] {
        let reply = send_with_name(&emu, Req::get("/sentinel/well-known/jwks"), name)
            .await
            .expect(name);
        assert_eq!(reply.status, 200, "{name}");
        assert!(!reply.alpn_h2, "{name}");
    }
    let reply = call(&emu, Req::get("/sentinel/well-known/jwks").h2()).await;
    assert!(reply.alpn_h2, "h2 negotiated by ALPN");
    assert_eq!(reply.status, 200);

    // A name the leaf does not cover, and another emulator's CA, fail.
    let err = send_with_name(&emu, Req::get("/"), "example.com").await;
    assert!(matches!(&err, Err(e) if e.starts_with("tls:")), "{err:?}");
    let other = emulator().await;
    let mut target = Target::from(&emu);
    target.ca = other.ca_cert_der().map(<[u8]>::to_vec);
    let err = send(target, Req::get("/")).await;
    assert!(matches!(&err, Err(e) if e.starts_with("tls:")), "{err:?}");

    let path = std::env::temp_dir().join(format!("lp-emulator-ca-{}.pem", emu.addr().port()));
    emu.write_ca_pem(&path).expect("write ca");
    assert_eq!(std::fs::read_to_string(&path).expect("read ca"), pem);
    let _ = std::fs::remove_file(&path);
}

#[tokio::test]
async fn keep_alive_serves_several_requests_on_one_connection() {
    let emu = emulator().await;
    let target = Target::from(&emu);
    let tcp = tokio::net::TcpStream::connect(target.addr)
        .await
        .expect("connect");
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(tls_config(
        target.ca.as_deref().expect("ca"),
        false,
    )));
    let name = rustls_pki_types::ServerName::try_from("127.0.0.1").expect("name");
    let tls = connector.connect(name, tcp).await.expect("tls");
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
            .await
            .expect("handshake");
    tokio::spawn(conn);
    for _ in 0..3 {
        let req = http::Request::get("/sentinel/well-known/jwks")
            .header("host", target.host.as_str())
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .expect("request");
        let resp = sender.send_request(req).await.expect("response");
        assert_eq!(resp.status(), 200);
        let _ = http_body_util::BodyExt::collect(resp.into_body())
            .await
            .expect("body");
    }
    assert_eq!(emu.request_count(Endpoint::Jwks), 3);
}

#[tokio::test]
async fn plain_http_mode() {
    let emu = builder().plain_http(true).start().await.expect("start");
    assert_eq!(emu.ca_pem(), "");
    assert!(!emu.is_tls());
    assert!(emu.base_url().starts_with("http://127.0.0.1:"));
    let err = emu
        .write_ca_pem(&std::env::temp_dir().join("lp-emulator-none.pem"))
        .expect_err("no ca");
    assert_eq!(err.kind(), std::io::ErrorKind::Unsupported);
    let token = fetch_token(&emu).await;
    assert_eq!(verify_with_jwks(&token, &emu.jwks_json()), Ok(()));
    let reply = call(
        &emu,
        Req::get(format!(
            "/api/account/{ACCOUNT}/service/sentinel/baseURI.json?version=1.0"
        )),
    )
    .await;
    assert_eq!(reply.json()["baseURI"], emu.host().to_string());
}

#[tokio::test]
async fn request_log_has_no_query_or_secret() {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    let emu = builder()
        .on_request(move |log| {
            sink.lock()
                .expect("lock")
                .push((log.to_string(), log.clone()))
        })
        .start()
        .await
        .expect("start");
    let token = fetch_token(&emu).await;
    emu.inject(Endpoint::Token, lp_emulator::Fault::NonJson200, 1);
    call(&emu, seed_request(ACCOUNT, CLIENT, SECRET)).await;
    let lines = lines.lock().expect("lock").clone();
    assert_eq!(lines.len(), 2);
    let path = format!("/sentinel/api/account/{ACCOUNT}/app/token");
    for (i, (line, log)) in lines.iter().enumerate() {
        assert_eq!(log.method, http::Method::POST);
        assert_eq!(log.path, path);
        assert_eq!(log.status, 200);
        assert_eq!(log.endpoint, Some(Endpoint::Token));
        assert!(line.starts_with(&format!("POST {path} 200 ")), "{line}");
        assert!(line.ends_with("ms") == (i == 0), "{line}");
        for secret in ["?", "grant_type", SECRET, CLIENT, token.as_str()] {
            assert!(!line.contains(secret), "{line} contains {secret}");
        }
    }
    assert_eq!(lines[1].1.fault, Some("non-json-200"));
}

#[tokio::test]
async fn shutdown_releases_the_port() {
    let emu = emulator().await;
    let addr = emu.addr();
    assert_eq!(
        call(&emu, Req::get("/sentinel/well-known/jwks"))
            .await
            .status,
        200
    );
    emu.shutdown().await;
    let listener = tokio::net::TcpListener::bind(addr).await;
    assert!(listener.is_ok(), "{listener:?}");
}

#[tokio::test]
async fn drop_stops_serving() {
    let emu = emulator().await;
    let target = Target::from(&emu);
    drop(emu);
    // Dropping cannot wait; the accept loop ends at its next poll.
    let mut refused = false;
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(target.addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(refused, "still accepting after drop");
}

#[tokio::test]
async fn listens_on_a_given_address() {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("probe");
    let addr = probe.local_addr().expect("addr");
    drop(probe);
    let emu = builder().listen(addr).start().await.expect("start");
    assert_eq!(emu.addr(), addr);
    assert_eq!(emu.host().to_string(), addr.to_string());
    // The port is taken now.
    let again = builder().listen(addr).start().await;
    assert!(matches!(again, Err(EmulatorError::Bind(_))), "{again:?}");
}

#[tokio::test]
async fn invalid_clients_are_refused_at_start() {
    let cases = [
        ("123/../x", "app", "secret"),
        ("123", "", "secret"),
        ("123", "app", ""),
    ];
    for (account, client, secret) in cases {
        let result = Emulator::builder()
            .client(account, client, secret)
            .signing_key(key())
            .start()
            .await;
        match result {
            Err(EmulatorError::InvalidClient { reason }) => {
                assert!(!reason.contains("secret") || secret.is_empty(), "{reason}");
            }
            other => panic!("{account:?} {client:?}: {other:?}"),
        }
    }
}
