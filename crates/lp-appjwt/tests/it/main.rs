//! The facade against a fake LivePerson (one test binary).

#[cfg(feature = "blocking")]
mod blocking;
mod concurrency;
mod consumer;
mod engine;
mod failures;
mod flow;
#[cfg(feature = "hyper-transport")]
mod hyper;
mod registry;
mod secrets;
mod store;
mod support;
mod verify;

#[cfg(not(feature = "hyper-transport"))]
#[test]
fn without_the_hyper_feature_a_transport_is_required() {
    use lp_appjwt::{AppJwtClient, BuildError, ClientSecret};
    let err = AppJwtClient::builder(
        support::ACCOUNT.parse().unwrap(),
        support::CLIENT_ID.parse().unwrap(),
        ClientSecret::new(support::SECRET).unwrap(),
    )
    .build()
    .unwrap_err();
    assert!(matches!(err, BuildError::NoTransport), "{err:?}");
    assert!(err.to_string().contains("hyper-transport"));
}
