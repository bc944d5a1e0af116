//! `appjwt token`: fetch, validate and print an AppJWT.

use lp_appjwt::{AppJwt, AppJwtClaims, Header};
use serde::Serialize;

use super::client_builder;
use crate::args::{TokenArgs, TokenFormat};
use crate::exit::Failure;

pub async fn run(a: TokenArgs) -> Result<(), Failure> {
    let client = client_builder(&a.client)?
        .build()
        .map_err(|e| Failure::usage(format!("cannot build the client: {e}")))?;
    let jwt = client
        .token()
        .await
        .map_err(|e| Failure::from_client("cannot get a token", &e))?;
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
    let expires_at = jwt
        .expires_at_system()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    serde_json::to_string(&TokenJson {
        access_token: jwt.secret(),
        token_type: jwt.token_type(),
        expires_at,
        header: jwt.header(),
        claims: jwt.claims(),
    })
    .map_err(|e| Failure::usage(format!("cannot write the token as json: {e}")))
}
