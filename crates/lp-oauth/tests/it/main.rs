//! Tests of lp-oauth's public API: the exact request, the response table and
//! properties. One binary, one module per area.

mod props;
mod request;
mod response;
mod secrets;

use lp_oauth::{AccountId, ApiVersion, ClientId, ClientSecret, Host, TokenRequest};

/// A request with the given credentials against the seed's Sentinel host.
pub fn token_request(client_id: &str, secret: &str, version: ApiVersion) -> TokenRequest {
    TokenRequest {
        sentinel: Host::parse("va.sentinel.liveperson.net").unwrap(),
        account: AccountId::new("56072331").unwrap(),
        client_id: ClientId::new(client_id).unwrap(),
        client_secret: ClientSecret::new(secret).unwrap(),
        version,
    }
}
