//! Many accounts in one process: an [`AppJwtClient`] per account, made on
//! first use from credentials added by hand or looked up in a
//! [`CredentialSource`], all over one transport (one connection pool) and
//! one key-set cache (one JWKS per Sentinel host), at most
//! [`DEFAULT_MAX_ACCOUNTS`] of them, the least recently used dropped.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use lp_consumer::{ConsumerJws, ExtConsumerId};
use lp_ids::{AccountId, ClientId, Host};
use lp_oauth::{ApiVersion, ClientSecret};
use tokio::sync::OnceCell;

use crate::client::{AppJwt, AppJwtClient, AppJwtClientBuilder, Shared};
use crate::clock::{Clock, SystemClock};
use crate::error::{BuildError, Error};
use crate::lru::Lru;
use crate::refresh::{Expiring, Holds, Memory};
use crate::retry::{FailureClass, FailureMemory, RetryPolicy};
use crate::transport::Transport;
use crate::verify::{
    DEFAULT_JWKS_REFETCH_MIN_INTERVAL, DEFAULT_JWKS_REFRESH_INTERVAL, Verifier, VerifierConfig,
    VerifyWith,
};

/// Default bound of [`AppJwtRegistryBuilder::max_accounts`].
pub const DEFAULT_MAX_ACCOUNTS: usize = 10_000;

/// Default of [`AppJwtRegistryBuilder::credential_retry`].
pub const DEFAULT_CREDENTIAL_RETRY: Duration = Duration::from_secs(5);

/// An account's app installation: the client id and its secret.
pub struct Credentials {
    /// The OAuth client id (the app installation id).
    pub client_id: ClientId,
    /// Its secret.
    pub secret: ClientSecret,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("client_id", &self.client_id)
            .field("secret", &self.secret)
            .finish()
    }
}

/// Why a [`CredentialSource`] gave no credentials. Its message is the
/// source's own: it must not hold a secret (it is shown in errors).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialError(String);

impl CredentialError {
    /// An error with a message free of secrets (`vault answered 503`).
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

impl fmt::Display for CredentialError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CredentialError {}

/// What a [`CredentialSource`] returns: the account's credentials, `None`
/// for an account it does not know.
pub type CredentialFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Option<Credentials>, CredentialError>> + Send + 'a>>;

/// Where the registry finds an account's client id and secret the first
/// time the account is used (a vault, a database, a configuration file).
/// Asked once per account while its client stays cached, and never twice
/// at once for one account. An account it does not know, or a failure, is
/// remembered for [`AppJwtRegistryBuilder::credential_retry`]: calls for
/// that account in the meantime get the same answer without asking again
/// (accounts may come from requests, and a source is someone's vault).
///
/// Any `Fn(AccountId) -> impl Future<Output = Result<Option<Credentials>,
/// CredentialError>>` closure is a source.
pub trait CredentialSource: Send + Sync + 'static {
    /// The credentials of `account`.
    fn credentials<'a>(&'a self, account: &'a AccountId) -> CredentialFuture<'a>;
}

impl<F, Fut> CredentialSource for F
where
    F: Fn(AccountId) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Option<Credentials>, CredentialError>> + Send + 'static,
{
    fn credentials<'a>(&'a self, account: &'a AccountId) -> CredentialFuture<'a> {
        Box::pin(self(account.clone()))
    }
}

/// Why a registry call failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum RegistryError {
    /// No credentials for the account: it was not added, and the source
    /// (if any) does not know it.
    UnknownAccount(AccountId),
    /// The credential source failed for the account.
    Credentials {
        /// The account asked for.
        account: AccountId,
        /// What the source said.
        source: CredentialError,
    },
    /// The account's client could not be built.
    Build(BuildError),
    /// The account's client failed (see [`Error`]).
    Client(Error),
}

impl fmt::Display for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegistryError::UnknownAccount(a) => write!(f, "no credentials for account {a}"),
            RegistryError::Credentials { account, source } => {
                write!(
                    f,
                    "cannot get the credentials of account {account}: {source}"
                )
            }
            RegistryError::Build(e) => write!(f, "cannot build the client: {e}"),
            RegistryError::Client(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for RegistryError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RegistryError::UnknownAccount(_) => None,
            RegistryError::Credentials { source, .. } => Some(source),
            RegistryError::Build(e) => Some(e),
            RegistryError::Client(e) => Some(e),
        }
    }
}

impl From<Error> for RegistryError {
    fn from(e: Error) -> Self {
        RegistryError::Client(e)
    }
}

/// Sets each client of the registry up beyond what the registry shares.
type Configure = Box<dyn Fn(AppJwtClientBuilder) -> AppJwtClientBuilder + Send + Sync>;

/// Configures an [`AppJwtRegistry`].
pub struct AppJwtRegistryBuilder {
    csds: Option<Host>,
    version: ApiVersion,
    verify_with: Option<VerifyWith>,
    retry: RetryPolicy,
    clock: Arc<dyn Clock>,
    transport: Option<Box<dyn Transport>>,
    max_accounts: usize,
    source: Option<Arc<dyn CredentialSource>>,
    credential_retry: Duration,
    configure: Option<Configure>,
}

impl fmt::Debug for AppJwtRegistryBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppJwtRegistryBuilder")
            .field("csds", &self.csds)
            .field("api_version", &self.version)
            .field("verify_with", &self.verify_with)
            .field("max_accounts", &self.max_accounts)
            .field("credential_source", &self.source.is_some())
            .field("credential_retry", &self.credential_retry)
            .finish_non_exhaustive()
    }
}

impl AppJwtRegistryBuilder {
    /// The Domain API host of every account; default `api.liveperson.net`.
    pub fn csds_host(mut self, host: Host) -> Self {
        self.csds = Some(host);
        self
    }

    /// The Sentinel API version of every account; default v1.
    pub fn api_version(mut self, version: ApiVersion) -> Self {
        self.version = version;
        self
    }

    /// Where token signatures are checked; one key-set cache serves every
    /// account. Default: [`VerifyWith::default_for`] the API version.
    pub fn verify_with(mut self, source: VerifyWith) -> Self {
        self.verify_with = Some(source);
        self
    }

    /// The retry policy of every client and of the key-set fetches.
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// The wall clock of every client.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The one transport every account's requests go through (one
    /// connection pool). Default: [`crate::HyperTransport`] with the
    /// crate's default roots, when the `hyper-transport` feature is on.
    pub fn transport(mut self, transport: impl Transport) -> Self {
        self.transport = Some(Box::new(transport));
        self
    }

    /// At most this many accounts' clients are kept (with their tokens);
    /// the least recently used is dropped to make room. Default
    /// [`DEFAULT_MAX_ACCOUNTS`]. Credentials added with
    /// [`AppJwtRegistry::add`] are kept whatever this bound, so a dropped
    /// account's client is made again on its next use.
    pub fn max_accounts(mut self, accounts: usize) -> Self {
        self.max_accounts = accounts;
        self
    }

    /// Where the credentials of an account not [`AppJwtRegistry::add`]ed
    /// are looked up.
    pub fn credential_source(mut self, source: impl CredentialSource) -> Self {
        self.source = Some(Arc::new(source));
        self
    }

    /// How long the credential source's "unknown account" or failure is
    /// remembered for an account before the source is asked again
    /// (default [`DEFAULT_CREDENTIAL_RETRY`]); zero asks every time.
    /// Adding the account's credentials ends it at once.
    pub fn credential_retry(mut self, retry: Duration) -> Self {
        self.credential_retry = retry;
        self
    }

    /// Sets up each account's client further (refresh margin, a token
    /// store, consumer cache size, ...); the registry then sets the
    /// Domain API host, version, retry policy, clock, transport and key
    /// sets it shares.
    pub fn configure(
        mut self,
        f: impl Fn(AppJwtClientBuilder) -> AppJwtClientBuilder + Send + Sync + 'static,
    ) -> Self {
        self.configure = Some(Box::new(f));
        self
    }

    /// Builds the registry. Does no IO.
    pub fn build(self) -> Result<AppJwtRegistry, BuildError> {
        let transport: Arc<dyn Transport> = match self.transport {
            Some(t) => Arc::from(t),
            None => Arc::from(crate::client::default_transport()?),
        };
        let verifier = Arc::new(Verifier::new(VerifierConfig {
            source: self
                .verify_with
                .clone()
                .unwrap_or_else(|| VerifyWith::default_for(self.version)),
            refetch_min_interval: DEFAULT_JWKS_REFETCH_MIN_INTERVAL,
            refresh_interval: DEFAULT_JWKS_REFRESH_INTERVAL,
            max_staleness: crate::client::DEFAULT_DOMAIN_MAX_STALENESS,
            memory: Memory {
                retry: self.retry.clone(),
                failures: FailureMemory::default(),
                clock: Arc::clone(&self.clock),
            },
            transport: Arc::downgrade(&transport),
        }));
        Ok(AppJwtRegistry {
            inner: Arc::new(Registry {
                csds: self.csds,
                version: self.version,
                verify_with: self.verify_with,
                retry: self.retry,
                clock: self.clock,
                configure: self.configure,
                source: self.source,
                shared: Shared {
                    transport,
                    verifier,
                },
                explicit: Mutex::new(HashMap::new()),
                clients: Mutex::new(Lru::new(self.max_accounts)),
                holds: Holds::new(self.max_accounts),
                misses: Expiring::new(self.max_accounts),
                credential_retry: self.credential_retry,
                making: Mutex::new(HashMap::new()),
            }),
        })
    }
}

/// Hands out valid AppJWTs for many accounts.
///
/// Cheap to clone; clones share every client. Each account has its own
/// [`AppJwtClient`] (single flight, refresh ahead, failure memory, as for
/// one account), made on first use; all of them share one transport and
/// one key-set cache.
///
/// ```
/// use lp_appjwt::{AccountId, AppJwtRegistry, ClientId, ClientSecret, CredentialError, Credentials};
/// # use lp_appjwt::{TransportError, VerifyWith};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # // Stands in for LivePerson: a token for the account in the path.
/// # let fake_liveperson = |req: http::Request<Vec<u8>>| async move {
/// #     let path = req.uri().path().to_owned();
/// #     let account = path.split('/').skip_while(|p| *p != "account").nth(1).unwrap().to_owned();
/// #     let body = if path.contains("/service/") {
/// #         format!(r#"{{"baseURIs":[{{"service":"sentinel","account":"{account}","baseURI":"va.sentinel.liveperson.net"}}]}}"#)
/// #     } else {
/// #         let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
/// #         let claims = lp_jwt::AppJwtClaims {
/// #             aud: Some(lp_jwt::Audience::One(account.clone())), azp: Some(format!("app-{account}")),
/// #             iss: Some("Sentinel".into()), exp: lp_jwt::NumericDate::from_secs(now + 3600),
/// #             iat: lp_jwt::NumericDate::from_secs(now), ..Default::default()
/// #         };
/// #         let token = lp_jwt::assemble(&lp_jwt::encode_signing_input(&lp_jwt::Header::new("RS256"), &claims), b"sig");
/// #         format!(r#"{{"access_token":"{token}","token_type":"Bearer"}}"#)
/// #     };
/// #     Ok::<_, TransportError>(http::Response::builder().header("content-type", "application/json").body(body.into_bytes()).unwrap())
/// # };
/// let registry = AppJwtRegistry::builder()
///     // Asked once per account, on its first use (a vault, a database).
///     .credential_source(|account: AccountId| async move {
///         let bad = |e: lp_ids::IdError| CredentialError::new(e.to_string());
///         Ok(Some(Credentials {
///             client_id: ClientId::new(format!("app-{account}")).map_err(bad)?,
///             secret: ClientSecret::new(format!("secret of {account}")).map_err(bad)?,
///         }))
///     })
/// #   .transport(fake_liveperson).verify_with(VerifyWith::None)
///     .build()?;
/// for account in ["56072331", "81823118"] {
///     let jwt = registry.token(&AccountId::new(account)?).await?;
///     assert_eq!(jwt.claims().azp.as_deref(), Some(format!("app-{account}").as_str()));
/// }
/// assert_eq!(registry.len(), 2);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct AppJwtRegistry {
    inner: Arc<Registry>,
}

struct Registry {
    csds: Option<Host>,
    version: ApiVersion,
    verify_with: Option<VerifyWith>,
    retry: RetryPolicy,
    clock: Arc<dyn Clock>,
    configure: Option<Configure>,
    source: Option<Arc<dyn CredentialSource>>,
    /// What the source answered for accounts it could not serve, until
    /// `credential_retry` has passed.
    misses: Expiring<AccountId, Miss>,
    credential_retry: Duration,
    shared: Shared,
    /// Credentials added by hand.
    explicit: Mutex<HashMap<AccountId, (ClientId, ClientSecret)>>,
    clients: Mutex<Lru<AccountId, AppJwtClient>>,
    /// What the token servers told clients that left the cache (evicted,
    /// removed, replaced) to wait for, until then: the account's next
    /// client takes it over, so that no path asks sooner than it was told.
    holds: Holds<AccountId>,
    /// One making of a client per account at a time.
    making: Mutex<HashMap<AccountId, Arc<OnceCell<AppJwtClient>>>>,
}

impl fmt::Debug for AppJwtRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppJwtRegistry")
            .field("accounts_cached", &self.len())
            .field("accounts_added", &lock(&self.inner.explicit).len())
            .field("max_accounts", &lock(&self.inner.clients).capacity())
            .field("credential_source", &self.inner.source.is_some())
            .finish_non_exhaustive()
    }
}

impl AppJwtRegistry {
    /// Starts configuring a registry.
    pub fn builder() -> AppJwtRegistryBuilder {
        AppJwtRegistryBuilder {
            csds: None,
            version: ApiVersion::default(),
            verify_with: None,
            retry: RetryPolicy::default(),
            clock: Arc::new(SystemClock),
            transport: None,
            max_accounts: DEFAULT_MAX_ACCOUNTS,
            source: None,
            credential_retry: DEFAULT_CREDENTIAL_RETRY,
            configure: None,
        }
    }

    /// Adds (or replaces) an account's credentials. A replaced account's
    /// client, and its cached token, is dropped. A wait a token server
    /// asked of the account (a 429 or a 5xx, with its `Retry-After`) still
    /// holds for the new credentials; a refusal of the old ones (another
    /// 4xx, a token that failed its checks) does not.
    pub fn add(&self, account: AccountId, client_id: ClientId, secret: ClientSecret) {
        lock(&self.inner.explicit).insert(account.clone(), (client_id, secret));
        self.inner.misses.forget_if(&account, |_| true);
        let replaced = lock(&self.inner.clients).remove(&account);
        if let Some(client) = replaced {
            client.keep_hold(&self.inner.holds);
        }
        self.inner
            .holds
            .forget_if(&account, |f| !asked_to_wait(&f.error));
    }

    /// Forgets an account: its credentials (if added) and its client.
    /// Returns whether it was known. A clone of its client that a caller
    /// still holds goes on working for that caller. What a token server
    /// asked the account to wait for is still remembered, until then.
    pub fn remove(&self, account: &AccountId) -> bool {
        let added = lock(&self.inner.explicit).remove(account).is_some();
        let removed = lock(&self.inner.clients).remove(account);
        let cached = removed.is_some();
        if let Some(client) = removed {
            client.keep_hold(&self.inner.holds);
        }
        added || cached
    }

    /// How many accounts' clients are cached.
    pub fn len(&self) -> usize {
        lock(&self.inner.clients).len()
    }

    /// Whether no account's client is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The account's client, made on first use.
    pub async fn client(&self, account: &AccountId) -> Result<AppJwtClient, RegistryError> {
        if let Some(client) = lock(&self.inner.clients).get(account) {
            return Ok(client.clone());
        }
        let cell = Arc::clone(
            lock(&self.inner.making)
                .entry(account.clone())
                .or_insert_with(|| Arc::new(OnceCell::new())),
        );
        let made = cell
            .get_or_try_init(|| async {
                let client = self.make(account).await?;
                client.take_hold(&self.inner.holds);
                let evicted = lock(&self.inner.clients).insert(account.clone(), client.clone());
                for (_, old) in evicted {
                    old.keep_hold(&self.inner.holds);
                }
                Ok::<_, RegistryError>(client)
            })
            .await
            .cloned();
        // Done with, made or failed: a failure must not leave a cell per
        // account asked for (accounts may come from requests); a caller
        // still waiting on this cell makes the client itself.
        let mut making = lock(&self.inner.making);
        if making.get(account).is_some_and(|c| Arc::ptr_eq(c, &cell)) {
            making.remove(account);
        }
        drop(making);
        made
    }

    /// A valid AppJWT for `account` (see [`AppJwtClient::token`]).
    pub async fn token(&self, account: &AccountId) -> Result<AppJwt, RegistryError> {
        Ok(self.client(account).await?.token().await?)
    }

    /// A ConsumerJWS for `consumer` of `account` (see
    /// [`AppJwtClient::consumer_jws`]).
    pub async fn consumer_jws(
        &self,
        account: &AccountId,
        consumer: &ExtConsumerId,
    ) -> Result<ConsumerJws, RegistryError> {
        Ok(self.client(account).await?.consumer_jws(consumer).await?)
    }

    /// The Send API headers for `consumer` of `account` (see
    /// [`AppJwtClient::send_api_headers`]).
    pub async fn send_api_headers(
        &self,
        account: &AccountId,
        consumer: &ExtConsumerId,
    ) -> Result<http::HeaderMap, RegistryError> {
        Ok(self
            .client(account)
            .await?
            .send_api_headers(consumer)
            .await?)
    }

    /// Builds the client of `account` from its credentials.
    async fn make(&self, account: &AccountId) -> Result<AppJwtClient, RegistryError> {
        let added = lock(&self.inner.explicit).get(account).cloned();
        let (client_id, secret) = match added {
            Some(creds) => creds,
            None => {
                let Some(source) = &self.inner.source else {
                    return Err(RegistryError::UnknownAccount(account.clone()));
                };
                if let Some(miss) = self.inner.misses.get(account) {
                    return Err(miss.error(account));
                }
                let miss = match source.credentials(account).await {
                    Ok(Some(c)) => Ok((c.client_id, c.secret)),
                    Ok(None) => Err(Miss::Unknown),
                    Err(e) => Err(Miss::Failed(e)),
                };
                match miss {
                    Ok(creds) => creds,
                    Err(miss) => {
                        let error = miss.error(account);
                        let until =
                            tokio::time::Instant::now().checked_add(self.inner.credential_retry);
                        if let Some(until) = until {
                            self.inner.misses.insert(account.clone(), until, miss);
                        }
                        return Err(error);
                    }
                }
            }
        };
        let r = &self.inner;
        let mut builder = AppJwtClient::builder(account.clone(), client_id, secret);
        if let Some(configure) = &r.configure {
            builder = configure(builder);
        }
        if let Some(csds) = &r.csds {
            builder = builder.csds_host(csds.clone());
        }
        if let Some(source) = &r.verify_with {
            builder = builder.verify_with(source.clone());
        }
        builder
            .api_version(r.version)
            .retry_policy(r.retry.clone())
            .clock_arc(Arc::clone(&r.clock))
            .shared(r.shared.clone())
            .build()
            .map_err(RegistryError::Build)
    }
}

/// What a credential source answered for an account it could not serve.
#[derive(Clone)]
enum Miss {
    Unknown,
    Failed(CredentialError),
}

impl Miss {
    fn error(&self, account: &AccountId) -> RegistryError {
        match self {
            Miss::Unknown => RegistryError::UnknownAccount(account.clone()),
            Miss::Failed(source) => RegistryError::Credentials {
                account: account.clone(),
                source: source.clone(),
            },
        }
    }
}

/// Whether `error` is a server's "wait" (a throttle, a server or a
/// connection that failed) rather than a refusal of the credentials.
fn asked_to_wait(error: &Error) -> bool {
    FailureClass::of(error.root()) != FailureClass::Rejected
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn unknown_accounts_leave_nothing_behind() {
        let transport = |_req: http::Request<Vec<u8>>| async {
            Err::<http::Response<Vec<u8>>, _>(crate::TransportError::connect())
        };
        let registry = AppJwtRegistry::builder()
            .transport(transport)
            .build()
            .unwrap();
        for n in 0..100u32 {
            let account = AccountId::new((1000 + n).to_string()).unwrap();
            let err = registry.token(&account).await.unwrap_err();
            assert!(matches!(err, RegistryError::UnknownAccount(_)), "{err:?}");
        }
        assert!(lock(&registry.inner.making).is_empty());
        assert!(registry.is_empty());
    }
}
