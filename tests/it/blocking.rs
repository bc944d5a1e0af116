//! The blocking client over real HTTPS, from a thread with no runtime.

use lp_appjwt::blocking;
use lp_emulator::Endpoint;

use crate::support;

#[test]
fn the_blocking_client_gets_a_token_over_https() {
    // The emulator needs a runtime of its own; the client brings its own.
    let server = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("{e}"));
    let emu = server.block_on(support::start(support::emulator()));
    let client = blocking::AppJwtClientBuilder::from(support::client_builder(&emu))
        .build()
        .unwrap_or_else(|e| panic!("{e}"));

    let jwt = client.token().unwrap_or_else(|e| panic!("{e}"));
    assert!(jwt.is_verified());
    assert_eq!(jwt.claims().azp.as_deref(), Some(support::CLIENT_ID));
    assert_eq!(
        client.token().map(|t| t.secret() == jwt.secret()).ok(),
        Some(true)
    );
    assert_eq!(emu.request_count(Endpoint::Token), 1);
    drop(client);
    drop(server);
}
