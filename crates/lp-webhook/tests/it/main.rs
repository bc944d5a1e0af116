//! Integration tests of `lp-webhook`: Python-made vectors, the parser's
//! error table, the header-map checks, and properties.

mod headers;
mod parse;
mod props;
mod support;
mod vectors;
