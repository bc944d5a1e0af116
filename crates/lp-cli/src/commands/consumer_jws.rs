//! `appjwt consumer-jws`: an AppJWT, then a ConsumerJWS for one consumer.

use lp_appjwt::{AppJwtClaims, ConsumerJws, ExtConsumerId};
use lp_jwt::UnverifiedToken;
use serde::Serialize;

use super::{client_builder, client_failure, parse_host};
use crate::args::{ConsumerFormat, ConsumerJwsArgs};
use crate::exit::Failure;
use crate::watch::Watch;

pub async fn run(a: ConsumerJwsArgs, watch: Watch) -> Result<(), Failure> {
    let consumer = ExtConsumerId::new(a.ext_consumer_id.as_str())
        .map_err(|e| Failure::usage(format!("--ext-consumer-id: {e}")))?;
    let mut builder = client_builder(&a.client, &watch)?;
    if let Some(h) = &a.idp_host {
        builder = builder.idp_host(parse_host("--idp-host", "LP_IDP_HOST", h)?);
    }
    let client = builder
        .build()
        .map_err(|e| Failure::usage(format!("cannot build the client: {e}")))?;
    let jws = client
        .consumer_jws(&consumer)
        .await
        .map_err(|e| client_failure("cannot get a consumer jws", &e, &a.client, &watch))?;
    super::cache::warn_if_failed(&client);
    match a.format {
        ConsumerFormat::Token => crate::outln!("{}", jws.secret()),
        ConsumerFormat::Json => crate::outln!("{}", consumer_json(&jws)?),
    }
}

/// The `--format json` object: the token and its claims as decoded (the
/// idp's signature is not checked here; the Send API checks it). `claims`
/// is `null` when the token is not a JWT this tool can decode.
#[derive(Serialize)]
struct ConsumerJson<'a> {
    token: &'a str,
    claims: Option<AppJwtClaims>,
}

fn consumer_json(jws: &ConsumerJws) -> Result<String, Failure> {
    let claims = UnverifiedToken::decode(jws.secret())
        .ok()
        .map(|t| t.into_parts().1);
    serde_json::to_string(&ConsumerJson {
        token: jws.secret(),
        claims,
    })
    .map_err(|e| Failure::usage(format!("cannot write the consumer jws as json: {e}")))
}
