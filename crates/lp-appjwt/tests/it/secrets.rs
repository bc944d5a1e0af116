//! The client secret and tokens never show in Debug, Display, errors or logs.

use lp_appjwt::{AppJwtClient, BuildError, ClientSecret, Error, TransportError};

use crate::support::*;

#[tokio::test(start_paused = true)]
async fn nothing_secret_in_debug_display_errors_or_logs() {
    let (logs, _capture) = capture_logs();

    let fake = Fake::new();
    let builder = fake.client();
    let mut shown = vec![format!("{builder:?}")];
    let client = builder.build().unwrap();

    // Success, then a refresh that fails, retries, 401s, invalidation.
    let jwt = client.token().await.unwrap();
    shown.push(format!("{jwt:?}"));
    shown.push(format!("{client:?}"));
    shown.push(format!("{:?}", ClientSecret::new(SECRET).unwrap()));
    // The background refresh at 3300 s fails (503, then the retry a
    // connection error), served from the cache meanwhile.
    fake.script_fetches(
        [
            Reply::Status(503, vec![], r#"{"error":"temporarily_unavailable"}"#.into()),
            Reply::Fail(TransportError::connect()),
        ]
        .into_iter()
        .cycle()
        .take(8),
    );
    tokio::time::advance(secs(3301)).await;
    client.token().await.unwrap();
    tokio::time::sleep(secs(20)).await;
    client.token().await.unwrap();
    tokio::time::sleep(secs(60)).await;
    client.token().await.unwrap();
    fake.script_fetches([Reply::Status(
        401,
        vec![],
        r#"{"error":"invalid_client","error_description":"client secret mismatch"}"#.into(),
    )]);
    client.invalidate();
    let err = client.token().await.unwrap_err();
    assert_error_clean(&err);
    shown.push(format!("{err} {err:?}"));

    let fake = Fake::new();
    fake.script_fetches(std::iter::repeat_n(
        Reply::Status(500, vec![], String::new()),
        4,
    ));
    let err = fake.client().build().unwrap().token().await.unwrap_err();
    assert_error_clean(&err);

    let err = Error::DeadlineExceeded {
        attempts: 3,
        last: Box::new(err),
    };
    assert_error_clean(&err);
    assert_error_clean(&BuildError::NoTransport);

    for s in &shown {
        assert_clean(s);
    }
    let logs = logs.text();
    // The logs really were captured, with the spans' fields.
    for expected in [
        "appjwt.lookup",
        "appjwt.fetch",
        "status=503",
        "latency_ms=",
        "serving the cached value",
    ] {
        assert!(logs.contains(expected), "{expected:?} not in logs:\n{logs}");
    }
    assert_clean(&logs);
    drop(client);
}

#[test]
fn debug_of_a_client_names_the_account_but_not_the_secret() {
    let fake_transport = |_req: http::Request<Vec<u8>>| async {
        Err::<http::Response<Vec<u8>>, _>(TransportError::connect())
    };
    let client = AppJwtClient::builder(
        ACCOUNT.parse().unwrap(),
        CLIENT_ID.parse().unwrap(),
        ClientSecret::new(SECRET).unwrap(),
    )
    .transport(fake_transport)
    .build()
    .unwrap();
    let debug = format!("{client:?}");
    assert!(debug.contains(ACCOUNT), "{debug}");
    assert!(debug.contains("[redacted]"), "{debug}");
    assert_clean(&debug);
}
