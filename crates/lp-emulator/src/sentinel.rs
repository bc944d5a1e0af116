//! Sentinel's token endpoint: client credentials in, a signed AppJWT out.

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;

use crate::Fault;
use crate::reply::{
    FORM, has_content_type, json, no_store, oauth_error, query_pairs, read_body, single,
};
use crate::state::State;

/// Compares two secrets through their SHA-256 digests in constant time, so
/// neither the content nor the length of the registered secret leaks
/// through timing.
fn secret_matches(expected_digest: &[u8; 32], given: &str) -> bool {
    let given = ring::digest::digest(&ring::digest::SHA256, given.as_bytes());
    let diff = expected_digest
        .iter()
        .zip(given.as_ref())
        .fold(0u8, |acc, (a, b)| acc | (a ^ b));
    diff == 0
}

pub(crate) fn digest_secret(secret: &str) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, secret.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

pub(crate) async fn token(
    state: &State,
    req: Request<Incoming>,
    account: &str,
    v2: bool,
    fault: Option<&Fault>,
) -> Response<Bytes> {
    let bad =
        |description: &str| oauth_error(StatusCode::BAD_REQUEST, "invalid_request", description);
    if req.method() != Method::POST {
        let mut response = oauth_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request",
            "the token endpoint takes POST",
        );
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    if !has_content_type(&req, FORM) {
        return bad("content type must be application/x-www-form-urlencoded");
    }
    let query = query_pairs(&req);
    if query
        .iter()
        .any(|(k, _)| k == "client_id" || k == "client_secret")
    {
        return bad("client credentials must not be sent in the query string");
    }
    if !v2 {
        match single(&query, "v") {
            Ok(Some("1.0" | "2.0")) => {}
            Ok(Some(_)) => return bad("unsupported api version"),
            Ok(None) => return bad("missing query parameter v"),
            Err(()) => return bad("repeated query parameter v"),
        }
    }
    let body = match read_body(req, state.max_body).await {
        Ok(b) => b,
        Err(response) => return response,
    };
    let form: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();

    let grant_query = single(&query, "grant_type");
    let grant_body = single(&form, "grant_type");
    let grant = match (grant_query, grant_body) {
        (Err(()), _) | (_, Err(())) => return bad("repeated parameter grant_type"),
        (Ok(None), Ok(None)) => return bad("missing parameter grant_type"),
        (Ok(Some(q)), Ok(Some(b))) if q != b => {
            return bad("grant_type differs between query and body");
        }
        (Ok(Some(g)), _) | (_, Ok(Some(g))) => g,
    };
    if grant != "client_credentials" {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "only client_credentials is supported",
        );
    }
    let (client_id, secret) = match (single(&form, "client_id"), single(&form, "client_secret")) {
        (Ok(Some(id)), Ok(Some(secret))) => (id, secret),
        (Err(()), _) | (_, Err(())) => return bad("repeated client credentials"),
        _ => {
            return oauth_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "client authentication missing",
            );
        }
    };
    let known = state
        .clients
        .get(&(account.to_owned(), client_id.to_owned()))
        .is_some_and(|digest| secret_matches(digest, secret));
    if !known {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client authentication failed",
        );
    }
    let access_token = match state.mint(account, client_id, fault) {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "could not sign a token");
            return oauth_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "could not sign the token",
            );
        }
    };
    let token_type = match fault {
        Some(Fault::TokenType(t)) => t.as_str(),
        _ => "Bearer",
    };
    let mut value = serde_json::json!({"access_token": access_token, "token_type": token_type});
    if state.send_expires_in {
        value["expires_in"] = serde_json::json!(state.lifetime.as_secs());
    }
    let mut response = json(StatusCode::OK, &value);
    no_store(&mut response);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_by_content() {
        let digest = digest_secret("s3cret");
        let cases = [
            ("s3cret", true),
            ("s3cre", false),
            ("s3cret ", false),
            ("", false),
        ];
        for (given, expected) in cases {
            assert_eq!(secret_matches(&digest, given), expected, "{given:?}");
        }
    }
}
