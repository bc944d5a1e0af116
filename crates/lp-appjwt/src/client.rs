//! The client: domain lookup, token fetch, validation, cache, single flight.

mod consumer;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwapOption;
use lp_domain::{DomainCache, DomainMap, ServiceName};
use lp_ids::{AccountId, ClientId, Host};
use lp_jwt::{AppJwtClaims, Header, UnverifiedToken, Validation};
use lp_oauth::{AccessToken, ApiVersion, ClientSecret, TokenRequest};
use tokio::time::Instant;
use tracing::Instrument;

use crate::clock::{Clock, SystemClock};
use crate::error::{BuildError, Error};
use crate::retry::{self, RetryPolicy};
use crate::transport::{Transport, TransportError};
use crate::verify::{DEFAULT_JWKS_REFETCH_MIN_INTERVAL, Verifier, VerifyWith};

use consumer::Consumers;
pub use consumer::{CONSUMER_JWS_EXPIRY_MARGIN, DEFAULT_CONSUMER_CACHE_SIZE};

/// Default: refresh when less than this much life remains.
pub const DEFAULT_REFRESH_AHEAD: Duration = Duration::from_secs(5 * 60);
/// Default: the refresh point is moved earlier by a random time up to this.
pub const DEFAULT_REFRESH_JITTER: Duration = Duration::from_secs(60);
/// Default: at most one [`AppJwtClient::invalidate`] per this interval takes
/// effect.
pub const DEFAULT_INVALIDATE_MIN_INTERVAL: Duration = Duration::from_secs(5);
/// The longest lifetime trusted, whatever `expires_in` or `exp` say.
pub const MAX_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);

/// A verified and validated AppJWT, as handed out by
/// [`AppJwtClient::token`].
///
/// Cheap to clone. `Debug` shows the header and claims but not the token.
#[derive(Clone)]
pub struct AppJwt {
    inner: Arc<AppJwtInner>,
}

#[derive(Clone)]
struct AppJwtInner {
    token: AccessToken,
    header: Header,
    claims: AppJwtClaims,
    token_type: String,
    expires_at: Instant,
    expires_at_system: SystemTime,
    verified: bool,
}

impl AppJwt {
    /// The raw compact token, to put in a request.
    pub fn secret(&self) -> &str {
        self.inner.token.secret()
    }

    /// The value for the `Authorization` header of LivePerson's APIs: the
    /// raw token, without a `Bearer ` prefix, as LivePerson's examples send
    /// it.
    pub fn authorization_header_value(&self) -> &str {
        self.inner.token.secret()
    }

    /// The decoded JOSE header.
    pub fn header(&self) -> &Header {
        &self.inner.header
    }

    /// The decoded, validated claims.
    pub fn claims(&self) -> &AppJwtClaims {
        &self.inner.claims
    }

    /// The `token_type` Sentinel sent (`Bearer`).
    pub fn token_type(&self) -> &str {
        &self.inner.token_type
    }

    /// When the token expires, on tokio's monotonic clock: the instant the
    /// request was sent plus the lifetime, the shorter of `expires_in` and
    /// `exp` minus the wall-clock time the answer was checked (whichever is
    /// present when only one is), at most [`MAX_LIFETIME`].
    pub fn expires_at(&self) -> Instant {
        self.inner.expires_at
    }

    /// The same expiry on the wall clock the client was given.
    pub fn expires_at_system(&self) -> SystemTime {
        self.inner.expires_at_system
    }

    /// Whether the signature was checked: `true` unless the client was
    /// built with [`VerifyWith::None`].
    pub fn is_verified(&self) -> bool {
        self.inner.verified
    }

    /// Life left at `now` on tokio's clock (zero once expired).
    pub fn remaining(&self) -> Duration {
        self.inner
            .expires_at
            .saturating_duration_since(Instant::now())
    }
}

impl fmt::Debug for AppJwt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppJwt")
            .field("token", &format_args!("[redacted]"))
            .field("token_type", &self.inner.token_type)
            .field("header", &self.inner.header)
            .field("claims", &self.inner.claims)
            .field("expires_at_system", &self.inner.expires_at_system)
            .field("verified", &self.inner.verified)
            .finish()
    }
}

/// How many copies of the cached token the lock-free path hands out from.
///
/// Cloning an [`AppJwt`] bumps its `Arc`'s reference count. With one shared
/// copy, every `token()` on every thread would write the same cache line,
/// and two threads would spend their time passing it back and forth (the
/// benchmark showed two threads slower than one). Each thread takes its
/// clones from its own copy instead, so a fresh-cache `token()` writes no
/// memory another thread reads. A power of two, so picking is a mask.
const REPLICAS: usize = 8;

std::thread_local! {
    /// This thread's replica index, handed out round-robin at first use.
    static REPLICA: usize = {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        NEXT.fetch_add(1, Ordering::Relaxed) & (REPLICAS - 1)
    };
}

/// A cached token and when to stop handing it out without trying a refresh.
struct Cached {
    token: AppJwt,
    /// Separate allocations of the same token, one per replica index; see
    /// [`REPLICAS`].
    replicas: Box<[AppJwt]>,
    /// Before this instant the token is handed out from the lock-free path.
    refresh_at: Instant,
    /// Up to this instant the token may be handed out while a refresh runs
    /// or after a refresh failed. `refresh_at <= serve_until`.
    serve_until: Instant,
}

impl Cached {
    fn new(token: AppJwt, refresh_at: Instant, serve_until: Instant) -> Self {
        let replicas = (0..REPLICAS)
            .map(|_| AppJwt {
                inner: Arc::new(AppJwtInner::clone(&token.inner)),
            })
            .collect();
        Cached {
            token,
            replicas,
            refresh_at,
            serve_until,
        }
    }

    /// The same entry with other deadlines, sharing the token copies.
    fn with_deadlines(&self, refresh_at: Instant, serve_until: Instant) -> Self {
        Cached {
            token: self.token.clone(),
            replicas: self.replicas.clone(),
            refresh_at,
            serve_until,
        }
    }

    /// A clone of the token from this thread's replica.
    fn local_token(&self) -> AppJwt {
        let index = REPLICA.with(|i| *i);
        self.replicas.get(index).unwrap_or(&self.token).clone()
    }

    /// Whether `token` is one of this entry's copies.
    fn holds(&self, token: &AppJwt) -> bool {
        std::iter::once(&self.token)
            .chain(self.replicas.iter())
            .any(|t| Arc::ptr_eq(&t.inner, &token.inner))
    }
}

/// State owned by whoever holds the single-flight lock.
#[derive(Default)]
struct Flight {
    /// Consecutive failed refreshes while a valid token was cached.
    failures: u32,
    /// The error of the last full fetch, shared with callers who waited for
    /// it; `None` after a success.
    last_error: Option<Error>,
}

/// Hands out a valid LivePerson AppJWT, fetching, caching and refreshing it.
///
/// Cheap to clone; clones share the cache. See the crate documentation for
/// the behaviour in detail.
#[derive(Clone)]
pub struct AppJwtClient {
    inner: Arc<Inner>,
}

struct Inner {
    account: AccountId,
    client_id: ClientId,
    secret: ClientSecret,
    csds: Host,
    sentinel: Option<Host>,
    idp: Option<Host>,
    version: ApiVersion,
    transport: Box<dyn Transport>,
    clock: Box<dyn Clock>,
    refresh_ahead: Duration,
    refresh_jitter: Duration,
    retry: RetryPolicy,
    leeway: Duration,
    invalidate_min_interval: Duration,
    verifier: Verifier,
    cache: ArcSwapOption<Cached>,
    flight: tokio::sync::Mutex<Flight>,
    /// Counts finished full fetches, so a caller who waited for the lock
    /// can tell whether a fetch finished meanwhile.
    flights_done: AtomicU64,
    domains: tokio::sync::Mutex<DomainCache>,
    last_invalidate: std::sync::Mutex<Option<Instant>>,
    consumers: Consumers,
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
            .field("token_cached", &i.cache.load().is_some())
            .field("consumer_jws_cached", &i.consumers.len())
            .field("consumer_cache_size", &i.consumers.capacity())
            .finish_non_exhaustive()
    }
}

/// Configures an [`AppJwtClient`]; see each method for its default.
pub struct AppJwtClientBuilder {
    account: AccountId,
    client_id: ClientId,
    secret: ClientSecret,
    csds: Option<Host>,
    sentinel: Option<Host>,
    idp: Option<Host>,
    version: ApiVersion,
    transport: Option<Box<dyn Transport>>,
    clock: Box<dyn Clock>,
    refresh_ahead: Duration,
    refresh_jitter: Duration,
    retry: RetryPolicy,
    leeway: Duration,
    invalidate_min_interval: Duration,
    domain_ttl: Duration,
    verify_with: Option<VerifyWith>,
    jwks_refetch_min_interval: Duration,
    consumer_cache_size: usize,
}

impl fmt::Debug for AppJwtClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppJwtClientBuilder")
            .field("account", &self.account)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.secret)
            .field("csds", &self.csds)
            .field("sentinel", &self.sentinel)
            .field("idp", &self.idp)
            .field("api_version", &self.version)
            .field("transport_set", &self.transport.is_some())
            .field("verify_with", &self.verify_with)
            .finish_non_exhaustive()
    }
}

impl AppJwtClient {
    /// Starts configuring a client for one account and app installation.
    pub fn builder(
        account: AccountId,
        client_id: ClientId,
        secret: ClientSecret,
    ) -> AppJwtClientBuilder {
        AppJwtClientBuilder {
            account,
            client_id,
            secret,
            csds: None,
            sentinel: None,
            idp: None,
            version: ApiVersion::default(),
            transport: None,
            clock: Box::new(SystemClock),
            refresh_ahead: DEFAULT_REFRESH_AHEAD,
            refresh_jitter: DEFAULT_REFRESH_JITTER,
            retry: RetryPolicy::default(),
            leeway: lp_jwt::DEFAULT_LEEWAY,
            invalidate_min_interval: DEFAULT_INVALIDATE_MIN_INTERVAL,
            domain_ttl: lp_domain::DEFAULT_TTL,
            verify_with: None,
            jwks_refetch_min_interval: DEFAULT_JWKS_REFETCH_MIN_INTERVAL,
            consumer_cache_size: DEFAULT_CONSUMER_CACHE_SIZE,
        }
    }

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

    /// A valid AppJWT: the cached one while it has more than the
    /// refresh-ahead margin of life left, else a fresh one.
    ///
    /// - Fresh cache: lock-free, no IO.
    /// - Due for refresh but still valid: one caller refreshes (a single
    ///   attempt) while every other caller gets the cached token at once.
    ///   If the refresh fails, the cached token is returned, a warning is
    ///   logged and the next refresh waits for a backoff.
    /// - No valid token: callers wait for the one fetch in flight (with the
    ///   retry policy) and share its result, token or error.
    ///
    /// Every path ends within the retry policy's deadline: a refresh ahead
    /// is abandoned after it (or when the cached token ends, if sooner),
    /// and a caller without a valid token gets [`Error::DeadlineExceeded`]
    /// once it has passed, counted from the call, the wait for another
    /// caller's fetch included (`attempts: 0` when it never got its turn).
    pub async fn token(&self) -> Result<AppJwt, Error> {
        self.inner.token().await
    }

    /// Marks the cached token unusable, for a caller whose request was
    /// answered 401 ("AppJWT expired or invalid"): the next
    /// [`AppJwtClient::token`] fetches a new one (single-flight as always).
    ///
    /// Rate-limited: after a call that took effect, further calls within
    /// the invalidate interval (default 5 s) are ignored and the token keeps
    /// being handed out, so a burst of 401s from requests already in flight
    /// causes one fetch, not one each.
    pub fn invalidate(&self) {
        self.inner.invalidate(Instant::now());
    }

    /// The account's Domain API map (every service's host), from the cache
    /// when it is younger than the domain TTL. Asks the Domain API even
    /// when a fixed sentinel host was configured.
    pub async fn domains(&self) -> Result<DomainMap, Error> {
        let inner = &*self.inner;
        retry::run(
            &inner.retry,
            || inner.clock.now(),
            "lookup",
            |_| inner.domain_map(),
        )
        .await
    }
}

impl AppJwtClientBuilder {
    /// The Domain API (CSDS) host; default
    /// [`lp_domain::DEFAULT_CSDS_HOST`] (`api.liveperson.net`).
    pub fn csds_host(mut self, host: Host) -> Self {
        self.csds = Some(host);
        self
    }

    /// A fixed Sentinel host: tokens are fetched from it without asking the
    /// Domain API. Default: look `sentinel` up.
    pub fn sentinel_host(mut self, host: Host) -> Self {
        self.sentinel = Some(host);
        self
    }

    /// A fixed `idp` host for [`AppJwtClient::consumer_jws`]: ConsumerJWS
    /// requests go to it without asking the Domain API. Default: look `idp`
    /// up (in the same cached map as `sentinel`).
    pub fn idp_host(mut self, host: Host) -> Self {
        self.idp = Some(host);
        self
    }

    /// How many consumers' ConsumerJWS the cache holds at most; the least
    /// recently used is dropped first. Default
    /// [`DEFAULT_CONSUMER_CACHE_SIZE`] (10,000); 0 turns the cache off
    /// (concurrent calls for one consumer still share one request).
    pub fn consumer_cache_size(mut self, consumers: usize) -> Self {
        self.consumer_cache_size = consumers;
        self
    }

    /// Which token endpoint to call; default [`ApiVersion::V1`].
    pub fn api_version(mut self, version: ApiVersion) -> Self {
        self.version = version;
        self
    }

    /// The HTTP transport. Default: `HyperTransport` with its defaults when
    /// the `hyper-transport` feature is on; without it,
    /// [`AppJwtClientBuilder::build`] fails unless a transport is given.
    pub fn transport(mut self, transport: impl Transport) -> Self {
        self.transport = Some(Box::new(transport));
        self
    }

    /// The wall clock used to check `exp` and `iat` and to read an HTTP-date
    /// `Retry-After`; default [`SystemClock`].
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Box::new(clock);
        self
    }

    /// Refresh when less than this much life remains; default 5 minutes.
    /// For a short-lived token the margin is at most half its lifetime.
    pub fn refresh_ahead(mut self, margin: Duration) -> Self {
        self.refresh_ahead = margin;
        self
    }

    /// Move each token's refresh point earlier by a random time up to this,
    /// so a fleet started together does not refresh in lockstep; default
    /// 60 s. Zero makes refreshes deterministic.
    pub fn refresh_jitter(mut self, jitter: Duration) -> Self {
        self.refresh_jitter = jitter;
        self
    }

    /// The retry policy for lookups and fetches; default
    /// [`RetryPolicy::default`].
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Clock leeway for the `exp` and `iat` checks; default
    /// [`lp_jwt::DEFAULT_LEEWAY`].
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// At most one [`AppJwtClient::invalidate`] per this interval takes
    /// effect; default 5 s.
    pub fn invalidate_min_interval(mut self, interval: Duration) -> Self {
        self.invalidate_min_interval = interval;
        self
    }

    /// How long a Domain API map is reused; default
    /// [`lp_domain::DEFAULT_TTL`].
    pub fn domain_ttl(mut self, ttl: Duration) -> Self {
        self.domain_ttl = ttl;
        self
    }

    /// Where the keys that check each token's signature come from. Default:
    /// [`VerifyWith::default_for`] the API version, that is LivePerson's
    /// published key for v1 and the sentinel's JWKS for v2.
    ///
    /// Against `lp-emulator` use [`VerifyWith::Jwks`]: it signs with its
    /// own key and publishes it at the usual JWKS path.
    /// [`VerifyWith::None`] turns verification off, which is dangerous.
    pub fn verify_with(mut self, source: VerifyWith) -> Self {
        self.verify_with = Some(source);
        self
    }

    /// After a token whose `kid` the cached key set does not hold, the set
    /// is fetched again at most once per this interval; default 30 s. In
    /// between, such tokens fail with [`Error::Verify`].
    pub fn jwks_refetch_min_interval(mut self, interval: Duration) -> Self {
        self.jwks_refetch_min_interval = interval;
        self
    }

    /// Builds the client. Fails only when no transport is available or the
    /// default transport cannot be built.
    pub fn build(self) -> Result<AppJwtClient, BuildError> {
        let csds = match self.csds {
            Some(h) => h,
            None => Host::parse(lp_domain::DEFAULT_CSDS_HOST).map_err(BuildError::InvalidHost)?,
        };
        let transport = match self.transport {
            Some(t) => t,
            None => default_transport()?,
        };
        let source = self
            .verify_with
            .unwrap_or_else(|| VerifyWith::default_for(self.version));
        Ok(AppJwtClient {
            inner: Arc::new(Inner {
                verifier: Verifier::new(source, self.jwks_refetch_min_interval),
                account: self.account,
                client_id: self.client_id,
                secret: self.secret,
                csds,
                sentinel: self.sentinel,
                idp: self.idp,
                version: self.version,
                transport,
                clock: self.clock,
                refresh_ahead: self.refresh_ahead,
                refresh_jitter: self.refresh_jitter,
                retry: self.retry,
                leeway: self.leeway,
                invalidate_min_interval: self.invalidate_min_interval,
                cache: ArcSwapOption::empty(),
                flight: tokio::sync::Mutex::new(Flight::default()),
                flights_done: AtomicU64::new(0),
                domains: tokio::sync::Mutex::new(DomainCache::new(self.domain_ttl)),
                last_invalidate: std::sync::Mutex::new(None),
                consumers: Consumers::new(self.consumer_cache_size),
            }),
        })
    }
}

#[cfg(feature = "hyper-transport")]
fn default_transport() -> Result<Box<dyn Transport>, BuildError> {
    crate::HyperTransport::builder()
        .build()
        .map(|t| Box::new(t) as Box<dyn Transport>)
        .map_err(BuildError::Transport)
}

#[cfg(not(feature = "hyper-transport"))]
fn default_transport() -> Result<Box<dyn Transport>, BuildError> {
    Err(BuildError::NoTransport)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Inner {
    /// What [`AppJwtClient::token`] does.
    async fn token(&self) -> Result<AppJwt, Error> {
        if let Some(token) = self.fresh(Instant::now()) {
            return Ok(token);
        }
        // Boxed so the fast path's future stays a few words: the slow
        // path's state machine is over a kilobyte, and every `token()`
        // future would otherwise carry (and move) it.
        Box::pin(self.slow_token()).await
    }

    /// The cached token if it is not yet due for refresh.
    fn fresh(&self, now: Instant) -> Option<AppJwt> {
        let guard = self.cache.load();
        let cached = guard.as_ref()?;
        (now < cached.refresh_at).then(|| cached.local_token())
    }

    /// The cached token if it may still be handed out.
    fn usable(&self, now: Instant) -> Option<AppJwt> {
        let guard = self.cache.load();
        let cached = guard.as_ref()?;
        (now < cached.serve_until).then(|| cached.local_token())
    }

    async fn slow_token(&self) -> Result<AppJwt, Error> {
        let seen_flights = self.flights_done.load(Ordering::Acquire);
        let now = Instant::now();
        if let Some(current) = self.cache.load_full() {
            if now < current.serve_until {
                // Valid but due: whoever gets the lock refreshes, everyone
                // else is served the cached token without waiting.
                let Ok(mut flight) = self.flight.try_lock() else {
                    return Ok(current.local_token());
                };
                return self.refresh_ahead_once(&mut flight, current).await;
            }
        }

        // The whole call, the wait for another caller's fetch included,
        // stays within the retry deadline: a leader that is stuck cannot
        // hold its followers longer than that.
        let deadline = retry::deadline_from(&self.retry, now);
        let mut flight = match deadline {
            Some(deadline) => match tokio::time::timeout_at(deadline, self.flight.lock()).await {
                Ok(flight) => flight,
                Err(_) => {
                    return Err(Error::DeadlineExceeded {
                        attempts: 0,
                        last: Box::new(Error::Transport(
                            TransportError::timeout()
                                .with_detail("retry deadline elapsed waiting for another fetch"),
                        )),
                    });
                }
            },
            None => self.flight.lock().await,
        };
        if let Some(token) = self.usable(Instant::now()) {
            return Ok(token);
        }
        if self.flights_done.load(Ordering::Acquire) != seen_flights {
            // A fetch finished while this caller waited; it did not leave a
            // usable token, so share its error instead of starting another.
            if let Some(err) = &flight.last_error {
                return Err(err.clone());
            }
        }
        let result = retry::run_until(
            &self.retry,
            deadline,
            || self.clock.now(),
            "fetch",
            |_| self.attempt(),
        )
        .await;
        let outcome = match result {
            Ok(cached) => {
                let token = cached.token.clone();
                self.cache.store(Some(Arc::new(cached)));
                flight.failures = 0;
                flight.last_error = None;
                Ok(token)
            }
            Err(err) => {
                flight.last_error = Some(err.clone());
                Err(err)
            }
        };
        self.flights_done.fetch_add(1, Ordering::Release);
        outcome
    }

    /// One refresh attempt while `current` is still valid. On error the
    /// cached token is served and the next attempt pushed back; the error
    /// is returned only if the token expired or was invalidated during the
    /// attempt.
    async fn refresh_ahead_once(
        &self,
        flight: &mut Flight,
        current: Arc<Cached>,
    ) -> Result<AppJwt, Error> {
        // Someone may have refreshed between our cache load and the lock.
        if let Some(token) = self.fresh(Instant::now()) {
            return Ok(token);
        }
        // Bounded like a fetch, and never past the end of the cached
        // token: a transport that never answers must not keep the lock
        // (and so every caller once the token is gone) forever. Running
        // out of time is a failed refresh like any other.
        let bound = retry::deadline_from(&self.retry, Instant::now())
            .map_or(current.serve_until, |d| d.min(current.serve_until));
        let outcome = match tokio::time::timeout_at(bound, self.attempt()).await {
            Ok(outcome) => outcome,
            Err(_) => Err(Error::DeadlineExceeded {
                attempts: 1,
                last: Box::new(Error::Transport(
                    TransportError::timeout().with_detail("refresh deadline elapsed"),
                )),
            }),
        };
        match outcome {
            Ok(cached) => {
                let token = cached.token.clone();
                self.cache.store(Some(Arc::new(cached)));
                flight.failures = 0;
                flight.last_error = None;
                Ok(token)
            }
            Err(err) => {
                flight.failures = flight.failures.saturating_add(1);
                let delay = self
                    .retry
                    .refresh_backoff(&err, flight.failures, self.clock.now());
                let now = Instant::now();
                if now >= current.serve_until {
                    return Err(err);
                }
                let next = now
                    .checked_add(delay)
                    .map_or(current.serve_until, |t| t.min(current.serve_until));
                let postponed = Arc::new(current.with_deadlines(next, current.serve_until));
                // Only if nothing replaced the entry meanwhile.
                let previous = self
                    .cache
                    .compare_and_swap(&Some(Arc::clone(&current)), Some(postponed));
                let replaced = !matches!(&*previous, Some(p) if Arc::ptr_eq(p, &current));
                if replaced {
                    // Invalidated while the refresh ran: the old token was
                    // refused somewhere and must not be handed out again.
                    tracing::warn!(
                        error = %err,
                        failures = flight.failures,
                        "appjwt refresh failed and the cached token was invalidated",
                    );
                    return self.usable(now).ok_or(err);
                }
                tracing::warn!(
                    error = %err,
                    failures = flight.failures,
                    retry_in_ms = millis(delay),
                    remaining_ms = millis(current.serve_until.saturating_duration_since(now)),
                    "appjwt refresh failed, serving the cached token",
                );
                Ok(current.token.clone())
            }
        }
    }

    fn invalidate(&self, now: Instant) {
        let mut last = match self.last_invalidate.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(at) = *last {
            if now.saturating_duration_since(at) < self.invalidate_min_interval {
                tracing::debug!("appjwt invalidate ignored: rate limited");
                return;
            }
        }
        let Some(current) = self.cache.load_full() else {
            return;
        };
        if now >= current.serve_until {
            return;
        }
        *last = Some(now);
        tracing::info!("appjwt invalidated, the next token() fetches a new one");
        let dead = Arc::new(current.with_deadlines(now, now));
        self.cache.compare_and_swap(&Some(current), Some(dead));
    }

    /// Marks `refused` unusable after a server answered 401 for it, unless
    /// the cache already holds another token. Not rate limited like
    /// [`Inner::invalidate`]: the 401 proves this token bad, and comparing
    /// with the cached one keeps a burst of 401s for the same token to one
    /// refresh. It counts as an invalidation for that rate limit.
    fn invalidate_refused(&self, refused: &AppJwt) {
        let mut last = match self.last_invalidate.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let Some(current) = self.cache.load_full() else {
            return;
        };
        let now = Instant::now();
        if !current.holds(refused) || now >= current.serve_until {
            return;
        }
        *last = Some(now);
        tracing::info!("appjwt refused with 401, the next token() fetches a new one");
        let dead = Arc::new(current.with_deadlines(now, now));
        self.cache.compare_and_swap(&Some(current), Some(dead));
    }

    /// The account's domain map, from the cache or the Domain API (one
    /// lookup at a time).
    async fn domain_map(&self) -> Result<DomainMap, Error> {
        let mut cache = self.domains.lock().await;
        if let Some(map) = cache.get(Instant::now().into_std()) {
            return Ok(map.clone());
        }
        let span = tracing::info_span!(
            "appjwt.lookup",
            account = %self.account,
            csds = %self.csds,
            status = tracing::field::Empty,
            latency_ms = tracing::field::Empty,
        );
        let request = lp_domain::all_services_request(&self.csds, &self.account);
        let started = Instant::now();
        let response = self.transport.send(request).instrument(span.clone()).await;
        span.record("latency_ms", millis(started.elapsed()));
        let response = response.map_err(|e| {
            span.in_scope(|| tracing::info!(error = %e, "domain lookup failed"));
            Error::Transport(e)
        })?;
        span.record("status", response.status().as_u16());
        let map = lp_domain::parse_all_services_response(&response).map_err(Error::Domain)?;
        cache.insert(map.clone(), Instant::now().into_std());
        Ok(map)
    }

    async fn sentinel_host(&self) -> Result<Host, Error> {
        if let Some(host) = &self.sentinel {
            return Ok(host.clone());
        }
        let map = self.domain_map().await?;
        map.require(&ServiceName::sentinel())
            .cloned()
            .map_err(Error::Domain)
    }

    /// One lookup (if needed) and one token request, decoded, verified
    /// (which may fetch the key set) and validated.
    async fn attempt(&self) -> Result<Cached, Error> {
        let sentinel = self.sentinel_host().await?;
        let request = TokenRequest {
            sentinel: sentinel.clone(),
            account: self.account.clone(),
            client_id: self.client_id.clone(),
            client_secret: self.secret.clone(),
            version: self.version,
        }
        .to_http();
        let span = tracing::info_span!(
            "appjwt.fetch",
            account = %self.account,
            sentinel = %sentinel,
            status = tracing::field::Empty,
            latency_ms = tracing::field::Empty,
        );
        let sent_at = Instant::now();
        let sent_at_system = self.clock.now();
        let response = self.transport.send(request).instrument(span.clone()).await;
        span.record("latency_ms", millis(sent_at.elapsed()));
        let response = match response {
            Ok(r) => r,
            Err(e) => {
                if e.is_connection_failure() && self.sentinel.is_none() {
                    // The host may come from a stale map: look it up again
                    // before the next attempt.
                    self.domains.lock().await.invalidate();
                }
                span.in_scope(|| tracing::info!(error = %e, "token request failed"));
                return Err(Error::Transport(e));
            }
        };
        span.record("status", response.status().as_u16());
        let parsed = lp_oauth::parse_token_response(&response).map_err(Error::Token)?;
        let decoded = UnverifiedToken::decode(parsed.access_token.secret())?;
        // The signature first: claims are not worth reading before the
        // token is known to come from Sentinel.
        let verified = self
            .verifier
            .verify(&decoded, &sentinel, self.transport.as_ref())
            .await
            .inspect_err(|e| {
                span.in_scope(|| tracing::info!(error = %e, "token signature refused"));
            })?;
        let now = self.clock.now();
        Validation::new(self.account.as_str())
            .client_id(self.client_id.as_str())
            .issuer(lp_jwt::SENTINEL_ISSUER)
            .leeway(self.leeway)
            .validate(decoded.header(), decoded.claims(), now)?;
        let (header, claims) = decoded.into_parts();
        // The shorter of both when both are sent: a token must never be
        // handed out past its own `exp`, whatever `expires_in` says.
        let until_exp = claims.exp.map(|exp| {
            exp.to_system_time()
                .duration_since(now)
                .unwrap_or(Duration::ZERO)
        });
        let lifetime = match (parsed.expires_in, until_exp) {
            (Some(a), Some(b)) => a.min(b),
            (Some(d), None) | (None, Some(d)) => d,
            (None, None) => Duration::ZERO,
        }
        .min(MAX_LIFETIME);
        let serve_until = sent_at + lifetime;
        let margin = self
            .refresh_ahead
            .saturating_add(retry::full_jitter(self.refresh_jitter))
            .min(lifetime / 2);
        let refresh_at = serve_until - margin;
        let token = AppJwt {
            inner: Arc::new(AppJwtInner {
                token: parsed.access_token,
                header,
                claims,
                token_type: parsed.token_type,
                expires_at: serve_until,
                expires_at_system: sent_at_system
                    .checked_add(lifetime)
                    .unwrap_or(sent_at_system),
                verified,
            }),
        };
        span.in_scope(|| {
            tracing::info!(lifetime_s = lifetime.as_secs(), "appjwt fetched");
        });
        Ok(Cached::new(token, refresh_at, serve_until))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(text: &str) -> AppJwt {
        AppJwt {
            inner: Arc::new(AppJwtInner {
                token: AccessToken::new(text.to_owned()),
                header: Header::new("RS256"),
                claims: AppJwtClaims::default(),
                token_type: "Bearer".to_owned(),
                expires_at: Instant::now(),
                expires_at_system: SystemTime::UNIX_EPOCH,
                verified: true,
            }),
        }
    }

    #[test]
    fn replicas_are_separate_copies_of_the_same_token() {
        let now = Instant::now();
        let cached = Cached::new(token("a.b.c"), now, now);
        assert_eq!(cached.replicas.len(), REPLICAS);
        let mut seen: Vec<*const AppJwtInner> = vec![Arc::as_ptr(&cached.token.inner)];
        for r in cached.replicas.iter() {
            assert_eq!(r.secret(), "a.b.c");
            assert!(cached.holds(r));
            seen.push(Arc::as_ptr(&r.inner));
        }
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), REPLICAS + 1, "every copy is its own allocation");

        let local = cached.local_token();
        assert!(cached.holds(&local));
        assert!(!cached.holds(&token("a.b.c")), "same text, another token");

        // New deadlines keep the very same copies.
        let later = cached.with_deadlines(now, now);
        assert!(later.holds(&local));
    }

    #[test]
    fn each_thread_keeps_its_replica() {
        let now = Instant::now();
        let cached = Cached::new(token("a.b.c"), now, now);
        let first = cached.local_token();
        let again = cached.local_token();
        assert!(Arc::ptr_eq(&first.inner, &again.inner));
    }
}
