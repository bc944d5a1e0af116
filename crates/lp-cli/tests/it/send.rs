//! `appjwt send`: a message through lp-tower's middleware to the
//! emulator's Send API.

use lp_emulator::{Endpoint, Fault};

use crate::support::{ACCOUNT, CLIENT_ID, Cli, Emu, SECRET, closed_port, emulator, start};

const EXT: &str = "John_Doe_facebook12345";

/// `appjwt send` for `ext` against `emu`, checked with its JWKS, no retries.
fn send_cmd(emu: &Emu, ext: &str, text: &str) -> Cli {
    let host = emu.host();
    let ca = emu.ca();
    Cli::new(&["send", "--account", ACCOUNT, "--client-id", CLIENT_ID])
        .args(&[
            "--csds-host",
            &host,
            "--ca-file",
            &ca,
            "--verify-with",
            "jwks",
        ])
        .args(&["--retries", "0", "--ext-consumer-id", ext, "--text", text])
        .secret_env(SECRET)
}

fn counts(emu: &Emu) -> [u64; 5] {
    [
        Endpoint::Domain,
        Endpoint::Token,
        Endpoint::Consumer,
        Endpoint::Conversation,
        Endpoint::Send,
    ]
    .map(|e| emu.handle.request_count(e))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opens_a_conversation_sends_closes_and_prints_its_id() {
    let emu = start(emulator()).await;
    let out = send_cmd(&emu, EXT, "hello from a smoke test")
        .args(&["--close"])
        .run()
        .await;
    out.expect(0, "");
    assert!(out.stderr.is_empty(), "{out:?}");
    let id = out.stdout.strip_suffix('\n').unwrap_or_default();

    let messages = emu.handle.messages();
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0].conversation_id, id);
    assert_eq!(messages[0].ext_consumer_id, EXT);
    assert_eq!(messages[0].text, "hello from a smoke test");
    assert_eq!(messages[0].content_type, "text/plain");
    let conversations = emu.handle.conversations();
    assert_eq!(conversations.len(), 1);
    assert_eq!(conversations[0].id, id);
    assert!(!conversations[0].open, "--close closed it");
    // One Domain lookup (the Send API's host comes from the same map),
    // one token, one ConsumerJWS, CONVERSATION, then SEND twice.
    assert_eq!(counts(&emu), [1, 1, 1, 1, 2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_output_and_an_existing_conversation() {
    let emu = start(emulator()).await;
    let first = send_cmd(&emu, EXT, "one")
        .args(&["--format", "json"])
        .run()
        .await;
    first.expect(0, "");
    let v = first.json();
    assert_eq!(v["opened"], true, "{v}");
    assert_eq!(v["closed"], false, "{v}");
    assert_eq!(v["sequence"], 0, "{v}");
    let id = v["conversation_id"].as_str().unwrap_or_default().to_owned();

    let second = send_cmd(&emu, EXT, "two")
        .args(&["--conversation", &id, "--format", "json"])
        .run()
        .await;
    second.expect(0, "");
    let v = second.json();
    assert_eq!(v["conversation_id"], id.as_str(), "{v}");
    assert_eq!(v["opened"], false, "{v}");
    assert_eq!(v["sequence"], 1, "{v}");
    let texts: Vec<String> = emu.handle.messages().into_iter().map(|m| m.text).collect();
    assert_eq!(texts, ["one", "two"]);
    assert_eq!(emu.handle.request_count(Endpoint::Conversation), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_consumers_conversation_climbs_the_ladder_then_exits_1() {
    let emu = start(emulator()).await;
    let out = send_cmd(&emu, EXT, "mine").run().await;
    out.expect(0, "");
    let id = out.stdout.trim().to_owned();
    let before = counts(&emu);

    let out = send_cmd(&emu, "Someone_Else", "not mine")
        .args(&["--conversation", &id])
        .run()
        .await;
    out.expect(1, "401");
    assert!(
        out.stderr.contains("is the conversation this consumer's"),
        "{out:?}"
    );
    let after = counts(&emu);
    let delta: Vec<u64> = after.iter().zip(before).map(|(a, b)| a - b).collect();
    // Domain, then token + ConsumerJWS for the first SEND; the 401 ladder:
    // a new AppJWT, then a new ConsumerJWS, each asked for once. RS256 is
    // deterministic, so a token issued in the same second as the refused
    // one is the same text (as Sentinel's would be): then the middleware
    // skips the useless resend and goes straight to the ConsumerJWS rung,
    // and two SENDs are made instead of three.
    assert_eq!(delta[..4], [1, 2, 2, 0], "{delta:?}");
    assert!((2..=3).contains(&delta[4]), "{delta:?}");
    assert_eq!(
        emu.handle.messages().len(),
        1,
        "nothing reached the conversation"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_is_not_retried_and_says_how_long_to_wait() {
    let emu = start(emulator()).await;
    emu.handle.inject(
        Endpoint::Conversation,
        Fault::Status {
            status: 429,
            retry_after: Some("7".to_owned()),
            body: None,
        },
        1,
    );
    let out = send_cmd(&emu, EXT, "hi").run().await;
    out.expect(1, "429");
    assert!(out.stderr.contains("wait 7 s"), "{out:?}");
    assert_eq!(counts(&emu), [1, 1, 1, 1, 0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_usage_and_a_dead_send_api_host() {
    let emu = start(emulator()).await;
    for (args, needle) in [
        (&["--conversation", "a b"][..], "--conversation"),
        (&["--conversation", ""][..], "--conversation"),
        (
            &["--send-api-host", "https://x.example"][..],
            "leave out the scheme",
        ),
    ] {
        send_cmd(&emu, EXT, "hi")
            .args(args)
            .run()
            .await
            .expect(2, needle);
    }
    send_cmd(&emu, EXT, "").run().await.expect(2, "--text");
    send_cmd(&emu, "", "hi")
        .run()
        .await
        .expect(2, "--ext-consumer-id");
    assert_eq!(counts(&emu), [0; 5], "no request for bad usage");

    let dead = format!("127.0.0.1:{}", closed_port());
    send_cmd(&emu, EXT, "hi")
        .args(&["--send-api-host", &dead])
        .run()
        .await
        .expect(3, "send api request");
    assert_eq!(emu.handle.request_count(Endpoint::Domain), 1);
}
