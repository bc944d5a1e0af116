//! `appjwt demo`: the whole flow, no arguments, no network.

use crate::support::{Cli, contains_jwt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_succeeds_and_shows_every_step() {
    let out = Cli::new(&["demo"]).run().await;
    out.expect(0, "");
    for want in [
        "1. Domain API: GET https://127.0.0.1:",
        "client_secret=[redacted]",
        "\"alg\": \"RS256\"",
        "\"kid\": \"appjwt-",
        "\"aud\": \"56072331\"",
        "\"azp\": \"75588e18-0213-4e33-8174-883acac7e3c4\"",
        "\"iss\": \"Sentinel\"",
        "expires in 59m",
        "served from the cache",
        "token requests to Sentinel: 1 before, 1 after",
        "6. ConsumerJWS: POST https://127.0.0.1:",
        "/api/account/56072331/consumer?v=1.0",
        "{\"ext_consumer_id\":\"John_Doe_facebook12345\"}",
        "201 Created, token eyJ",
        "\"account_id\": \"56072331\"",
        "\"ext_consumer_id\": \"John_Doe_facebook12345\"",
        "\"lp_consumer_id\": \"",
        "7. Send API headers",
        "   Authorization: eyJ",
        "   X-LP-ON-BEHALF: eyJ",
        "ConsumerJWS requests to idp: 1",
        "8. Send API (asyncMessagingEnt), through the lp-tower middleware:",
        "/api/account/56072331/messaging/consumer/conversation?v=3",
        "200 OK, conversationId ",
        "ms.PublishEvent {\"message\":\"Hello from the appjwt demo\"}",
        "200 OK, sequence 0",
        "200 OK, conversation closed",
        "the emulator received 1 message for John_Doe_facebook12345; token requests to Sentinel: 1, ConsumerJWS requests: 1",
        "demo finished: every step succeeded",
    ] {
        assert!(out.stdout.contains(want), "lacks {want:?}: {out:?}");
    }
    // The demo shows a prefix of the token, never the whole of it.
    assert!(!contains_jwt(&out.stdout), "{out:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_with_tracing() {
    let out = Cli::new(&["-v", "demo"]).run().await;
    out.expect(0, "");
    assert!(out.stderr.contains("lp_emulator"), "{out:?}");
    assert!(!contains_jwt(&out.stderr), "{out:?}");
}
