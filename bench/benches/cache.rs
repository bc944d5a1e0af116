//! Target 3: `AppJwtClient::token()` on a fresh cache against an `Arc`
//! clone, and its throughput on two threads against one.

use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode};
use lp_appjwt::{
    AccountId, AppJwtClient, ClientId, ClientSecret, Host, Rs256Verifier, TransportError,
    VerifyWith,
};
use lp_bench::{ACCOUNT, CLIENT_ID, CLIENT_SECRET, SignedFixture, poll_ready};

/// A client whose transport answers every request with the same valid token
/// signed by the emulator's key, with that token already cached; with
/// `store`, a token store behind the cache (which the fresh path must not
/// touch). The client's cells keep their tasks on `rt`, which must outlive
/// the measurement, as a service's runtime does: with its runtime gone a
/// cell has no timer watching its value, and every call takes the precise
/// path.
fn warm_client(
    rt: &tokio::runtime::Runtime,
    fixture: &SignedFixture,
    store: Option<lp_store::FileStore>,
) -> AppJwtClient {
    let body = format!(
        r#"{{"access_token":"{}","token_type":"Bearer"}}"#,
        fixture.token
    );
    let key = Rs256Verifier::from_components(&fixture.n, &fixture.e).expect("key");
    let fake = move |_req: http::Request<Vec<u8>>| {
        let body = body.clone().into_bytes();
        async move {
            http::Response::builder()
                .header("content-type", "application/json")
                .body(body)
                .map_err(|_| TransportError::io())
        }
    };
    let mut builder = AppJwtClient::builder(
        AccountId::new(ACCOUNT).expect("account"),
        ClientId::new(CLIENT_ID).expect("client id"),
        ClientSecret::new(CLIENT_SECRET).expect("secret"),
    )
    .sentinel_host(Host::parse("va.sentinel.liveperson.net").expect("host"))
    .transport(fake)
    .verify_with(VerifyWith::Key(key));
    if let Some(store) = store {
        builder = builder.token_store(store);
    }
    let client = builder.build().expect("client");
    // The first call fetches (through the fake) and fills the cache.
    let first = rt.block_on(client.token()).expect("first token");
    assert!(first.is_verified());
    client
}

/// `threads` threads each make `iters` calls; the wall time from the common
/// start to the last thread's end is returned, so the per-iteration time
/// criterion reports is wall time / calls per thread.
fn run_threads(client: &AppJwtClient, threads: usize, iters: u64) -> Duration {
    let barrier = Barrier::new(threads + 1);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                barrier.wait();
                for _ in 0..iters {
                    let token = poll_ready(client.token()).expect("cached token");
                    black_box(token);
                }
            });
        }
        barrier.wait();
        let start = Instant::now();
        // Leaving the scope joins every thread.
        start
    })
    .elapsed()
}

fn cache(c: &mut Criterion) {
    let rt = lp_bench::runtime(1).expect("runtime");
    let fixture = lp_bench::signed_fixture(&rt).expect("signed fixture");
    let client = warm_client(&rt, &fixture, None);
    let dir = std::env::temp_dir().join(format!("lp-bench-store-{}", std::process::id()));
    let stored = warm_client(
        &rt,
        &fixture,
        Some(lp_store::FileStore::open(&dir).expect("file store")),
    );
    let arc = Arc::new(fixture.token.clone());

    let mut g = c.benchmark_group("cache");
    g.bench_function("arc-clone", |b| b.iter(|| Arc::clone(black_box(&arc))));
    g.bench_function("token-fresh", |b| {
        b.iter(|| poll_ready(black_box(&client).token()))
    });
    g.bench_function("token-fresh-with-store", |b| {
        b.iter(|| poll_ready(black_box(&stored).token()))
    });
    g.finish();
    let _ = std::fs::remove_dir_all(&dir);

    let mut g = c.benchmark_group("cache-threads");
    // Flat sampling: every sample is long (about 0.1 s), so starting the
    // threads is noise.
    g.sampling_mode(SamplingMode::Flat).sample_size(20);
    for threads in [1usize, 2] {
        g.bench_function(format!("{threads}"), |b| {
            b.iter_custom(|iters| run_threads(&client, threads, iters))
        });
    }
    g.finish();
    interleaved(&client, &arc);
}

/// Interleaved rounds of the fresh `token()` and an `Arc::clone` (the
/// verdict), with the two clock reads that bound the fresh path beside
/// them: the coarse wall clock it reads, and the precise monotonic clock
/// (`Instant::now`) it does not.
fn interleaved(client: &AppJwtClient, arc: &Arc<String>) {
    use lp_bench::interleave::{rounds, summarise, timed, write_summary};
    const ROUNDS: usize = 400;
    const BATCH: u32 = 10_000;
    let (client, arc) = (client.clone(), Arc::clone(arc));
    let contenders = [
        ("arc-clone", timed(move || Arc::clone(black_box(&arc)))),
        (
            "token-fresh",
            timed(move || poll_ready(black_box(&client).token()).is_ok()),
        ),
        (
            "coarse-clock",
            timed(|| nix::time::clock_gettime(nix::time::ClockId::CLOCK_REALTIME_COARSE).is_ok()),
        ),
        ("instant-now", timed(Instant::now)),
    ];
    let names: Vec<&str> = contenders.iter().map(|(n, _)| *n).collect();
    let ns = rounds(&contenders, ROUNDS, BATCH);
    let json = summarise(
        "cache",
        &names,
        &ns,
        BATCH,
        &[
            ("token-fresh", "arc-clone"),
            ("coarse-clock", "arc-clone"),
            ("instant-now", "arc-clone"),
        ],
    );
    write_summary("cache-interleaved", &json).expect("write summary");
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(4))
        .without_plots()
}

fn main() {
    let mut c = config().configure_from_args();
    cache(&mut c);
    c.final_summary();
}
