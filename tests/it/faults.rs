//! Every fault the emulator can inject, and what the client does about it:
//! the outcome and the number of requests it made.

use std::time::{Duration, Instant};

use lp_appjwt::{AppJwtClient, Error, HyperTransport, TransportErrorKind};
use lp_domain::DomainError;
use lp_emulator::{EmulatorHandle, Endpoint, Fault};
use lp_jwt::ValidationError;
use lp_oauth::TokenError;

use crate::support::{self, SECRET};

/// Starts an emulator, injects `fault` into the next `times` requests to
/// `endpoint`, and asks a fast-retrying client for a token.
async fn with_fault(
    endpoint: Endpoint,
    fault: Fault,
    times: u32,
) -> (EmulatorHandle, Result<lp_appjwt::AppJwt, Error>) {
    let emu = support::start(support::emulator()).await;
    emu.inject(endpoint, fault, times);
    let client = support::client(&emu);
    let result = client.token().await;
    (emu, result)
}

fn status(status: u16) -> Fault {
    Fault::Status {
        status,
        retry_after: None,
        body: None,
    }
}

/// The innermost error, past any "gave up after N attempts" wrapper.
fn last(e: &Error) -> &Error {
    match e {
        Error::DeadlineExceeded { last, .. } => self::last(last),
        other => other,
    }
}

fn assert_no_secret(e: &Error) {
    for text in [e.to_string(), format!("{e:?}")] {
        assert!(!text.contains(SECRET), "secret in {text}");
    }
}

#[tokio::test]
async fn one_500_then_success() {
    let (emu, r) = with_fault(Endpoint::Token, status(500), 1).await;
    assert!(r.is_ok(), "{:?}", r.err());
    assert_eq!(emu.request_count(Endpoint::Token), 2);
}

#[tokio::test]
async fn persistent_503_gives_up_after_max_attempts() {
    let (emu, r) = with_fault(Endpoint::Token, status(503), 100).await;
    let e = r.err().unwrap_or_else(|| panic!("expected an error"));
    assert!(
        matches!(last(&e), Error::Token(TokenError::Server { status, .. }) if status.as_u16() == 503),
        "{e:?}"
    );
    assert_eq!(emu.request_count(Endpoint::Token), 4);
    assert_no_secret(&e);
}

#[tokio::test]
async fn throttled_429_waits_for_retry_after() {
    let emu = support::start(support::emulator()).await;
    emu.inject(
        Endpoint::Token,
        Fault::Status {
            status: 429,
            retry_after: Some("2".to_owned()),
            body: None,
        },
        1,
    );
    let client = support::client(&emu);
    let started = Instant::now();
    let r = client.token().await;
    assert!(r.is_ok(), "{:?}", r.err());
    // The wait is a lower bound the protocol demands, not a speed target.
    assert!(started.elapsed() >= Duration::from_millis(1950));
    assert_eq!(emu.request_count(Endpoint::Token), 2);
}

#[tokio::test]
async fn rejected_credentials_are_not_retried() {
    let emu = support::start(support::emulator()).await;
    let client = AppJwtClient::builder(
        support::ACCOUNT.parse().unwrap_or_else(|e| panic!("{e}")),
        support::CLIENT_ID.parse().unwrap_or_else(|e| panic!("{e}")),
        lp_oauth::ClientSecret::new("wrong").unwrap_or_else(|e| panic!("{e}")),
    )
    .csds_host(emu.host())
    .transport(support::transport(&emu))
    .retry_policy(support::fast_retries())
    .build()
    .unwrap_or_else(|e| panic!("{e}"));
    let e = client
        .token()
        .await
        .err()
        .unwrap_or_else(|| panic!("expected an error"));
    match last(&e) {
        Error::Token(TokenError::Rejected { status, oauth }) => {
            assert_eq!(status.as_u16(), 401);
            assert_eq!(
                oauth.as_ref().map(|o| o.error.as_str()),
                Some("invalid_client")
            );
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    assert_eq!(emu.request_count(Endpoint::Token), 1);
}

#[tokio::test]
async fn connection_closed_mid_body_is_retried() {
    let (emu, r) = with_fault(Endpoint::Token, Fault::CloseMidBody, 1).await;
    assert!(r.is_ok(), "{:?}", r.err());
    assert_eq!(emu.request_count(Endpoint::Token), 2);
}

#[tokio::test]
async fn server_that_never_answers_times_out() {
    let emu = support::start(support::emulator()).await;
    emu.inject(Endpoint::Token, Fault::Hang, 100);
    let transport = HyperTransport::builder()
        .add_root_pem(emu.ca_pem().as_bytes())
        .and_then(|b| b.request_timeout(Duration::from_millis(200)).build())
        .unwrap_or_else(|e| panic!("{e}"));
    let client = support::client_builder(&emu)
        .transport(transport)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let e = client
        .token()
        .await
        .err()
        .unwrap_or_else(|| panic!("expected an error"));
    assert!(
        matches!(last(&e), Error::Transport(t) if t.kind() == TransportErrorKind::Timeout),
        "{e:?}"
    );
    assert_eq!(emu.request_count(Endpoint::Token), 4);
}

/// Faults in a 200 answer: the server said something that is not a usable
/// token. Retrying would get the same, so exactly one request is made.
#[tokio::test]
async fn unusable_answers_are_typed_errors_without_retry() {
    type Check = fn(&Error) -> bool;
    let cases: Vec<(Fault, Check)> = vec![
        (Fault::MalformedJson, |e| {
            matches!(e, Error::Token(TokenError::Malformed { .. }))
        }),
        (Fault::NonJson200, |e| {
            matches!(e, Error::Token(TokenError::Malformed { .. }))
        }),
        (Fault::TokenType("mac".to_owned()), |e| {
            matches!(e, Error::Token(TokenError::Malformed { .. }))
        }),
        (Fault::HugeBody(10 * 1024 * 1024), |e| {
            matches!(e, Error::Token(TokenError::BodyTooLarge { .. }))
                || matches!(e, Error::Transport(t) if t.kind() == TransportErrorKind::BodyTooLarge)
        }),
        (Fault::WrongAccountToken, |e| {
            matches!(e, Error::Validation(ValidationError::Audience { .. }))
        }),
        (Fault::ExpiredToken, |e| {
            matches!(e, Error::Validation(ValidationError::Expired { .. }))
        }),
        (Fault::WrongIssuerToken, |e| {
            matches!(e, Error::Validation(ValidationError::Issuer { .. }))
        }),
        (Fault::FutureIatToken, |e| {
            matches!(e, Error::Validation(ValidationError::IssuedInFuture { .. }))
        }),
    ];
    for (fault, check) in cases {
        let name = format!("{fault:?}");
        let (emu, r) = with_fault(Endpoint::Token, fault, 100).await;
        let e = r
            .err()
            .unwrap_or_else(|| panic!("{name}: expected an error"));
        assert!(check(last(&e)), "{name}: {e:?}");
        assert_eq!(emu.request_count(Endpoint::Token), 1, "{name}");
        assert_no_secret(&e);
    }
}

#[tokio::test]
async fn domain_api_host_with_userinfo_or_path_is_refused() {
    for bad in [
        "evil.example@127.0.0.1",
        "127.0.0.1/steal",
        "https://127.0.0.1",
    ] {
        let (emu, r) = with_fault(Endpoint::Domain, Fault::DomainHost(bad.to_owned()), 100).await;
        let e = r
            .err()
            .unwrap_or_else(|| panic!("{bad}: expected an error"));
        assert!(
            matches!(last(&e), Error::Domain(DomainError::InvalidHost { .. })),
            "{bad}: {e:?}"
        );
        // The secret was never sent anywhere.
        assert_eq!(emu.request_count(Endpoint::Token), 0, "{bad}");
    }
}

#[tokio::test]
async fn untrusted_certificate_is_a_hard_error() {
    let emu = support::start(support::emulator()).await;
    let other = support::start(support::emulator()).await;
    // Trusts `other`'s CA, talks to `emu`.
    let client = support::client_builder(&emu)
        .transport(support::transport(&other))
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let e = client
        .token()
        .await
        .err()
        .unwrap_or_else(|| panic!("expected an error"));
    match &e {
        Error::Transport(t) => {
            assert_eq!(t.kind(), TransportErrorKind::Tls, "{e:?}");
            assert!(!e.is_retryable());
        }
        other => panic!("expected a TLS error without retries, got {other:?}"),
    }
    assert_eq!(emu.request_count(Endpoint::Any), 0);
}
