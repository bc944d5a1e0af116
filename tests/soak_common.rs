//! What the soak binaries share: the run's settings, the callers' loop
//! and the ideal fetch count. Included by `soak.rs` and `soak_phases.rs`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use lp_appjwt::{AppJwtClient, AppJwtClientBuilder, RetryPolicy};
use tokio::time::Instant;

/// Token lifetime on the emulator (sent as `expires_in`, so the client's
/// lifetime is exact rather than rounded to the second of `exp`).
pub const LIFETIME: Duration = Duration::from_secs(3);
pub const REFRESH_AHEAD: Duration = Duration::from_secs(1);
pub const JITTER: Duration = Duration::from_millis(100);
/// How long after the deadline a task may take to notice it and return.
pub const STUCK_AFTER: Duration = Duration::from_secs(10);

/// What the callers of one run saw.
#[derive(Debug, Default)]
pub struct CallerStats {
    pub calls: u64,
    pub errors: u64,
    /// Errors at a moment a token handed out earlier was still valid.
    pub errors_while_valid: u64,
    /// Tokens handed out whose lifetime had already run out.
    pub expired: u64,
    pub slowest: Duration,
    /// Tasks that had not returned `STUCK_AFTER` past the deadline.
    pub stuck: usize,
}

/// `tasks` callers of `token()` in a loop until `end`, each pausing 0.5
/// to 2.25 ms between calls.
pub struct Callers {
    handles: Vec<tokio::task::JoinHandle<()>>,
    counts: Arc<[AtomicU64; 5]>,
}

impl Callers {
    pub fn spawn(client: &Arc<AppJwtClient>, tasks: usize, end: Instant) -> Self {
        // calls, errors, errors while valid, expired, slowest (µs)
        let counts: Arc<[AtomicU64; 5]> = Arc::new(Default::default());
        let handles = (0..tasks)
            .map(|i| {
                let client = Arc::clone(client);
                let counts = Arc::clone(&counts);
                tokio::spawn(async move {
                    // The latest end of use this task has seen (the
                    // token is handed out until then): while it is
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
                                let until = jwt.usable_until();
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

    pub async fn join(self, end: Instant) -> CallerStats {
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
pub fn ideal_fetches(duration: Duration) -> f64 {
    1.0 + duration.as_secs_f64() / ideal_cycle().as_secs_f64()
}

pub fn ideal_cycle() -> Duration {
    LIFETIME - Duration::from_millis(500) - REFRESH_AHEAD - JITTER / 2
}

pub fn soak_secs() -> u64 {
    std::env::var("SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5)
}

/// The soak's client settings on `builder`: refresh 1 s ahead with up to
/// 100 ms jitter; 6 attempts, 10-100 ms backoff, 2 s deadline.
pub fn soak_client(builder: AppJwtClientBuilder) -> AppJwtClientBuilder {
    builder
        .refresh_ahead(REFRESH_AHEAD)
        .refresh_jitter(JITTER)
        .retry_policy(RetryPolicy {
            max_attempts: 6,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(100),
            deadline: Duration::from_secs(2),
            ..RetryPolicy::default()
        })
}
