//! Targets 4 and 6: fetching a new token over HTTPS with keep-alive from
//! the emulator on loopback (lp-appjwt against oauth2 + reqwest), and how
//! many tokens per second the emulator issues.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode};
use lp_appjwt::{
    AccountId, AppJwtClient, ClientId, ClientSecret, HyperTransport, RetryPolicy, VerifyWith,
};
use lp_bench::{ACCOUNT, CLIENT_ID, CLIENT_SECRET, runtime, start_emulator};
use lp_emulator::SigningKey;
use lp_oauth::{ApiVersion, TokenRequest};
use oauth2::basic::BasicClient;
use oauth2::{AuthType, TokenResponse as _, TokenUrl};

/// Requests in flight at once when measuring the emulator's throughput.
const CONCURRENCY: usize = 16;

fn fetch(c: &mut Criterion) {
    // Two workers: the machine's two cores. The emulator's tasks and the
    // clients' connection tasks share them.
    let rt = runtime(2).expect("runtime");
    let key = SigningKey::generate().expect("key");
    let emulator = rt.block_on(start_emulator(key)).expect("emulator");
    let ca = emulator.ca_pem().to_owned();

    let transport = HyperTransport::builder()
        .add_root_pem(ca.as_bytes())
        .expect("ca")
        .build()
        .expect("transport");

    // lp-appjwt, the way an application uses it: a 401 made it invalidate
    // the token, and token() fetches a new one, decodes it, checks its
    // signature against the emulator's JWKS (fetched once, then cached) and
    // validates its claims.
    let client = AppJwtClient::builder(
        AccountId::new(ACCOUNT).expect("account"),
        ClientId::new(CLIENT_ID).expect("client id"),
        ClientSecret::new(CLIENT_SECRET).expect("secret"),
    )
    .sentinel_host(emulator.host())
    .transport(transport.clone())
    .invalidate_min_interval(Duration::ZERO)
    .retry_policy(RetryPolicy::no_retry())
    .verify_with(VerifyWith::Jwks)
    .build()
    .expect("client");
    let first = rt.block_on(client.token()).expect("lp-appjwt fetches");
    assert!(first.is_verified());
    let lp_fetch = || async {
        client.invalidate();
        let token = client.token().await.expect("lp-appjwt fetches");
        assert!(!token.secret().is_empty());
    };

    // The same request through the transport alone: lp-oauth builds it,
    // HyperTransport sends it, lp-oauth parses the answer (no validation).
    let request = TokenRequest {
        sentinel: emulator.host(),
        account: AccountId::new(ACCOUNT).expect("account"),
        client_id: ClientId::new(CLIENT_ID).expect("client id"),
        client_secret: ClientSecret::new(CLIENT_SECRET).expect("secret"),
        version: ApiVersion::V1,
    };
    let raw_fetch = || async {
        let response = lp_appjwt::Transport::send(&transport, request.to_http())
            .await
            .expect("sent");
        let token = lp_oauth::parse_token_response(&response).expect("token");
        assert!(!token.access_token.secret().is_empty());
    };

    // oauth2 + reqwest doing the identical client-credentials request:
    // same URL (v1 query), grant_type and credentials in the form body.
    let http = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca.as_bytes()).expect("ca"))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("reqwest client");
    let oauth = BasicClient::new(oauth2::ClientId::new(CLIENT_ID.to_owned()))
        .set_client_secret(oauth2::ClientSecret::new(CLIENT_SECRET.to_owned()))
        .set_auth_type(AuthType::RequestBody)
        .set_token_uri(
            TokenUrl::new(format!(
                "{}/sentinel/api/account/{ACCOUNT}/app/token?v=1.0",
                emulator.base_url()
            ))
            .expect("token url"),
        );
    let oauth_fetch = || async {
        let token = oauth
            .exchange_client_credentials()
            .request_async(&http)
            .await
            .expect("oauth2 fetches");
        assert!(!token.access_token().secret().is_empty());
    };
    rt.block_on(oauth_fetch());
    rt.block_on(raw_fetch());
    assert!(!first.secret().is_empty());

    let contenders: [(&str, Fetch<'_>); 3] = [
        ("lp-appjwt", Box::new(|| Box::pin(lp_fetch()))),
        ("lp-appjwt-transport", Box::new(|| Box::pin(raw_fetch()))),
        ("oauth2-reqwest", Box::new(|| Box::pin(oauth_fetch()))),
    ];
    let mut g = c.benchmark_group("fetch");
    g.sample_size(30);
    for (which, (name, _)) in contenders.iter().enumerate() {
        g.bench_function(*name, |b| {
            b.iter_custom(|iters| rt.block_on(interleaved(&contenders, which, iters)))
        });
    }
    g.finish();

    let mut g = c.benchmark_group("emulator");
    // The CPU cost of one token (RS256 signature included) on one core.
    g.bench_function("issue-token", |b| {
        b.iter(|| emulator.issue_token(ACCOUNT, CLIENT_ID).expect("token"))
    });
    // Tokens per second over HTTPS with CONCURRENCY requests in flight;
    // one criterion iteration is one token.
    g.sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .measurement_time(Duration::from_secs(3));
    g.bench_function("served", |b| {
        b.iter_custom(|iters| rt.block_on(serve(&transport, &request, iters)))
    });
    g.finish();

    rt.block_on(emulator.shutdown());
}

/// One way of fetching a token, boxed so the contenders fit in one list.
type Fetch<'a> = Box<dyn Fn() -> Pin<Box<dyn Future<Output = ()> + 'a>> + 'a>;

/// Times `iters` fetches by contender `which`, with one fetch by every other
/// contender between them (the order rotating each round), and returns
/// only `which`'s time. Measured one after the other, the contender measured
/// last came out up to 25% slower whichever it was: the machine and the
/// emulator drift over a run. Interleaved, that drift weighs on all of them
/// alike.
async fn interleaved(contenders: &[(&str, Fetch<'_>)], which: usize, iters: u64) -> Duration {
    let mut measured = Duration::ZERO;
    let n = contenders.len();
    for round in 0..iters {
        for k in 0..n {
            let j = (usize::try_from(round).unwrap_or(0) + k) % n;
            let fetch = &contenders[j].1;
            if j == which {
                let start = Instant::now();
                fetch().await;
                measured += start.elapsed();
            } else {
                fetch().await;
            }
        }
    }
    measured
}

/// Fetches `iters` tokens with [`CONCURRENCY`] requests in flight and
/// returns the wall time.
async fn serve(transport: &HyperTransport, request: &TokenRequest, iters: u64) -> Duration {
    let left = Arc::new(AtomicU64::new(iters));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..CONCURRENCY {
        let left = Arc::clone(&left);
        let transport = transport.clone();
        let request = request.clone();
        tasks.spawn(async move {
            while left
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
                .is_ok()
            {
                let response = lp_appjwt::Transport::send(&transport, request.to_http())
                    .await
                    .expect("sent");
                assert_eq!(response.status(), 200, "the emulator issued a token");
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("load task");
    }
    start.elapsed()
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .without_plots()
}

fn main() {
    let mut c = config().configure_from_args();
    fetch(&mut c);
    c.final_summary();
}
