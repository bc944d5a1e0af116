//! The client through a real HTTP proxy: tinyproxy on loopback, between
//! the client and the emulator.

use std::time::Duration;

use integration_tests::tinyproxy::{Tinyproxy, free_port};
use lp_appjwt::{
    Error, HyperTransport, HyperTransportBuilder, Transport, TransportError, TransportErrorKind,
};
use lp_emulator::{EmulatorHandle, Endpoint};

use crate::support;

/// A transport trusting exactly the emulator's CA, sent through `proxy`.
fn via(emu: &EmulatorHandle, proxy: &str) -> HyperTransportBuilder {
    HyperTransport::builder()
        .add_root_pem(emu.ca_pem().as_bytes())
        .and_then(|b| b.proxy(proxy))
        .map(|b| b.request_timeout(Duration::from_secs(5)))
        .unwrap_or_else(|e| panic!("transport: {e}"))
}

fn build(builder: HyperTransportBuilder) -> HyperTransport {
    builder.build().unwrap_or_else(|e| panic!("transport: {e}"))
}

/// A token fetched with `transport`.
async fn token_through(emu: &EmulatorHandle, transport: HyperTransport) -> Result<(), Error> {
    support::client_builder(emu)
        .transport(transport)
        .build()
        .unwrap_or_else(|e| panic!("client: {e}"))
        .token()
        .await
        .map(drop)
}

/// How the Domain API request fails, sent with a bare transport.
async fn lookup_error(transport: &HyperTransport, emu: &EmulatorHandle) -> TransportError {
    let uri = format!(
        "https://{}/api/account/{}/service/baseURI.json?version=1.0",
        emu.host(),
        support::ACCOUNT
    );
    let request = http::Request::get(uri)
        .body(Vec::new())
        .unwrap_or_else(|e| panic!("{e}"));
    match transport.send(request).await {
        Ok(response) => panic!("expected a failure, got {}", response.status()),
        Err(e) => e,
    }
}

/// The transport error inside a client error (also after the retries, or
/// remembered by a cache: `Error::root`).
fn transport_error(e: &Error) -> &TransportError {
    match e.root() {
        Error::Transport(t) => t,
        other => panic!("not a transport error: {other:?}"),
    }
}

/// A whole error as a user could see it: message, causes and `Debug`.
fn everything_shown(e: &dyn std::error::Error) -> String {
    let mut shown = format!("{e} {e:?}");
    let mut cause = e.source();
    while let Some(c) = cause {
        shown.push_str(&format!(" {c} {c:?}"));
        cause = c.source();
    }
    shown
}

#[tokio::test]
async fn the_token_comes_through_the_proxy_with_tls_end_to_end() {
    let Some(proxy) = Tinyproxy::start() else {
        return;
    };
    let emu = support::start(support::emulator()).await;
    token_through(&emu, build(via(&emu, &proxy.url())))
        .await
        .unwrap_or_else(|e| panic!("through the proxy: {e}"));

    // Every connection (Domain API, Sentinel, JWKS: all the emulator) was
    // a CONNECT tunnel to the emulator.
    let host = emu.host().to_string();
    let connects = proxy.connects();
    assert!(!connects.is_empty(), "no CONNECT: {}", proxy.log());
    assert!(connects.iter().all(|c| *c == host), "{connects:?}");
    assert_eq!(emu.request_count(Endpoint::Token), 1);
    // The proxy saw no request line of its own: the paths travelled inside
    // TLS.
    let log = proxy.log();
    assert!(
        !log.contains("/sentinel/") && !log.contains("baseURI"),
        "{log}"
    );
}

/// The client trusts only the emulator's CA and succeeds through the proxy
/// (above); trusting another CA it fails with a TLS error after the proxy
/// opened the tunnel. So the certificate it checked came from the far end
/// of the tunnel, the emulator, and the proxy could not have substituted
/// its own.
#[tokio::test]
async fn the_certificate_checked_is_the_emulators_not_the_proxys() {
    let Some(proxy) = Tinyproxy::start() else {
        return;
    };
    let emu = support::start(support::emulator()).await;
    let unrelated = include_bytes!("../../crates/lp-appjwt/tests/data/unrelated-ca.pem");
    let transport = build(
        HyperTransport::builder()
            .add_root_pem(unrelated)
            .and_then(|b| b.proxy(&proxy.url()))
            .unwrap_or_else(|e| panic!("{e}")),
    );
    let err = lookup_error(&transport, &emu).await;
    assert_eq!(err.kind(), TransportErrorKind::Tls, "{err:?}");
    assert!(!err.is_retryable());
    assert_eq!(proxy.connects(), [emu.host().to_string()]);
    assert_eq!(emu.request_count(Endpoint::Domain), 0);
}

#[tokio::test]
async fn no_proxy_entries_bypass_the_proxy() {
    let Some(proxy) = Tinyproxy::start() else {
        return;
    };
    let emu = support::start(support::emulator()).await;
    for (bypass, proxied) in [
        ("127.0.0.1", false),
        ("127.0.0.0/8", false),
        ("example.com, 127.0.0.1", false),
        ("*", false),
        ("localhost", true),
        ("10.0.0.0/8", true),
        ("", true),
    ] {
        let transport = build(via(&emu, &proxy.url()).proxy_bypass(bypass));
        let before = proxy.connects_now().len();
        token_through(&emu, transport)
            .await
            .unwrap_or_else(|e| panic!("NO_PROXY={bypass:?}: {e}"));
        let after = proxy.connects_now().len();
        assert_eq!(
            after > before,
            proxied,
            "NO_PROXY={bypass:?}: {}",
            proxy.log()
        );
    }
}

#[tokio::test]
async fn basic_auth_goes_to_the_proxy_and_a_wrong_password_is_a_clear_error() {
    const USER: &str = "connector";
    const PASSWORD: &str = "Pr0xy-pa55word";
    const WRONG: &str = "Wr0ng-pa55word";
    let Some(proxy) = Tinyproxy::start_with_auth(USER, PASSWORD) else {
        return;
    };
    let emu = support::start(support::emulator()).await;

    token_through(&emu, build(via(&emu, &proxy.url())))
        .await
        .unwrap_or_else(|e| panic!("with the right password: {e}"));
    assert_eq!(proxy.connects()[0], emu.host().to_string());

    for (url, message) in [
        (
            proxy.url_as(USER, WRONG),
            "refused the credentials of the proxy url (status 401)",
        ),
        (
            format!("http://{}", proxy.address()),
            "requires credentials (status 407)",
        ),
    ] {
        emu.reset_counts();
        let err = token_through(&emu, build(via(&emu, &url)))
            .await
            .err()
            .unwrap_or_else(|| panic!("{url}: accepted"));
        let t = transport_error(&err);
        assert_eq!(t.kind(), TransportErrorKind::Other, "{t:?}");
        assert!(!t.is_retryable(), "{t:?}");
        let shown = everything_shown(&err);
        assert!(shown.contains(message), "{shown}");
        assert!(shown.contains(&proxy.address()), "{shown}");
        for secret in [USER, PASSWORD, WRONG, support::SECRET] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        // Not retried: one refused CONNECT, nothing reached the emulator.
        assert_eq!(emu.request_count(Endpoint::Domain), 0);
    }
}

#[tokio::test]
async fn a_dead_proxy_is_a_retryable_connect_error() {
    let emu = support::start(support::emulator()).await;
    let dead = format!("http://127.0.0.1:{}", free_port());
    let transport = build(via(&emu, &dead));

    let err = lookup_error(&transport, &emu).await;
    assert_eq!(err.kind(), TransportErrorKind::Connect, "{err:?}");
    assert!(err.is_retryable());
    assert_eq!(err.to_string(), "connection failed: cannot reach the proxy");
    assert!(everything_shown(&err).contains("cannot connect to the proxy at 127.0.0.1:"));

    // The client retries it like any refused connection, then gives up.
    let err = token_through(&emu, transport).await.err();
    let err = err.unwrap_or_else(|| panic!("a dead proxy answered"));
    assert_eq!(transport_error(&err).kind(), TransportErrorKind::Connect);
    assert_eq!(emu.request_count(Endpoint::Domain), 0);
}
