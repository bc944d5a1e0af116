//! `appjwt demo`: the whole flow a connector goes through, against an
//! emulator started in this process on loopback.

use std::time::SystemTime;

use lp_appjwt::{AccountId, AppJwtClient, ClientId, HyperTransport, VerifyWith};
use lp_emulator::{Emulator, Endpoint};
use lp_oauth::ClientSecret;

use super::pretty;
use crate::args::DemoArgs;
use crate::exit::Failure;
use crate::human::expiry_line;
use crate::outln;

/// The documentation's example values, so the output reads like the seed.
const ACCOUNT: &str = "56072331";
const CLIENT_ID: &str = "75588e18-0213-4e33-8174-883acac7e3c4";

pub async fn run(_: DemoArgs) -> Result<(), Failure> {
    // A fresh random secret per run: the demo must not teach people to put
    // secrets into source code.
    let secret = random_secret();
    let emulator = Emulator::builder()
        .client(ACCOUNT, CLIENT_ID, &secret)
        .start()
        .await
        .map_err(|e| Failure::network(format!("cannot start the emulator: {e}")))?;
    let host = emulator.host();
    outln!("emulator   https://{host} (Domain API + Sentinel, fresh CA, RS256 key)")?;

    let transport = HyperTransport::builder()
        .add_root_pem(emulator.ca_pem().as_bytes())
        .and_then(|b| b.build())
        .map_err(|e| Failure::usage(format!("cannot trust the emulator's CA: {e}")))?;
    let account = AccountId::new(ACCOUNT).map_err(Failure::usage)?;
    let client_id = ClientId::new(CLIENT_ID).map_err(Failure::usage)?;
    let secret = ClientSecret::new(secret).map_err(Failure::usage)?;
    let client = AppJwtClient::builder(account, client_id, secret)
        .csds_host(host.clone())
        // The emulator signs with its own key, published at its JWKS.
        .verify_with(VerifyWith::Jwks)
        .transport(transport)
        .build()
        .map_err(|e| Failure::usage(format!("cannot build the client: {e}")))?;

    outln!(
        "\n1. Domain API: GET https://{host}/api/account/{ACCOUNT}/service/baseURI.json?version=1.0"
    )?;
    let domains = client
        .domains()
        .await
        .map_err(|e| Failure::from_client("domain lookup failed", &e))?;
    let sentinel = domains
        .get("sentinel")
        .map(ToString::to_string)
        .unwrap_or_else(|| "(none)".to_owned());
    outln!(
        "   sentinel -> {sentinel}   ({} services known)",
        domains.len()
    )?;

    outln!(
        "\n2. Sentinel: POST https://{sentinel}/sentinel/api/account/{ACCOUNT}/app/token?v=1.0&grant_type=client_credentials"
    )?;
    outln!("   Content-Type: application/x-www-form-urlencoded")?;
    outln!("   client_id={CLIENT_ID}&client_secret=[redacted]")?;
    let jwt = client
        .token()
        .await
        .map_err(|e| Failure::from_client("cannot get a token", &e))?;
    let raw = jwt.secret();
    outln!(
        "   200 OK, token_type {}, access_token {}... ({} bytes)",
        jwt.token_type(),
        raw.get(..24).unwrap_or(raw),
        raw.len()
    )?;

    outln!("\n3. Decoded header:\n{}", indent(&pretty(jwt.header())))?;
    outln!("   Decoded claims:\n{}", indent(&pretty(jwt.claims())))?;

    outln!(
        "\n4. Verified: RS256 signature checked with the key named by kid in GET https://{sentinel}/sentinel/well-known/jwks ({})",
        if jwt.is_verified() {
            "ok"
        } else {
            "not checked"
        }
    )?;
    outln!(
        "   Validated: aud is the account, azp the client id, iss Sentinel; {}",
        expiry_line(jwt.expires_at_system(), SystemTime::now())
    )?;

    let before = emulator.request_count(Endpoint::Token);
    let again = client
        .token()
        .await
        .map_err(|e| Failure::from_client("cannot get a token", &e))?;
    let after = emulator.request_count(Endpoint::Token);
    outln!(
        "\n5. Second token() call: {} (token requests to Sentinel: {before} before, {after} after)",
        if again.secret() == jwt.secret() {
            "served from the cache"
        } else {
            "fetched anew"
        }
    )?;
    emulator.shutdown().await;
    outln!("\ndemo finished: every step succeeded")?;
    Ok(())
}

fn indent(s: &str) -> String {
    s.lines()
        .map(|l| format!("   {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// 32 hex characters from the OS's randomness, via std's hasher seeds, which
/// are drawn from the OS per process; good enough for a throw-away demo
/// secret and avoids a dependency.
fn random_secret() -> String {
    use std::collections::hash_map::RandomState;
    use std::hash::BuildHasher;
    let a = RandomState::new().hash_one(1u8);
    let b = RandomState::new().hash_one(2u8);
    format!("{a:016x}{b:016x}")
}
