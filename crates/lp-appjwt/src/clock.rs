//! The wall clock, injectable for tests.

use std::time::SystemTime;

/// Tells the wall-clock time, used to check a token's `exp` and `iat` and
/// to turn an HTTP-date `Retry-After` into a delay.
///
/// Cache lifetimes do not use it: they are measured on tokio's monotonic
/// clock, so a wall-clock jump never makes a cached token look fresh.
///
/// Any `Fn() -> SystemTime` closure is a clock.
pub trait Clock: std::any::Any + Send + Sync {
    /// The current wall-clock time.
    fn now(&self) -> SystemTime;

    /// The current wall-clock time, possibly a few milliseconds behind:
    /// read on the fresh path of [`AppJwtClient::token`](crate::AppJwtClient::token),
    /// where a token's refresh point (minutes before its end) is compared
    /// with it, so it must be cheap. Defaults to [`Clock::now`].
    fn now_coarse(&self) -> SystemTime {
        self.now()
    }
}

/// The system's wall clock, [`SystemTime::now`].
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }

    /// Linux: `CLOCK_REALTIME_COARSE`, the time of the last timer tick (a
    /// few milliseconds of resolution), read from the vDSO without the
    /// hardware counter: a third of the cost of `SystemTime::now` on the
    /// machine of BENCHMARKS.md. Elsewhere, `SystemTime::now`.
    fn now_coarse(&self) -> SystemTime {
        coarse_now()
    }
}

/// [`SystemClock::now_coarse`] in nanoseconds since the Unix epoch, for the
/// fresh path of the caches (`u64::MAX` when it cannot be read, so that
/// nothing passes for fresh).
#[cfg(target_os = "linux")]
#[inline]
pub(crate) fn coarse_epoch_nanos() -> u64 {
    use nix::time::{ClockId, clock_gettime};
    match clock_gettime(ClockId::CLOCK_REALTIME_COARSE) {
        Ok(t) => u64::try_from(t.tv_sec())
            .ok()
            .and_then(|s| s.checked_mul(1_000_000_000))
            .zip(u64::try_from(t.tv_nsec()).ok())
            .and_then(|(s, ns)| s.checked_add(ns))
            .unwrap_or(u64::MAX),
        Err(_) => u64::MAX,
    }
}

/// [`SystemClock::now_coarse`] in nanoseconds since the Unix epoch.
#[cfg(not(target_os = "linux"))]
pub(crate) fn coarse_epoch_nanos() -> u64 {
    nanos_or_max(SystemTime::now())
}

/// `t` in nanoseconds since the Unix epoch; `u64::MAX` before it or past
/// 2554, so that a clock that cannot be trusted makes nothing fresh.
pub(crate) fn nanos_or_max(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(u64::MAX, |d| {
            u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
        })
}

fn coarse_now() -> SystemTime {
    match coarse_epoch_nanos() {
        u64::MAX => SystemTime::now(),
        nanos => SystemTime::UNIX_EPOCH + std::time::Duration::from_nanos(nanos),
    }
}

impl<F> Clock for F
where
    F: Fn() -> SystemTime + Send + Sync + 'static,
{
    fn now(&self) -> SystemTime {
        self()
    }
}
