//! The client: its public face ([`AppJwtClient`]) and the state its clones
//! share. Each concern has a file: the builder, the token type, the token
//! fetch (lookup, request, checks, lifetime), the Domain API map, the
//! ConsumerJWS cache, the health snapshot. Every cache is a
//! [`Refresh`](crate::refresh::Refresh) cell.

mod builder;
mod consumer;
mod domain;
mod fetch;
mod status;
mod token;

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use lp_consumer::{ConsumerJws, ExtConsumerId};
use lp_domain::DomainMap;
use lp_ids::{AccountId, ClientId, Host};
use lp_oauth::{ApiVersion, ClientSecret};
use tokio::time::Instant;

use crate::clock::Clock;
use crate::error::Error;
use crate::refresh::{Keyed, Memory, Refresh, Want};
use crate::retry::{self, RetryPolicy};
use crate::transport::Transport;
use crate::verify::{Verifier, VerifyWith};

pub use builder::AppJwtClientBuilder;
pub(crate) use builder::default_transport;
pub use consumer::{CONSUMER_JWS_EXPIRY_MARGIN, DEFAULT_CONSUMER_CACHE_SIZE};
pub use status::{Status, TokenState};
use token::TokenEntry;
pub use token::{AppJwt, MAX_LIFETIME};

/// Default: refresh when less than this much life remains.
pub const DEFAULT_REFRESH_AHEAD: Duration = Duration::from_secs(5 * 60);
/// Default: the refresh point is moved earlier by a random time up to this.
pub const DEFAULT_REFRESH_JITTER: Duration = Duration::from_secs(60);
/// Default: at most one [`AppJwtClient::invalidate`] per this interval takes
/// effect.
pub const DEFAULT_INVALIDATE_MIN_INTERVAL: Duration = Duration::from_secs(5);
/// Default: a Domain API map is used for at most this long after its
/// lookup while new lookups fail.
pub const DEFAULT_DOMAIN_MAX_STALENESS: Duration = Duration::from_secs(24 * 60 * 60);

/// Hands out a valid LivePerson AppJWT, fetching, caching and refreshing it.
///
/// Cheap to clone; clones share the cache. Dropping the last clone stops
/// the background refresh (a fetch in progress included). See the crate
/// documentation for the behaviour in detail.
#[derive(Clone)]
pub struct AppJwtClient {
    // Declared first so it is dropped first, while `inner` still lives.
    _guard: Arc<Guard>,
    inner: Arc<Inner>,
}

/// Dropped with the last [`AppJwtClient`] clone: stops the cells' tasks,
/// which may hold the shared state while they fetch.
struct Guard(Weak<Inner>);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(inner) = self.0.upgrade() {
            inner.shutdown();
        }
    }
}

/// What a registry's clients share: one transport (one connection pool)
/// and one key-set cache.
#[derive(Clone)]
pub(crate) struct Shared {
    pub(crate) transport: Arc<dyn Transport>,
    pub(crate) verifier: Arc<Verifier>,
}

/// What the clones of a client share.
struct Inner {
    account: AccountId,
    client_id: ClientId,
    secret: ClientSecret,
    csds: Host,
    sentinel: Option<Host>,
    idp: Option<Host>,
    version: ApiVersion,
    transport: Arc<dyn Transport>,
    clock: Arc<dyn Clock>,
    refresh_ahead: Duration,
    refresh_jitter: Duration,
    retry: RetryPolicy,
    memory: Memory,
    leeway: Duration,
    invalidate_min_interval: Duration,
    domain_ttl: Duration,
    domain_max_staleness: Duration,
    verifier: Arc<Verifier>,
    /// Whether the key-set cache is this client's alone (else a
    /// registry's, which stops when its last holder is dropped).
    owns_verifier: bool,
    token: Arc<Refresh<TokenEntry>>,
    domains: Arc<Refresh<DomainMap>>,
    consumers: Keyed<ExtConsumerId, ConsumerJws>,
    last_invalidate: Mutex<Option<Instant>>,
    /// The second-level token store, if one was configured.
    store: Option<Arc<crate::store::Slot>>,
    /// The token last invalidated: a fetch skips a store record that
    /// still holds it (its deletion may not have reached the store yet).
    refused: Mutex<Option<lp_oauth::AccessToken>>,
    /// The runtime the fetches run on, for the store deletion an
    /// [`AppJwtClient::invalidate_token`] starts from outside it.
    runtime: std::sync::OnceLock<tokio::runtime::Handle>,
    /// This state, for the fetch functions of cells made later (one per
    /// consumer).
    me: Weak<Inner>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl fmt::Debug for AppJwtClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        f.debug_struct("AppJwtClient")
            .field("account", &i.account)
            .field("client_id", &i.client_id)
            .field("client_secret", &i.secret)
            .field("csds", &i.csds)
            .field("sentinel", &i.sentinel)
            .field("idp", &i.idp)
            .field("api_version", &i.version)
            .field("refresh_ahead", &i.refresh_ahead)
            .field("refresh_jitter", &i.refresh_jitter)
            .field("retry", &i.retry)
            .field("leeway", &i.leeway)
            .field("invalidate_min_interval", &i.invalidate_min_interval)
            .field("verify_with", i.verifier.source())
            .field("token_cached", &i.token.peek().is_some())
            .field("consumer_jws_cached", &i.consumers.len())
            .field("consumer_cache_size", &i.consumers.capacity())
            .field("token_store", &i.store)
            .finish_non_exhaustive()
    }
}

impl AppJwtClient {
    /// The account this client fetches tokens for.
    pub fn account(&self) -> &AccountId {
        &self.inner.account
    }

    /// The client id this client authenticates as.
    pub fn client_id(&self) -> &ClientId {
        &self.inner.client_id
    }

    /// Where token signatures are checked against (the configured source,
    /// or the default for the API version).
    pub fn verify_with(&self) -> &VerifyWith {
        self.inner.verifier.source()
    }

    /// Starts fetching a token in the background, unless one is cached,
    /// one is being fetched, or a remembered failure asks to wait: a
    /// service that calls this (or builds with
    /// [`AppJwtClientBuilder::prefetch`]) at start-up finds a token at its
    /// first request instead of waiting a whole lookup and fetch. Nobody
    /// waits for this fetch; a failure is remembered like any other, and
    /// the next [`AppJwtClient::token`] reports it.
    ///
    /// Returns whether a fetch was started. Outside a tokio runtime it
    /// does nothing and returns `false`.
    pub fn prefetch(&self) -> bool {
        if tokio::runtime::Handle::try_current().is_err() {
            return false;
        }
        self.inner.token.prime()
    }

    /// A valid AppJWT.
    ///
    /// - **Fresh** (more than the refresh-ahead margin of life left): the
    ///   cached token, lock-free, no IO.
    /// - **Due** (inside the margin, still valid): the cached token at
    ///   once; a refresh runs in a background task (usually it already
    ///   started on its own when the token became due). Callers never wait
    ///   for it, and a caller's timeout never cancels it.
    /// - **No valid token** (first call, expired, invalidated): the caller
    ///   waits for the one fetch in flight (started if needed, with the
    ///   retry policy) and is handed its outcome, token or error. Its wait
    ///   ends at the latest at its own deadline, the retry policy's
    ///   `deadline` counted from the call: then [`Error::DeadlineExceeded`]
    ///   with the attempts made so far. The fetch goes on for the callers
    ///   after it.
    /// - **Remembered failure**: after a failed fetch the client does not
    ///   ask again before the time the failure earned (a `Retry-After`, a
    ///   backoff; see [`FailureMemory`](crate::FailureMemory)); meanwhile a
    ///   caller with no valid token gets [`Error::Backoff`] at once, with
    ///   the time left and the failure, and no request is sent.
    ///
    /// Must be called inside a tokio runtime (fetches run as tokio tasks).
    pub async fn token(&self) -> Result<AppJwt, Error> {
        let cell = &self.inner.token;
        // Fresh, or due while the background refresh runs: no lock.
        if let Some(Some(token)) =
            cell.with_current(|entry| cell.at_once(entry).then(|| entry.value.local_token()))
        {
            return Ok(token);
        }
        // Boxed so the fast path's future stays a few words.
        Box::pin(self.inner.slow_token()).await
    }

    /// Keeps in `holds` what the token server told this client to wait
    /// for, for a registry that drops it.
    pub(crate) fn keep_hold(&self, holds: &crate::refresh::Holds<AccountId>) {
        holds.keep(self.inner.account.clone(), &self.inner.token);
    }

    /// Makes this new client wait as a dropped client of its account was
    /// told to.
    pub(crate) fn take_hold(&self, holds: &crate::refresh::Holds<AccountId>) {
        holds.pass_to(&self.inner.account, &self.inner.token);
    }

    /// Marks the cached token unusable, for a caller whose request was
    /// answered 401 ("AppJWT expired or invalid"): the next
    /// [`AppJwtClient::token`] fetches a new one (single-flight as always).
    ///
    /// Rate-limited: after a call that took effect, further calls within
    /// the invalidate interval (default 5 s) are ignored and the token keeps
    /// being handed out, so a burst of 401s from requests already in flight
    /// causes one fetch, not one each. Prefer
    /// [`AppJwtClient::invalidate_token`], which also leaves a newer token
    /// alone. With a token store, the store's record is deleted too if it
    /// holds the dropped token (in the background), and this client never
    /// takes that token from the store again.
    pub fn invalidate(&self) {
        self.inner.invalidate(None);
    }

    /// Marks `refused` unusable if it is still the cached token (a server
    /// answered 401 to a request that carried it); a token fetched since is
    /// left alone. Rate-limited like [`AppJwtClient::invalidate`], and
    /// like it removes the token from the token store. Returns whether the
    /// cached token was dropped.
    pub fn invalidate_token(&self, refused: &AppJwt) -> bool {
        self.inner.invalidate(Some(refused))
    }

    /// The account's Domain API map (every service's host). Served from
    /// the cache, also after the domain TTL while a new lookup runs in the
    /// background, and while lookups fail up to the maximum staleness.
    /// Asks the Domain API even when a fixed sentinel host was configured.
    pub async fn domains(&self) -> Result<DomainMap, Error> {
        let inner = &*self.inner;
        let deadline = retry::deadline_from(&inner.retry, Instant::now());
        retry::run_until(
            &inner.retry,
            deadline,
            || inner.clock.now(),
            "lookup",
            None,
            |_| async move {
                let map = inner.domains.get(Want::Usable, deadline).await?;
                Ok(map.value.clone())
            },
        )
        .await
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Inner {
    async fn slow_token(&self) -> Result<AppJwt, Error> {
        let deadline = retry::deadline_from(&self.retry, Instant::now());
        let entry = self.token.get(Want::Usable, deadline).await?;
        Ok(entry.value.local_token())
    }

    /// Drops the cached token (only if it is `refused`, when given),
    /// unless another invalidation took effect within the interval.
    fn invalidate(&self, refused: Option<&AppJwt>) -> bool {
        let mut last = lock(&self.last_invalidate);
        let now = Instant::now();
        if let Some(at) = *last {
            if now.saturating_duration_since(at) < self.invalidate_min_interval {
                tracing::debug!("appjwt invalidate ignored: rate limited");
                return false;
            }
        }
        let mut dropped_token = None;
        let dropped = self.token.invalidate(|entry| {
            let drop = entry.is_usable(now) && refused.is_none_or(|t| entry.value.holds(t));
            if drop {
                dropped_token = Some(entry.value.token().clone());
            }
            drop
        });
        if dropped {
            *last = Some(now);
            tracing::info!("appjwt invalidated, the next token() fetches a new one");
            if let Some(token) = &dropped_token {
                self.forget_in_store(token);
            }
        }
        dropped
    }

    /// Keeps a dropped token out of the store: later fetches of this
    /// client skip a record holding it, and the record is deleted (in the
    /// background: `invalidate_token` does not wait) if it holds it.
    fn forget_in_store(&self, token: &AppJwt) {
        let Some(store) = &self.store else {
            return;
        };
        let text = token.secret().to_owned();
        *lock(&self.refused) = Some(lp_oauth::AccessToken::new(text.clone()));
        let handle = tokio::runtime::Handle::try_current()
            .ok()
            .or_else(|| self.runtime.get().cloned());
        if let Some(handle) = handle {
            let store = Arc::clone(store);
            handle.spawn(async move { store.delete_if_holds(&text).await });
        }
    }

    /// Stops every cell's background task.
    fn shutdown(&self) {
        self.token.shutdown();
        self.domains.shutdown();
        if self.owns_verifier {
            self.verifier.shutdown();
        }
        self.consumers.shutdown();
    }
}
