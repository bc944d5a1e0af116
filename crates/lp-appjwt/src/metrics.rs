//! Counters and a gauge through the `metrics` facade (feature `metrics`);
//! without the feature every function here is empty and compiles away.
//!
//! | name | kind | labels |
//! |---|---|---|
//! | `appjwt_fetches_total` | counter | `cache` (`token`, `domain`, `jwks`, `consumer`), `outcome` (`ok`, `throttled`, `unavailable`, `rejected`) |
//! | `appjwt_stale_served_total` | counter | `cache`: a due value handed out while it is refreshed or after a failed refresh |
//! | `appjwt_coalesced_total` | counter | `cache`: a caller that joined a fetch already in flight |
//! | `appjwt_fast_fails_total` | counter | `cache`, `reason` (`throttled`, `unavailable`, `rejected`): a caller answered from the failure memory, without a request |
//! | `appjwt_token_expires_in_seconds` | gauge | life left in the AppJWT, set at each fetch and each `status()` |
//! | `appjwt_store_errors_total` | counter | `store` (its name), `kind` (`unavailable`, `timeout`, `denied`, `protocol`, ...): a token store call that failed or timed out |
//! | `appjwt_store_reads_total` | counter | `store`, `outcome` (`hit`: a token taken from the store; `miss`; `dropped`: a record that did not open or failed its checks) |

use std::time::Duration;

use crate::error::Error;

#[cfg(feature = "metrics")]
fn outcome(err: Option<&Error>) -> &'static str {
    match err {
        None => "ok",
        Some(e) => crate::retry::FailureClass::of(e).label(),
    }
}

/// A fetch ended (`None`: with a value).
pub(crate) fn fetched(cache: &'static str, err: Option<&Error>) {
    #[cfg(feature = "metrics")]
    metrics::counter!("appjwt_fetches_total", "cache" => cache, "outcome" => outcome(err))
        .increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = (cache, err);
}

/// A due value was handed out.
pub(crate) fn stale_served(cache: &'static str) {
    #[cfg(feature = "metrics")]
    metrics::counter!("appjwt_stale_served_total", "cache" => cache).increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = cache;
}

/// A caller joined a fetch in flight.
pub(crate) fn coalesced(cache: &'static str) {
    #[cfg(feature = "metrics")]
    metrics::counter!("appjwt_coalesced_total", "cache" => cache).increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = cache;
}

/// A caller got the remembered failure without a request.
pub(crate) fn fast_fail(cache: &'static str, err: &Error) {
    #[cfg(feature = "metrics")]
    metrics::counter!("appjwt_fast_fails_total", "cache" => cache, "reason" => outcome(Some(err)))
        .increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = (cache, err);
}

/// Life left in the AppJWT.
pub(crate) fn token_expires_in(left: Duration) {
    #[cfg(feature = "metrics")]
    metrics::gauge!("appjwt_token_expires_in_seconds").set(left.as_secs_f64());
    #[cfg(not(feature = "metrics"))]
    let _ = left;
}

/// A token store call failed.
pub(crate) fn store_error(store: &'static str, kind: lp_store::StoreErrorKind) {
    #[cfg(feature = "metrics")]
    {
        use lp_store::StoreErrorKind as K;
        let kind = match kind {
            K::Unavailable => "unavailable",
            K::Timeout => "timeout",
            K::Denied => "denied",
            K::Protocol => "protocol",
            K::InvalidKey => "invalid_key",
            K::Config => "config",
            _ => "other",
        };
        metrics::counter!("appjwt_store_errors_total", "store" => store, "kind" => kind)
            .increment(1);
    }
    #[cfg(not(feature = "metrics"))]
    let _ = (store, kind);
}

/// A read of the token store ended: `hit`, `miss` or `dropped`.
pub(crate) fn store_read(store: &'static str, outcome: &'static str) {
    #[cfg(feature = "metrics")]
    metrics::counter!("appjwt_store_reads_total", "store" => store, "outcome" => outcome)
        .increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = (store, outcome);
}
