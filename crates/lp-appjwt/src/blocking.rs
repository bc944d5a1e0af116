//! The client without `async`, for synchronous code (feature `blocking`).
//!
//! [`AppJwtClient`] here wraps the async [`crate::AppJwtClient`] and runs
//! it on a private tokio runtime that the client owns: a current-thread
//! runtime driven by a thread of its own, which runs for as long as the
//! client (or a clone) lives. Each call hands its work to that thread and
//! waits for the answer; between calls the thread keeps driving whatever the
//! client spawned (connection pools, a refresh in the background), so those
//! never wait for the next call. Dropping the last clone stops the thread.
//!
//! ```
//! use lp_appjwt::blocking::AppJwtClient;
//! # use lp_appjwt::{AccountId, ClientId, ClientSecret, TransportError, VerifyWith};
//! # use std::time::{SystemTime, UNIX_EPOCH};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # // Stands in for LivePerson so the example runs offline; its tokens
//! # // are not signed, so the example checks no signature.
//! # let fake_liveperson = |req: http::Request<Vec<u8>>| async move {
//! #     let body = if req.uri().path().ends_with("baseURI.json") {
//! #         r#"{"baseURIs":[{"service":"sentinel","account":"56072331","baseURI":"va.sentinel.liveperson.net"}]}"#.to_owned()
//! #     } else {
//! #         let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
//! #         let claims = lp_jwt::AppJwtClaims {
//! #             aud: Some(lp_jwt::Audience::One("56072331".into())),
//! #             azp: Some("75588e18-0213-4e33-8174-883acac7e3c4".into()),
//! #             iss: Some("Sentinel".into()),
//! #             exp: lp_jwt::NumericDate::from_secs(now + 3600),
//! #             iat: lp_jwt::NumericDate::from_secs(now),
//! #             ..Default::default()
//! #         };
//! #         let header = lp_jwt::Header { alg: "RS256".into(), typ: None, kid: None, extra: Default::default() };
//! #         let jwt = lp_jwt::assemble(&lp_jwt::encode_signing_input(&header, &claims), b"unsigned");
//! #         format!(r#"{{"access_token":"{jwt}","token_type":"Bearer"}}"#)
//! #     };
//! #     let response = http::Response::builder()
//! #         .header("content-type", "application/json")
//! #         .body(body.into_bytes())
//! #         .unwrap();
//! #     Ok::<_, TransportError>(response)
//! # };
//! // A plain `fn main`: no async runtime in sight.
//! let client = AppJwtClient::builder(
//!     AccountId::new("56072331")?,
//!     ClientId::new("75588e18-0213-4e33-8174-883acac7e3c4")?,
//!     ClientSecret::new(std::env::var("LP_CLIENT_SECRET").unwrap_or("s3cr3t".into()))?,
//! )
//! // Leave this out to use the default HTTPS transport.
//! .transport(fake_liveperson)
//! # .verify_with(VerifyWith::None)
//! .build()?;
//!
//! let jwt = client.token()?; // blocks until looked up, fetched, validated
//! assert_eq!(jwt.claims().iss.as_deref(), Some("Sentinel"));
//! let again = client.token()?; // from the cache
//! assert_eq!(again.secret(), jwt.secret());
//!
//! // Got 401 from the Send API? Then:
//! client.invalidate();
//! # Ok(())
//! # }
//! ```
//!
//! Inside async code use [`crate::AppJwtClient`] instead: a call made
//! from within a tokio runtime, including from `spawn_blocking` and
//! `block_in_place`, returns [`Error::InsideAsyncRuntime`] at once instead
//! of stalling the runtime's thread (or deadlocking it, when the call came
//! from this client's own runtime). Other executors are not detected.

use std::fmt;
use std::future::Future;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use lp_consumer::{ConsumerJws, ExtConsumerId};
use lp_domain::DomainMap;
use lp_ids::{AccountId, ClientId, Host};
use lp_oauth::{ApiVersion, ClientSecret};
use tokio::runtime::Handle;

use crate::{AppJwt, Clock, FailureMemory, RetryPolicy, Status, Transport, VerifyWith};

/// How long a stopping runtime waits for its blocking tasks (a DNS lookup
/// in flight) before it lets them go.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(1);

/// The blocking AppJWT client: [`crate::AppJwtClient`] with the same
/// calls, none of them `async`. See the [module documentation](self).
///
/// Cheap to clone; clones share the cache and the runtime thread.
#[derive(Clone)]
pub struct AppJwtClient {
    client: crate::AppJwtClient,
    runtime: Arc<RuntimeThread>,
}

impl fmt::Debug for AppJwtClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("blocking::AppJwtClient")
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

/// Configures a blocking [`AppJwtClient`]: the setters of
/// [`crate::AppJwtClientBuilder`], and `build` starts the runtime thread.
///
/// A setter the async builder has and this one lacks is still reachable:
/// configure a [`crate::AppJwtClientBuilder`] and convert it with
/// [`From`].
#[derive(Debug)]
pub struct AppJwtClientBuilder {
    inner: crate::AppJwtClientBuilder,
}

impl From<crate::AppJwtClientBuilder> for AppJwtClientBuilder {
    fn from(inner: crate::AppJwtClientBuilder) -> Self {
        AppJwtClientBuilder { inner }
    }
}

/// Setters forwarded to the async builder, each documented there.
macro_rules! forward {
    ($($name:ident($($arg:ident: $ty:ty),*);)*) => {
        $(
            #[doc = concat!("See [`crate::AppJwtClientBuilder::", stringify!($name), "`].")]
            pub fn $name(self, $($arg: $ty),*) -> Self {
                AppJwtClientBuilder { inner: self.inner.$name($($arg),*) }
            }
        )*
    };
}

impl AppJwtClientBuilder {
    forward! {
        csds_host(host: Host);
        sentinel_host(host: Host);
        idp_host(host: Host);
        consumer_cache_size(consumers: usize);
        api_version(version: ApiVersion);
        transport(transport: impl Transport);
        clock(clock: impl Clock);
        refresh_ahead(margin: Duration);
        refresh_jitter(jitter: Duration);
        retry_policy(policy: RetryPolicy);
        leeway(leeway: Duration);
        invalidate_min_interval(interval: Duration);
        domain_ttl(ttl: Duration);
        verify_with(source: VerifyWith);
        jwks_refetch_min_interval(interval: Duration);
        jwks_refresh_interval(interval: Duration);
        domain_max_staleness(staleness: Duration);
        failure_memory(memory: FailureMemory);
        token_store(store: impl crate::TokenStore);
        token_store_timeout(timeout: Duration);
        token_store_lease_wait(wait: Duration);
    }

    /// Starts the client's runtime thread and builds the client on it. May
    /// be called anywhere, also inside an async runtime.
    pub fn build(self) -> Result<AppJwtClient, BuildError> {
        let runtime = RuntimeThread::start().map_err(BuildError::Runtime)?;
        // Inside the runtime, so that anything the client spawns while it
        // is built lands on the client's own runtime.
        let client = {
            let _entered = runtime.handle.enter();
            self.inner.build().map_err(BuildError::Client)?
        };
        Ok(AppJwtClient {
            client,
            runtime: Arc::new(runtime),
        })
    }
}

impl AppJwtClient {
    /// Starts configuring a client for one account and app installation,
    /// like [`crate::AppJwtClient::builder`].
    pub fn builder(
        account: AccountId,
        client_id: ClientId,
        secret: ClientSecret,
    ) -> AppJwtClientBuilder {
        crate::AppJwtClient::builder(account, client_id, secret).into()
    }

    /// A valid AppJWT, from the cache or fetched; blocks until there is
    /// one. See [`crate::AppJwtClient::token`].
    pub fn token(&self) -> Result<AppJwt, Error> {
        let client = self.client.clone();
        self.wait(async move { client.token().await })
    }

    /// The account's Domain API map. See [`crate::AppJwtClient::domains`].
    pub fn domains(&self) -> Result<DomainMap, Error> {
        let client = self.client.clone();
        self.wait(async move { client.domains().await })
    }

    /// A ConsumerJWS for `ext_consumer_id`. See
    /// [`crate::AppJwtClient::consumer_jws`].
    pub fn consumer_jws(&self, ext_consumer_id: &ExtConsumerId) -> Result<ConsumerJws, Error> {
        let client = self.client.clone();
        let id = ext_consumer_id.clone();
        self.wait(async move { client.consumer_jws(&id).await })
    }

    /// The Send API's auth headers for `ext_consumer_id`. See
    /// [`crate::AppJwtClient::send_api_headers`].
    pub fn send_api_headers(
        &self,
        ext_consumer_id: &ExtConsumerId,
    ) -> Result<http::HeaderMap, Error> {
        let client = self.client.clone();
        let id = ext_consumer_id.clone();
        self.wait(async move { client.send_api_headers(&id).await })
    }

    /// Drops the cached token. Does not block; allowed anywhere. See
    /// [`crate::AppJwtClient::invalidate`].
    pub fn invalidate(&self) {
        self.client.invalidate();
    }

    /// Drops `refused` if it is still the cached token. Does not block. See
    /// [`crate::AppJwtClient::invalidate_token`].
    pub fn invalidate_token(&self, refused: &AppJwt) -> bool {
        self.client.invalidate_token(refused)
    }

    /// The token's state, for a health endpoint. Does not block. See
    /// [`crate::AppJwtClient::status`].
    pub fn status(&self) -> Status {
        self.client.status()
    }

    /// Drops the cached ConsumerJWS of `ext_consumer_id`. Does not block.
    /// See [`crate::AppJwtClient::invalidate_consumer`].
    pub fn invalidate_consumer(&self, ext_consumer_id: &ExtConsumerId) -> bool {
        self.client.invalidate_consumer(ext_consumer_id)
    }

    /// The account this client fetches tokens for.
    pub fn account(&self) -> &AccountId {
        self.client.account()
    }

    /// The client id this client authenticates as.
    pub fn client_id(&self) -> &ClientId {
        self.client.client_id()
    }

    /// Where token signatures are checked.
    pub fn verify_with(&self) -> &VerifyWith {
        self.client.verify_with()
    }

    /// Runs `work` on the client's runtime and waits for its outcome.
    fn wait<T, F>(&self, work: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, crate::Error>> + Send + 'static,
    {
        if Handle::try_current().is_ok() {
            return Err(Error::InsideAsyncRuntime);
        }
        let (tx, rx) = mpsc::sync_channel(1);
        self.runtime.handle.spawn(async move {
            // The caller may be gone (its thread panicked); nothing to do.
            let _ = tx.send(work.await);
        });
        // A task that panics, or a runtime that stopped, drops `tx`.
        match rx.recv() {
            Ok(outcome) => outcome.map_err(Error::Client),
            Err(mpsc::RecvError) => Err(Error::RuntimeStopped),
        }
    }
}

/// The thread that drives the client's current-thread runtime until told
/// to stop.
struct RuntimeThread {
    handle: Handle,
    stop: Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl RuntimeThread {
    fn start() -> std::io::Result<RuntimeThread> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .thread_name("lp-appjwt-blocking")
            .build()?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("lp-appjwt-blocking".to_owned())
            .spawn(move || {
                // Blocking on the stop signal is what drives every task the
                // client spawned, between calls too.
                let _ = runtime.block_on(stopped);
                runtime.shutdown_timeout(SHUTDOWN_TIMEOUT);
            })?;
        Ok(RuntimeThread {
            handle,
            stop: Mutex::new(Some(stop)),
            thread: Mutex::new(Some(thread)),
        })
    }
}

impl Drop for RuntimeThread {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.get_mut().ok().and_then(Option::take) {
            let _ = stop.send(());
        }
        // Wait for the thread where waiting is allowed; inside an async
        // runtime let it finish on its own (it stops within
        // SHUTDOWN_TIMEOUT).
        if Handle::try_current().is_err() {
            if let Some(thread) = self.thread.get_mut().ok().and_then(Option::take) {
                let _ = thread.join();
            }
        }
    }
}

/// Why a blocking call failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The client failed, as [`crate::AppJwtClient`] would have.
    Client(crate::Error),
    /// The call was made inside a tokio runtime, where blocking would stall
    /// it; use [`crate::AppJwtClient`] there.
    InsideAsyncRuntime,
    /// The client's runtime stopped before the call was answered (a task
    /// of the client panicked).
    RuntimeStopped,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Client(e) => fmt::Display::fmt(e, f),
            Error::InsideAsyncRuntime => f.write_str(
                "blocking call inside an async runtime, where it would stall the runtime's \
                 thread: use lp_appjwt::AppJwtClient there",
            ),
            Error::RuntimeStopped => {
                f.write_str("the blocking client's runtime stopped before answering")
            }
        }
    }
}

impl std::error::Error for Error {
    /// The client's error is shown as it is, so its causes are this one's.
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Client(e) => e.source(),
            Error::InsideAsyncRuntime | Error::RuntimeStopped => None,
        }
    }
}

impl From<crate::Error> for Error {
    fn from(e: crate::Error) -> Self {
        Error::Client(e)
    }
}

/// Why a blocking client could not be built.
#[derive(Debug)]
#[non_exhaustive]
pub enum BuildError {
    /// The client's configuration, as [`crate::AppJwtClientBuilder::build`]
    /// reports it.
    Client(crate::BuildError),
    /// The runtime or its thread could not be started.
    Runtime(std::io::Error),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::Client(e) => fmt::Display::fmt(e, f),
            BuildError::Runtime(e) => write!(f, "cannot start the blocking client's runtime: {e}"),
        }
    }
}

impl std::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BuildError::Client(e) => e.source(),
            BuildError::Runtime(e) => Some(e),
        }
    }
}
