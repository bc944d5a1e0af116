//! A Redis [`TokenStore`] for `lp-appjwt`, so that a fleet asks Sentinel
//! for one token instead of one per process: the first process to miss
//! takes a short lease (`SET … NX PX`), fetches and writes the sealed
//! record (`SET … PX`); the others wait for that record and read it
//! (`GET`). A holder that dies lets its lease expire.
//!
//! The store only moves opaque bytes: records arrive sealed by the facade
//! and what comes back is checked there like a token fresh from Sentinel.
//! What this crate guards is the way to Redis: `redis://` and `rediss://`
//! (TLS, rustls on ring) URLs with a user name and password, the password
//! shown nowhere (Debug, Display, errors: always `[redacted]`), bounded
//! connection attempts, a reconnect after a restart of Redis, and errors
//! whose [`StoreErrorKind`] says what happened (a bad URL is `Config`, a
//! refused connection `Unavailable`, `NOAUTH`/`WRONGPASS` `Denied`, a reply
//! of the wrong type `Protocol`).
//!
//! Building a store does no IO and needs no runtime:
//!
//! ```
//! use lp_store::TokenStore;
//! use lp_store_redis::RedisStore;
//!
//! let store = RedisStore::builder("redis://app:s3cret@127.0.0.1:6379/0")?
//!     .key_prefix("billing-bot:")
//!     .build()?;
//! assert_eq!(store.name(), "redis");
//! assert_eq!(store.to_string(), "redis://app:[redacted]@127.0.0.1:6379/0");
//! assert!(!format!("{store:?}").contains("s3cret"));
//!
//! // A URL that is not one is a Config error that does not quote it.
//! let err = RedisStore::open("http://:s3cret@127.0.0.1").unwrap_err();
//! assert_eq!(err.kind(), lp_store::StoreErrorKind::Config);
//! assert!(!err.to_string().contains("s3cret"));
//! # Ok::<(), lp_store::StoreError>(())
//! ```
//!
//! With a server, [`RedisStoreBuilder::connect`] also checks that it
//! answers (and takes the password) before handing the store over:
//!
//! ```no_run
//! # async fn run() -> Result<(), lp_store::StoreError> {
//! use std::time::Duration;
//! use lp_store::{LeaseOutcome, RecordKey, TokenStore};
//!
//! let store = lp_store_redis::RedisStore::connect("redis://:s3cret@10.0.0.7:6379").await?;
//! let key = RecordKey::new("appjwt:v1:token:56072331:client-1:v2")?;
//! if let LeaseOutcome::Acquired(lease) = store.try_lease(&key, Duration::from_secs(10)).await? {
//!     store.put(&key, b"sealed record", Duration::from_secs(3000)).await?;
//!     store.release(&lease).await?;
//! }
//! assert!(store.get(&key).await?.is_some());
//! # Ok(()) }
//! ```
//!
//! Keys in Redis: `{prefix}record:{key}` for records and
//! `{prefix}lease:{key}` for leases, the prefix [`DEFAULT_KEY_PREFIX`]
//! unless [`RedisStoreBuilder::key_prefix`] says otherwise, so that several
//! applications can share one Redis.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod address;
mod builder;
mod errors;
mod link;

use std::fmt;
use std::time::Duration;

use lp_store::{
    Lease, LeaseOutcome, RecordKey, StoreError, StoreErrorKind, StoreFuture, TokenStore,
};
use redis::Value;

pub use address::redact_url;
pub use builder::RedisStoreBuilder;

use address::Address;
use errors::unexpected;
use link::Link;

/// The prefix of every key this store writes unless the builder names
/// another.
pub const DEFAULT_KEY_PREFIX: &str = "lp-appjwt:";

/// The longest key prefix accepted.
pub const MAX_KEY_PREFIX_LEN: usize = 64;

/// How long one attempt to connect (TCP, TLS and AUTH) may take by
/// default. The facade bounds every store call more tightly still (200 ms
/// by default); this bound is for users of the store on its own.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// How long a command may wait for its answer by default.
pub const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_secs(1);

/// The longest time to live written: a longer one is cut to this (a token
/// lives about an hour; Redis refuses times that overflow its clock).
pub const MAX_TTL: Duration = Duration::from_secs(365 * 24 * 3600);

/// Deletes a lease only if it still holds our owner id, in one step, so
/// that a lease that expired and was taken by another process is left to
/// its new holder.
const RELEASE_SCRIPT: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then \
     return redis.call('DEL', KEYS[1]) else return 0 end";

/// A [`TokenStore`] on one Redis server. Cheap to share (`Arc`); every call
/// uses one multiplexed connection, opened on first use and opened again
/// after it breaks.
pub struct RedisStore {
    link: Link,
    prefix: String,
    connect_timeout: Duration,
    response_timeout: Duration,
}

impl RedisStore {
    /// Options for a store on the Redis at `url`:
    /// `redis[s]://[user][:password@]host[:port][/db]`. The user name and
    /// password are percent-encoded, as in any URL. Fails with a `Config`
    /// error, which never quotes the URL, when `url` is not one.
    pub fn builder(url: &str) -> Result<RedisStoreBuilder, StoreError> {
        Ok(RedisStoreBuilder::new(Address::parse(url)?))
    }

    /// A store on `url` with the default options, without connecting: the
    /// first call connects. Outside a runtime too.
    pub fn open(url: &str) -> Result<RedisStore, StoreError> {
        RedisStore::builder(url)?.build()
    }

    /// A store on `url` with the default options, once Redis has answered a
    /// `PING` (within the connect timeout), so that a wrong password or an
    /// unreachable server shows at start.
    pub async fn connect(url: &str) -> Result<RedisStore, StoreError> {
        RedisStore::builder(url)?.connect().await
    }

    /// Asks Redis for a `PONG`.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let cmd = redis::cmd("PING");
        match self.link.call(&cmd, "ping").await? {
            Value::SimpleString(pong) if pong == "PONG" => Ok(()),
            other => Err(unexpected(self.link.address(), "ping", &other)),
        }
    }

    /// The URL with its password replaced by `[redacted]` (also what
    /// Display writes).
    pub fn redacted_url(&self) -> &str {
        self.link.address().redacted()
    }

    /// The prefix of every key this store writes.
    pub fn key_prefix(&self) -> &str {
        &self.prefix
    }

    /// The Redis key of the record under `key`.
    fn record_key(&self, key: &RecordKey) -> String {
        format!("{}record:{}", self.prefix, key.as_str())
    }

    /// The Redis key of the lease on `key`: another name space than the
    /// records', so that no record key can be a lease's.
    fn lease_key(&self, key: &RecordKey) -> String {
        format!("{}lease:{}", self.prefix, key.as_str())
    }

    async fn get_record(&self, key: &RecordKey) -> Result<Option<Vec<u8>>, StoreError> {
        let mut cmd = redis::cmd("GET");
        cmd.arg(self.record_key(key));
        match self.link.call(&cmd, "get").await? {
            Value::Nil => Ok(None),
            Value::BulkString(record) => Ok(Some(record)),
            other => Err(unexpected(self.link.address(), "get", &other)),
        }
    }

    async fn put_record(
        &self,
        key: &RecordKey,
        record: &[u8],
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.record_key(key))
            .arg(record)
            .arg("PX")
            .arg(ttl_millis(ttl));
        match self.link.call(&cmd, "put").await? {
            Value::Okay => Ok(()),
            other => Err(unexpected(self.link.address(), "put", &other)),
        }
    }

    async fn delete_record(&self, key: &RecordKey) -> Result<(), StoreError> {
        let mut cmd = redis::cmd("DEL");
        cmd.arg(self.record_key(key));
        match self.link.call(&cmd, "delete").await? {
            Value::Int(_) => Ok(()),
            other => Err(unexpected(self.link.address(), "delete", &other)),
        }
    }

    async fn take_lease(&self, key: &RecordKey, ttl: Duration) -> Result<LeaseOutcome, StoreError> {
        let owner = owner_id()?;
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.lease_key(key))
            .arg(&owner)
            .arg("NX")
            .arg("PX")
            .arg(ttl_millis(ttl));
        match self.link.call(&cmd, "try_lease").await? {
            Value::Okay => Ok(LeaseOutcome::Acquired(Lease::new(key.clone(), owner))),
            Value::Nil => Ok(LeaseOutcome::HeldByOther),
            other => Err(unexpected(self.link.address(), "try_lease", &other)),
        }
    }

    async fn give_back(&self, lease: &Lease) -> Result<(), StoreError> {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(RELEASE_SCRIPT)
            .arg(1)
            .arg(self.lease_key(lease.key()))
            .arg(lease.owner());
        match self.link.call(&cmd, "release").await? {
            Value::Int(0 | 1) => Ok(()),
            other => Err(unexpected(self.link.address(), "release", &other)),
        }
    }
}

/// `ttl` in whole milliseconds for `PX`: rounded up, so that a record is
/// never forgotten before its time, at least 1 (Redis refuses 0) and at
/// most [`MAX_TTL`].
fn ttl_millis(ttl: Duration) -> u64 {
    let ttl = ttl.min(MAX_TTL);
    let whole = ttl.as_millis() as u64;
    let rounded = if ttl.subsec_nanos() % 1_000_000 == 0 {
        whole
    } else {
        whole + 1
    };
    rounded.max(1)
}

/// A fresh lease owner id: 128 bits from the system's generator, in hex.
fn owner_id() -> Result<String, StoreError> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| {
            StoreError::new(
                StoreErrorKind::Unavailable,
                "the system's random generator failed (lease owner id)",
            )
        })?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

impl TokenStore for RedisStore {
    fn name(&self) -> &'static str {
        "redis"
    }

    fn get<'a>(&'a self, key: &'a RecordKey) -> StoreFuture<'a, Option<Vec<u8>>> {
        Box::pin(self.get_record(key))
    }

    fn put<'a>(
        &'a self,
        key: &'a RecordKey,
        record: &'a [u8],
        ttl: Duration,
    ) -> StoreFuture<'a, ()> {
        Box::pin(self.put_record(key, record, ttl))
    }

    fn delete<'a>(&'a self, key: &'a RecordKey) -> StoreFuture<'a, ()> {
        Box::pin(self.delete_record(key))
    }

    fn try_lease<'a>(&'a self, key: &'a RecordKey, ttl: Duration) -> StoreFuture<'a, LeaseOutcome> {
        Box::pin(self.take_lease(key, ttl))
    }

    fn release<'a>(&'a self, lease: &'a Lease) -> StoreFuture<'a, ()> {
        Box::pin(self.give_back(lease))
    }
}

impl fmt::Display for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.redacted_url())
    }
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("url", &self.redacted_url())
            .field("key_prefix", &self.prefix)
            .field("connect_timeout", &self.connect_timeout)
            .field("response_timeout", &self.response_timeout)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls() {
        for (ttl, millis) in [
            (Duration::ZERO, 1),
            (Duration::from_nanos(1), 1),
            (Duration::from_millis(1), 1),
            (Duration::from_micros(1_500), 2),
            (Duration::from_secs(3000), 3_000_000),
            (Duration::MAX, MAX_TTL.as_millis() as u64),
        ] {
            assert_eq!(ttl_millis(ttl), millis, "{ttl:?}");
        }
    }

    #[test]
    fn owner_ids_are_128_bits_and_differ() {
        let a = owner_id().unwrap();
        let b = owner_id().unwrap();
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[cfg(not(feature = "tls"))]
    #[test]
    fn rediss_needs_the_tls_feature() {
        let err = RedisStore::open("rediss://:s3cret@127.0.0.1").unwrap_err();
        assert_eq!(err.kind(), StoreErrorKind::Config);
        assert!(err.detail().contains("`tls` feature"), "{err}");
        assert!(!err.to_string().contains("s3cret"), "{err}");
    }

    #[test]
    fn keys_do_not_collide() {
        let store = RedisStore::open("redis://127.0.0.1").unwrap();
        let record = RecordKey::new("x:lease").unwrap();
        let leased = RecordKey::new("x").unwrap();
        assert_eq!(store.record_key(&record), "lp-appjwt:record:x:lease");
        assert_eq!(store.lease_key(&leased), "lp-appjwt:lease:x");
        assert_ne!(store.record_key(&record), store.lease_key(&leased));
    }
}
