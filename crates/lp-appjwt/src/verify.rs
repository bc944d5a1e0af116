//! Signature verification: where the keys come from ([`VerifyWith`]) and
//! the key set caches the client keeps, one [`Refresh`] cell per key set
//! address.

use std::fmt;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use lp_ids::Host;
use lp_jwt::{Jwks, Rs256Verifier, UnverifiedToken, VerifyError};
use lp_oauth::ApiVersion;
use tokio::time::Instant;
use tracing::Instrument;

use crate::error::Error;
use crate::jwks::{jwks_request, parse_jwks_response_lenient, sentinel_jwks_uri};
use crate::refresh::{FetchFuture, Memory, Progress, Refresh, Stamped, Want};
use crate::transport::Transport;

/// Default: after a token with an unknown `kid`, the key set is fetched
/// again at most once per this interval.
pub const DEFAULT_JWKS_REFETCH_MIN_INTERVAL: Duration = Duration::from_secs(30);

/// Where [`AppJwtClient`](crate::AppJwtClient) gets the public keys that
/// check each token's RS256 signature.
///
/// Set with
/// [`AppJwtClientBuilder::verify_with`](crate::AppJwtClientBuilder::verify_with).
/// The default depends on the API version: [`VerifyWith::LivePersonV1`] for
/// [`ApiVersion::V1`], [`VerifyWith::Jwks`] for [`ApiVersion::V2`] (see
/// [`VerifyWith::default_for`]). Whatever the source, only RS256 is
/// accepted: the token's `alg` never chooses the algorithm, and `none` or
/// `HS256` are refused.
///
/// A client testing against `lp-emulator` must use [`VerifyWith::Jwks`]:
/// the emulator signs with its own key, not LivePerson's.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum VerifyWith {
    /// LivePerson's published v1 key
    /// ([`lp_jwt::LIVEPERSON_V1_PUBLIC_KEY_B64`]), compiled in: no IO.
    LivePersonV1,
    /// The Sentinel host's key set, `https://{sentinel}/sentinel/well-known/jwks`,
    /// fetched through the client's transport on first use and cached. A
    /// token whose `kid` is not in the cached set makes the client fetch the
    /// set again, at most once per
    /// [`AppJwtClientBuilder::jwks_refetch_min_interval`](crate::AppJwtClientBuilder::jwks_refetch_min_interval),
    /// which follows key rotation.
    Jwks,
    /// A key set at another address, fetched and cached like
    /// [`VerifyWith::Jwks`]. The transport decides which schemes it accepts.
    JwksUri(http::Uri),
    /// One key given by the caller (from PEM, DER or a JWK); its `kid`, if
    /// any, is not compared with the token's.
    Key(Rs256Verifier),
    /// A key set given by the caller, never fetched again; the token's
    /// `kid` selects the key.
    KeySet(Jwks),
    /// **Dangerous**: no signature check at all. Any well-formed token with
    /// plausible claims is handed out, including one forged by whoever can
    /// answer in Sentinel's place. Only for experiments where no key is
    /// available.
    None,
}

impl VerifyWith {
    /// The default source for an API version: LivePerson's static key for
    /// v1, the sentinel's key set for v2.
    pub fn default_for(version: ApiVersion) -> Self {
        match version {
            ApiVersion::V1 => VerifyWith::LivePersonV1,
            ApiVersion::V2 => VerifyWith::Jwks,
        }
    }
}

impl fmt::Display for VerifyWith {
    /// A short label: `liveperson-v1`, `jwks`, `jwks <uri>`, `key`,
    /// `key-set`, `none`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifyWith::LivePersonV1 => f.write_str("liveperson-v1"),
            VerifyWith::Jwks => f.write_str("jwks"),
            VerifyWith::JwksUri(uri) => write!(f, "jwks {uri}"),
            VerifyWith::Key(_) => f.write_str("key"),
            VerifyWith::KeySet(_) => f.write_str("key-set"),
            VerifyWith::None => f.write_str("none"),
        }
    }
}

/// Default: a fetched key set is fetched again in the background after
/// this long.
pub const DEFAULT_JWKS_REFRESH_INTERVAL: Duration = Duration::from_secs(60 * 60);

/// Key set addresses the client keeps a cache for (a new Sentinel host
/// means a new address).
const KEY_SETS: usize = 4;

/// The client's verification state, built once from a [`VerifyWith`].
pub(crate) struct Verifier {
    source: VerifyWith,
    /// LivePerson's key, parsed once for [`VerifyWith::LivePersonV1`].
    v1: Rs256Verifier,
    refetch_min_interval: Duration,
    refresh_interval: Duration,
    max_staleness: Duration,
    memory: Memory,
    transport: Weak<dyn Transport>,
    sets: crate::refresh::Keyed<http::Uri, Arc<Jwks>>,
    /// When each address was last fetched again for an unknown `kid` and
    /// answered: the rate limit counts from there, never from a failure.
    refetched: Mutex<std::collections::HashMap<http::Uri, Instant>>,
    /// Serialises creating cells, so two callers never make two cells for
    /// one address.
    making: Mutex<()>,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("source", &self.source)
            .field("refetch_min_interval", &self.refetch_min_interval)
            .finish_non_exhaustive()
    }
}

/// How a [`Verifier`] is set up.
pub(crate) struct VerifierConfig {
    pub(crate) source: VerifyWith,
    pub(crate) refetch_min_interval: Duration,
    pub(crate) refresh_interval: Duration,
    pub(crate) max_staleness: Duration,
    pub(crate) memory: Memory,
    pub(crate) transport: Weak<dyn Transport>,
}

impl Drop for Verifier {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl Verifier {
    pub(crate) fn new(config: VerifierConfig) -> Self {
        Verifier {
            source: config.source,
            v1: Rs256Verifier::liveperson_v1(),
            refetch_min_interval: config.refetch_min_interval,
            refresh_interval: config.refresh_interval,
            max_staleness: config.max_staleness,
            memory: config.memory,
            transport: config.transport,
            sets: crate::refresh::Keyed::new(KEY_SETS),
            refetched: Mutex::new(std::collections::HashMap::new()),
            making: Mutex::new(()),
        }
    }

    pub(crate) fn source(&self) -> &VerifyWith {
        &self.source
    }

    /// Stops the key sets' background refreshes.
    pub(crate) fn shutdown(&self) {
        // (Also on drop: a registry's cache is shared by its clients, and
        // stops when the last of them and the registry are gone.)
        self.sets.shutdown();
    }

    /// Gets the key set a token from `sentinel` will be checked with, if
    /// the source is a remote one (the token fetch runs this alongside its
    /// request, or before it while [`Verifier::failing`]). Returns whether
    /// the set was fetched for this call (then it is not fetched again for
    /// an unknown `kid`).
    pub(crate) async fn prepare(
        &self,
        sentinel: &Host,
        deadline: Option<Instant>,
    ) -> Result<bool, Error> {
        let Some(uri) = self.remote_uri(sentinel) else {
            return Ok(false);
        };
        let cell = self.cell(&uri);
        let before = cell.peek().as_ref().map(Arc::clone);
        let got = cell.get(Want::Usable, deadline).await?;
        Ok(!before.is_some_and(|b| Arc::ptr_eq(&b, &got)))
    }

    /// Whether the remote key set for `sentinel` is not to be had: none
    /// usable is cached and the last attempt to get it failed.
    pub(crate) fn failing(&self, sentinel: &Host) -> bool {
        self.remote_uri(sentinel)
            .and_then(|uri| self.sets.existing(&uri))
            .is_some_and(|cell| cell.failing())
    }

    /// The key set address of a remote source; `None` for a local one.
    fn remote_uri(&self, sentinel: &Host) -> Option<http::Uri> {
        match &self.source {
            VerifyWith::Jwks => Some(sentinel_jwks_uri(sentinel)),
            VerifyWith::JwksUri(uri) => Some(uri.clone()),
            _ => None,
        }
    }

    /// Checks `token`'s signature, waiting for a key set at most until
    /// `deadline`. Returns whether a signature was checked (`false` only
    /// for [`VerifyWith::None`]).
    /// `just_fetched`: the set was fetched for this token (see
    /// [`Verifier::prepare`]), so it is not fetched again for it.
    pub(crate) async fn verify(
        &self,
        token: &UnverifiedToken<'_>,
        sentinel: &Host,
        just_fetched: bool,
        deadline: Option<Instant>,
    ) -> Result<bool, Error> {
        let uri = match &self.source {
            VerifyWith::None => return Ok(false),
            VerifyWith::LivePersonV1 => {
                self.v1.verify(token).map_err(Error::Verify)?;
                return Ok(true);
            }
            VerifyWith::Key(key) => {
                key.verify(token).map_err(Error::Verify)?;
                return Ok(true);
            }
            VerifyWith::KeySet(set) => {
                set.verify(token).map_err(Error::Verify)?;
                return Ok(true);
            }
            VerifyWith::Jwks => sentinel_jwks_uri(sentinel),
            VerifyWith::JwksUri(uri) => uri.clone(),
        };
        let cell = self.cell(&uri);
        let keys = cell.get(Want::Usable, deadline).await?;
        match keys.value.verify(token) {
            Err(VerifyError::UnknownKeyId { kid: Some(kid) }) => {
                // A key rotation: fetch the set again, but not more often
                // than the interval, counted from the last fetch that
                // succeeded (a failed one is remembered by the cell).
                let now = Instant::now();
                let recent = just_fetched
                    || lock(&self.refetched).get(&uri).is_some_and(|at| {
                        now.saturating_duration_since(*at) < self.refetch_min_interval
                    });
                if recent {
                    tracing::debug!(kid = %kid.escape_debug(), "unknown kid, key set refetch rate limited");
                    return Err(Error::Verify(VerifyError::UnknownKeyId { kid: Some(kid) }));
                }
                let newer = cell
                    .get(Want::FetchedAfter(keys.fetched_at), deadline)
                    .await?;
                {
                    let mut refetched = lock(&self.refetched);
                    if refetched.len() >= KEY_SETS {
                        refetched.clear();
                    }
                    refetched.insert(uri, newer.fetched_at);
                }
                newer.value.verify(token).map_err(Error::Verify)?;
                Ok(true)
            }
            other => other.map(|()| true).map_err(Error::Verify),
        }
    }

    fn cell(&self, uri: &http::Uri) -> Arc<Refresh<Arc<Jwks>>> {
        if let Some(cell) = self.sets.existing(uri) {
            return cell;
        }
        let _making = lock(&self.making);
        self.sets.cell(uri, || {
            let uri = uri.clone();
            let transport = self.transport.clone();
            let (fresh, stale) = (self.refresh_interval, self.max_staleness);
            Refresh::new(
                "jwks",
                true,
                self.memory.clone(),
                move |_progress: Progress| {
                    let transport = transport.upgrade()?;
                    let uri = uri.clone();
                    let fetch: FetchFuture<Arc<Jwks>> =
                        Box::pin(
                            async move { fetch(&uri, transport.as_ref(), fresh, stale).await },
                        );
                    Some(fetch)
                },
            )
        })
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// Fetches and parses one key set, fresh for `fresh` and usable for
/// `stale` from the moment it was asked for.
async fn fetch(
    uri: &http::Uri,
    transport: &dyn Transport,
    fresh: Duration,
    stale: Duration,
) -> Result<Stamped<Arc<Jwks>>, Error> {
    let span = tracing::info_span!(
        "appjwt.jwks",
        %uri,
        status = tracing::field::Empty,
        latency_ms = tracing::field::Empty,
    );
    let started = Instant::now();
    let response = transport
        .send(jwks_request(uri))
        .instrument(span.clone())
        .await;
    span.record(
        "latency_ms",
        u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    );
    let response = response.map_err(|e| {
        span.in_scope(|| tracing::info!(error = %e, "key set request failed"));
        Error::Transport(e)
    })?;
    span.record("status", response.status().as_u16());
    let (keys, skipped) = parse_jwks_response_lenient(&response).map_err(|e| {
        span.in_scope(|| tracing::info!(error = %e, "key set refused"));
        Error::Jwks(e)
    })?;
    for key in &skipped {
        // The Display quotes the kid escaped and cut.
        span.in_scope(|| tracing::warn!(key = %key, "key set: key skipped"));
    }
    // The server's `Cache-Control: max-age` decides when the set is
    // fetched again, when it sent one.
    let fresh = lp_json::cache_max_age(response.headers()).unwrap_or(fresh);
    span.in_scope(|| tracing::info!(keys = keys.keys().len(), "key set fetched"));
    let at = |d: Duration| started.checked_add(d).unwrap_or(started);
    Ok(Stamped::new(
        Arc::new(keys),
        started,
        at(fresh),
        at(stale.max(fresh)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_api_version() {
        assert!(matches!(
            VerifyWith::default_for(ApiVersion::V1),
            VerifyWith::LivePersonV1
        ));
        assert!(matches!(
            VerifyWith::default_for(ApiVersion::V2),
            VerifyWith::Jwks
        ));
    }
}
