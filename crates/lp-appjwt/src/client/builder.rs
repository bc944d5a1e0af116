//! [`AppJwtClientBuilder`]: every setting of the client and its default.

use std::fmt;
use std::sync::{Arc, Weak};
use std::time::Duration;

use lp_domain::DomainMap;
use lp_ids::{AccountId, ClientId, Host};
use lp_oauth::{ApiVersion, ClientSecret};

use super::token::TokenEntry;
use super::{
    AppJwtClient, DEFAULT_CONSUMER_CACHE_SIZE, DEFAULT_DOMAIN_MAX_STALENESS,
    DEFAULT_INVALIDATE_MIN_INTERVAL, DEFAULT_REFRESH_AHEAD, DEFAULT_REFRESH_JITTER, Guard, Inner,
};
use crate::clock::{Clock, SystemClock};
use crate::error::BuildError;
use crate::refresh::{FetchFuture, Keyed, Memory, Progress, Refresh};
use crate::retry::{FailureMemory, RetryPolicy};
use crate::transport::Transport;
use crate::verify::{
    DEFAULT_JWKS_REFETCH_MIN_INTERVAL, DEFAULT_JWKS_REFRESH_INTERVAL, Verifier, VerifierConfig,
    VerifyWith,
};

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
    clock: Arc<dyn Clock>,
    refresh_ahead: Duration,
    refresh_jitter: Duration,
    retry: RetryPolicy,
    leeway: Duration,
    invalidate_min_interval: Duration,
    domain_ttl: Duration,
    verify_with: Option<VerifyWith>,
    jwks_refetch_min_interval: Duration,
    jwks_refresh_interval: Duration,
    domain_max_staleness: Duration,
    failure_memory: FailureMemory,
    consumer_cache_size: usize,
    prefetch: bool,
    shared: Option<super::Shared>,
    token_store: Option<Arc<dyn lp_store::TokenStore>>,
    store_timeout: Duration,
    lease_wait: Duration,
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
            .field("token_store", &self.token_store.as_ref().map(|s| s.name()))
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
            clock: Arc::new(SystemClock),
            refresh_ahead: DEFAULT_REFRESH_AHEAD,
            refresh_jitter: DEFAULT_REFRESH_JITTER,
            retry: RetryPolicy::default(),
            leeway: lp_jwt::DEFAULT_LEEWAY,
            invalidate_min_interval: DEFAULT_INVALIDATE_MIN_INTERVAL,
            domain_ttl: lp_domain::DEFAULT_TTL,
            verify_with: None,
            jwks_refetch_min_interval: DEFAULT_JWKS_REFETCH_MIN_INTERVAL,
            jwks_refresh_interval: DEFAULT_JWKS_REFRESH_INTERVAL,
            domain_max_staleness: DEFAULT_DOMAIN_MAX_STALENESS,
            failure_memory: FailureMemory::default(),
            consumer_cache_size: DEFAULT_CONSUMER_CACHE_SIZE,
            prefetch: false,
            shared: None,
            token_store: None,
            store_timeout: crate::store::DEFAULT_STORE_TIMEOUT,
            lease_wait: crate::store::DEFAULT_LEASE_WAIT,
        }
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
        self.clock = Arc::new(clock);
        self
    }

    /// A registry's client: its transport and key-set cache instead of
    /// this client's own.
    pub(crate) fn shared(mut self, shared: super::Shared) -> Self {
        self.shared = Some(shared);
        self
    }

    /// [`clock`](Self::clock) for a clock already shared.
    pub(crate) fn clock_arc(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Start the first token fetch in the background as soon as the
    /// client is built (see [`AppJwtClient::prefetch`]); default off.
    /// [`build`](Self::build) must then run inside a tokio runtime, and
    /// fails with [`BuildError::NoRuntime`] outside one.
    pub fn prefetch(mut self, yes: bool) -> Self {
        self.prefetch = yes;
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

    /// How long a Domain API map is used without looking it up again;
    /// default [`lp_domain::DEFAULT_TTL`]. After it, the map is still used
    /// while a lookup runs in the background.
    pub fn domain_ttl(mut self, ttl: Duration) -> Self {
        self.domain_ttl = ttl;
        self
    }

    /// How long after its lookup a Domain API map may still be used while
    /// new lookups fail (the Domain API is down, the hosts it named keep
    /// working); default [`DEFAULT_DOMAIN_MAX_STALENESS`], 24 hours.
    pub fn domain_max_staleness(mut self, staleness: Duration) -> Self {
        self.domain_max_staleness = staleness;
        self
    }

    /// How long the client remembers a server's "no" before asking again;
    /// see [`FailureMemory`]. Default: 5 s doubling to 5 minutes.
    pub fn failure_memory(mut self, memory: FailureMemory) -> Self {
        self.failure_memory = memory;
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
    /// is fetched again, but not within this interval of the last fetch
    /// that succeeded; default 30 s. In between, such tokens fail with
    /// [`Error::Verify`](crate::Error::Verify).
    pub fn jwks_refetch_min_interval(mut self, interval: Duration) -> Self {
        self.jwks_refetch_min_interval = interval;
        self
    }

    /// A fetched key set is fetched again in the background after this
    /// long; default [`DEFAULT_JWKS_REFRESH_INTERVAL`], 1 hour. Until a
    /// new one arrives the old one is used (for at most the Domain API's
    /// maximum staleness).
    pub fn jwks_refresh_interval(mut self, interval: Duration) -> Self {
        self.jwks_refresh_interval = interval;
        self
    }

    /// A second-level cache behind the in-memory one, which several
    /// processes can share (Redis for a fleet, a file for a CLI): when this
    /// client has no usable token it reads the store's record before it
    /// looks anything up or asks Sentinel, and writes the token it fetched
    /// (and the Domain API map it looked up, which a client without one
    /// takes while it is fresh). The fresh path never touches the store.
    /// Default: none.
    ///
    /// Records are sealed (AES-256-GCM, with a key derived from the client
    /// secret by HKDF-SHA256), and what is read back is opened, decoded,
    /// verified and validated like a token from Sentinel; a record that
    /// fails is dropped. A store that fails or answers late (see
    /// [`AppJwtClientBuilder::token_store_timeout`]) only means a fetch
    /// without it, with one warning per outage and a count in
    /// [`Status::store`](crate::Status::store). While another process
    /// holds the store's fetch lease, this one waits for its record (see
    /// [`AppJwtClientBuilder::token_store_lease_wait`]).
    pub fn token_store(mut self, store: impl lp_store::TokenStore) -> Self {
        self.token_store = Some(Arc::new(store));
        self
    }

    /// The longest one token store call may take before the client goes on
    /// without it; default [`DEFAULT_STORE_TIMEOUT`](crate::DEFAULT_STORE_TIMEOUT), 200 ms.
    pub fn token_store_timeout(mut self, timeout: Duration) -> Self {
        self.store_timeout = timeout;
        self
    }

    /// How long to wait for the record of another process that holds the
    /// fetch lease before asking Sentinel anyway (also the lease's time to
    /// live); default [`DEFAULT_LEASE_WAIT`](crate::DEFAULT_LEASE_WAIT), 10 s.
    /// The wait also ends at the retry policy's deadline.
    pub fn token_store_lease_wait(mut self, wait: Duration) -> Self {
        self.lease_wait = wait;
        self
    }

    /// Builds the client. Fails only when no transport is available or the
    /// default transport cannot be built, or when [`prefetch`](Self::prefetch)
    /// is asked for outside a tokio runtime. Does no IO and starts no task
    /// (the first [`AppJwtClient::token`] does), unless `prefetch` is on.
    pub fn build(self) -> Result<AppJwtClient, BuildError> {
        if self.prefetch && tokio::runtime::Handle::try_current().is_err() {
            return Err(BuildError::NoRuntime);
        }
        let prefetch = self.prefetch;
        let csds = match self.csds {
            Some(h) => h,
            None => Host::parse(lp_domain::DEFAULT_CSDS_HOST).map_err(BuildError::InvalidHost)?,
        };
        let transport: Arc<dyn Transport> = match (&self.shared, self.transport) {
            (Some(shared), _) => Arc::clone(&shared.transport),
            (None, Some(t)) => Arc::from(t),
            (None, None) => Arc::from(default_transport()?),
        };
        let source = self
            .verify_with
            .unwrap_or_else(|| VerifyWith::default_for(self.version));
        let memory = Memory {
            retry: self.retry.clone(),
            failures: self.failure_memory,
            clock: Arc::clone(&self.clock),
        };
        let store = match self.token_store {
            Some(store) => {
                let slot = crate::store::Slot::new(
                    store,
                    &self.secret,
                    &self.account,
                    &self.client_id,
                    self.version,
                    &csds,
                    (self.store_timeout, self.lease_wait),
                );
                if slot.is_none() {
                    tracing::warn!(
                        "token store not used: its record key or sealing key cannot be made"
                    );
                }
                slot.map(Arc::new)
            }
            None => None,
        };
        let inner = Arc::new_cyclic(|me: &Weak<Inner>| Inner {
            store,
            refused: std::sync::Mutex::new(None),
            runtime: std::sync::OnceLock::new(),
            owns_verifier: self.shared.is_none(),
            verifier: match &self.shared {
                Some(shared) => Arc::clone(&shared.verifier),
                None => Arc::new(Verifier::new(VerifierConfig {
                    source,
                    refetch_min_interval: self.jwks_refetch_min_interval,
                    refresh_interval: self.jwks_refresh_interval,
                    max_staleness: self.domain_max_staleness,
                    memory: memory.clone(),
                    transport: Arc::downgrade(&transport),
                })),
            },
            token: Refresh::new("token", true, memory.clone(), {
                let me = me.clone();
                move |progress: Progress| {
                    let inner = me.upgrade()?;
                    let fetch: FetchFuture<TokenEntry> =
                        Box::pin(async move { inner.fetch_token(progress).await });
                    Some(fetch)
                }
            }),
            domains: Refresh::new("domain", false, memory.clone(), {
                let me = me.clone();
                move |_progress: Progress| {
                    let inner = me.upgrade()?;
                    let fetch: FetchFuture<DomainMap> =
                        Box::pin(async move { inner.lookup().await });
                    Some(fetch)
                }
            }),
            consumers: Keyed::new(self.consumer_cache_size),
            memory,
            me: me.clone(),
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
            domain_ttl: self.domain_ttl,
            domain_max_staleness: self.domain_max_staleness,
            last_invalidate: std::sync::Mutex::new(None),
        });
        let client = AppJwtClient {
            _guard: Arc::new(Guard(Arc::downgrade(&inner))),
            inner,
        };
        if prefetch {
            client.prefetch();
        }
        Ok(client)
    }
}

#[cfg(feature = "hyper-transport")]
pub(crate) fn default_transport() -> Result<Box<dyn Transport>, BuildError> {
    crate::HyperTransport::builder()
        .build()
        .map(|t| Box::new(t) as Box<dyn Transport>)
        .map_err(BuildError::Transport)
}

#[cfg(not(feature = "hyper-transport"))]
pub(crate) fn default_transport() -> Result<Box<dyn Transport>, BuildError> {
    Err(BuildError::NoTransport)
}
