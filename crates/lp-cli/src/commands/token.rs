//! `appjwt token`: fetch, validate and print an AppJWT.

use lp_appjwt::{AppJwt, AppJwtClaims, Header};
use serde::Serialize;

use super::{client_builder, client_failure};
use crate::args::{TokenArgs, TokenFormat};
use crate::exit::Failure;
use crate::watch::Watch;

pub async fn run(a: TokenArgs, watch: Watch) -> Result<(), Failure> {
    let client = client_builder(&a.client, &watch)?
        .build()
        .map_err(|e| Failure::usage(format!("cannot build the client: {e}")))?;
    let jwt = client
        .token()
        .await
        .map_err(|e| client_failure("cannot get a token", &e, &a.client, &watch))?;
    super::cache::warn_if_failed(&client);
    match a.format {
        TokenFormat::Token => crate::outln!("{}", jwt.secret()),
        TokenFormat::Json => crate::outln!("{}", token_json(&jwt)?),
    }
}

/// The `--format json` object, its members in the documented order.
#[derive(Serialize)]
struct TokenJson<'a> {
    access_token: &'a str,
    token_type: &'a str,
    /// Unix seconds.
    expires_at: u64,
    header: &'a Header,
    claims: &'a AppJwtClaims,
}

fn token_json(jwt: &AppJwt) -> Result<String, Failure> {
    serde_json::to_string(&TokenJson {
        access_token: jwt.secret(),
        token_type: jwt.token_type(),
        expires_at: expires_at(jwt),
        header: jwt.header(),
        claims: jwt.claims(),
    })
    .map_err(|e| Failure::usage(format!("cannot write the token as json: {e}")))
}

/// The token's own `exp`. The client's expiry is measured from when the
/// request was sent, a moment before the token was issued, and is never
/// later than `exp`; in whole seconds it came out one less than `exp` in
/// nearly every run, which reads like a bug. Only a token without `exp`
/// gets the client's expiry (request time plus `expires_in`).
fn expires_at(jwt: &AppJwt) -> u64 {
    match jwt.claims().exp {
        Some(exp) => u64::try_from(exp.as_secs()).unwrap_or(0),
        None => jwt
            .expires_at_system()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    }
}
