//! Soak and load: many tasks calling `token()` in a loop while the emulator
//! fails about 30% of token requests and tokens live three seconds.
//!
//! CI runs it for 5 s; `cargo xtask soak` runs it for 30 s (`SOAK_SECS`)
//! and prints the figures that RELIABILITY.md quotes. Loopback only, and
//! bounded: every loop stops at the deadline, and a task that has not
//! finished shortly after it counts as stuck.

// Its own test binary: VmRSS is per process, so no other test may
// allocate beside the soak while it measures memory.
#[allow(dead_code)]
#[path = "soak_common.rs"]
mod soak_common;
#[allow(dead_code)]
#[path = "it/support.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use lp_emulator::{Endpoint, Fault};
use tokio::time::Instant;

use soak_common::*;

/// Share of token requests that get a 500 or 503.
const FAULT_SHARE: f64 = 0.3;

/// What one soak run measured.
#[derive(Debug, Default)]
struct SoakReport {
    duration: Duration,
    tasks: usize,
    calls: u64,
    /// Errors returned to callers at a moment a token handed out earlier
    /// was still valid: must be zero.
    errors_while_valid: u64,
    /// All errors returned to callers (only possible with no valid token).
    errors: u64,
    /// Tokens handed out whose lifetime had already run out: must be zero.
    expired_handed_out: u64,
    token_requests: u64,
    token_successes: u64,
    faults_injected: u64,
    domain_requests: u64,
    /// Successful fetches a perfect client would make: one at start and one
    /// per (lifetime - refresh margin - mean jitter).
    ideal_successes: u64,
    /// Tasks that had not returned `STUCK_AFTER` past the deadline.
    stuck: usize,
    /// Slowest single `token()` call.
    slowest_call: Duration,
    /// VmRSS in KiB after warm-up, half way, and at the end.
    rss_kib: [u64; 3],
}

impl std::fmt::Display for SoakReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "soak: {:?} with {} tasks", self.duration, self.tasks)?;
        writeln!(f, "  token() calls            {}", self.calls)?;
        writeln!(f, "  errors while valid       {}", self.errors_while_valid)?;
        writeln!(f, "  errors (any)             {}", self.errors)?;
        writeln!(f, "  expired tokens handed    {}", self.expired_handed_out)?;
        writeln!(f, "  token requests           {}", self.token_requests)?;
        writeln!(f, "    of which 200           {}", self.token_successes)?;
        writeln!(
            f,
            "    failed                 {} ({:.0}%; {} faults injected)",
            self.token_requests - self.token_successes,
            100.0 * (self.token_requests - self.token_successes) as f64
                / self.token_requests.max(1) as f64,
            self.faults_injected
        )?;
        writeln!(f, "  ideal successful fetches {}", self.ideal_successes)?;
        writeln!(
            f,
            "  ideal requests at {:.0}% faults {:.0}",
            FAULT_SHARE * 100.0,
            self.ideal_successes as f64 / (1.0 - FAULT_SHARE)
        )?;
        writeln!(f, "  domain requests          {}", self.domain_requests)?;
        writeln!(f, "  stuck tasks              {}", self.stuck)?;
        writeln!(f, "  slowest token() call     {:?}", self.slowest_call)?;
        write!(
            f,
            "  VmRSS KiB warm/mid/end   {} / {} / {}",
            self.rss_kib[0], self.rss_kib[1], self.rss_kib[2]
        )
    }
}

/// This process's resident set size in KiB (0 where /proc is missing).
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Runs `tasks` callers for `duration` against a faulty emulator.
async fn soak(duration: Duration, tasks: usize) -> SoakReport {
    let successes = Arc::new(AtomicU64::new(0));
    let seen = Arc::clone(&successes);
    let emu = support::start(
        support::emulator()
            .lifetime(LIFETIME)
            .send_expires_in(true)
            .on_request(move |log| {
                if log.endpoint == Some(Endpoint::Token) && log.status.is_success() {
                    seen.fetch_add(1, Ordering::Relaxed);
                }
            }),
    )
    .await;
    let client = Arc::new(
        soak_client(support::client_builder(&emu))
            .build()
            .unwrap_or_else(|e| panic!("client: {e}")),
    );

    // Warm-up: the first token and the connection pool, so that the memory
    // baseline is the steady state.
    let mut first = None;
    for _ in 0..10 {
        if let Ok(t) = client.token().await {
            first = Some(t);
            break;
        }
    }
    assert!(first.is_some(), "no first token");
    let mut report = SoakReport {
        duration,
        tasks,
        ..SoakReport::default()
    };
    report.rss_kib[0] = rss_kib();
    let start = Instant::now();
    let end = start + duration;

    // The fault driver: each token request fails with probability 0.3,
    // decided in advance by injecting one 500 or 503 for the next request.
    // It polls the request count every millisecond; requests come at most
    // every few milliseconds (retry backoff), so few slip past a decision.
    let driver = {
        let emu = &emu;
        async move {
            let mut rng = 0x9E37_79B9_7F4A_7C15u64;
            let mut coin = move || {
                // xorshift64: deterministic, good enough for a coin.
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                ((rng >> 11) as f64 / (1u64 << 53) as f64) < FAULT_SHARE
            };
            let mut injected = 0u64;
            let inject = |injected: &mut u64| {
                let status = if *injected % 2 == 0 { 500 } else { 503 };
                emu.inject(
                    Endpoint::Token,
                    Fault::Status {
                        status,
                        retry_after: None,
                        body: None,
                    },
                    1,
                );
                *injected += 1;
            };
            let mut seen = emu.request_count(Endpoint::Token);
            // The first refresh always meets a fault, so that even the
            // short CI run, with its handful of requests, exercises one.
            let mut first = true;
            let mut decide = move |injected: &mut u64| {
                if std::mem::take(&mut first) || coin() {
                    inject(injected);
                }
            };
            decide(&mut injected);
            while Instant::now() < end {
                tokio::time::sleep(Duration::from_millis(1)).await;
                let now = emu.request_count(Endpoint::Token);
                for _ in seen..now {
                    decide(&mut injected);
                }
                seen = now;
            }
            emu.clear_faults();
            injected
        }
    };

    let callers = Callers::spawn(&client, tasks, end);
    let mid = async {
        tokio::time::sleep(duration / 2).await;
        rss_kib()
    };
    let (injected, rss_mid) = tokio::join!(driver, mid);
    report.faults_injected = injected;
    report.rss_kib[1] = rss_mid;

    let stats = callers.join(end).await;
    report.rss_kib[2] = rss_kib();
    report.stuck = stats.stuck;
    report.calls = stats.calls;
    report.errors = stats.errors;
    report.errors_while_valid = stats.errors_while_valid;
    report.expired_handed_out = stats.expired;
    report.slowest_call = stats.slowest;
    report.token_requests = emu.request_count(Endpoint::Token);
    report.token_successes = successes.load(Ordering::Relaxed);
    report.domain_requests = emu.request_count(Endpoint::Domain);
    report.ideal_successes = ideal_fetches(duration) as u64;
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_64_tasks_under_30_percent_faults() {
    let duration = Duration::from_secs(soak_secs());
    let r = soak(duration, 64).await;
    println!("{r}");

    assert!(r.calls > 0);
    assert_eq!(r.stuck, 0, "{r}");
    assert_eq!(r.errors_while_valid, 0, "{r}");
    assert_eq!(r.expired_handed_out, 0, "{r}");
    // Faults really were served (every request is a success or a fault).
    assert!(r.token_requests > r.token_successes, "{r}");
    assert!(r.faults_injected > 0, "{r}");
    // No stampede: 64 callers, yet not many more successful fetches than a
    // perfect client would make.
    assert!(r.token_successes <= r.ideal_successes * 3 / 2 + 2, "{r}");
    // Memory flat: after warm-up, well under twice the baseline (plus slack
    // for the other tests sharing this process).
    let [warm, _, end] = r.rss_kib;
    assert!(end < warm * 2 + 64 * 1024, "{r}");
}
