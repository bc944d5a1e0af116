//! The second level behind `lp-appjwt`'s in-memory token cache: a store
//! that several processes share (Redis for a fleet, a file for the CLI),
//! so that a rolling deploy of 200 pods, or 50 script runs a minute, ask
//! Sentinel once instead of 200 or 50 times.
//!
//! A store is deliberately dumb. It keeps **opaque records** under
//! [`RecordKey`]s with a time to live, and it hands out short **leases**
//! ("I am fetching this key; wait for my record"). Everything that needs a
//! secret happens in the facade before a record reaches the store and after
//! it comes back: records are sealed (AEAD, with a key derived from the
//! client secret), and what is read back is opened, decoded, verified and
//! validated like a token fresh from Sentinel. A store therefore never sees
//! a token or a secret, and what it returns is never trusted.
//!
//! With the feature `file`, `FileStore` keeps records as files in a
//! private directory (the `appjwt` CLI's cache between runs).
//!
//! The facade's rules for a store, which an implementation may rely on:
//! - the fresh path never touches it: it is asked only when the in-memory
//!   cache has no usable token;
//! - every call is bounded by the facade's own timeout, and an error or a
//!   timeout only means "fetch without the store";
//! - keys are short printable ASCII that names account, client id and API
//!   version, never the secret (see [`RecordKey`]).
//!
//! ```
//! use lp_store::{LeaseOutcome, RecordKey, StoreError, StoreErrorKind};
//!
//! let key = RecordKey::new("appjwt:v1:token:56072331:client-1:v2")?;
//! assert_eq!(key.as_str(), "appjwt:v1:token:56072331:client-1:v2");
//! // A key that could smuggle a command or a path is refused.
//! assert!(RecordKey::new("a key\r\nFLUSHALL").is_err());
//! assert!(RecordKey::new("../../etc/passwd").is_err());
//!
//! let err = StoreError::new(StoreErrorKind::Unavailable, "connection refused");
//! assert_eq!(err.to_string(), "token store unavailable: connection refused");
//! # let _ = LeaseOutcome::HeldByOther;
//! # Ok::<(), lp_store::StoreError>(())
//! ```
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

#[cfg(feature = "file")]
mod file;
#[cfg(feature = "file")]
pub use file::FileStore;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// What every [`TokenStore`] method returns: a boxed future, so that the
/// trait is object safe (`Arc<dyn TokenStore>`) without an extra crate.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// The longest key a store is given; far below any backend's limit, and
/// short enough for a file name.
pub const MAX_KEY_LEN: usize = 200;

/// The name of a record: printable ASCII letters, digits and `:._-`, 1 to
/// [`MAX_KEY_LEN`] bytes, not starting with `.` or `-`. Safe as a Redis key
/// and as a file name (no `/`, no `..`, no whitespace or control bytes).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordKey(String);

impl RecordKey {
    /// Checks `key` and wraps it.
    pub fn new(key: impl Into<String>) -> Result<Self, StoreError> {
        let key = key.into();
        let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b':' | b'.' | b'_' | b'-');
        let ok = !key.is_empty()
            && key.len() <= MAX_KEY_LEN
            && key.bytes().all(allowed)
            && !key.starts_with(['.', '-']);
        if ok {
            Ok(Self(key))
        } else {
            // The key is ours, not a secret, but it may be long or odd:
            // say only why it was refused.
            Err(StoreError::new(
                StoreErrorKind::InvalidKey,
                format!(
                    "a record key is 1 to {MAX_KEY_LEN} bytes of [A-Za-z0-9:._-], not starting with '.' or '-' (got {} bytes)",
                    key.len()
                ),
            ))
        }
    }

    /// The key's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for RecordKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RecordKey").field(&self.0).finish()
    }
}

impl fmt::Display for RecordKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A fetch lease held by this process: proof, for [`TokenStore::release`],
/// that the lease is still ours. The owner is a random value the store
/// chose when it granted the lease; a release with another owner (the
/// lease expired and someone else took it) must not remove theirs.
#[derive(Clone, PartialEq, Eq)]
pub struct Lease {
    key: RecordKey,
    owner: String,
}

impl Lease {
    /// A lease on `key` owned by `owner` (the store's random id for it).
    pub fn new(key: RecordKey, owner: impl Into<String>) -> Self {
        Self {
            key,
            owner: owner.into(),
        }
    }

    /// The key the lease is on (the lease's own key, which the store
    /// derives from the record's key as it sees fit).
    pub fn key(&self) -> &RecordKey {
        &self.key
    }

    /// The owner id the store granted.
    pub fn owner(&self) -> &str {
        &self.owner
    }
}

impl fmt::Debug for Lease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The owner id is not a credential, but it is what lets its holder
        // delete the lease: keep it out of logs all the same.
        f.debug_struct("Lease")
            .field("key", &self.key)
            .field("owner", &"<redacted>")
            .finish()
    }
}

/// The answer to [`TokenStore::try_lease`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseOutcome {
    /// This process may fetch; release the lease when its record is written
    /// (or the fetch failed).
    Acquired(Lease),
    /// Another process holds the lease: wait for its record (bounded), then
    /// fetch anyway.
    HeldByOther,
}

/// Why a store call failed. Whatever the kind, the facade goes on without
/// the store; the kind is for logs, `status()` and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StoreErrorKind {
    /// The store could not be reached (connection refused or dropped, a
    /// file system error).
    Unavailable,
    /// The store did not answer in time.
    Timeout,
    /// The store refused our credentials or our access.
    Denied,
    /// The store answered something that is not a valid answer.
    Protocol,
    /// A key that [`RecordKey::new`] refuses.
    InvalidKey,
    /// The store's configuration (a URL, a path) is not usable.
    Config,
}

impl StoreErrorKind {
    /// A lower-case phrase for messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unavailable => "unavailable",
            Self::Timeout => "timed out",
            Self::Denied => "refused access",
            Self::Protocol => "gave an invalid answer",
            Self::InvalidKey => "was given an invalid key",
            Self::Config => "is misconfigured",
        }
    }
}

/// A failed store call. The detail is written by the implementation and
/// must never contain a credential (a password in a URL, a token); the
/// implementations in this workspace are checked by its hygiene test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError {
    kind: StoreErrorKind,
    detail: String,
}

impl StoreError {
    /// An error of `kind`, with a short lower-case detail free of
    /// credentials.
    pub fn new(kind: StoreErrorKind, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: detail.into(),
        }
    }

    /// What went wrong, in kind.
    pub fn kind(&self) -> StoreErrorKind {
        self.kind
    }

    /// The implementation's detail.
    pub fn detail(&self) -> &str {
        &self.detail
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "token store {}: {}", self.kind.as_str(), self.detail)
    }
}

impl std::error::Error for StoreError {}

/// A shared store of sealed records with fetch leases.
///
/// Implementations must be safe to call from many tasks at once; every
/// method should do one round trip to the backend (the facade bounds each
/// call with its own timeout and drops the future when it passes).
pub trait TokenStore: Send + Sync + 'static {
    /// A short name for logs and `status()` ("redis", "file").
    fn name(&self) -> &'static str;

    /// The record under `key`, or `None` when there is none (or it has
    /// expired).
    fn get<'a>(&'a self, key: &'a RecordKey) -> StoreFuture<'a, Option<Vec<u8>>>;

    /// Writes `record` under `key`, to be forgotten after `ttl`.
    fn put<'a>(
        &'a self,
        key: &'a RecordKey,
        record: &'a [u8],
        ttl: Duration,
    ) -> StoreFuture<'a, ()>;

    /// Removes the record under `key`, if any (a token the Send API
    /// refused must not be handed to the next process).
    fn delete<'a>(&'a self, key: &'a RecordKey) -> StoreFuture<'a, ()>;

    /// Takes the fetch lease for `key` for at most `ttl` if nobody holds
    /// it. A holder that dies lets it lapse after `ttl`.
    fn try_lease<'a>(&'a self, key: &'a RecordKey, ttl: Duration) -> StoreFuture<'a, LeaseOutcome>;

    /// Gives a lease back, only if it is still ours (compare and delete).
    fn release<'a>(&'a self, lease: &'a Lease) -> StoreFuture<'a, ()>;
}

impl<S: TokenStore + ?Sized> TokenStore for std::sync::Arc<S> {
    fn name(&self) -> &'static str {
        (**self).name()
    }
    fn get<'a>(&'a self, key: &'a RecordKey) -> StoreFuture<'a, Option<Vec<u8>>> {
        (**self).get(key)
    }
    fn put<'a>(
        &'a self,
        key: &'a RecordKey,
        record: &'a [u8],
        ttl: Duration,
    ) -> StoreFuture<'a, ()> {
        (**self).put(key, record, ttl)
    }
    fn delete<'a>(&'a self, key: &'a RecordKey) -> StoreFuture<'a, ()> {
        (**self).delete(key)
    }
    fn try_lease<'a>(&'a self, key: &'a RecordKey, ttl: Duration) -> StoreFuture<'a, LeaseOutcome> {
        (**self).try_lease(key, ttl)
    }
    fn release<'a>(&'a self, lease: &'a Lease) -> StoreFuture<'a, ()> {
        (**self).release(lease)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_key(key: &str, ok: bool) {
        assert_eq!(RecordKey::new(key).is_ok(), ok, "{key:?}");
    }

    #[test]
    fn keys() {
        for (key, ok) in [
            ("appjwt:v1:token:56072331:c-1:v2", true),
            ("a", true),
            ("A.b_c-d:9", true),
            ("", false),
            (".hidden", false),
            ("-flag", false),
            ("a/b", false),
            ("a b", false),
            ("a\nb", false),
            ("a\0b", false),
            ("é", false),
            ("..", false),
        ] {
            check_key(key, ok);
        }
        check_key(&"k".repeat(MAX_KEY_LEN), true);
        check_key(&"k".repeat(MAX_KEY_LEN + 1), false);
    }

    #[test]
    fn refused_key_is_not_quoted() {
        let err = RecordKey::new("secret value").unwrap_err();
        assert_eq!(err.kind(), StoreErrorKind::InvalidKey);
        assert!(!err.to_string().contains("secret"), "{err}");
    }

    #[test]
    fn lease_debug_hides_owner() {
        let lease = Lease::new(RecordKey::new("k").unwrap(), "owner-7f3a");
        let shown = format!("{lease:?}");
        assert!(!shown.contains("owner-7f3a"), "{shown}");
        assert_eq!(lease.owner(), "owner-7f3a");
    }
}
