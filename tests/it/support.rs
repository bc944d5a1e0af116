//! What every integration test needs: an emulator with one registered
//! client, and a client that trusts exactly that emulator's CA.

use std::time::Duration;

use lp_appjwt::{
    AccountId, AppJwtClient, AppJwtClientBuilder, ClientId, ClientSecret, HyperTransport,
    RetryPolicy, VerifyWith,
};
use lp_emulator::{Emulator, EmulatorBuilder, EmulatorHandle, SigningKey};

pub const ACCOUNT: &str = "56072331";
pub const CLIENT_ID: &str = "75588e18-0213-4e33-8174-883acac7e3c4";
/// Test-only secret; the hygiene tests look for it in every output.
pub const SECRET: &str = "s3cr3t&with=form+chars %~";

/// RSA key generation is slow; one key per process serves every test.
pub fn signing_key() -> SigningKey {
    SigningKey::shared()
        .unwrap_or_else(|e| panic!("cannot generate the emulator's signing key: {e}"))
}

pub fn emulator() -> EmulatorBuilder {
    Emulator::builder()
        .client(ACCOUNT, CLIENT_ID, SECRET)
        .signing_key(signing_key())
}

pub async fn start(builder: EmulatorBuilder) -> EmulatorHandle {
    match builder.start().await {
        Ok(h) => h,
        Err(e) => panic!("emulator did not start: {e}"),
    }
}

pub fn transport(emu: &EmulatorHandle) -> HyperTransport {
    // A developer's HTTPS_PROXY could not reach the loopback emulator.
    HyperTransport::builder()
        .no_proxy()
        .add_root_pem(emu.ca_pem().as_bytes())
        .and_then(|b| b.request_timeout(Duration::from_secs(2)).build())
        .unwrap_or_else(|e| panic!("transport: {e}"))
}

/// Quick retries so fault tests finish in well under a second each.
pub fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
        deadline: Duration::from_secs(10),
        ..RetryPolicy::default()
    }
}

pub fn client_builder(emu: &EmulatorHandle) -> AppJwtClientBuilder {
    let account = AccountId::new(ACCOUNT).unwrap_or_else(|e| panic!("{e}"));
    let client_id = ClientId::new(CLIENT_ID).unwrap_or_else(|e| panic!("{e}"));
    let secret = ClientSecret::new(SECRET).unwrap_or_else(|e| panic!("{e}"));
    AppJwtClient::builder(account, client_id, secret)
        .csds_host(emu.host())
        .transport(transport(emu))
        .retry_policy(fast_retries())
        // The emulator signs with its own key, published at the sentinel's
        // JWKS path: LivePerson's static v1 key would refuse every token.
        .verify_with(VerifyWith::Jwks)
}

pub fn client(emu: &EmulatorHandle) -> AppJwtClient {
    client_builder(emu)
        .build()
        .unwrap_or_else(|e| panic!("client: {e}"))
}
