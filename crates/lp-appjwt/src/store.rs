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
use std::time::{Duration, SystemTime};

use lp_domain::DomainMap;
use lp_ids::{AccountId, ClientId, Host};
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

/// An id as a part of a record key: itself when a key may hold it, else
/// `h.` and a digest of it (ids are not secret, but may hold anything).
fn key_part(id: &str, also: &[u8]) -> String {
    if !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || also.contains(&b))
        && !id.starts_with('.')
    {
        id.to_owned()
    } else {
        let digest = ring::digest::digest(&ring::digest::SHA256, id.as_bytes());
        let hex: String = digest.as_ref()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("h.{hex}")
    }
}

/// The record key of an account's Domain API map from one CSDS host:
/// `appjwt:v1:domain:{account}:{csds}`.
pub(crate) fn domain_key(account: &AccountId, csds: &Host) -> Option<RecordKey> {
    RecordKey::new(format!(
        "appjwt:v{}:domain:{}:{}",
        seal::FORMAT,
        key_part(account.as_str(), b""),
        key_part(&csds.to_string(), b".")
    ))
    .ok()
}

/// The record key of an installation's token:
/// `appjwt:v1:token:{account}:{client_id}:{api}`. An id with a character
/// a key may not hold is replaced by a digest of it (never the secret).
pub(crate) fn token_key(
    account: &AccountId,
    client_id: &ClientId,
    version: ApiVersion,
) -> Option<RecordKey> {
    let part = |id: &str| key_part(id, b"");
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
    domain_key: RecordKey,
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
            .field("domain_key", &self.domain_key)
            .field("timeout", &self.timeout)
            .field("lease_wait", &self.lease_wait)
            .finish_non_exhaustive()
    }
}

/// A record read and opened, not yet decoded.
enum Opened {
    Plain(Vec<u8>),
    Missing,
    Unusable,
}

/// How a read of the token record went.
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
    /// The slot of one installation; `None` when its record keys or its
    /// sealing key cannot be made. The last argument is the per-call
    /// timeout and the lease wait.
    pub(crate) fn new(
        store: Arc<dyn TokenStore>,
        secret: &ClientSecret,
        account: &AccountId,
        client_id: &ClientId,
        version: ApiVersion,
        csds: &Host,
        (timeout, lease_wait): (Duration, Duration),
    ) -> Option<Self> {
        let key = token_key(account, client_id, version)?;
        let domain_key = domain_key(account, csds)?;
        let sealer = Sealer::new(secret, account, client_id, version)?;
        Some(Slot {
            store,
            key,
            domain_key,
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

    /// The bytes of the record under `key`, opened; a record that does not
    /// open is dropped (and left for whoever can open it, until a write
    /// replaces it).
    async fn open(&self, key: &RecordKey) -> Opened {
        let bytes = match self.call("get", self.store.get(key)).await {
            Some(Some(bytes)) => bytes,
            Some(None) => return Opened::Missing,
            None => return Opened::Unusable,
        };
        match self.sealer.open(key, &bytes) {
            Ok(plain) => Opened::Plain(plain),
            Err(e) => {
                // Not deleted: it may be another secret's (during a secret
                // rotation both are in use), and ours overwrites it anyway.
                self.count_dropped(e.as_str());
                Opened::Unusable
            }
        }
    }

    /// The token record, opened.
    pub(crate) async fn read(&self) -> Read {
        match self.open(&self.key).await {
            Opened::Plain(plain) => match Plain::decode(&plain) {
                Ok(plain) => Read::Found(plain),
                Err(e) => {
                    self.count_dropped(e.as_str());
                    Read::Unusable
                }
            },
            Opened::Missing => Read::Missing,
            Opened::Unusable => Read::Unusable,
        }
    }

    /// The stored Domain API map and how long it is still fresh (from
    /// `now`, the wall clock), if there is one that is.
    pub(crate) async fn read_domains(&self, now: SystemTime) -> Option<(DomainMap, Duration)> {
        let Opened::Plain(plain) = self.open(&self.domain_key).await else {
            return None;
        };
        match seal::decode_map(&plain) {
            Ok((expires_at_ms, map)) => {
                let left = expires_at_ms.saturating_sub(unix_ms(now));
                (left > 0).then(|| (map, Duration::from_millis(left)))
            }
            Err(e) => {
                self.count_dropped(e.as_str());
                None
            }
        }
    }

    /// Seals and writes a Domain API map, fresh for `ttl` from `now`.
    pub(crate) async fn write_domains(&self, map: &DomainMap, ttl: Duration, now: SystemTime) {
        let expires_at_ms =
            unix_ms(now).saturating_add(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX));
        let plain = seal::encode_map(expires_at_ms, map);
        if let Some(sealed) = self.sealer.seal(&self.domain_key, &plain) {
            self.call("put", self.store.put(&self.domain_key, &sealed, ttl))
                .await;
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

/// `now` in Unix milliseconds (0 before 1970).
pub(crate) fn unix_ms(now: SystemTime) -> u64 {
    now.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
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
    fn domain_keys_name_account_and_csds_host() {
        let check = |account: &str, csds: &str, want: &str| {
            let key = domain_key(
                &AccountId::new(account).unwrap(),
                &Host::parse(csds).unwrap(),
            )
            .unwrap();
            assert_eq!(key.as_str(), want);
        };
        check(
            "56072331",
            "api.liveperson.net",
            "appjwt:v1:domain:56072331:api.liveperson.net",
        );
        check(
            "1",
            "127.0.0.1:8443",
            "appjwt:v1:domain:1:h.37d265174de89804c26f2d37573fc7a9",
        );
    }

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
