//! Issue 12: the slowest `token()` call while a refresh runs. 16 tasks call
//! `token()` in a loop on a 2-worker runtime; tokens live 1 s (sent as
//! `expires_in`) and are refreshed 0.5 s before their end; Sentinel (a fake
//! transport) answers every token request after 200 ms. Each call's latency
//! goes into one of two histograms: calls that overlapped a token request
//! (one was in flight when the call began or ended, or one ended while it
//! ran: "during a refresh") and the others ("fresh"). The run lasts until
//! at least 20 refreshes are done. The same file runs against an older
//! client too (it uses only the public API), for a before/after.
//!
//! A third histogram holds each task's first call after a token request
//! began: the call that finds the token due, which the client of before
//! issue 12 made wait for the whole fetch. A fourth, the control, holds
//! each task's first call after a mark set 150 ms after each new token
//! arrived, with no request in flight: as many calls, picked the same way
//! from fresh ones, so its maximum shows what a maximum of so few calls
//! is on this machine when no refresh is near.
//!
//! A call during which the operating system took the core away from its
//! thread (the thread's involuntary context switches, `getrusage`,
//! changed while the call ran on it) says nothing about the client: such
//! calls are counted apart, and the histograms hold the others. A call
//! that waited inside the client (and so may have moved to another
//! worker thread, or been preempted while it waited) is always kept.
//!
//! Not a criterion bench: what matters is the tail of one long run. The
//! figures go to `$CRITERION_HOME/refresh/summary.json` for `cargo xtask
//! bench`, and to stdout.

use std::future::Future;
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use lp_appjwt::{
    AccountId, AppJwtClient, ClientId, ClientSecret, Host, Rs256Verifier, TransportError,
    VerifyWith,
};
use lp_bench::{ACCOUNT, CLIENT_ID, CLIENT_SECRET};

const TASKS: usize = 16;

/// This thread's involuntary context switches so far (-1 if unknown).
fn preemptions() -> i64 {
    nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_THREAD)
        .map_or(-1, |u| u.involuntary_context_switches())
}

const REFRESHES: u64 = 20;
const LATENCY: Duration = Duration::from_millis(200);

/// Latencies in nanoseconds: exact below 1024 ns, then 64 buckets per
/// power of two (about 1.6% wide).
#[derive(Clone)]
struct Hist {
    counts: Vec<u64>,
    max: u64,
}

impl Hist {
    fn new() -> Self {
        Hist {
            counts: vec![0; 1024 + 54 * 64],
            max: 0,
        }
    }

    fn bucket(ns: u64) -> usize {
        if ns < 1024 {
            return ns as usize;
        }
        let exp = 63 - u64::from(ns.leading_zeros());
        let sub = (ns >> (exp - 6)) & 63;
        1024 + (exp as usize - 10) * 64 + sub as usize
    }

    /// The lowest value that falls in bucket `i`.
    fn low(i: usize) -> u64 {
        if i < 1024 {
            return i as u64;
        }
        let exp = (i - 1024) / 64 + 10;
        let sub = ((i - 1024) % 64) as u64;
        (1u64 << exp) + (sub << (exp - 6))
    }

    fn record(&mut self, ns: u64) {
        let i = Self::bucket(ns).min(self.counts.len() - 1);
        self.counts[i] += 1;
        self.max = self.max.max(ns);
    }

    fn merge(&mut self, other: &Hist) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.max = self.max.max(other.max);
    }

    fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The value at quantile `q` (the low end of its bucket).
    fn quantile(&self, q: f64) -> u64 {
        let rank = ((self.total() as f64) * q).ceil() as u64;
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank.max(1) {
                return Self::low(i);
            }
        }
        self.max
    }
}

fn main() {
    // `cargo bench` passes `--bench`; a filter that excludes us ends early.
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args
        .iter()
        .any(|a| !a.starts_with('-') && !"refresh".contains(a.as_str()))
    {
        return;
    }
    let rt = lp_bench::runtime(1).expect("runtime");
    let fixture = lp_bench::signed_fixture(&rt).expect("signed fixture");
    drop(rt);

    let in_flight = Arc::new(AtomicBool::new(false));
    let fetches = Arc::new(AtomicU64::new(0));
    let started_requests = Arc::new(AtomicU64::new(0));
    let marks = Arc::new(AtomicU64::new(0));
    let body = format!(
        r#"{{"access_token":"{}","token_type":"Bearer","expires_in":1}}"#,
        fixture.token
    );
    let fake = {
        let (in_flight, fetches) = (Arc::clone(&in_flight), Arc::clone(&fetches));
        let started_requests = Arc::clone(&started_requests);
        move |_req: http::Request<Vec<u8>>| {
            let body = body.clone().into_bytes();
            let (in_flight, fetches) = (Arc::clone(&in_flight), Arc::clone(&fetches));
            let started_requests = Arc::clone(&started_requests);
            async move {
                started_requests.fetch_add(1, Ordering::SeqCst);
                in_flight.store(true, Ordering::SeqCst);
                tokio::time::sleep(LATENCY).await;
                fetches.fetch_add(1, Ordering::SeqCst);
                in_flight.store(false, Ordering::SeqCst);
                http::Response::builder()
                    .header("content-type", "application/json")
                    .body(body)
                    .map_err(|_| TransportError::io())
            }
        }
    };
    let key = Rs256Verifier::from_components(&fixture.n, &fixture.e).expect("key");
    let client = AppJwtClient::builder(
        AccountId::new(ACCOUNT).expect("account"),
        ClientId::new(CLIENT_ID).expect("client id"),
        ClientSecret::new(CLIENT_SECRET).expect("secret"),
    )
    .sentinel_host(Host::parse("va.sentinel.liveperson.net").expect("host"))
    .transport(fake)
    .verify_with(VerifyWith::Key(key))
    .refresh_ahead(Duration::from_millis(500))
    .refresh_jitter(Duration::ZERO)
    .build()
    .expect("client");

    let rt = lp_bench::runtime(2).expect("runtime");
    let started = Instant::now();
    let (fresh, during, first, control, preempted, slowest_any) = rt.block_on(async {
        client.token().await.expect("first token");
        let first_fetches = fetches.load(Ordering::SeqCst);
        let done = Arc::new(AtomicBool::new(false));
        // The control's marks: 150 ms after each token arrived (the token
        // is then fresh for another 150 ms), none while a request runs.
        let marker = tokio::spawn({
            let (fetches, in_flight) = (Arc::clone(&fetches), Arc::clone(&in_flight));
            let (marks, done) = (Arc::clone(&marks), Arc::clone(&done));
            async move {
                let mut seen = fetches.load(Ordering::SeqCst);
                while !done.load(Ordering::Relaxed) {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    let now = fetches.load(Ordering::SeqCst);
                    if now == seen {
                        continue;
                    }
                    seen = now;
                    tokio::time::sleep(Duration::from_millis(150)).await;
                    if !in_flight.load(Ordering::SeqCst) && fetches.load(Ordering::SeqCst) == now {
                        marks.fetch_add(1, Ordering::SeqCst);
                    }
                }
            }
        });
        let tasks: Vec<_> = (0..TASKS)
            .map(|_| {
                let client = client.clone();
                let (in_flight, done) = (Arc::clone(&in_flight), Arc::clone(&done));
                let fetches = Arc::clone(&fetches);
                let started_requests = Arc::clone(&started_requests);
                let marks = Arc::clone(&marks);
                tokio::spawn(async move {
                    let (mut fresh, mut during) = (Hist::new(), Hist::new());
                    let (mut first, mut control) = (Hist::new(), Hist::new());
                    let mut seen = started_requests.load(Ordering::SeqCst);
                    let mut seen_mark = marks.load(Ordering::SeqCst);
                    let mut preempted = 0u64;
                    let mut slowest_any = 0u64;
                    while !done.load(Ordering::Relaxed) {
                        for _ in 0..64 {
                            let before = in_flight.load(Ordering::Relaxed);
                            let fetched = fetches.load(Ordering::Relaxed);
                            let thread = std::thread::current().id();
                            let switches = preemptions();
                            let t0 = Instant::now();
                            // Polled by hand to learn whether the call waited
                            // (was pending at least once) inside the client.
                            let mut polls = 0u32;
                            let mut call = std::pin::pin!(client.token());
                            let token = std::future::poll_fn(|cx| {
                                polls += 1;
                                call.as_mut().poll(cx)
                            })
                            .await;
                            let ns = u64::try_from(t0.elapsed().as_nanos()).unwrap_or(u64::MAX);
                            slowest_any = slowest_any.max(ns);
                            let waited = polls > 1;
                            if !waited
                                && std::thread::current().id() == thread
                                && preemptions() != switches
                            {
                                preempted += 1;
                                black_box(token.expect("token"));
                                continue;
                            }
                            let after = in_flight.load(Ordering::Relaxed)
                                || fetches.load(Ordering::Relaxed) != fetched;
                            black_box(token.expect("token"));
                            let started_now = started_requests.load(Ordering::Relaxed);
                            if started_now != seen {
                                seen = started_now;
                                first.record(ns);
                            }
                            let marks_now = marks.load(Ordering::Relaxed);
                            if marks_now != seen_mark {
                                seen_mark = marks_now;
                                if !(before || after) {
                                    control.record(ns);
                                }
                            }
                            if before || after {
                                during.record(ns);
                            } else {
                                fresh.record(ns);
                            }
                        }
                        tokio::task::yield_now().await;
                    }
                    (fresh, during, first, control, preempted, slowest_any)
                })
            })
            .collect();
        while fetches.load(Ordering::SeqCst) < first_fetches + REFRESHES {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        done.store(true, Ordering::Relaxed);
        marker.await.expect("marker");
        let (mut fresh, mut during, mut first) = (Hist::new(), Hist::new(), Hist::new());
        let mut control = Hist::new();
        let (mut preempted, mut slowest_any) = (0, 0);
        for t in tasks {
            let (f, d, a, c, p, s) = t.await.expect("task");
            fresh.merge(&f);
            during.merge(&d);
            first.merge(&a);
            control.merge(&c);
            preempted += p;
            slowest_any = slowest_any.max(s);
        }
        (fresh, during, first, control, preempted, slowest_any)
    });
    let elapsed = started.elapsed();
    let refreshes = fetches.load(Ordering::SeqCst).saturating_sub(1);
    let ratio = during.max as f64 / fresh.quantile(0.99).max(1) as f64;
    let json = format!(
        "{{\"refreshes\":{refreshes},\"seconds\":{:.1},\"tasks\":{TASKS},\"latency_ms\":{},\
         \"fresh\":{{\"calls\":{},\"p50\":{},\"p99\":{},\"p999\":{},\"max\":{}}},\
         \"during\":{{\"calls\":{},\"p50\":{},\"p99\":{},\"p999\":{},\"max\":{}}},\
         \"first\":{{\"calls\":{},\"p50\":{},\"p99\":{},\"max\":{}}},\
         \"control\":{{\"calls\":{},\"p50\":{},\"p99\":{},\"max\":{}}},\
         \"preempted\":{preempted},\"slowest_any\":{slowest_any},\
         \"max_during_over_fresh_p99\":{ratio:.2}}}",
        elapsed.as_secs_f64(),
        LATENCY.as_millis(),
        fresh.total(),
        fresh.quantile(0.5),
        fresh.quantile(0.99),
        fresh.quantile(0.999),
        fresh.max,
        during.total(),
        during.quantile(0.5),
        during.quantile(0.99),
        during.quantile(0.999),
        during.max,
        first.total(),
        first.quantile(0.5),
        first.quantile(0.99),
        first.max,
        control.total(),
        control.quantile(0.5),
        control.quantile(0.99),
        control.max,
    );
    println!("refresh: {json}");
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        let dir = std::path::Path::new(&home).join("refresh");
        std::fs::create_dir_all(&dir).expect("results dir");
        std::fs::write(dir.join("summary.json"), &json).expect("write summary");
    }
}
