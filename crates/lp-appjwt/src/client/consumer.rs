//! The step after the AppJWT: a ConsumerJWS per consumer from the `idp`
//! service, cached in a bounded LRU, one request per consumer at a time.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use lp_consumer::{ConsumerJws, ExtConsumerId};
use lp_domain::ServiceName;
use lp_ids::Host;
use lp_jwt::UnverifiedToken;
use tokio::time::Instant;
use tracing::Instrument;

use super::{AppJwt, AppJwtClient, Inner, MAX_LIFETIME, millis};
use crate::error::Error;
use crate::lru::Lru;
use crate::retry::{self, Failure};

/// Default bound of the ConsumerJWS cache, in consumers.
pub const DEFAULT_CONSUMER_CACHE_SIZE: usize = 10_000;
/// A ConsumerJWS whose payload carries `exp` stops being handed out from
/// the cache this long before it (at most half its lifetime).
pub const CONSUMER_JWS_EXPIRY_MARGIN: Duration = Duration::from_secs(60);

/// A cached ConsumerJWS and, when its payload has `exp`, the instant it
/// stops being handed out.
#[derive(Clone)]
pub(super) struct CachedJws {
    jws: ConsumerJws,
    until: Option<Instant>,
}

impl CachedJws {
    fn usable(&self, now: Instant) -> bool {
        self.until.is_none_or(|until| now < until)
    }
}

/// The single flight of one consumer: whoever holds `last_error` asks the
/// idp; `done` counts finished requests so that a caller who waited can
/// share the error of the request it waited for instead of asking again.
#[derive(Default)]
struct Flight {
    done: AtomicU64,
    last_error: tokio::sync::Mutex<Option<Error>>,
}

/// A flight in the map and how many [`Ticket`]s share it. The count is
/// only read and written under the map's lock, so the last ticket to go
/// always sees zero and removes the entry (an `Arc::strong_count` read
/// would race with another ticket's `Arc` being dropped after the lock).
struct FlightEntry {
    flight: Arc<Flight>,
    tickets: usize,
}

/// The ConsumerJWS cache and the flights in progress.
pub(super) struct Consumers {
    cache: Mutex<Lru<ExtConsumerId, CachedJws>>,
    flights: Mutex<HashMap<ExtConsumerId, FlightEntry>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

impl Consumers {
    pub(super) fn new(capacity: usize) -> Self {
        Consumers {
            cache: Mutex::new(Lru::new(capacity)),
            flights: Mutex::new(HashMap::new()),
        }
    }

    pub(super) fn capacity(&self) -> usize {
        lock(&self.cache).capacity()
    }

    pub(super) fn len(&self) -> usize {
        lock(&self.cache).len()
    }

    fn cached(&self, ext: &ExtConsumerId, now: Instant) -> Option<ConsumerJws> {
        let mut cache = lock(&self.cache);
        match cache.get(ext) {
            Some(entry) if entry.usable(now) => Some(entry.jws.clone()),
            Some(_) => {
                cache.remove(ext);
                None
            }
            None => None,
        }
    }

    fn insert(&self, ext: &ExtConsumerId, entry: CachedJws, now: Instant) {
        if entry.usable(now) {
            lock(&self.cache).insert(ext.clone(), entry);
        }
    }

    fn remove(&self, ext: &ExtConsumerId) -> bool {
        lock(&self.cache).remove(ext)
    }

    /// Joins (or starts) the flight of `ext`.
    fn ticket<'a>(&'a self, ext: &'a ExtConsumerId) -> Ticket<'a> {
        let mut flights = lock(&self.flights);
        let entry = flights.entry(ext.clone()).or_insert_with(|| FlightEntry {
            flight: Arc::default(),
            tickets: 0,
        });
        entry.tickets += 1;
        let flight = Arc::clone(&entry.flight);
        Ticket {
            consumers: self,
            ext,
            flight,
        }
    }

    /// How many consumers have a flight in the map (callers in progress).
    #[cfg(test)]
    fn flights_len(&self) -> usize {
        lock(&self.flights).len()
    }
}

/// A caller's share in a consumer's flight. Dropping the last one removes
/// the flight from the map, also when the caller's future is cancelled.
struct Ticket<'a> {
    consumers: &'a Consumers,
    ext: &'a ExtConsumerId,
    flight: Arc<Flight>,
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        let mut flights = lock(&self.consumers.flights);
        let last = match flights.get_mut(self.ext) {
            Some(entry) => {
                entry.tickets = entry.tickets.saturating_sub(1);
                entry.tickets == 0
            }
            None => false,
        };
        if last {
            flights.remove(self.ext);
        }
    }
}

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
    /// - **401**: the AppJWT was refused, so it is invalidated (without the
    ///   rate limit of [`AppJwtClient::invalidate`]: the answer proves it
    ///   bad, and only if no other caller replaced it meanwhile), a new one
    ///   is fetched and the request is made once more. A second 401 is
    ///   [`Error::Consumer`].
    /// - **Other errors** follow the [`RetryPolicy`](crate::RetryPolicy):
    ///   429, 5xx and connection trouble are retried, other 4xx are not.
    ///   An AppJWT that cannot be had is returned at once: getting it
    ///   already followed the policy.
    /// - **Lifetime**: LivePerson does not document one. The token is
    ///   cached until [`AppJwtClient::invalidate_consumer`] or, when its
    ///   payload carries `exp`, until [`CONSUMER_JWS_EXPIRY_MARGIN`] before
    ///   it. The cache holds at most
    ///   [`AppJwtClientBuilder::consumer_cache_size`](crate::AppJwtClientBuilder::consumer_cache_size)
    ///   consumers and drops the least recently used first.
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
        self.inner.consumers.remove(ext_consumer_id)
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
        if let Some(jws) = self.consumers.cached(ext, Instant::now()) {
            return Ok(jws);
        }
        let ticket = self.consumers.ticket(ext);
        let seen = ticket.flight.done.load(Ordering::Acquire);
        let mut last_error = ticket.flight.last_error.lock().await;
        if let Some(jws) = self.consumers.cached(ext, Instant::now()) {
            return Ok(jws);
        }
        if ticket.flight.done.load(Ordering::Acquire) != seen {
            // A request for this consumer finished while this caller
            // waited and left nothing in the cache: share its error.
            if let Some(err) = &*last_error {
                return Err(err.clone());
            }
        }
        let refreshed = AtomicBool::new(false);
        let result = retry::run_steps(
            &self.retry,
            retry::deadline_from(&self.retry, Instant::now()),
            || self.clock.now(),
            "consumer",
            |_| self.consumer_attempt(ext, &refreshed),
        )
        .await;
        let outcome = match result {
            Ok(entry) => {
                *last_error = None;
                let jws = entry.jws.clone();
                self.consumers.insert(ext, entry, Instant::now());
                Ok(jws)
            }
            Err(err) => {
                *last_error = Some(err.clone());
                Err(err)
            }
        };
        ticket.flight.done.fetch_add(1, Ordering::Release);
        outcome
    }

    /// One try: the idp host, a valid AppJWT and the request; after a 401,
    /// once per call, a new AppJWT and the request again.
    ///
    /// A failure to get the AppJWT ends the outer retry loop: `token()`
    /// already ran the retry policy, and retrying it here would send up to
    /// `max_attempts²` requests to Sentinel.
    async fn consumer_attempt(
        &self,
        ext: &ExtConsumerId,
        refreshed: &AtomicBool,
    ) -> Result<CachedJws, Failure> {
        let idp = self.idp_host().await?;
        let app_jwt = self.token().await.map_err(Failure::terminal)?;
        let outcome = match self.send_consumer(&idp, ext, &app_jwt).await {
            Err(Error::Consumer(e))
                if e.is_unauthorized() && !refreshed.swap(true, Ordering::AcqRel) =>
            {
                self.invalidate_refused(&app_jwt);
                let fresh = self.token().await.map_err(Failure::terminal)?;
                self.send_consumer(&idp, ext, &fresh).await
            }
            other => other,
        };
        Ok(outcome?)
    }

    async fn idp_host(&self) -> Result<Host, Error> {
        if let Some(host) = &self.idp {
            return Ok(host.clone());
        }
        let map = self.domain_map().await?;
        map.require(&ServiceName::idp())
            .cloned()
            .map_err(Error::Domain)
    }

    async fn send_consumer(
        &self,
        idp: &Host,
        ext: &ExtConsumerId,
        app_jwt: &AppJwt,
    ) -> Result<CachedJws, Error> {
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
                    // The host may come from a stale map.
                    self.domains.lock().await.invalidate();
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
        Ok(CachedJws { jws, until })
    }

    /// When to stop handing out `jws`: `None` (until invalidated) unless
    /// its payload decodes with an `exp`.
    fn jws_until(&self, jws: &ConsumerJws, sent_at: Instant) -> Option<Instant> {
        let decoded = match UnverifiedToken::decode(jws.secret()) {
            Ok(d) => d,
            Err(e) => {
                tracing::debug!(error = %e, "consumer jws payload not decodable, cached without expiry");
                return None;
            }
        };
        let exp = decoded.claims().exp?;
        let lifetime = exp
            .to_system_time()
            .duration_since(self.clock.now())
            .unwrap_or(Duration::ZERO)
            .min(MAX_LIFETIME);
        let margin = CONSUMER_JWS_EXPIRY_MARGIN.min(lifetime / 2);
        Some(sent_at + (lifetime - margin))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// Waits, spinning, until `parties` threads arrived at `generation`, so
    /// that they leave as close to together as the machine allows.
    fn spin_wait(arrived: &AtomicUsize, parties: usize, generation: usize) {
        arrived.fetch_add(1, Ordering::AcqRel);
        let mut spins = 0u32;
        while arrived.load(Ordering::Acquire) < parties * generation {
            // Spin first; yield on a busy machine so that a descheduled
            // partner is not starved.
            spins = spins.saturating_add(1);
            if spins < 1_000 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
    }

    /// Rounds of two threads that each hold a ticket for the same consumer
    /// (every fourth round one takes its own), then drop them at the same
    /// moment; after every round the map must be empty. A later ticket for
    /// the same consumer would hide a leaked entry, hence the check per
    /// round.
    #[test]
    fn concurrent_tickets_leave_no_flight_behind() {
        const ROUNDS: usize = 20_000;
        let consumers = Consumers::new(16);
        let ids: Vec<ExtConsumerId> = ["shared", "own-0", "own-1"]
            .iter()
            .map(|s| ExtConsumerId::new(*s).unwrap())
            .collect();
        let arrived = AtomicUsize::new(0);
        let leaks = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for t in 0..2 {
                let (consumers, ids, arrived, leaks) = (&consumers, &ids, &arrived, &leaks);
                scope.spawn(move || {
                    for round in 0..ROUNDS {
                        let ext = if round % 4 == 3 { &ids[1 + t] } else { &ids[0] };
                        let ticket = consumers.ticket(ext);
                        spin_wait(arrived, 2, 3 * round + 1);
                        drop(ticket);
                        spin_wait(arrived, 2, 3 * round + 2);
                        if t == 0 {
                            leaks.fetch_add(consumers.flights_len(), Ordering::Relaxed);
                        }
                        spin_wait(arrived, 2, 3 * round + 3);
                    }
                });
            }
        });
        assert_eq!(
            leaks.load(Ordering::Relaxed),
            0,
            "flights left in the map after all callers left"
        );
    }
}
