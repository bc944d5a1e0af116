//! One multiplexed connection to Redis, opened on first use and opened
//! again after it breaks (a restart of Redis, a dropped link).
//!
//! Why not redis's `ConnectionManager`: with the server down it retries
//! inside the call (six times, with back-off, by default), and after a
//! connection attempt fails with anything but an I/O error (a wrong
//! password) it never tries again, so fixing the password would need a
//! restart of every process. Here every call after a failure makes one
//! bounded attempt of its own, callers that queued behind an attempt share
//! its outcome instead of each trying in turn, and a call that finds the
//! connection dead since its last use retries once on a fresh one.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use lp_store::{StoreError, StoreErrorKind};
use redis::aio::MultiplexedConnection;
use redis::{Client, Cmd, Value};
use tokio::sync::Mutex;

use crate::address::Address;
use crate::errors::{classify, connection_is_broken, store_error};

/// The connection, or why the last attempt to open one failed.
enum Slot {
    /// Nothing opened yet, or the last connection broke.
    Empty,
    /// A live connection, opened by the attempt that finished `attempt`th.
    Open {
        attempt: u64,
        connection: MultiplexedConnection,
    },
    /// The attempt that finished `attempt`th failed: why, in kind and
    /// words.
    Failed {
        attempt: u64,
        kind: StoreErrorKind,
        reason: String,
    },
}

/// The way to one Redis server.
pub(crate) struct Link {
    address: Address,
    client: Client,
    config: redis::AsyncConnectionConfig,
    connect_timeout: Duration,
    slot: Mutex<Slot>,
    /// Connection attempts finished so far (under the slot's lock).
    finished: AtomicU64,
}

impl Link {
    pub(crate) fn new(
        address: Address,
        client: Client,
        connect_timeout: Duration,
        response_timeout: Duration,
    ) -> Link {
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(connect_timeout))
            .set_response_timeout(Some(response_timeout));
        Link {
            address,
            client,
            config,
            connect_timeout,
            slot: Mutex::new(Slot::Empty),
            finished: AtomicU64::new(0),
        }
    }

    pub(crate) fn address(&self) -> &Address {
        &self.address
    }

    /// Sends `cmd` and returns its answer, server errors included as
    /// errors. `what` names the operation in errors.
    pub(crate) async fn call(&self, cmd: &Cmd, what: &str) -> Result<Value, StoreError> {
        let (attempt, mut connection, opened_here) = self.connection(what).await?;
        match send(&mut connection, cmd).await {
            Err(err) if connection_is_broken(&err) => {
                self.forget(attempt).await;
                if opened_here {
                    return Err(store_error(&self.address, what, &err));
                }
                // The connection died while it sat idle (most often a
                // restart of Redis): the command went nowhere, so one try
                // on a fresh connection is what a caller would do anyway.
                // (Should the server have run it just before the link
                // broke, the retry is still harmless: SET and DEL give the
                // same state twice, the release script deletes only our
                // own lease, and SET NX then reports our own lease as held
                // by another, which costs a bounded wait.)
                let (attempt, mut connection, _) = self.connection(what).await?;
                let answer = send(&mut connection, cmd).await;
                if let Err(err) = &answer {
                    if connection_is_broken(err) {
                        self.forget(attempt).await;
                    }
                }
                answer.map_err(|err| store_error(&self.address, what, &err))
            }
            answer => answer.map_err(|err| store_error(&self.address, what, &err)),
        }
    }

    /// The open connection, opening one if there is none: `(attempt that
    /// opened it, connection, whether this call opened it)`.
    async fn connection(
        &self,
        what: &str,
    ) -> Result<(u64, MultiplexedConnection, bool), StoreError> {
        let arrived_after = self.finished.load(Ordering::Acquire);
        let mut slot = self.slot.lock().await;
        match &*slot {
            Slot::Open {
                attempt,
                connection,
            } => return Ok((*attempt, connection.clone(), false)),
            // An attempt that was under way when this call arrived has just
            // failed: trying again at once would only add its wait to that
            // of every call queued behind this one.
            Slot::Failed {
                attempt,
                kind,
                reason,
            } if *attempt > arrived_after => {
                return Err(self.connect_error(what, *kind, reason));
            }
            Slot::Failed { .. } | Slot::Empty => {}
        }
        let outcome = self.open().await;
        let attempt = self.finished.fetch_add(1, Ordering::AcqRel) + 1;
        match outcome {
            Ok(connection) => {
                *slot = Slot::Open {
                    attempt,
                    connection: connection.clone(),
                };
                Ok((attempt, connection, true))
            }
            Err((kind, reason)) => {
                let error = self.connect_error(what, kind, &reason);
                *slot = Slot::Failed {
                    attempt,
                    kind,
                    reason,
                };
                Err(error)
            }
        }
    }

    /// One connection attempt, bounded: redis bounds the TCP connect, this
    /// bounds the whole of it (TLS and the AUTH handshake included, which a
    /// stopped server would leave hanging).
    async fn open(&self) -> Result<MultiplexedConnection, (StoreErrorKind, String)> {
        let attempt = self
            .client
            .get_multiplexed_async_connection_with_config(&self.config);
        match tokio::time::timeout(self.connect_timeout, attempt).await {
            Ok(Ok(connection)) => Ok(connection),
            Ok(Err(err)) => Err(classify(&err)),
            Err(_) => Err((
                StoreErrorKind::Timeout,
                format!("not connected after {:?}", self.connect_timeout),
            )),
        }
    }

    /// The error of a call `what` that found no connection.
    fn connect_error(&self, what: &str, kind: StoreErrorKind, reason: &str) -> StoreError {
        StoreError::new(
            kind,
            self.address.scrub(&format!(
                "{} ({what}, connecting): {reason}",
                self.address.redacted()
            )),
        )
    }

    /// Drops the connection opened by `attempt`, if it is still the one in
    /// the slot (another call may have replaced it already).
    async fn forget(&self, attempt: u64) {
        let mut slot = self.slot.lock().await;
        if matches!(&*slot, Slot::Open { attempt: open, .. } if *open == attempt) {
            *slot = Slot::Empty;
        }
    }
}

/// `cmd` on `connection`, with a server error inside the answer turned
/// into an error too.
async fn send(connection: &mut MultiplexedConnection, cmd: &Cmd) -> redis::RedisResult<Value> {
    connection.send_packed_command(cmd).await?.extract_error()
}
