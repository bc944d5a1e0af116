//! The idp's ConsumerJWS endpoint.

use bytes::Bytes;
use http::header;
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;

use crate::Fault;
use crate::jwt::Rejection;
use crate::reply::{
    JSON, has_content_type, json, method_not_allowed, no_store, query_pairs, read_body, single,
};
use crate::state::State;

/// The idp's answer to a refused AppJWT.
fn unauthorized(rejection: Rejection) -> Response<Bytes> {
    let mut response = json(
        StatusCode::UNAUTHORIZED,
        &serde_json::json!({"error": "unauthorized", "message": rejection.message()}),
    );
    no_store(&mut response);
    response
}

/// `POST /api/account/{acc}/consumer?v=1.0`: checks the AppJWT in
/// `Authorization` (raw, as LivePerson documents it; a `Bearer` prefix is
/// refused like any other malformed token), then the JSON body, and issues
/// a ConsumerJWS.
pub(crate) async fn consumer(
    state: &State,
    req: Request<Incoming>,
    account: &str,
    fault: Option<&Fault>,
) -> Response<Bytes> {
    let bad = |message: &str| {
        json(
            StatusCode::BAD_REQUEST,
            &serde_json::json!({"error": "bad request", "message": message}),
        )
    };
    if matches!(fault, Some(Fault::ConsumerUnauthorized)) {
        return unauthorized(Rejection::Expired);
    }
    if req.method() != Method::POST {
        let mut response = method_not_allowed("POST");
        no_store(&mut response);
        return response;
    }
    match single(&query_pairs(&req), "v") {
        Ok(Some("1.0")) => {}
        Ok(Some(_)) => return bad("unsupported api version"),
        Ok(None) => return bad("query parameter v=1.0 is required"),
        Err(()) => return bad("repeated query parameter v"),
    }
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().map_err(|_| Rejection::Malformed))
        .unwrap_or(Err(Rejection::Missing));
    if let Err(rejection) = token.and_then(|t| state.verify_app_jwt(t, account)) {
        return unauthorized(rejection);
    }
    if !has_content_type(&req, JSON) {
        return bad("content type must be application/json");
    }
    let body = match read_body(req, state.max_body).await {
        Ok(b) => b,
        Err(response) => return response,
    };
    let ext_consumer_id = match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(serde_json::Value::Object(map)) => match map.get("ext_consumer_id") {
            Some(serde_json::Value::String(id)) if !id.is_empty() => id.clone(),
            Some(serde_json::Value::String(_)) => return bad("ext_consumer_id is empty"),
            Some(_) => return bad("ext_consumer_id must be a string"),
            None => return bad("ext_consumer_id is required"),
        },
        Ok(_) => return bad("the body must be a json object"),
        Err(_) => return bad("the body is not valid json"),
    };
    match state.mint_consumer(account, &ext_consumer_id) {
        Ok(token) => {
            let mut response = json(StatusCode::CREATED, &serde_json::json!({ "token": token }));
            no_store(&mut response);
            response
        }
        Err(e) => {
            tracing::error!(error = %e, "could not sign a consumer jws");
            json(
                StatusCode::INTERNAL_SERVER_ERROR,
                &serde_json::json!({"error": "server error", "message": "could not sign the consumer jws"}),
            )
        }
    }
}
