//! The wall clock, injectable for tests.

use std::time::SystemTime;

/// Tells the wall-clock time, used to check a token's `exp` and `iat` and
/// to turn an HTTP-date `Retry-After` into a delay.
///
/// Cache lifetimes do not use it: they are measured on tokio's monotonic
/// clock, so a wall-clock jump never makes a cached token look fresh.
///
/// Any `Fn() -> SystemTime` closure is a clock.
pub trait Clock: Send + Sync + 'static {
    /// The current wall-clock time.
    fn now(&self) -> SystemTime;
}

/// The system's wall clock, [`SystemTime::now`].
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
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
