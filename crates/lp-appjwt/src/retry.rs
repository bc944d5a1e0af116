//! The retry policy LivePerson recommends, and the loop that applies it.

use std::future::Future;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use crate::error::Error;
use crate::refresh::Progress;
use crate::transport::TransportError;

/// When and how often a failed lookup or token request is tried again.
///
/// Follows LivePerson's guidance for its APIs: a 4xx other than 429 is never
/// retried (the request must be fixed, retrying cannot help), nor is a token
/// that fails decoding or validation, nor a TLS error. A 429 waits for
/// `Retry-After`, and at least [`RetryPolicy::min_throttle_delay`]. A 5xx
/// and connection errors are retried with exponential backoff and full
/// jitter: before retry `n` (1-based) the client sleeps a random time in
/// `0 ..= min(max_delay, base_delay * 2^(n-1))`, or longer when the server
/// sent `Retry-After`.
///
/// Defaults: 4 attempts (the first try and 3 retries), 500 ms base delay,
/// 15 s maximum delay, 30 s overall deadline, 1 s minimum delay after a 429.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, the first one included (at least 1 is made).
    pub max_attempts: u32,
    /// The backoff before the first retry, doubled for each further one.
    pub base_delay: Duration,
    /// The largest backoff between two attempts (a `Retry-After` may ask
    /// for longer and is honoured within the deadline).
    pub max_delay: Duration,
    /// The time from the first attempt after which no further attempt is
    /// started, and an attempt still running is abandoned.
    pub deadline: Duration,
    /// The shortest wait after a 429, whatever `Retry-After` says.
    pub min_throttle_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(15),
            deadline: Duration::from_secs(30),
            min_throttle_delay: Duration::from_secs(1),
        }
    }
}

impl RetryPolicy {
    /// A policy that makes exactly one attempt.
    pub fn no_retry() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// The upper bound of the backoff before retry `n` (1-based).
    fn backoff_cap(&self, retry: u32) -> Duration {
        let factor = 1u32
            .checked_shl(retry.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.base_delay
            .checked_mul(factor)
            .unwrap_or(Duration::MAX)
            .min(self.max_delay)
    }

    /// How long to wait before retry `n` (1-based) after `err`; `random`
    /// maps an upper bound to a value in `0 ..= bound`.
    pub(crate) fn delay_for(
        &self,
        err: &Error,
        retry: u32,
        now: SystemTime,
        random: impl FnOnce(Duration) -> Duration,
    ) -> Duration {
        let asked = err.retry_after().map(|ra| ra.delay_from(now));
        if err.is_throttled() {
            return asked.unwrap_or(Duration::ZERO).max(self.min_throttle_delay);
        }
        let backoff = random(self.backoff_cap(retry));
        asked.map_or(backoff, |a| a.max(backoff))
    }

    /// The pause before the next background refresh after `failures`
    /// consecutive failed ones while a valid token is still cached: half
    /// the exponential backoff plus a random half, so the pause never
    /// collapses to zero and a fleet does not retry in step.
    pub(crate) fn refresh_backoff(&self, err: &Error, failures: u32, now: SystemTime) -> Duration {
        self.delay_for(err, failures, now, |cap| cap / 2 + full_jitter(cap / 2))
    }

    /// How long a cache waits before it asks again after its
    /// `failures`-th consecutive failed fetch ended with `err`; see
    /// [`FailureMemory`] for the rules.
    pub(crate) fn hold_off(
        &self,
        memory: &FailureMemory,
        err: &Error,
        failures: u32,
        now: SystemTime,
    ) -> Duration {
        let root = err.root();
        let asked = root.retry_after().map(|ra| ra.delay_from(now));
        match FailureClass::of(root) {
            // 429: what the server asked, at least the minimum.
            FailureClass::Throttled => {
                return asked.unwrap_or(Duration::ZERO).max(self.min_throttle_delay);
            }
            // 5xx and connection trouble: the retry backoff, or longer when
            // the server sent Retry-After.
            FailureClass::Unavailable => {
                let backoff = self.refresh_backoff(root, failures, now);
                return asked.map_or(backoff, |a| a.max(backoff));
            }
            FailureClass::Rejected => {}
        }
        // A "no": the request must change, asking again soon cannot help.
        let factor = 1u32
            .checked_shl(failures.saturating_sub(1))
            .unwrap_or(u32::MAX);
        memory
            .rejection_initial
            .checked_mul(factor)
            .unwrap_or(Duration::MAX)
            .min(memory.rejection_max)
            .max(memory.rejection_initial.min(memory.rejection_max))
    }
}

/// The three kinds of failure the failure memory tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FailureClass {
    /// 429: the server said "wait".
    Throttled,
    /// 5xx, connection trouble: asking again later may work.
    Unavailable,
    /// Everything else: the server said "no".
    Rejected,
}

impl FailureClass {
    pub(crate) fn of(err: &Error) -> Self {
        let root = err.root();
        if root.is_throttled() {
            FailureClass::Throttled
        } else if root.is_retryable() {
            FailureClass::Unavailable
        } else {
            FailureClass::Rejected
        }
    }

    /// The label in metrics.
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    pub(crate) fn label(self) -> &'static str {
        match self {
            FailureClass::Throttled => "throttled",
            FailureClass::Unavailable => "unavailable",
            FailureClass::Rejected => "rejected",
        }
    }
}

/// How long the client remembers that a server said "no" and will not ask
/// again, set with
/// [`AppJwtClientBuilder::failure_memory`](crate::AppJwtClientBuilder::failure_memory).
///
/// Every cache of the client (the AppJWT, the Domain API map, the key set,
/// each ConsumerJWS) remembers its last failed fetch and does not ask again
/// before a *not-before* time. Until then a caller that has no usable
/// value gets [`Error::Backoff`](crate::Error::Backoff) at once, without a
/// request; a caller that still has a usable value keeps getting it. A
/// success forgets the failure.
///
/// - **Throttled** (429): the server's `Retry-After`, at least
///   [`RetryPolicy::min_throttle_delay`].
/// - **Unavailable** (5xx, connection errors, timeouts): the retry
///   policy's backoff for the number of consecutive failures (half of
///   `base_delay * 2^(n-1)`, capped at `max_delay`, plus a random half), or
///   the server's `Retry-After` when it is longer.
/// - **Rejected** (a 4xx other than 429, a token that fails decoding,
///   validation or its signature check, an unusable answer):
///   `rejection_initial`, doubling with each consecutive rejection up to
///   `rejection_max`.
///
/// Defaults: 5 s doubling to 5 minutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureMemory {
    /// The wait after a first rejection.
    pub rejection_initial: Duration,
    /// The longest wait after repeated rejections.
    pub rejection_max: Duration,
}

impl Default for FailureMemory {
    fn default() -> Self {
        FailureMemory {
            rejection_initial: Duration::from_secs(5),
            rejection_max: Duration::from_secs(5 * 60),
        }
    }
}

/// A uniformly random duration in `0 ..= max`.
pub(crate) fn full_jitter(max: Duration) -> Duration {
    let nanos = u64::try_from(max.as_nanos()).unwrap_or(u64::MAX);
    Duration::from_nanos(fastrand::u64(0..=nanos))
}

/// The policy's deadline counted from `start`; `None` when it is too far
/// away to represent (no deadline).
pub(crate) fn deadline_from(policy: &RetryPolicy, start: Instant) -> Option<Instant> {
    start.checked_add(policy.deadline)
}

/// Runs `op` until it succeeds, fails with an error that is not retryable,
/// or the policy's attempts or the overall `deadline` (`None`: none) are
/// used up. `op` gets the attempt number, from 1; each failed attempt is
/// recorded in `progress`.
pub(crate) async fn run_until<T, F, Fut>(
    policy: &RetryPolicy,
    deadline: Option<Instant>,
    now: impl Fn() -> SystemTime,
    what: &'static str,
    progress: Option<&Progress>,
    mut op: F,
) -> Result<T, Error>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, Error>>,
{
    run_steps(policy, deadline, now, what, progress, |n| {
        let attempt = op(n);
        async move { attempt.await.map_err(Failure::from) }
    })
    .await
}

/// How an attempt of [`run_steps`] failed.
pub(crate) struct Failure {
    error: Error,
    /// Not to be retried whatever the error: a step that already ran its
    /// own retries (e.g. the AppJWT fetch inside a ConsumerJWS attempt),
    /// which retrying again would multiply.
    terminal: bool,
}

impl Failure {
    /// A failure ending the loop at once.
    pub(crate) fn terminal(error: Error) -> Self {
        Failure {
            error,
            terminal: true,
        }
    }
}

impl From<Error> for Failure {
    /// A failure retried if the policy retries its error.
    fn from(error: Error) -> Self {
        Failure {
            error,
            terminal: false,
        }
    }
}

/// [`run_until`] for an `op` that can mark a failure as terminal.
pub(crate) async fn run_steps<T, F, Fut>(
    policy: &RetryPolicy,
    deadline: Option<Instant>,
    now: impl Fn() -> SystemTime,
    what: &'static str,
    progress: Option<&Progress>,
    mut op: F,
) -> Result<T, Error>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, Failure>>,
{
    let max_attempts = policy.max_attempts.max(1);
    let mut attempt = 0;
    loop {
        attempt += 1;
        if let Some(p) = progress {
            p.started(attempt);
        }
        let outcome = match deadline {
            Some(deadline) => tokio::time::timeout_at(deadline, op(attempt)).await,
            None => Ok(op(attempt).await),
        };
        let err = match outcome {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(Failure {
                error,
                terminal: true,
            })) => {
                if let Some(p) = progress {
                    p.failed(attempt, &error);
                }
                return Err(error);
            }
            Ok(Err(Failure { error, .. })) => {
                if let Some(p) = progress {
                    p.failed(attempt, &error);
                }
                error
            }
            Err(_) => {
                return Err(Error::DeadlineExceeded {
                    attempts: attempt,
                    last: Box::new(Error::Transport(
                        TransportError::timeout().with_detail("retry deadline elapsed"),
                    )),
                });
            }
        };
        if !err.is_retryable() || attempt >= max_attempts {
            if attempt > 1 {
                tracing::warn!(what, attempts = attempt, error = %err, "giving up");
            }
            return Err(err);
        }
        let delay = policy.delay_for(&err, attempt, now(), full_jitter);
        let next = Instant::now().checked_add(delay);
        if next.is_none() || deadline.is_some_and(|d| next.is_some_and(|n| n >= d)) {
            return Err(Error::DeadlineExceeded {
                attempts: attempt,
                last: Box::new(err),
            });
        }
        tracing::info!(
            what,
            attempt,
            delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            error = %err,
            "retrying",
        );
        tokio::time::sleep(delay).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lp_oauth::{RetryAfter, TokenError};

    fn server(retry_after: Option<RetryAfter>) -> Error {
        Error::Token(TokenError::Server {
            status: http::StatusCode::SERVICE_UNAVAILABLE,
            retry_after,
            oauth: None,
        })
    }

    fn throttled(retry_after: Option<RetryAfter>) -> Error {
        Error::Token(TokenError::Throttled {
            status: http::StatusCode::TOO_MANY_REQUESTS,
            retry_after,
            oauth: None,
        })
    }

    #[test]
    fn backoff_caps() {
        let p = RetryPolicy::default();
        let check = |retry, expected_ms| {
            assert_eq!(
                p.backoff_cap(retry),
                Duration::from_millis(expected_ms),
                "retry {retry}"
            );
        };
        check(1, 500);
        check(2, 1_000);
        check(3, 2_000);
        check(5, 8_000);
        check(6, 15_000);
        check(40, 15_000);
        check(u32::MAX, 15_000);
    }

    #[test]
    fn delays() {
        let p = RetryPolicy::default();
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let max = |d: Duration| d;
        let check = |err: Error, retry, expected: Duration| {
            assert_eq!(p.delay_for(&err, retry, now, max), expected, "{err:?}");
        };
        let secs = Duration::from_secs;
        // 5xx: the jittered backoff's upper bound (the `max` "random").
        check(server(None), 1, Duration::from_millis(500));
        check(server(None), 3, secs(2));
        // 5xx with Retry-After: the longer of both.
        check(server(Some(RetryAfter::Delay(secs(7)))), 1, secs(7));
        // 429: Retry-After, at least 1 s, no backoff added.
        check(throttled(None), 3, secs(1));
        check(
            throttled(Some(RetryAfter::Delay(Duration::ZERO))),
            1,
            secs(1),
        );
        check(throttled(Some(RetryAfter::Delay(secs(20)))), 1, secs(20));
        check(throttled(Some(RetryAfter::At(now + secs(3)))), 1, secs(3));
    }

    #[test]
    fn full_jitter_stays_in_bounds() {
        for _ in 0..1000 {
            assert!(full_jitter(Duration::from_millis(10)) <= Duration::from_millis(10));
        }
        assert_eq!(full_jitter(Duration::ZERO), Duration::ZERO);
        let _ = full_jitter(Duration::MAX);
    }
}
