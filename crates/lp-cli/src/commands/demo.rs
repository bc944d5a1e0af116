//! `appjwt demo`: the whole flow a connector goes through, against an
//! emulator started in this process on loopback.

use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use lp_appjwt::DomainMap;
use lp_appjwt::{
    AccountId, AppJwtClient, ClientId, ExtConsumerId, HyperTransport, VerifyWith, X_LP_ON_BEHALF,
};
use lp_emulator::{Emulator, EmulatorHandle, Endpoint};
use lp_jwt::UnverifiedToken;
use lp_oauth::ClientSecret;

use super::send::{SEND_API_SERVICE, SendApi, SendError};
use super::{pretty, random_secret};
use crate::args::DemoArgs;
use crate::exit::Failure;
use crate::human::{date_line, expiry_line};
use crate::outln;

/// The documentation's example values, so the output reads like the seed.
const ACCOUNT: &str = "56072331";
const CLIENT_ID: &str = "75588e18-0213-4e33-8174-883acac7e3c4";
const EXT_CONSUMER_ID: &str = "John_Doe_facebook12345";
const DEMO_MESSAGE: &str = "Hello from the appjwt demo";

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
        .transport(transport.clone())
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

    send_step(&client, transport, &domains, &consumer, &emulator).await?;

    emulator.shutdown().await;
    outln!("\ndemo finished: every step succeeded")?;
    Ok(())
}

/// Step 8: what the tokens are for. A conversation opened, a message sent
/// and the conversation closed through lp-tower's middleware, which puts
/// both headers on each request.
async fn send_step(
    client: &AppJwtClient,
    transport: HyperTransport,
    domains: &DomainMap,
    consumer: &ExtConsumerId,
    emulator: &EmulatorHandle,
) -> Result<(), Failure> {
    let host = domains.get(SEND_API_SERVICE).cloned().ok_or_else(|| {
        Failure::refused(format!(
            "the emulator's domain api names no {SEND_API_SERVICE}"
        ))
    })?;
    let api = SendApi::new(client, transport, &host);
    let fail = |e: SendError| Failure::refused(format!("send api: {e}"));
    let base = format!("https://{host}/api/account/{ACCOUNT}/messaging/consumer/conversation");
    outln!("\n8. Send API ({SEND_API_SERVICE}), through the lp-tower middleware:")?;
    outln!("   POST {base}?v=3")?;
    outln!("   [userprofile.SetUserProfile, cm.ConsumerRequestConversation]")?;
    let conversation = api.open(consumer).await.map_err(fail)?;
    outln!("   200 OK, conversationId {conversation}")?;
    outln!("   POST {base}/send?v=3")?;
    outln!("   ms.PublishEvent {{\"message\":\"{DEMO_MESSAGE}\"}}")?;
    let sequence = api
        .publish(consumer, &conversation, DEMO_MESSAGE)
        .await
        .map_err(fail)?;
    let sequence = sequence.map_or_else(String::new, |n| format!(", sequence {n}"));
    outln!("   200 OK{sequence}")?;
    outln!("   POST {base}/send?v=3")?;
    outln!("   cm.UpdateConversationField ConversationStateField CLOSE")?;
    api.close(consumer, &conversation).await.map_err(fail)?;
    outln!("   200 OK, conversation closed")?;
    let received = emulator
        .messages()
        .into_iter()
        .filter(|m| m.conversation_id == conversation)
        .count();
    outln!(
        "   (the emulator received {received} message for {}; token requests to Sentinel: {}, ConsumerJWS requests: {})",
        consumer.as_str(),
        emulator.request_count(Endpoint::Token),
        emulator.request_count(Endpoint::Consumer)
    )?;
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
