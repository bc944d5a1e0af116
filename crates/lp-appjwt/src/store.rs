//! The client's side of a [`TokenStore`]: the record key, every call
//! bounded by a timeout, the health of the store (one warning per outage),
//! and reading and writing sealed records.
//!
//! The store is asked only inside the token cell's fetch (see
//! `client/fetch.rs`), never on the fresh path. Nothing that comes out of it
//! is trusted: a record is opened (AEAD, [`seal`]), then decoded, verified and
//! validated by the same code as a token fresh from Sentinel. Whatever the
//! store does (errors, hangs, garbage), the worst outcome is a fetch from
//! Sentinel, which is what the client would do without a store.

pub(crate) mod seal;

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lp_ids::{AccountId, ClientId};
use lp_oauth::{ApiVersion, ClientSecret};
use lp_store::{
    Lease, LeaseOutcome, RecordKey, StoreError, StoreErrorKind, StoreFuture, TokenStore,
};

use self::seal::{Plain, Sealer};

/// Default: the longest a single store call may take before the client
/// goes on without the store.
pub const DEFAULT_STORE_TIMEOUT: Duration = Duration::from_millis(200);

/// Default: how long a process waits for the record of another process
/// that holds the fetch lease, before it asks Sentinel itself; also the
/// lease's time to live. Long enough for one token request.
pub const DEFAULT_LEASE_WAIT: Duration = Duration::from_secs(10);

/// The first pause while waiting for another process's record, doubled up
/// to [`POLL_MAX`].
const POLL_FIRST: Duration = Duration::from_millis(50);
const POLL_MAX: Duration = Duration::from_millis(250);

/// The token store's part of [`Status`](crate::Status).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StoreStatus {
    /// The store's [`TokenStore::name`].
    pub name: &'static str,
    /// Whether the last store call failed (an outage in progress).
    pub failing: bool,
    /// Store calls that failed or timed out since the client was built.
    pub failures: u64,
    /// The last failure, until a call succeeds.
    pub last_error: Option<StoreError>,
    /// Tokens taken from the store instead of Sentinel.
    pub hits: u64,
    /// Records read that were dropped: not openable with this client's
    /// key, malformed, or a token that failed its checks.
    pub dropped: u64,
}

/// The record key of an installation's token:
/// `appjwt:v1:token:{account}:{client_id}:{api}`. An id with a character
/// a key may not hold is replaced by a digest of it (never the secret).
pub(crate) fn token_key(
    account: &AccountId,
    client_id: &ClientId,
    version: ApiVersion,
) -> Option<RecordKey> {
    let part = |id: &str| {
        if !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            id.to_owned()
        } else {
            let digest = ring::digest::digest(&ring::digest::SHA256, id.as_bytes());
            let hex: String = digest.as_ref()[..16]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            format!("h.{hex}")
        }
    };
    RecordKey::new(format!(
        "appjwt:v{}:token:{}:{}:{}",
        seal::FORMAT,
        part(account.as_str()),
        part(client_id.as_str()),
        seal::api_label(version)
    ))
    .ok()
}

/// A store as the client uses it.
pub(crate) struct Slot {
    store: Arc<dyn TokenStore>,
    key: RecordKey,
    sealer: Sealer,
    timeout: Duration,
    lease_wait: Duration,
    failing: AtomicBool,
    failures: AtomicU64,
    hits: AtomicU64,
    dropped: AtomicU64,
    last_error: Mutex<Option<StoreError>>,
}

impl fmt::Debug for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenStore")
            .field("name", &self.store.name())
            .field("key", &self.key)
            .field("timeout", &self.timeout)
            .field("lease_wait", &self.lease_wait)
            .finish_non_exhaustive()
    }
}

/// How a read of the record went.
pub(crate) enum Read {
    /// A record that opened.
    Found(Plain),
    /// None there.
    Missing,
    /// The store failed, or its record did not open (already noted and
    /// counted).
    Unusable,
}

impl Slot {
    pub(crate) fn new(
        store: Arc<dyn TokenStore>,
        secret: &ClientSecret,
        account: &AccountId,
        client_id: &ClientId,
        version: ApiVersion,
        timeout: Duration,
        lease_wait: Duration,
    ) -> Option<Self> {
        let key = token_key(account, client_id, version)?;
        let sealer = Sealer::new(secret, account, client_id, version)?;
        Some(Slot {
            store,
            key,
            sealer,
            timeout,
            lease_wait,
            failing: AtomicBool::new(false),
            failures: AtomicU64::new(0),
            hits: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            last_error: Mutex::new(None),
        })
    }

    pub(crate) fn name(&self) -> &'static str {
        self.store.name()
    }

    pub(crate) fn lease_wait(&self) -> Duration {
        self.lease_wait
    }

    /// One store call, bounded by the timeout; a failure is noted (a
    /// warning at the first of an outage) and becomes `None`.
    async fn call<T>(&self, op: &'static str, call: StoreFuture<'_, T>) -> Option<T> {
        let outcome = match tokio::time::timeout(self.timeout, call).await {
            Ok(outcome) => outcome,
            Err(_) => Err(StoreError::new(
                StoreErrorKind::Timeout,
                format!("no answer within {} ms", self.timeout.as_millis()),
            )),
        };
        match outcome {
            Ok(value) => {
                if self.failing.swap(false, Ordering::AcqRel) {
                    tracing::info!(store = self.name(), "token store recovered");
                }
                *lock(&self.last_error) = None;
                Some(value)
            }
            Err(error) => {
                self.failures.fetch_add(1, Ordering::Relaxed);
                crate::metrics::store_error(self.name(), error.kind());
                if !self.failing.swap(true, Ordering::AcqRel) {
                    tracing::warn!(
                        store = self.name(),
                        op,
                        error = %error,
                        "token store failed, going on without it",
                    );
                } else {
                    tracing::debug!(store = self.name(), op, error = %error, "token store still failing");
                }
                *lock(&self.last_error) = Some(error);
                None
            }
        }
    }

    /// The record, opened; a record that does not open is dropped (and
    /// left for whoever can open it, until a write replaces it).
    pub(crate) async fn read(&self) -> Read {
        let bytes = match self.call("get", self.store.get(&self.key)).await {
            Some(Some(bytes)) => bytes,
            Some(None) => return Read::Missing,
            None => return Read::Unusable,
        };
        match self
            .sealer
            .open(&self.key, &bytes)
            .and_then(|plain| Plain::decode(&plain))
        {
            Ok(plain) => Read::Found(plain),
            Err(e) => {
                // Not deleted: it may be another secret's (during a secret
                // rotation both are in use), and ours overwrites it anyway.
                self.count_dropped(e.as_str());
                Read::Unusable
            }
        }
    }

    /// Counts a record that was read but not used.
    fn count_dropped(&self, reason: &str) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
        crate::metrics::store_read(self.name(), "dropped");
        tracing::debug!(store = self.name(), reason, "token store record dropped");
    }

    /// Counts a record that opened but holds a token that must not be
    /// used, and deletes it, so that no other process tries it either.
    pub(crate) async fn drop_record(&self, reason: &str) {
        self.count_dropped(reason);
        self.call("delete", self.store.delete(&self.key)).await;
    }

    /// Counts a token taken from the store.
    pub(crate) fn hit(&self) {
        self.hits.fetch_add(1, Ordering::Relaxed);
        crate::metrics::store_read(self.name(), "hit");
    }

    /// Counts a read that found nothing usable.
    pub(crate) fn miss(&self) {
        crate::metrics::store_read(self.name(), "miss");
    }

    /// The fetch lease; `None` when the store failed.
    pub(crate) async fn try_lease(&self) -> Option<LeaseOutcome> {
        self.call("lease", self.store.try_lease(&self.key, self.lease_wait))
            .await
    }

    pub(crate) async fn release(&self, lease: &Lease) {
        self.call("release", self.store.release(lease)).await;
    }

    /// Seals and writes `plain`, to be forgotten after `ttl`.
    pub(crate) async fn write(&self, plain: &Plain, ttl: Duration) {
        let Some(sealed) = self.sealer.seal(&self.key, &plain.encode()) else {
            tracing::warn!(
                store = self.name(),
                "no randomness to seal a record, not stored"
            );
            return;
        };
        self.call("put", self.store.put(&self.key, &sealed, ttl))
            .await;
    }

    /// Deletes the record if it holds `token` (one the Send API refused),
    /// so that the next process does not get it either.
    pub(crate) async fn delete_if_holds(&self, token: &str) {
        if let Read::Found(plain) = self.read().await {
            if plain.token == token {
                tracing::debug!(
                    store = self.name(),
                    "refused token deleted from the token store"
                );
                self.call("delete", self.store.delete(&self.key)).await;
            }
        }
    }

    /// Waits for the record of the process holding the lease: polls, 50 ms
    /// growing to 250 ms, until one opens or `until` passes.
    pub(crate) async fn poll_until(&self, until: tokio::time::Instant) -> Option<Plain> {
        let mut pause = POLL_FIRST;
        loop {
            let now = tokio::time::Instant::now();
            if now >= until {
                return None;
            }
            tokio::time::sleep_until(now.checked_add(pause).unwrap_or(until).min(until)).await;
            if let Read::Found(plain) = self.read().await {
                return Some(plain);
            }
            if self.failing.load(Ordering::Acquire) {
                // The store went away meanwhile: waiting on it is pointless.
                return None;
            }
            pause = (pause * 2).min(POLL_MAX);
        }
    }

    pub(crate) fn status(&self) -> StoreStatus {
        StoreStatus {
            name: self.name(),
            failing: self.failing.load(Ordering::Acquire),
            failures: self.failures.load(Ordering::Relaxed),
            last_error: lock(&self.last_error).clone(),
            hits: self.hits.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_keys_name_the_installation_but_not_the_secret() {
        let check = |account: &str, client: &str, version: ApiVersion, want: &str| {
            let key = token_key(
                &AccountId::new(account).unwrap(),
                &ClientId::new(client).unwrap(),
                version,
            )
            .unwrap();
            assert_eq!(key.as_str(), want);
        };
        check(
            "56072331",
            "75588e18-0213-4e33-8174-883acac7e3c4",
            ApiVersion::V1,
            "appjwt:v1:token:56072331:75588e18-0213-4e33-8174-883acac7e3c4:v1",
        );
        check(
            "le_1",
            "c",
            ApiVersion::V2,
            "appjwt:v1:token:h.96f98c95dd2e8d829cdfab74982fd88d:c:v2",
        );
        // A client id with characters a key may not hold: a digest.
        check(
            "1",
            "a/b:c",
            ApiVersion::V1,
            "appjwt:v1:token:1:h.3b07f80ca173745ac6521f355208224f:v1",
        );
    }
}
