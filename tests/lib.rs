//! Integration tests live in `it/`; this library holds only what the
//! tests of other crates share with them, the tinyproxy and redis-server
//! harnesses, and the check that the Rust code of every crate's README runs
//! as written.

mod programs;
pub mod redis_server;
pub mod tinyproxy;

/// The Rust blocks of each crate's README, and of the workspace's, run as
/// doc tests of this crate.
#[cfg(doctest)]
mod readmes {
    #[doc = include_str!("../README.md")]
    struct Workspace;
    #[doc = include_str!("../crates/lp-ids/README.md")]
    struct LpIds;
    #[doc = include_str!("../crates/lp-json/README.md")]
    struct LpJson;
    #[doc = include_str!("../crates/lp-jwt/README.md")]
    struct LpJwt;
    #[doc = include_str!("../crates/lp-oauth/README.md")]
    struct LpOauth;
    #[doc = include_str!("../crates/lp-domain/README.md")]
    struct LpDomain;
    #[doc = include_str!("../crates/lp-consumer/README.md")]
    struct LpConsumer;
    #[doc = include_str!("../crates/lp-webhook/README.md")]
    struct LpWebhook;
    #[doc = include_str!("../crates/lp-appjwt/README.md")]
    struct LpAppjwt;
    #[doc = include_str!("../crates/lp-store/README.md")]
    struct LpStore;
    #[doc = include_str!("../crates/lp-tower/README.md")]
    struct LpTower;
    #[doc = include_str!("../crates/lp-emulator/README.md")]
    struct LpEmulator;
    #[doc = include_str!("../crates/lp-cli/README.md")]
    struct LpCli;
}
