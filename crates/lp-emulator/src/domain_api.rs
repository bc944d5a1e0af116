//! The Domain API (CSDS): `baseURI.json` for one service or all of them.

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;

use crate::reply::{json, method_not_allowed, query_pairs};
use crate::state::State;
use crate::{Fault, UnknownService};

pub(crate) fn domain(
    state: &State,
    req: &Request<Incoming>,
    account: &str,
    service: Option<&str>,
    fault: Option<&Fault>,
) -> Response<Bytes> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return method_not_allowed("GET, HEAD");
    }
    let query = query_pairs(req);
    let versions: Vec<&str> = query
        .iter()
        .filter(|(k, _)| k == "version")
        .map(|(_, v)| v.as_str())
        .collect();
    if versions != ["1.0"] {
        return json(
            StatusCode::BAD_REQUEST,
            &serde_json::json!({"error": "bad request", "message": "query parameter version=1.0 is required"}),
        );
    }
    if !state.accounts.contains(account) {
        return json(
            StatusCode::UNAUTHORIZED,
            &serde_json::json!({"error": "unauthorized", "message": "invalid site"}),
        );
    }
    let base_uri = |name: &str| -> String {
        match fault {
            Some(Fault::DomainHost(raw)) if name == "sentinel" => raw.clone(),
            _ => state.advertised.clone(),
        }
    };
    match service {
        Some(name) => {
            if state.services.iter().any(|s| s == name) {
                json(
                    StatusCode::OK,
                    &serde_json::json!({"service": name, "account": account, "baseURI": base_uri(name)}),
                )
            } else {
                match state.unknown_service {
                    UnknownService::NotFound => json(
                        StatusCode::NOT_FOUND,
                        &serde_json::json!({"error": "not found", "message": "unknown service"}),
                    ),
                    UnknownService::Omit => json(
                        StatusCode::OK,
                        &serde_json::json!({"service": name, "account": account}),
                    ),
                }
            }
        }
        None => {
            let all: Vec<_> = state
                .services
                .iter()
                .map(|s| serde_json::json!({"service": s, "account": account, "baseURI": base_uri(s)}))
                .collect();
            json(StatusCode::OK, &serde_json::json!({ "baseURIs": all }))
        }
    }
}
