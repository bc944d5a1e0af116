//! `appjwt demo`: the whole flow a connector goes through, against an
//! emulator started in this process on loopback.

use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use lp_appjwt::{
    AccountId, AppJwtClient, ClientId, ExtConsumerId, HyperTransport, VerifyWith, X_LP_ON_BEHALF,
};
use lp_emulator::{Emulator, Endpoint};
use lp_jwt::UnverifiedToken;
use lp_oauth::ClientSecret;

use super::{pretty, random_secret};
use crate::args::DemoArgs;
use crate::exit::Failure;
use crate::human::{date_line, expiry_line};
use crate::outln;

/// The documentation's example values, so the output reads like the seed.
const ACCOUNT: &str = "56072331";
const CLIENT_ID: &str = "75588e18-0213-4e33-8174-883acac7e3c4";
const EXT_CONSUMER_ID: &str = "John_Doe_facebook12345";

pub async fn run(_: DemoArgs) -> Result<(), Failure> {
    // A fresh random secret per run: the demo must not teach people to put
    // secrets into source code.
    let secret = random_secret();
    // The idp's answer status, as the emulator saw it, for step 6.
    let consumer_status = Arc::new(Mutex::new(None));
    let seen = Arc::clone(&consumer_status);
    let emulator = Emulator::builder()
        .client(ACCOUNT, CLIENT_ID, &secret)
        .on_request(move |log| {
            if log.endpoint == Some(Endpoint::Consumer) {
                if let Ok(mut status) = seen.lock() {
                    *status = Some(log.status);
                }
            }
        })
        .start()
        .await
        .map_err(|e| Failure::network(format!("cannot start the emulator: {e}")))?;
    let host = emulator.host();
    outln!("emulator   https://{host} (Domain API + Sentinel, fresh CA, RS256 key)")?;

    // The emulator is on loopback: a proxy from the environment could not
    // reach it.
    let transport = HyperTransport::builder()
        .no_proxy()
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
    let expires = jwt
        .claims()
        .exp
        .map_or(jwt.expires_at_system(), |e| e.to_system_time());
    outln!(
        "   Validated: aud is the account, azp the client id, iss Sentinel; {}, {}",
        date_line("expires", expires),
        expiry_line(expires, SystemTime::now())
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

    let idp = domains
        .get("idp")
        .map(ToString::to_string)
        .unwrap_or_else(|| "(none)".to_owned());
    outln!("\n6. ConsumerJWS: POST https://{idp}/api/account/{ACCOUNT}/consumer?v=1.0")?;
    outln!("   Content-Type: application/json")?;
    outln!("   Authorization: {}", shorten(again.secret()))?;
    outln!("   {{\"ext_consumer_id\":\"{EXT_CONSUMER_ID}\"}}")?;
    let consumer = ExtConsumerId::new(EXT_CONSUMER_ID).map_err(Failure::usage)?;
    let jws = client
        .consumer_jws(&consumer)
        .await
        .map_err(|e| Failure::from_client("cannot get a consumer jws", &e))?;
    let status = consumer_status
        .lock()
        .ok()
        .and_then(|s| *s)
        .map(|s| s.to_string())
        .unwrap_or_else(|| "answered".to_owned());
    outln!("   {status}, token {}", shorten(jws.secret()))?;
    match UnverifiedToken::decode(jws.secret()) {
        Ok(t) => outln!("   Decoded claims:\n{}", indent(&pretty(t.claims())))?,
        Err(e) => outln!("   (claims not decodable: {e})")?,
    }

    let headers = client
        .send_api_headers(&consumer)
        .await
        .map_err(|e| Failure::from_client("cannot build the send api headers", &e))?;
    outln!("\n7. Send API headers (values shortened):")?;
    for (name, value) in [
        (
            "Authorization",
            headers.get(lp_appjwt::http::header::AUTHORIZATION),
        ),
        ("X-LP-ON-BEHALF", headers.get(X_LP_ON_BEHALF)),
    ] {
        let value = value.and_then(|v| v.to_str().ok()).unwrap_or_default();
        outln!("   {name}: {}", shorten(value))?;
    }
    outln!(
        "   (ConsumerJWS requests to idp: {}; the second use came from the cache)",
        emulator.request_count(Endpoint::Consumer)
    )?;

    emulator.shutdown().await;
    outln!("\ndemo finished: every step succeeded")?;
    Ok(())
}

/// The first 16 characters of a token and its length: enough to recognise
/// it, never enough to use it.
fn shorten(token: &str) -> String {
    format!(
        "{}...[redacted, {} bytes]",
        token.get(..16).unwrap_or(token),
        token.len()
    )
}

fn indent(s: &str) -> String {
    s.lines()
        .map(|l| format!("   {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}
