//! `appjwt token`: fetch, validate and print an AppJWT.

use lp_appjwt::{
    AccountId, ApiVersion, AppJwt, AppJwtClaims, AppJwtClient, ClientId, Header, RetryPolicy,
    VerifyWith,
};
use serde::Serialize;

use super::{parse_host, read_secret, transport};
use crate::args::{Api, TokenArgs, TokenFormat, Verify};
use crate::exit::Failure;

pub async fn run(a: TokenArgs) -> Result<(), Failure> {
    let account =
        AccountId::new(a.account).map_err(|e| Failure::usage(format!("--account: {e}")))?;
    let client_id =
        ClientId::new(a.client_id).map_err(|e| Failure::usage(format!("--client-id: {e}")))?;
    let secret = read_secret(a.client_secret_file.as_deref())?;
    let csds = parse_host("--csds-host", &a.connection.csds_host)?;
    let api = match a.api {
        Api::V1 => ApiVersion::V1,
        Api::V2 => ApiVersion::V2,
    };
    let verify = match a.verify {
        Verify::Auto => VerifyWith::default_for(api),
        Verify::LivepersonV1 => VerifyWith::LivePersonV1,
        Verify::Jwks => VerifyWith::Jwks,
        Verify::None => VerifyWith::None,
    };
    let mut builder = AppJwtClient::builder(account, client_id, secret)
        .csds_host(csds)
        .api_version(api)
        .verify_with(verify)
        .retry_policy(RetryPolicy {
            max_attempts: a.retries.saturating_add(1),
            ..RetryPolicy::default()
        })
        .transport(transport(&a.connection)?);
    if let Some(s) = &a.sentinel_host {
        builder = builder.sentinel_host(parse_host("--sentinel-host", s)?);
    }
    let client = builder
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
