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
#[path = "it/support.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use lp_appjwt::{AppJwtClient, RetryPolicy};
use lp_emulator::{Endpoint, Fault};
use tokio::time::Instant;

/// Token lifetime on the emulator (sent as `expires_in`, so the client's
/// lifetime is exact rather than rounded to the second of `exp`).
const LIFETIME: Duration = Duration::from_secs(3);
const REFRESH_AHEAD: Duration = Duration::from_secs(1);
const JITTER: Duration = Duration::from_millis(100);
/// Share of token requests that get a 500 or 503.
const FAULT_SHARE: f64 = 0.3;
/// How long after the deadline a task may take to notice it and return.
const STUCK_AFTER: Duration = Duration::from_secs(10);

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
        support::client_builder(&emu)
            .refresh_ahead(REFRESH_AHEAD)
            .refresh_jitter(JITTER)
            .retry_policy(RetryPolicy {
                max_attempts: 6,
                base_delay: Duration::from_millis(10),
                max_delay: Duration::from_millis(100),
                deadline: Duration::from_secs(2),
                ..RetryPolicy::default()
            })
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

/// What the callers of one run saw.
#[derive(Debug, Default)]
struct CallerStats {
    calls: u64,
    errors: u64,
    /// Errors at a moment a token handed out earlier was still valid.
    errors_while_valid: u64,
    /// Tokens handed out whose lifetime had already run out.
    expired: u64,
    slowest: Duration,
    /// Tasks that had not returned `STUCK_AFTER` past the deadline.
    stuck: usize,
}

/// `tasks` callers of `token()` in a loop until `end`, each pausing 0.5
/// to 2.25 ms between calls.
struct Callers {
    handles: Vec<tokio::task::JoinHandle<()>>,
    counts: Arc<[AtomicU64; 5]>,
}

impl Callers {
    fn spawn(client: &Arc<AppJwtClient>, tasks: usize, end: Instant) -> Self {
        // calls, errors, errors while valid, expired, slowest (µs)
        let counts: Arc<[AtomicU64; 5]> = Arc::new(Default::default());
        let handles = (0..tasks)
            .map(|i| {
                let client = Arc::clone(client);
                let counts = Arc::clone(&counts);
                tokio::spawn(async move {
                    // The latest expiry this task has seen: while it is
                    // ahead, a valid token exists and an error is a
                    // failure of the client.
                    let mut valid_until: Option<Instant> = None;
                    let pause = Duration::from_micros(500 + (i as u64 % 8) * 250);
                    while Instant::now() < end {
                        let asked = Instant::now();
                        let result = client.token().await;
                        let took = asked.elapsed();
                        counts[4].fetch_max(
                            u64::try_from(took.as_micros()).unwrap_or(u64::MAX),
                            Ordering::Relaxed,
                        );
                        counts[0].fetch_add(1, Ordering::Relaxed);
                        match result {
                            Ok(jwt) => {
                                if jwt.remaining().is_zero() {
                                    counts[3].fetch_add(1, Ordering::Relaxed);
                                }
                                let until = jwt.expires_at();
                                valid_until = Some(valid_until.map_or(until, |v| v.max(until)));
                            }
                            Err(_) => {
                                counts[1].fetch_add(1, Ordering::Relaxed);
                                if valid_until.is_some_and(|v| v > asked) {
                                    counts[2].fetch_add(1, Ordering::Relaxed);
                                }
                            }
                        }
                        tokio::time::sleep(pause).await;
                    }
                })
            })
            .collect();
        Callers { handles, counts }
    }

    async fn join(self, end: Instant) -> CallerStats {
        let mut stuck = 0;
        for handle in self.handles {
            let left = (end + STUCK_AFTER).saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, handle).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => panic!("soak task failed: {e}"),
                Err(_) => stuck += 1,
            }
        }
        let c = |i: usize| self.counts[i].load(Ordering::Relaxed);
        CallerStats {
            calls: c(0),
            errors: c(1),
            errors_while_valid: c(2),
            expired: c(3),
            slowest: Duration::from_micros(c(4)),
            stuck,
        }
    }
}

/// The successful fetches a perfect client makes in `duration`: one at
/// start and one per cycle. `exp` is whole seconds and the client trusts
/// the shorter of `expires_in` and `exp - now`, so on average half a
/// second of the advertised lifetime is gone when a token arrives.
fn ideal_fetches(duration: Duration) -> f64 {
    1.0 + duration.as_secs_f64() / ideal_cycle().as_secs_f64()
}

/// A fault on one endpoint for the middle of a run (from 20% to 80% of
/// it), every request of that window answered with it.
struct Storm {
    name: &'static str,
    endpoint: Endpoint,
    fault: Fault,
    /// The Domain API map's TTL for the run.
    domain_ttl: Duration,
}

/// What a storm run measured.
#[derive(Debug)]
struct StormReport {
    name: &'static str,
    window: Duration,
    callers: CallerStats,
    token_requests: u64,
    ideal_token_requests: f64,
    /// Token requests of the control run (no storm).
    control_token_requests: u64,
    domain_requests: u64,
}

impl std::fmt::Display for StormReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "phase: {} for {:?}", self.name, self.window)?;
        writeln!(f, "  token() calls            {}", self.callers.calls)?;
        writeln!(
            f,
            "  errors while valid       {}",
            self.callers.errors_while_valid
        )?;
        writeln!(f, "  errors (any)             {}", self.callers.errors)?;
        writeln!(f, "  expired tokens handed    {}", self.callers.expired)?;
        writeln!(f, "  stuck tasks              {}", self.callers.stuck)?;
        writeln!(f, "  token requests           {}", self.token_requests)?;
        writeln!(
            f,
            "  ideal token requests     {:.1}",
            self.ideal_token_requests
        )?;
        writeln!(
            f,
            "  control's token requests {}",
            self.control_token_requests
        )?;
        writeln!(f, "  domain requests          {}", self.domain_requests)?;
        write!(f, "  slowest token() call     {:?}", self.callers.slowest)
    }
}

/// A client and its emulator for one storm run.
async fn storm_client(domain_ttl: Duration) -> (lp_emulator::EmulatorHandle, Arc<AppJwtClient>) {
    let emu = support::start(support::emulator().lifetime(LIFETIME).send_expires_in(true)).await;
    let client = Arc::new(
        support::client_builder(&emu)
            .refresh_ahead(REFRESH_AHEAD)
            .refresh_jitter(JITTER)
            .domain_ttl(domain_ttl)
            .retry_policy(RetryPolicy {
                max_attempts: 6,
                base_delay: Duration::from_millis(10),
                max_delay: Duration::from_millis(100),
                deadline: Duration::from_secs(2),
                ..RetryPolicy::default()
            })
            .build()
            .unwrap_or_else(|e| panic!("client: {e}")),
    );
    client
        .token()
        .await
        .unwrap_or_else(|e| panic!("first token: {e}"));
    (emu, client)
}

/// Runs `tasks` callers for `duration` with `storm` raging in the middle
/// 60% of the run, and beside it, at the same time, a control: the same
/// client and callers against an emulator without the storm. The control
/// is the measure of what a client sends when nothing goes wrong (its
/// refresh cycle depends on how much of each token's whole-second `exp`
/// is gone when it arrives, which no formula here predicts well).
async fn storm(storm: Storm, duration: Duration, tasks: usize) -> StormReport {
    let (emu, client) = storm_client(storm.domain_ttl).await;
    let (control_emu, control) = storm_client(storm.domain_ttl).await;
    let start = Instant::now();
    let end = start + duration;
    let callers = Callers::spawn(&client, tasks, end);
    let control_callers = Callers::spawn(&control, tasks, end);
    let window = duration * 3 / 5;
    tokio::time::sleep(duration / 5).await;
    emu.inject(storm.endpoint, storm.fault.clone(), u32::MAX);
    tokio::time::sleep(window).await;
    emu.clear_faults();
    let stats = callers.join(end).await;
    let control_stats = control_callers.join(end).await;
    assert_eq!(control_stats.errors, 0, "the control saw errors");
    let token_requests = emu.request_count(Endpoint::Token);
    let control_requests = control_emu.request_count(Endpoint::Token) as f64;
    // A perfect client: what the control sent, outside the window in
    // proportion; inside it, for a 429 storm one request per second of
    // Retry-After, else the control's rate.
    let share_outside = (duration - window).as_secs_f64() / duration.as_secs_f64();
    let inside = match &storm.fault {
        Fault::Status { status: 429, .. } => window.as_secs_f64(),
        _ => control_requests * (1.0 - share_outside),
    };
    StormReport {
        name: storm.name,
        window,
        callers: stats,
        token_requests,
        ideal_token_requests: control_requests * share_outside + inside,
        control_token_requests: control_requests as u64,
        domain_requests: emu.request_count(Endpoint::Domain),
    }
}

fn ideal_cycle() -> Duration {
    LIFETIME - Duration::from_millis(500) - REFRESH_AHEAD - JITTER / 2
}

fn soak_secs() -> u64 {
    std::env::var("SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5)
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

/// Token requests within 10% of the ideal (and 2 requests, for the short
/// CI run where one request is a large share).
fn near_ideal(r: &StormReport) -> bool {
    let actual = r.token_requests as f64;
    (actual - r.ideal_token_requests).abs() <= (0.1 * r.ideal_token_requests).max(2.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_phase_429_storm_with_retry_after() {
    let duration = Duration::from_secs(soak_secs());
    let r = storm(
        Storm {
            name: "429 storm, Retry-After: 1",
            endpoint: Endpoint::Token,
            fault: Fault::Status {
                status: 429,
                retry_after: Some("1".to_owned()),
                body: None,
            },
            domain_ttl: lp_domain::DEFAULT_TTL,
        },
        duration,
        64,
    )
    .await;
    println!("{r}");
    assert_eq!(r.callers.stuck, 0, "{r}");
    assert_eq!(r.callers.errors_while_valid, 0, "{r}");
    assert_eq!(r.callers.expired, 0, "{r}");
    assert!(near_ideal(&r), "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_phase_domain_api_outage_longer_than_its_ttl() {
    let duration = Duration::from_secs(soak_secs());
    let r = storm(
        Storm {
            name: "Domain API 503, TTL 1 s",
            endpoint: Endpoint::Domain,
            fault: Fault::Status {
                status: 503,
                retry_after: None,
                body: None,
            },
            domain_ttl: Duration::from_secs(1),
        },
        duration,
        64,
    )
    .await;
    println!("{r}");
    assert!(
        r.window > Duration::from_secs(1),
        "outage shorter than the TTL"
    );
    assert_eq!(r.callers.stuck, 0, "{r}");
    assert_eq!(r.callers.errors, 0, "{r}");
    assert_eq!(r.callers.expired, 0, "{r}");
    assert!(r.domain_requests > 1, "{r}");
    assert!(near_ideal(&r), "{r}");
}
