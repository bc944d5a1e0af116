//! Issue 17, targets 2 and 3: a cold `token()` counted in round trips, and
//! the first `token()` of a client built a second earlier, with and
//! without `prefetch`.
//!
//! Between the clients and the emulator sit two loopback TCP proxies that
//! hold every chunk for `DELAY` in each direction, so a round trip costs
//! `2 × DELAY` (50 ms). One stands for the Domain API's host, the other
//! for Sentinel's: the Domain API is told to name the second as the
//! account's `sentinel`, so a client makes the two connections a client
//! of LivePerson makes. The kernel completes a loopback TCP handshake at
//! once, so each proxy also holds the first chunk of each connection for
//! one more round trip: the client's first bytes then arrive when they
//! would have after a real handshake, and a connection costs its
//! handshake RTT as it does over a network.
//!
//! The floor for a cold `token()` with the Domain lookup: two connections
//! of TCP (1 RTT) + TLS 1.3 (1 RTT) + one request (1 RTT) = 6 RTT; with
//! `sentinel_host` set, 3 RTT. v2 also needs the key set; fetched at the
//! same time as the token request (on the same HTTP/2 connection or a
//! second one), it costs no round trip of its own.
//!
//! Every round builds each contender anew (new transport, new pool, no
//! cached token or key), and the contenders take turns within a round.
//! The figures go to `$CRITERION_HOME/coldstart/summary.json`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use lp_appjwt::{
    AccountId, ApiVersion, AppJwtClient, ClientId, ClientSecret, Host, HyperTransport, RetryPolicy,
    Rs256Verifier, VerifyWith,
};
use lp_bench::{ACCOUNT, CLIENT_ID, CLIENT_SECRET, runtime, start_emulator};
use lp_emulator::{Endpoint, Fault, SigningKey};
use oauth2::basic::BasicClient;
use oauth2::{AuthType, TokenResponse as _, TokenUrl};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// One way of a round trip.
const DELAY: Duration = Duration::from_millis(25);
/// Rounds of every contender.
const ROUNDS: usize = 12;
/// Rounds of the warm-start pair (each waits a second).
const WARM_ROUNDS: usize = 5;

fn main() {
    let rt = runtime(2).expect("runtime");
    rt.block_on(run());
}

async fn run() {
    let key = SigningKey::generate().expect("key");
    let public = Rs256Verifier::from_spki_der(key.public_key_spki_der()).expect("public key");
    let emulator = start_emulator(key).await.expect("emulator");
    let upstream: SocketAddr = emulator.addr();
    let csds = delay_proxy(upstream).await;
    let sentinel = delay_proxy(upstream).await;
    let sentinel_host = host(sentinel);
    // Every Domain API answer names the Sentinel proxy.
    emulator.inject(
        Endpoint::Domain,
        Fault::DomainHost(sentinel_host.to_string()),
        u32::MAX,
    );
    let ca = emulator.ca_pem().to_owned();
    let transport = || {
        HyperTransport::builder()
            .no_proxy()
            .add_root_pem(ca.as_bytes())
            .expect("ca")
            .build()
            .expect("transport")
    };
    let client = |version: ApiVersion, verify: VerifyWith, fixed: Option<&Host>| {
        let mut b = AppJwtClient::builder(
            AccountId::new(ACCOUNT).expect("account"),
            ClientId::new(CLIENT_ID).expect("client id"),
            ClientSecret::new(CLIENT_SECRET).expect("secret"),
        )
        .csds_host(host(csds))
        .api_version(version)
        .verify_with(verify)
        .retry_policy(RetryPolicy::no_retry())
        .transport(transport());
        if let Some(h) = fixed {
            b = b.sentinel_host(h.clone());
        }
        b
    };

    let names = [
        "lp-appjwt v1 (static key), Domain lookup",
        "lp-appjwt v2 (JWKS), Domain lookup",
        "lp-appjwt v1, sentinel_host set",
        "lp-appjwt v2, sentinel_host set",
        "oauth2 + reqwest, Domain lookup by hand",
    ];
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); names.len()];
    for _ in 0..ROUNDS {
        for (i, t) in times.iter_mut().enumerate() {
            let elapsed = if i < 4 {
                let (version, verify) = if i % 2 == 0 {
                    (ApiVersion::V1, VerifyWith::Key(public.clone()))
                } else {
                    (ApiVersion::V2, VerifyWith::Jwks)
                };
                let fixed = (i >= 2).then_some(&sentinel_host);
                // Built outside the timed part, as a service builds it at
                // start-up; building does no IO.
                let c = client(version, verify, fixed).build().expect("client");
                let started = Instant::now();
                let token = c.token().await.expect("cold token");
                let elapsed = started.elapsed();
                assert!(token.is_verified());
                elapsed
            } else {
                let started = Instant::now();
                let token = by_hand(&ca, csds).await;
                let elapsed = started.elapsed();
                assert!(!token.is_empty());
                elapsed
            };
            t.push(elapsed);
        }
    }

    // Warm start: built, then a second of the service's own start-up, then
    // its first request needs a token.
    let mut warm: Vec<Vec<Duration>> = vec![Vec::new(); 2];
    for _ in 0..WARM_ROUNDS {
        for (prefetch, t) in [false, true].into_iter().zip(warm.iter_mut()) {
            let c = client(ApiVersion::V1, VerifyWith::Key(public.clone()), None)
                .prefetch(prefetch)
                .build()
                .expect("client");
            tokio::time::sleep(Duration::from_secs(1)).await;
            let started = Instant::now();
            c.token().await.expect("token");
            t.push(started.elapsed());
        }
    }

    let rtt = DELAY * 2;
    let keys = [
        "v1_lookup",
        "v2_lookup",
        "v1_fixed",
        "v2_fixed",
        "peer_lookup",
    ];
    let mut json = format!(
        "{{\"delay_ms\":{},\"rtt_ms\":{},\"rounds\":{ROUNDS},\"warm_rounds\":{WARM_ROUNDS}",
        DELAY.as_millis(),
        rtt.as_millis()
    );
    for ((key, name), t) in keys.iter().zip(names).zip(&times) {
        let (min, med, max) = spread(t);
        let r = |d: Duration| d.as_secs_f64() / rtt.as_secs_f64();
        println!(
            "coldstart: {name}: median {:.2} RTT ({med:.1?}), min {:.2}, max {:.2}",
            r(med),
            r(min),
            r(max)
        );
        json.push_str(&format!(
            ",\"{key}\":{{\"median_rtt\":{:.3},\"min_rtt\":{:.3},\"max_rtt\":{:.3}}}",
            r(med),
            r(min),
            r(max)
        ));
    }
    for ((key, name), t) in ["warm_off", "warm_on"]
        .iter()
        .zip(["without prefetch", "with prefetch"])
        .zip(&warm)
    {
        let (min, med, max) = spread(t);
        println!(
            "coldstart: first token() 1 s after build, {name}: median {med:.1?} (min {min:.1?}, max {max:.1?})"
        );
        json.push_str(&format!(
            ",\"{key}\":{{\"median_ns\":{},\"min_ns\":{},\"max_ns\":{}}}",
            med.as_nanos(),
            min.as_nanos(),
            max.as_nanos()
        ));
    }
    json.push('}');
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        let dir = std::path::Path::new(&home).join("coldstart");
        std::fs::create_dir_all(&dir).expect("results dir");
        std::fs::write(dir.join("summary.json"), &json).expect("write summary");
    }
    emulator.shutdown().await;
}

/// Minimum, median and maximum.
fn spread(times: &[Duration]) -> (Duration, Duration, Duration) {
    let mut sorted = times.to_vec();
    sorted.sort_unstable();
    (
        sorted[0],
        sorted[sorted.len() / 2],
        sorted[sorted.len() - 1],
    )
}

fn host(addr: SocketAddr) -> Host {
    Host::parse(&addr.to_string()).expect("host")
}

/// What a user of oauth2 + reqwest writes for the same cold start: the
/// Domain API lookup with reqwest, its JSON read with serde_json, then the
/// client-credentials request with oauth2 over the same reqwest client. It
/// checks neither the token's signature nor its claims.
async fn by_hand(ca: &str, csds: SocketAddr) -> String {
    let http = reqwest::Client::builder()
        .no_proxy()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca.as_bytes()).expect("ca"))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("reqwest");
    let map: serde_json::Value = http
        .get(format!(
            "https://{csds}/api/account/{ACCOUNT}/service/baseURI.json?version=1.0"
        ))
        .send()
        .await
        .expect("domain api")
        .bytes()
        .await
        .map(|b| serde_json::from_slice(&b).expect("domain json"))
        .expect("domain body");
    let sentinel = map["baseURIs"]
        .as_array()
        .and_then(|all| all.iter().find(|s| s["service"] == "sentinel"))
        .and_then(|s| s["baseURI"].as_str())
        .expect("sentinel in the map")
        .to_owned();
    let client = BasicClient::new(oauth2::ClientId::new(CLIENT_ID.to_owned()))
        .set_client_secret(oauth2::ClientSecret::new(CLIENT_SECRET.to_owned()))
        .set_auth_type(AuthType::RequestBody)
        .set_token_uri(
            TokenUrl::new(format!(
                "https://{sentinel}/sentinel/api/account/{ACCOUNT}/app/token?v=1.0"
            ))
            .expect("url"),
        );
    let token = client
        .exchange_client_credentials()
        .request_async(&http)
        .await
        .expect("oauth2 fetch");
    token.access_token().secret().clone()
}

/// A loopback proxy to `upstream` that delays each chunk by [`DELAY`] each
/// way, and the first chunk from the client by one round trip more (the
/// TCP handshake the kernel skipped).
async fn delay_proxy(upstream: SocketAddr) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(server) = TcpStream::connect(upstream).await else {
                    return;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                tokio::spawn(pump(cr, sw, DELAY * 2));
                tokio::spawn(pump(sr, cw, Duration::ZERO));
            });
        }
    });
    addr
}

/// Copies `from` to `to`, each chunk arriving [`DELAY`] after it was read
/// (the first `extra` later still), in order, without slowing the reads.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    extra: Duration,
) {
    let (tx, mut rx) = mpsc::unbounded_channel::<(tokio::time::Instant, Vec<u8>)>();
    let writer = tokio::spawn(async move {
        while let Some((due, chunk)) = rx.recv().await {
            tokio::time::sleep_until(due).await;
            if to.write_all(&chunk).await.is_err() {
                return;
            }
        }
        let _ = to.shutdown().await;
    });
    let mut buf = vec![0u8; 64 * 1024];
    let mut first = true;
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let mut due = tokio::time::Instant::now() + DELAY;
                if first {
                    due += extra;
                    first = false;
                }
                if tx.send((due, buf[..n].to_vec())).is_err() {
                    break;
                }
            }
        }
    }
    drop(tx);
    let _ = writer.await;
}
