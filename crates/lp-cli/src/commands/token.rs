//! `appjwt token`: fetch, validate and print an AppJWT.

use lp_appjwt::{AccountId, ApiVersion, AppJwt, AppJwtClient, ClientId};
use serde_json::json;

use super::{parse_host, read_secret, transport};
use crate::args::{Api, TokenArgs, TokenFormat};
use crate::exit::Failure;

pub async fn run(a: TokenArgs) -> Result<(), Failure> {
    let account =
        AccountId::new(a.account).map_err(|e| Failure::usage(format!("--account: {e}")))?;
    let client_id =
        ClientId::new(a.client_id).map_err(|e| Failure::usage(format!("--client-id: {e}")))?;
    let secret = read_secret(a.client_secret_file.as_deref())?;
    let csds = parse_host("--csds-host", &a.connection.csds_host)?;
    let mut builder = AppJwtClient::builder(account, client_id, secret)
        .csds_host(csds)
        .api_version(match a.api {
            Api::V1 => ApiVersion::V1,
            Api::V2 => ApiVersion::V2,
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
        TokenFormat::Token => println!("{}", jwt.secret()),
        TokenFormat::Json => println!("{}", token_json(&jwt)),
    }
    Ok(())
}

/// The `--format json` object.
pub fn token_json(jwt: &AppJwt) -> serde_json::Value {
    let expires_at = jwt
        .expires_at_system()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    json!({
        "access_token": jwt.secret(),
        "token_type": jwt.token_type(),
        "expires_at": expires_at,
        "header": jwt.header(),
        "claims": jwt.claims(),
    })
}
