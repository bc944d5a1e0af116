//! Fetches one AppJWT from a real Domain API / Sentinel and prints its
//! header and claims (never the token itself).
//!
//! ```sh
//! LP_ACCOUNT=56072331 LP_CLIENT_ID=75588e18-... LP_CLIENT_SECRET=... \
//!     cargo run -p lp-appjwt --example token
//! ```
//!
//! Optional variables:
//! - `LP_CSDS_HOST`: Domain API host (default `api.liveperson.net`).
//! - `LP_SENTINEL_HOST`: skip the lookup and use this Sentinel host, e.g.
//!   `127.0.0.1:8443` for the emulator.
//! - `LP_CA_PEM`: a PEM file of extra trusted roots (the emulator's CA).
//! - `LP_PLAIN_HTTP_LOOPBACK=1`: talk plain HTTP to a loopback emulator.
//! - `LP_API_VERSION=v2`: use Sentinel's v2 endpoint.
//! - `LP_VERIFY_WITH=static|jwks|none`: where the signature is checked
//!   (default: LivePerson's static key for v1, the sentinel's JWKS for v2;
//!   the emulator needs `jwks`; `none` is dangerous).
//! - `RUST_LOG=lp_appjwt=debug`: show the lookup and fetch spans.

use std::error::Error;
use std::path::Path;

use lp_appjwt::{
    AccountId, ApiVersion, AppJwtClient, ClientId, ClientSecret, Host, HyperTransport, VerifyWith,
};

fn var(name: &str) -> Result<String, Box<dyn Error>> {
    std::env::var(name).map_err(|_| format!("set {name}").into())
}

fn optional(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();

    let mut transport = HyperTransport::builder()
        .allow_plain_http_loopback(optional("LP_PLAIN_HTTP_LOOPBACK").as_deref() == Some("1"));
    if let Some(pem) = optional("LP_CA_PEM") {
        transport = transport.add_root_pem_file(Path::new(&pem))?;
    }

    let mut builder = AppJwtClient::builder(
        AccountId::new(var("LP_ACCOUNT")?)?,
        ClientId::new(var("LP_CLIENT_ID")?)?,
        ClientSecret::new(var("LP_CLIENT_SECRET")?)?,
    )
    .transport(transport.build()?);
    if let Some(host) = optional("LP_CSDS_HOST") {
        builder = builder.csds_host(Host::parse(&host)?);
    }
    if let Some(host) = optional("LP_SENTINEL_HOST") {
        builder = builder.sentinel_host(Host::parse(&host)?);
    }
    if optional("LP_API_VERSION").is_some_and(|v| v.eq_ignore_ascii_case("v2")) {
        builder = builder.api_version(ApiVersion::V2);
    }
    match optional("LP_VERIFY_WITH").as_deref() {
        None => {}
        Some("static") => builder = builder.verify_with(VerifyWith::LivePersonV1),
        Some("jwks") => builder = builder.verify_with(VerifyWith::Jwks),
        Some("none") => builder = builder.verify_with(VerifyWith::None),
        Some(other) => {
            return Err(format!("LP_VERIFY_WITH={other}: use static, jwks or none").into());
        }
    }
    let client = builder.build()?;

    let jwt = client.token().await?;
    println!(
        "verify:  {} (checked: {})",
        client.verify_with(),
        jwt.is_verified()
    );
    println!("header:  {:?}", jwt.header());
    println!("claims:  {:?}", jwt.claims());
    println!(
        "expires: {:?} (in {} s)",
        jwt.expires_at_system(),
        jwt.remaining().as_secs()
    );
    Ok(())
}
