//! Issue 15: the memory a cached account costs in an `AppJwtRegistry`.
//!
//! A registry over a fake Sentinel (unsigned tokens of realistic size,
//! `VerifyWith::None`, so no key set) is filled with 10,000 accounts, each
//! with its client and a cached token; the process's resident set is read
//! from `/proc/self/statm` before and after (past a warm-up of accounts
//! not counted), and the growth is divided by the accounts. What an account
//! costs is its client (cells, their state, the consumer cache's
//! bookkeeping), its Domain map and its token with its per-thread copies.
//! The figures go to `$CRITERION_HOME/registry/summary.json`.

use std::time::SystemTime;

use lp_appjwt::{
    AccountId, AppJwtRegistry, ClientId, ClientSecret, Credentials, Host, TransportError,
    VerifyWith,
};

/// Accounts per run.
const ACCOUNTS: usize = 10_000;
/// Accounts filled first and not counted: the one-time costs (the
/// runtime's first allocations, the allocator's arenas, the key-set and
/// connection bookkeeping) fall into them.
const WARM_UP: usize = 500;

fn main() {
    let rt = lp_bench::runtime(2).expect("runtime");
    // One registry per process: a second one would reuse the memory the
    // first gave back, and grow the resident set by nothing.
    let per_account = rt.block_on(run());
    println!(
        "registry: {ACCOUNTS} accounts after {WARM_UP} not counted, resident memory per cached account: {per_account:.0} bytes"
    );
    let json = format!(
        "{{\"accounts\":{ACCOUNTS},\"warm_up\":{WARM_UP},\"per_account\":{per_account:.0}}}"
    );
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        let dir = std::path::Path::new(&home).join("registry");
        std::fs::create_dir_all(&dir).expect("results dir");
        std::fs::write(dir.join("summary.json"), &json).expect("write summary");
    }
}

/// Fills a registry; the resident growth per account in bytes.
async fn run() -> f64 {
    let registry = AppJwtRegistry::builder()
        .csds_host(Host::parse("api.liveperson.net").expect("host"))
        .transport(fake)
        .verify_with(VerifyWith::None)
        .max_accounts(ACCOUNTS + WARM_UP)
        .credential_source(|account: AccountId| async move {
            Ok(Some(Credentials {
                client_id: ClientId::new(format!("app-{account}")).expect("client id"),
                secret: ClientSecret::new(format!("secret-{account}")).expect("secret"),
            }))
        })
        .build()
        .expect("registry");
    let accounts: Vec<AccountId> = (0..ACCOUNTS + WARM_UP)
        .map(|n| AccountId::new((20_000_000 + n).to_string()).expect("account"))
        .collect();
    let (warm, accounts) = accounts.split_at(WARM_UP);
    for account in warm {
        std::hint::black_box(registry.token(account).await.expect("token"));
    }
    let before = resident_bytes();
    for account in accounts {
        let jwt = registry.token(account).await.expect("token");
        std::hint::black_box(jwt);
    }
    let after = resident_bytes();
    assert_eq!(registry.len(), ACCOUNTS + WARM_UP);
    drop(registry);
    (after.saturating_sub(before)) as f64 / ACCOUNTS as f64
}

/// The resident set of this process, from `/proc/self/statm` (pages).
fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("statm");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("resident pages");
    pages * 4096
}

/// Domain API and Sentinel for any account: an unsigned token of the size
/// of Sentinel's (an RS256 signature's 342 characters) for the account in
/// the path.
fn fake(
    req: http::Request<Vec<u8>>,
) -> impl std::future::Future<Output = Result<http::Response<Vec<u8>>, TransportError>> {
    let path = req.uri().path().to_owned();
    async move {
        let account = path
            .split('/')
            .skip_while(|p| *p != "account")
            .nth(1)
            .unwrap_or_default()
            .to_owned();
        let body = if path.contains("/service/") {
            format!(
                r#"{{"baseURIs":[{{"service":"sentinel","account":"{account}","baseURI":"va.sentinel.liveperson.net"}},{{"service":"idp","account":"{account}","baseURI":"va.idp.liveperson.net"}}]}}"#
            )
        } else {
            let now = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0);
            let claims = lp_jwt::AppJwtClaims {
                aud: Some(lp_jwt::Audience::One(account.clone())),
                azp: Some(format!("app-{account}")),
                scope: Some("msg.consumer".into()),
                iss: Some("Sentinel".into()),
                exp: lp_jwt::NumericDate::from_secs(now + 3600),
                iat: lp_jwt::NumericDate::from_secs(now),
                ..Default::default()
            };
            let input = lp_jwt::encode_signing_input(&lp_jwt::Header::new("RS256"), &claims);
            let token = lp_jwt::assemble(&input, &[7u8; 256]);
            format!(r#"{{"access_token":"{token}","token_type":"Bearer","expires_in":3600}}"#)
        };
        http::Response::builder()
            .header("content-type", "application/json")
            .body(body.into_bytes())
            .map_err(|_| TransportError::io())
    }
}
