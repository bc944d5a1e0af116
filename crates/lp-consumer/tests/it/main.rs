//! lp-consumer's tests: the request, the response table, the Send API
//! headers, and properties. One binary (links once).

mod headers;
mod props;
mod request;
mod response;
