//! Secret hygiene: every error path of the client, with all tracing output
//! (client, transport and emulator) captured at TRACE level, and the
//! `Display`, `Debug` and source chain of every error and of the client.
//! Neither the client secret (nor any piece or encoding of it) nor any
//! token may appear anywhere.

// Its own test binary: tracing caches per call site whether anyone listens, and
// tests running beside it without a subscriber can make the client's call
// sites look unwatched. Alone in its process, with a global subscriber
// installed first, every event is captured.
#[allow(dead_code)]
#[path = "it/send_support.rs"]
mod send_support;
#[allow(dead_code)]
#[path = "it/support.rs"]
mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lp_appjwt::{AppJwtClient, AppJwtClientBuilder, ExtConsumerId, HyperTransport, RetryPolicy};
use lp_emulator::{EmulatorBuilder, EmulatorHandle, Endpoint, Fault};
use lp_oauth::ClientSecret;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::util::SubscriberInitExt;

use integration_tests::tinyproxy::Tinyproxy;
use send_support::SendApi;
use support::SECRET;

/// A wrong secret, also never to be shown.
const WRONG_SECRET: &str = "wr0ng-s3cr3t-Zq7&=+";
/// The proxy's credentials, and a wrong password: never to be shown.
const PROXY_USER: &str = "pr0xy-us3r";
const PROXY_PASSWORD: &str = "pr0xy-pa55-K9w";
const WRONG_PROXY_PASSWORD: &str = "wr0ng-pr0xy-pa55";

/// Everything written by the subscriber.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self.0.lock() {
            Ok(mut v) => v.extend_from_slice(buf),
            Err(poisoned) => poisoned.into_inner().extend_from_slice(buf),
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        let bytes = match self.0.lock() {
            Ok(v) => v.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

/// What must never be printed: the secrets, their distinctive prefix (a
/// partial leak), their form encoding (what goes on the wire), and JWTs
/// (every JWT header in base64url starts with `eyJ`, `{"`).
fn forbidden() -> Vec<String> {
    vec![
        SECRET.to_owned(),
        "s3cr3t".to_owned(),
        form_encode(SECRET),
        WRONG_SECRET.to_owned(),
        "wr0ng".to_owned(),
        form_encode(WRONG_SECRET),
        "eyJ".to_owned(),
        PROXY_USER.to_owned(),
        PROXY_PASSWORD.to_owned(),
        WRONG_PROXY_PASSWORD.to_owned(),
        "pa55".to_owned(),
        // What goes to the proxy in `Proxy-Authorization: Basic`.
        basic(PROXY_USER, PROXY_PASSWORD),
        basic(PROXY_USER, WRONG_PROXY_PASSWORD),
    ]
}

fn basic(user: &str, password: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
}

/// `application/x-www-form-urlencoded` encoding of `s`.
fn form_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                out.push(char::from(b));
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn assert_clean(what: &str, text: &str, tokens: &[String]) {
    for bad in forbidden().iter().chain(tokens) {
        assert!(
            !text.contains(bad.as_str()),
            "{what} contains {bad:?}:\n{text}"
        );
    }
}

/// The error, its `Debug`, and every message down its source chain.
fn error_texts(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = format!("{e}\n{e:?}\n");
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        out.push_str(&format!("{s}\n{s:?}\n"));
        source = s.source();
    }
    out
}

/// The webhook verifier's `Debug` and every error it gives, keyed with
/// the right and a wrong secret, and the digests it would expect (which
/// must never be shown either).
fn webhook_texts() -> (String, Vec<String>) {
    use lp_webhook::{Algorithm, Encoding, SIGNATURE_HEADER, Signature, WebhookVerifier};
    let body = br#"{"kind":"notification"}"#;
    let secret = |s: &str| ClientSecret::new(s).unwrap_or_else(|e| panic!("{e}"));
    let mut texts = String::new();
    let mut digests = Vec::new();
    let mut refused = 0;
    for (key, sign_with) in [(SECRET, WRONG_SECRET), (WRONG_SECRET, SECRET)] {
        let verifier = WebhookVerifier::new(&secret(key)).expect_account(
            lp_ids::AccountId::new(support::ACCOUNT).unwrap_or_else(|e| panic!("{e}")),
        );
        texts.push_str(&format!("{verifier:?}\n"));
        for algorithm in [Algorithm::Sha1, Algorithm::Sha256] {
            for encoding in [Encoding::Base64, Encoding::Hex] {
                let expected = Signature::sign(algorithm, encoding, &secret(key), body).to_string();
                digests.push(expected[expected.len() - 20..].to_owned());
                let sent =
                    Signature::sign(algorithm, encoding, &secret(sign_with), body).to_string();
                let mut headers = http::HeaderMap::new();
                for (value, account) in [
                    (sent.as_str(), support::ACCOUNT),
                    ("sha1=x", "1"),
                    ("md5=", "1"),
                ] {
                    headers.insert(
                        SIGNATURE_HEADER,
                        value.parse().unwrap_or_else(|e| panic!("{e}")),
                    );
                    headers.insert(
                        "x-liveperson-account-id",
                        account.parse().unwrap_or_else(|e| panic!("{e}")),
                    );
                    for result in [
                        verifier.verify(&headers, body),
                        verifier.verify_signature(value, body),
                    ] {
                        if let Err(e) = result {
                            refused += 1;
                            texts.push_str(&format!("webhook: {e}\n{e:?}\n"));
                            if let Some(s) = std::error::Error::source(&e) {
                                texts.push_str(&format!("{s}\n{s:?}\n"));
                            }
                        }
                    }
                }
            }
        }
    }
    assert_eq!(
        refused,
        2 * 4 * 3 * 2,
        "every webhook case is refused:\n{texts}"
    );
    (texts, digests)
}

fn quick() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
        deadline: Duration::from_secs(5),
        min_throttle_delay: Duration::from_millis(5),
    }
}

/// One error path: an emulator, something to do to it, a client.
struct Case {
    name: &'static str,
    emulator: fn() -> EmulatorBuilder,
    prepare: fn(&EmulatorHandle),
    client: fn(&EmulatorHandle) -> AppJwtClientBuilder,
}

fn default_client(emu: &EmulatorHandle) -> AppJwtClientBuilder {
    support::client_builder(emu).retry_policy(quick())
}

fn fault(endpoint: Endpoint, f: Fault) -> impl Fn(&EmulatorHandle) {
    move |emu| emu.inject(endpoint, f.clone(), 100)
}

fn status(code: u16) -> Fault {
    Fault::Status {
        status: code,
        retry_after: Some("0".to_owned()),
        body: None,
    }
}

fn cases() -> Vec<Case> {
    fn none(_: &EmulatorHandle) {}
    macro_rules! faulted {
        ($name:expr, $endpoint:expr, $fault:expr) => {
            Case {
                name: $name,
                emulator: support::emulator,
                prepare: |emu| fault($endpoint, $fault)(emu),
                client: default_client,
            }
        };
    }
    vec![
        Case {
            name: "success",
            emulator: support::emulator,
            prepare: none,
            client: default_client,
        },
        faulted!("500", Endpoint::Token, status(500)),
        faulted!("503", Endpoint::Token, status(503)),
        faulted!("429", Endpoint::Token, status(429)),
        faulted!(
            "400 with body",
            Endpoint::Token,
            Fault::Status {
                status: 400,
                retry_after: None,
                body: Some(r#"{"error":"invalid_request","error_description":"bad"}"#.to_owned()),
            }
        ),
        faulted!("domain 500", Endpoint::Domain, status(500)),
        faulted!("close mid body", Endpoint::Token, Fault::CloseMidBody),
        faulted!("malformed json", Endpoint::Token, Fault::MalformedJson),
        faulted!("non-json 200", Endpoint::Token, Fault::NonJson200),
        faulted!(
            "huge body",
            Endpoint::Token,
            Fault::HugeBody(10 * 1024 * 1024)
        ),
        faulted!(
            "token type",
            Endpoint::Token,
            Fault::TokenType("mac".to_owned())
        ),
        faulted!("wrong account", Endpoint::Token, Fault::WrongAccountToken),
        faulted!("expired", Endpoint::Token, Fault::ExpiredToken),
        faulted!("wrong issuer", Endpoint::Token, Fault::WrongIssuerToken),
        faulted!("future iat", Endpoint::Token, Fault::FutureIatToken),
        faulted!("bad signature", Endpoint::Token, Fault::BadSignatureToken),
        faulted!(
            "userinfo host",
            Endpoint::Domain,
            Fault::DomainHost("u@127.0.0.1".to_owned())
        ),
        faulted!(
            "path host",
            Endpoint::Domain,
            Fault::DomainHost("127.0.0.1/x".to_owned())
        ),
        Case {
            name: "hang",
            emulator: support::emulator,
            prepare: |emu| fault(Endpoint::Token, Fault::Hang)(emu),
            client: |emu| {
                let transport = HyperTransport::builder()
                    .add_root_pem(emu.ca_pem().as_bytes())
                    .and_then(|b| b.request_timeout(Duration::from_millis(100)).build())
                    .unwrap_or_else(|e| panic!("{e}"));
                default_client(emu).transport(transport)
            },
        },
        Case {
            name: "no sentinel",
            emulator: || support::emulator().without_service("sentinel"),
            prepare: none,
            client: default_client,
        },
        Case {
            name: "wrong secret",
            emulator: support::emulator,
            prepare: none,
            client: |emu| {
                AppJwtClient::builder(
                    support::ACCOUNT.parse().unwrap_or_else(|e| panic!("{e}")),
                    support::CLIENT_ID.parse().unwrap_or_else(|e| panic!("{e}")),
                    ClientSecret::new(WRONG_SECRET).unwrap_or_else(|e| panic!("{e}")),
                )
                .csds_host(emu.host())
                .transport(support::transport(emu))
                .retry_policy(quick())
            },
        },
        Case {
            name: "unknown account",
            emulator: support::emulator,
            prepare: none,
            client: |emu| {
                AppJwtClient::builder(
                    "99999999".parse().unwrap_or_else(|e| panic!("{e}")),
                    support::CLIENT_ID.parse().unwrap_or_else(|e| panic!("{e}")),
                    ClientSecret::new(SECRET).unwrap_or_else(|e| panic!("{e}")),
                )
                .csds_host(emu.host())
                .transport(support::transport(emu))
                .retry_policy(quick())
            },
        },
        Case {
            name: "untrusted certificate",
            emulator: support::emulator,
            prepare: none,
            client: |emu| {
                // Trusts nothing but the webpki roots: the emulator's CA is
                // not among them.
                let transport = HyperTransport::builder()
                    .request_timeout(Duration::from_secs(2))
                    .build()
                    .unwrap_or_else(|e| panic!("{e}"));
                default_client(emu).transport(transport)
            },
        },
        Case {
            name: "bad csds host (nothing listening)",
            emulator: support::emulator,
            prepare: none,
            client: |emu| {
                default_client(emu)
                    .csds_host(lp_ids::Host::parse("127.0.0.1:9").unwrap_or_else(|e| panic!("{e}")))
            },
        },
        Case {
            name: "bad sentinel host (nothing listening)",
            emulator: support::emulator,
            prepare: none,
            client: |emu| {
                default_client(emu).sentinel_host(
                    lp_ids::Host::parse("127.0.0.1:9").unwrap_or_else(|e| panic!("{e}")),
                )
            },
        },
    ]
}

/// Current-thread runtime (the `#[tokio::test]` default), so that the
/// thread-local subscriber sees the emulator's and the transport's tasks too.
#[tokio::test]
async fn no_secret_or_token_in_logs_errors_or_debug() {
    let captured = Captured::default();
    let writer = captured.clone();
    let installed = tracing_subscriber::fmt()
        .with_max_level(LevelFilter::TRACE)
        .with_span_events(FmtSpan::FULL)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish()
        .try_init();
    assert!(installed.is_ok(), "a global subscriber was already set");

    let mut texts = String::new();
    let mut tokens = Vec::new();
    let mut failures = 0;
    for case in cases() {
        let emu = support::start((case.emulator)()).await;
        (case.prepare)(&emu);
        // Tokens the emulator issues for this client, to look for verbatim.
        if let Ok(t) = emu.issue_token(support::ACCOUNT, support::CLIENT_ID) {
            tokens.push(t);
        }
        let builder = (case.client)(&emu);
        texts.push_str(&format!("{builder:?}\n"));
        let client = builder
            .build()
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        texts.push_str(&format!("{client:?}\n"));
        match client.token().await {
            Ok(jwt) => {
                texts.push_str(&format!("{jwt:?}\n{:?}\n", jwt.claims()));
                tokens.push(jwt.secret().to_owned());
            }
            Err(e) => {
                failures += 1;
                texts.push_str(&format!("{}: {}", case.name, error_texts(&e)));
            }
        }
        if let Err(e) = client.domains().await {
            texts.push_str(&error_texts(&e));
        }
        texts.push_str(&format!("{client:?}\n"));
        emu.shutdown().await;
    }
    // Through a proxy, with the right password, a wrong one, and a proxy
    // that is not there.
    if let Some(proxy) = Tinyproxy::start_with_auth(PROXY_USER, PROXY_PASSWORD) {
        let emu = support::start(support::emulator()).await;
        let dead = format!("http://{PROXY_USER}:{PROXY_PASSWORD}@127.0.0.1:9");
        let urls = [
            proxy.url(),
            proxy.url_as(PROXY_USER, WRONG_PROXY_PASSWORD),
            dead,
        ];
        let mut proxy_failures = 0;
        for url in urls {
            let transport = HyperTransport::builder()
                .add_root_pem(emu.ca_pem().as_bytes())
                .and_then(|b| b.proxy(&url))
                .and_then(|b| b.build())
                .unwrap_or_else(|e| panic!("{e}"));
            texts.push_str(&format!("{transport:?}\n"));
            let client = default_client(&emu)
                .transport(transport)
                .build()
                .unwrap_or_else(|e| panic!("{e}"));
            match client.token().await {
                Ok(jwt) => tokens.push(jwt.secret().to_owned()),
                Err(e) => {
                    proxy_failures += 1;
                    texts.push_str(&format!("proxy: {}", error_texts(&e)));
                }
            }
        }
        assert_eq!(proxy_failures, 2, "{texts}");
        assert!(!proxy.connects().is_empty());
        emu.shutdown().await;
    }

    // The Send API middleware: the 401 ladder (a revoked AppJWT, then
    // another consumer's conversation, which climbs every rung), a 403, and
    // an AppJWT it cannot get.
    {
        let emu = support::start(support::emulator()).await;
        let client = default_client(&emu)
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        let api = SendApi::new(&emu, &client).await;
        texts.push_str(&format!("{:?}\n", api.service));
        let mine = api.open("consumer-a").await;
        api.open("consumer-b").await;
        emu.revoke_all_app_jwts();
        let revoked = api.say("consumer-a", &mine, "after revocation").await;
        assert_eq!(revoked.status, 200, "{revoked:?}");
        let theirs = api.say("consumer-b", &mine, "not theirs").await;
        assert_eq!(theirs.status, 401, "{theirs:?}");
        emu.inject(Endpoint::Send, status(403), 1);
        let forbidden = api.say("consumer-a", &mine, "forbidden").await;
        assert_eq!(forbidden.status, 403, "{forbidden:?}");
        texts.push_str(&format!("{revoked:?}\n{theirs:?}\n{forbidden:?}\n"));
        let jwt = client.token().await.unwrap_or_else(|e| panic!("{e}"));
        tokens.push(jwt.secret().to_owned());
        for ext in ["consumer-a", "consumer-b"] {
            let ext = ExtConsumerId::new(ext).unwrap_or_else(|e| panic!("{e}"));
            let jws = client
                .consumer_jws(&ext)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            tokens.push(jws.secret().to_owned());
        }
        // No AppJWT to be had: the layer's own error.
        let stranded = default_client(&emu)
            .sentinel_host(lp_ids::Host::parse("127.0.0.1:9").unwrap_or_else(|e| panic!("{e}")))
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        let stranded = SendApi::new(&emu, &stranded).await;
        let body = send_support::json_body(&send_support::message(&mine, "never sent"));
        match stranded
            .try_post("conversation/send?v=3", "consumer-a", body)
            .await
        {
            Ok(answer) => panic!("sent without an appjwt: {answer:?}"),
            Err(e) => texts.push_str(&format!("send api: {}", error_texts(&e))),
        }
        texts.push_str(&format!("{:?}\n", stranded.service));
        emu.shutdown().await;
    }

    // The token store: the bytes a store holds show neither the secret nor
    // the token (nor any part of it); a second client's read, a record it
    // cannot open and a store it cannot use are logged and checked below.
    {
        let emu = support::start(support::emulator()).await;
        let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("hygiene-store-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = lp_store::FileStore::open(&dir).unwrap_or_else(|e| panic!("{e}"));
        let with_store = |secret: &str| {
            AppJwtClient::builder(
                support::ACCOUNT.parse().unwrap_or_else(|e| panic!("{e}")),
                support::CLIENT_ID.parse().unwrap_or_else(|e| panic!("{e}")),
                ClientSecret::new(secret).unwrap_or_else(|e| panic!("{e}")),
            )
            .csds_host(emu.host())
            .transport(
                HyperTransport::builder()
                    .add_root_pem(emu.ca_pem().as_bytes())
                    .and_then(|b| b.build())
                    .unwrap_or_else(|e| panic!("{e}")),
            )
            .verify_with(lp_appjwt::VerifyWith::Jwks)
            .retry_policy(quick())
            .token_store(store.clone())
            .build()
            .unwrap_or_else(|e| panic!("{e}"))
        };
        let first = with_store(SECRET);
        let jwt = first.token().await.unwrap_or_else(|e| panic!("{e}"));
        tokens.push(jwt.secret().to_owned());
        let second = with_store(SECRET);
        let again = second.token().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(again.secret(), jwt.secret());
        assert_eq!(emu.request_count(Endpoint::Token), 1);
        let mut sealed = Vec::new();
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            sealed.extend(std::fs::read(entry.path()).unwrap_or_default());
        }
        assert!(sealed.len() > jwt.secret().len(), "no record written");
        // Long needles only: random ciphertext holds a given 3-byte run
        // now and then, a 4-byte one practically never.
        let parts: Vec<String> = jwt.secret().split('.').map(str::to_owned).collect();
        for needle in forbidden().iter().chain(&parts).chain(&tokens) {
            if needle.len() >= 4 {
                assert!(
                    !sealed.windows(needle.len()).any(|w| w == needle.as_bytes()),
                    "{needle:?} in a sealed record"
                );
            }
        }
        // A client with the wrong secret cannot open it (and is refused by
        // Sentinel), then a store whose directory others may write.
        let wrong = with_store(WRONG_SECRET);
        if let Err(e) = wrong.token().await {
            texts.push_str(&format!("store, wrong secret: {}", error_texts(&e)));
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let open = std::fs::Permissions::from_mode(0o777);
            std::fs::set_permissions(&dir, open).unwrap_or_else(|e| panic!("{e}"));
            let unusable = with_store(SECRET);
            let jwt = unusable.token().await.unwrap_or_else(|e| panic!("{e}"));
            tokens.push(jwt.secret().to_owned());
            let status = unusable.status();
            assert!(
                status.store.as_ref().is_some_and(|s| s.failing),
                "{status:?}"
            );
            texts.push_str(&format!("{status:?}\n"));
        }
        texts.push_str(&format!(
            "{first:?}\n{:?}\n{:?}\n",
            first.status(),
            second.status()
        ));
        emu.shutdown().await;
    }

    // Every case but the successful one (and the bad signature, accepted
    // while the client does not verify) failed, so the error paths ran.
    assert!(
        failures >= cases().len() - 2,
        "only {failures} failures:\n{texts}"
    );
    assert!(tokens.iter().all(|t| t.len() > 100));

    let (webhook_texts, digests) = webhook_texts();
    texts.push_str(&webhook_texts);
    tokens.extend(digests);

    let logs = captured.text();
    // The capture works: events of the client and of the emulator are in.
    assert!(logs.contains("appjwt.fetch"), "{logs}");
    assert!(logs.contains("lp-emulator listening"), "{logs}");
    // The layer's retries were logged (and are checked with the rest).
    assert!(logs.contains("send api answered 401"), "{logs}");
    // And the token store's: a hit, and a store that failed.
    assert!(logs.contains("appjwt taken from the token store"), "{logs}");
    assert!(logs.contains("token store failed"), "{logs}");
    assert_clean("tracing output", &logs, &tokens);
    assert_clean("errors and Debug output", &texts, &tokens);
}
