//! [`AppJwtClient::status`]: a snapshot for a service's health endpoint.

use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::AppJwtClient;
use crate::error::Error;

/// Where the client's token stands, as [`Status::state`] tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TokenState {
    /// No token was fetched yet, and nothing failed.
    Empty,
    /// A valid token, not yet due for refresh.
    Fresh,
    /// A fetch is in flight: a refresh while the cached token is still
    /// handed out, or the first fetch.
    Refreshing,
    /// The cached token is due and the last refresh failed: it is still
    /// handed out, and the refresh will be tried again.
    ServingStale,
    /// No valid token: the last fetch failed. Callers get errors until a
    /// fetch succeeds.
    Failing,
}

/// A snapshot of the client's token, for a health endpoint. Holds no
/// secret: [`Status::last_failure`] is an [`Error`], which never carries
/// the client secret or a token.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Status {
    /// Where the token stands.
    pub state: TokenState,
    /// When the cached token expires (the client stops handing it out),
    /// on the client's wall clock; `None` without a valid token.
    pub expires_at: Option<SystemTime>,
    /// Life left in the cached token; `None` without a valid token.
    pub expires_in: Option<Duration>,
    /// The error of the last failed fetch, until a fetch succeeds.
    pub last_failure: Option<Error>,
    /// Failed fetches since the last success.
    pub consecutive_failures: u32,
    /// How long until the client will ask Sentinel again, when a failure
    /// holds it back (see [`FailureMemory`](crate::FailureMemory)).
    pub next_attempt_in: Option<Duration>,
    /// The token store's health and counts, when one is configured.
    pub store: Option<crate::StoreStatus>,
}

impl Status {
    /// Whether callers get a token now (fresh, refreshing or stale).
    pub fn is_serving(&self) -> bool {
        self.expires_in.is_some()
    }
}

impl AppJwtClient {
    /// A snapshot of the token's state: expiry, fresh / refreshing /
    /// serving stale / failing, the last failure, consecutive failures and
    /// when the next attempt may be made. No IO, no waiting.
    pub fn status(&self) -> Status {
        let snapshot = self.inner.token.snapshot();
        let now = Instant::now();
        let usable = snapshot.value.as_ref().filter(|v| v.is_usable(now));
        let state = match (usable, snapshot.refreshing, &snapshot.failure) {
            (Some(v), false, _) if v.is_fresh(now) => TokenState::Fresh,
            (_, true, _) => TokenState::Refreshing,
            (Some(_), false, Some(_)) => TokenState::ServingStale,
            (Some(_), false, None) => TokenState::Refreshing,
            (None, false, Some(_)) => TokenState::Failing,
            (None, false, None) => TokenState::Empty,
        };
        let expires_in = usable.map(|v| v.usable_until.saturating_duration_since(now));
        if let Some(left) = expires_in {
            crate::metrics::token_expires_in(left);
        }
        Status {
            state,
            expires_at: usable.map(|v| v.value.token().expires_at_system()),
            expires_in,
            last_failure: snapshot.failure.as_ref().map(|f| f.error.clone()),
            consecutive_failures: snapshot.consecutive_failures,
            next_attempt_in: snapshot
                .failure
                .as_ref()
                .map(|f| f.not_before.saturating_duration_since(now))
                .filter(|d| !d.is_zero()),
            store: self.inner.store.as_ref().map(|s| s.status()),
        }
    }
}
