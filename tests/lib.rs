//! Integration tests live in `it/`; this library holds only what the
//! tests of other crates share with them: the tinyproxy harness.

pub mod tinyproxy;
