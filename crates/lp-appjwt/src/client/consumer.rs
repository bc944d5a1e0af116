//! The step after the AppJWT: a ConsumerJWS per consumer from the `idp`
//! service, one [`Refresh`] cell per consumer in a bounded LRU.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use lp_consumer::{ConsumerJws, ExtConsumerId};
use lp_ids::Host;
use lp_jwt::UnverifiedToken;
use tokio::time::Instant;
use tracing::Instrument;

use super::{AppJwt, AppJwtClient, Inner, MAX_LIFETIME, millis};
use crate::error::Error;
use crate::refresh::{FetchFuture, Progress, Refresh, Stamped, Want};
use crate::retry::{self, Failure};

/// Default bound of the ConsumerJWS cache, in consumers.
pub const DEFAULT_CONSUMER_CACHE_SIZE: usize = 10_000;
/// A ConsumerJWS whose payload carries `exp` stops being handed out from
/// the cache this long before it (at most half its lifetime).
pub const CONSUMER_JWS_EXPIRY_MARGIN: Duration = Duration::from_secs(60);

/// How long a ConsumerJWS without `exp` is kept: LivePerson documents no
/// lifetime, so until it is invalidated or evicted.
const KEPT: Duration = Duration::from_secs(10 * 365 * 24 * 60 * 60);

impl AppJwtClient {
    /// A ConsumerJWS for `ext_consumer_id`, the token that lets the Send API
    /// act on behalf of that consumer (`X-LP-ON-BEHALF`).
    ///
    /// Served from the cache when it holds one; else the `idp` host is
    /// taken from the Domain API map (cached, shared with the token
    /// lookups; [`AppJwtClientBuilder::idp_host`](crate::AppJwtClientBuilder::idp_host)
    /// skips it), a valid AppJWT from [`AppJwtClient::token`], and
    /// `POST https://{idp}/api/account/{acc}/consumer?v=1.0` asks for a new
    /// one.
    ///
    /// - **Single flight per consumer**: concurrent calls for the same
    ///   consumer make one request and share its outcome; calls for
    ///   different consumers run in parallel.
    /// - **401**: the AppJWT may have been refused. It is invalidated if it
    ///   is still the cached token and within the rate limit of
    ///   [`AppJwtClient::invalidate`] (so an idp that answers 401 for its
    ///   own reasons cannot make every consumer refetch the AppJWT), and
    ///   the request is made once more if a newer AppJWT is at hand.
    ///   Otherwise, or after a second 401, [`Error::Consumer`].
    /// - **Waiting** for another caller's request for the same consumer
    ///   ends at this caller's own deadline, like [`AppJwtClient::token`];
    ///   a failure is remembered per consumer the same way.
    /// - **Other errors** follow the [`RetryPolicy`](crate::RetryPolicy):
    ///   429, 5xx and connection trouble are retried, other 4xx are not.
    ///   An AppJWT that cannot be had is returned at once: getting it
    ///   already followed the policy.
    /// - **Lifetime**: LivePerson does not document one. The token is
    ///   cached until [`AppJwtClient::invalidate_consumer`] or, when its
    ///   payload carries `exp`, until [`CONSUMER_JWS_EXPIRY_MARGIN`] before
    ///   it. The cache holds at most
    ///   [`AppJwtClientBuilder::consumer_cache_size`](crate::AppJwtClientBuilder::consumer_cache_size)
    ///   consumers and drops the least recently used first; with a size of
    ///   0 every call asks the idp.
    ///
    /// The ConsumerJWS is handed on as the idp issued it; its signature is
    /// not checked here (the Send API checks it).
    pub async fn consumer_jws(
        &self,
        ext_consumer_id: &ExtConsumerId,
    ) -> Result<ConsumerJws, Error> {
        self.inner.consumer_jws(ext_consumer_id).await
    }

    /// Drops the cached ConsumerJWS of `ext_consumer_id`, e.g. after the
    /// Send API refused it; the next [`AppJwtClient::consumer_jws`] asks the
    /// idp again. Returns whether one was cached.
    pub fn invalidate_consumer(&self, ext_consumer_id: &ExtConsumerId) -> bool {
        // The value goes, the cell stays: a "wait" or "no" the idp gave
        // for this consumer is still remembered.
        self.inner
            .consumers
            .existing(ext_consumer_id)
            .is_some_and(|cell| cell.invalidate(|_| true))
    }

    /// The Send API's auth headers for `ext_consumer_id`: `Authorization`
    /// with the AppJWT (raw, no `Bearer`) and `X-LP-ON-BEHALF` with the
    /// ConsumerJWS, both marked sensitive so that `http`'s `Debug` hides
    /// them.
    ///
    /// The ConsumerJWS is got first, so an AppJWT refreshed after a 401 on
    /// the way is the one in `Authorization`.
    pub async fn send_api_headers(
        &self,
        ext_consumer_id: &ExtConsumerId,
    ) -> Result<http::HeaderMap, Error> {
        let jws = self.consumer_jws(ext_consumer_id).await?;
        let jwt = self.token().await?;
        lp_consumer::send_api_headers(jwt.secret(), &jws).map_err(Error::ConsumerRequest)
    }
}

impl Inner {
    async fn consumer_jws(&self, ext: &ExtConsumerId) -> Result<ConsumerJws, Error> {
        let deadline = retry::deadline_from(&self.retry, Instant::now());
        let cell = self.consumers.cell(ext, || {
            let me = self.me.clone();
            let ext = ext.clone();
            Refresh::new(
                "consumer",
                false,
                self.memory.clone(),
                move |progress: Progress| {
                    let inner = me.upgrade()?;
                    let ext = ext.clone();
                    let fetch: FetchFuture<ConsumerJws> =
                        Box::pin(async move { inner.fetch_consumer(&ext, progress).await });
                    Some(fetch)
                },
            )
        });
        let got = cell.get(Want::Usable, deadline).await;
        self.consumers.settle(ext, &cell);
        Ok(got?.value.clone())
    }

    /// A consumer cell's fetch: attempts under the retry policy.
    async fn fetch_consumer(
        self: Arc<Self>,
        ext: &ExtConsumerId,
        progress: Progress,
    ) -> Result<Stamped<ConsumerJws>, Error> {
        let refreshed = AtomicBool::new(false);
        let deadline = retry::deadline_from(&self.retry, Instant::now());
        retry::run_steps(
            &self.retry,
            deadline,
            || self.clock.now(),
            "consumer",
            Some(&progress),
            |_| self.consumer_attempt(ext, &refreshed, deadline),
        )
        .await
    }

    /// One try: the idp host, a valid AppJWT and the request; after a 401,
    /// once per fetch, a newer AppJWT (if the refused one could be
    /// invalidated or was replaced) and the request again.
    ///
    /// A failure to get the AppJWT ends the outer retry loop: `token()`
    /// already ran the retry policy, and retrying it here would send up to
    /// `max_attempts²` requests to Sentinel.
    async fn consumer_attempt(
        &self,
        ext: &ExtConsumerId,
        refreshed: &AtomicBool,
        deadline: Option<Instant>,
    ) -> Result<Stamped<ConsumerJws>, Failure> {
        let idp = self.idp_host(deadline).await?;
        let app_jwt = self.app_jwt(deadline).await.map_err(Failure::terminal)?;
        let outcome = match self.send_consumer(&idp, ext, &app_jwt).await {
            Err(Error::Consumer(e))
                if e.is_unauthorized() && !refreshed.swap(true, Ordering::AcqRel) =>
            {
                self.invalidate(Some(&app_jwt));
                let fresh = self.app_jwt(deadline).await.map_err(Failure::terminal)?;
                if fresh.same_copy(&app_jwt) {
                    // Not invalidated (rate limited): the same token would
                    // get the same answer.
                    return Err(Failure::terminal(Error::Consumer(e)));
                }
                self.send_consumer(&idp, ext, &fresh).await
            }
            other => other,
        };
        Ok(outcome?)
    }

    /// A valid AppJWT for a ConsumerJWS request, within `deadline`.
    async fn app_jwt(&self, deadline: Option<Instant>) -> Result<AppJwt, Error> {
        if let Some(entry) = &*self.token.peek() {
            if self.token.at_once(entry) {
                return Ok(entry.value.token().clone());
            }
        }
        let entry = self.token.get(Want::Usable, deadline).await?;
        Ok(entry.value.token().clone())
    }

    async fn send_consumer(
        &self,
        idp: &Host,
        ext: &ExtConsumerId,
        app_jwt: &AppJwt,
    ) -> Result<Stamped<ConsumerJws>, Error> {
        let request = lp_consumer::consumer_request(idp, &self.account, app_jwt.secret(), ext)
            .map_err(Error::ConsumerRequest)?;
        // The ext consumer id is personal data (a channel's user id), so it
        // is a field of a debug event only, never of the info-level span.
        let span = tracing::info_span!(
            "appjwt.consumer",
            account = %self.account,
            idp = %idp,
            status = tracing::field::Empty,
            latency_ms = tracing::field::Empty,
        );
        span.in_scope(|| tracing::debug!(ext_consumer_id = %ext, "consumer jws request"));
        let sent_at = Instant::now();
        let response = self.transport.send(request).instrument(span.clone()).await;
        span.record("latency_ms", millis(sent_at.elapsed()));
        let response = match response {
            Ok(r) => r,
            Err(e) => {
                if e.is_connection_failure() && self.idp.is_none() {
                    // The host may come from a stale map: look it up again
                    // in the background.
                    self.domains.mark_due(|_| true);
                }
                span.in_scope(|| tracing::info!(error = %e, "consumer jws request failed"));
                return Err(Error::Transport(e));
            }
        };
        span.record("status", response.status().as_u16());
        let jws = lp_consumer::parse_consumer_response(&response).map_err(|e| {
            span.in_scope(|| tracing::info!(error = %e, "consumer jws refused"));
            Error::Consumer(e)
        })?;
        let until = self.jws_until(&jws, sent_at);
        Ok(Stamped::new(jws, sent_at, until, until))
    }

    /// When to stop handing out `jws`: [`KEPT`] from now (until
    /// invalidated or evicted) unless its payload decodes with an `exp`.
    fn jws_until(&self, jws: &ConsumerJws, sent_at: Instant) -> Instant {
        let kept = sent_at.checked_add(KEPT).unwrap_or(sent_at);
        let decoded = match UnverifiedToken::decode(jws.secret()) {
            Ok(d) => d,
            Err(e) => {
                tracing::debug!(error = %e, "consumer jws payload not decodable, cached without expiry");
                return kept;
            }
        };
        let Some(exp) = decoded.claims().exp else {
            return kept;
        };
        let lifetime = exp
            .to_system_time()
            .duration_since(self.clock.now())
            .unwrap_or(Duration::ZERO)
            .min(MAX_LIFETIME);
        let margin = CONSUMER_JWS_EXPIRY_MARGIN.min(lifetime / 2);
        sent_at.checked_add(lifetime - margin).unwrap_or(sent_at)
    }
}
