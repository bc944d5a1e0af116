//! Tests of lp-domain's public API. One binary, one module per area.

mod cache;
mod names;
mod props;
mod request;
mod response;

/// A response with `status` and `body`.
pub fn response(status: u16, body: &str) -> http::Response<Vec<u8>> {
    http::Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(body.as_bytes().to_vec())
        .unwrap()
}
