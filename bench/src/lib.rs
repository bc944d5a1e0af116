//! Fixtures shared by the benchmarks in `benches/` (run them with
//! `cargo xtask bench`, which also writes BENCHMARKS.md).
//!
//! Every bench binary measures the same inputs: the seed's example token,
//! an RS256 token issued by the emulator, and an emulator on loopback.
//!
//! ```
//! use lp_bench::{SEED_TOKEN, poll_ready};
//!
//! assert_eq!(SEED_TOKEN.split('.').count(), 3);
//! assert_eq!(poll_ready(async { 40 + 2 }), 42);
//! ```
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use lp_emulator::{Emulator, EmulatorHandle, SigningKey};

pub mod interleave;

/// The example token of LivePerson's "Get AppJWT" page.
pub const SEED_TOKEN: &str = "eyJraWQiOiJhcHBqd3QtMTMtMDUtMTciLCJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJsZTgxODIzMTE4IiwiYXpwIjoiNzU1ODhlMTgtMDIxMy00ZTMzLTgxNzQtODgzYWNhYzdlM2M0Iiwic2NvcGUiOiJtc2cuY29uc3VtZXIiLCJpc3MiOiJTZW50aW5lbCIsImV4cCI6MTUyNDY0NjI3MCwiaWF0IjoxNTI0NjQyNjcwfQ.aC1EbVQDIKJkrMgfoqhDqo5KZVMILTGP5UnK_4lUJQIfpFcrymvQKU9E6zt_WDhWmM2SOOcr1sz4u5xVZ9rMWZciDW_9KofEM2NDgVw1EVBxAIgGYeO0sbE9o--HKjk9DHZvukJkQFhYaHMDnj6ay4BNUqTJpDn6y3XQY7eh7rM";

/// The account every benchmark fetches tokens for.
pub const ACCOUNT: &str = "56072331";
/// The client id registered with the emulator.
pub const CLIENT_ID: &str = "75588e18-0213-4e33-8174-883acac7e3c4";
/// The client secret registered with the emulator (a benchmark value).
pub const CLIENT_SECRET: &str = "bench-secret";

/// The claims of an AppJWT as a peer library's user would declare them:
/// every registered claim typed, optional like lp-jwt's.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct PeerClaims {
    /// Audience (the account, `le` + account id in the seed).
    pub aud: Option<String>,
    /// Authorised party (the client id).
    pub azp: Option<String>,
    /// Scope.
    pub scope: Option<String>,
    /// Issuer (`Sentinel`).
    pub iss: Option<String>,
    /// Expiry, seconds since the epoch.
    pub exp: Option<u64>,
    /// Issue time, seconds since the epoch.
    pub iat: Option<u64>,
}

/// An RS256 token signed by the emulator's key, and that key's public half.
#[derive(Debug, Clone)]
pub struct SignedFixture {
    /// The compact token, issued to [`CLIENT_ID`] for [`ACCOUNT`] now.
    pub token: String,
    /// Big-endian modulus of the signing key.
    pub n: Vec<u8>,
    /// Big-endian public exponent of the signing key.
    pub e: Vec<u8>,
}

/// Why a fixture could not be made.
#[derive(Debug)]
pub struct FixtureError(String);

impl std::fmt::Display for FixtureError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FixtureError {}

fn fail(what: &str, e: impl std::fmt::Display) -> FixtureError {
    FixtureError(format!("{what}: {e}"))
}

/// A multi-threaded tokio runtime with `workers` worker threads.
pub fn runtime(workers: usize) -> Result<tokio::runtime::Runtime, FixtureError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .map_err(|e| fail("cannot build a tokio runtime", e))
}

/// Starts an emulator on `127.0.0.1:0` (HTTPS) with the benchmark client
/// registered, signing with `key`. Call inside the runtime that will serve it.
pub async fn start_emulator(key: SigningKey) -> Result<EmulatorHandle, FixtureError> {
    Emulator::builder()
        .client(ACCOUNT, CLIENT_ID, CLIENT_SECRET)
        .signing_key(key)
        .start()
        .await
        .map_err(|e| fail("cannot start the emulator", e))
}

/// Generates a key, starts an emulator with it on `rt` just long enough to
/// issue one token, and returns the token with the public key.
pub fn signed_fixture(rt: &tokio::runtime::Runtime) -> Result<SignedFixture, FixtureError> {
    let key = SigningKey::generate().map_err(|e| fail("cannot generate a key", e))?;
    let emulator = rt.block_on(start_emulator(key.clone()))?;
    let token = emulator
        .issue_token(ACCOUNT, CLIENT_ID)
        .map_err(|e| fail("cannot issue a token", e))?;
    rt.block_on(emulator.shutdown());
    Ok(SignedFixture {
        token,
        n: key.modulus().to_vec(),
        e: key.exponent().to_vec(),
    })
}

/// Polls `fut` on the current thread until it is ready, with a waker that
/// does nothing (the futures measured here are ready at the first poll;
/// one that is not is polled again after a yield).
pub fn poll_ready<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::yield_now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(token: &str, expected_aud: &str) {
        let jwt = lp_jwt::UnverifiedToken::decode(token).unwrap();
        assert_eq!(
            jwt.claims().aud,
            Some(lp_jwt::Audience::One(expected_aud.into()))
        );
    }

    #[test]
    fn fixtures_decode() {
        check(SEED_TOKEN, "le81823118");
    }

    #[test]
    fn signed_fixture_verifies() {
        let rt = runtime(1).unwrap();
        let f = signed_fixture(&rt).unwrap();
        let jwt = lp_jwt::UnverifiedToken::decode(&f.token).unwrap();
        let verifier = lp_jwt::Rs256Verifier::from_components(&f.n, &f.e).unwrap();
        assert_eq!(verifier.verify(&jwt), Ok(()));
    }
}
