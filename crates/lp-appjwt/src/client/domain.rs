//! The Domain API map as a cell: looked up once, used while fresh, then
//! still used while a background lookup runs or while lookups fail (up to
//! the maximum staleness). A host from it that cannot be reached makes the
//! map due, so it is looked up again in the background.

use std::sync::Arc;

use lp_domain::{DomainMap, ServiceName};
use lp_ids::Host;
use tokio::time::Instant;
use tracing::Instrument;

use super::{Inner, millis};
use crate::error::Error;
use crate::refresh::{Stamped, Want};

impl Inner {
    /// The domain cell's fetch: one lookup. Retries belong to whoever
    /// needs the map (a token fetch, [`super::AppJwtClient::domains`]), so
    /// that they are not multiplied.
    ///
    /// With a token store, a cold cell (no map held) takes the store's map
    /// while it is fresh, and every map looked up is written to it. A map
    /// held already is always looked up anew: its refresh may be due to a
    /// host from it that could not be reached.
    pub(super) async fn lookup(self: Arc<Self>) -> Result<Stamped<DomainMap>, Error> {
        let cold = self.domains.peek().is_none();
        if let (true, Some(store)) = (cold, &self.store) {
            if let Some((map, left)) = store.read_domains(self.clock.now()).await {
                tracing::debug!(
                    store = store.name(),
                    "domain map taken from the token store"
                );
                let now = Instant::now();
                let at = |d| now.checked_add(d).unwrap_or(now);
                let stale = self.domain_max_staleness.saturating_sub(self.domain_ttl);
                return Ok(Stamped::new(
                    map,
                    now,
                    at(left),
                    at(left.saturating_add(stale)),
                ));
            }
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
        if let Some(store) = &self.store {
            store
                .write_domains(&map, self.domain_ttl, self.clock.now())
                .await;
        }
        let at = |d| started.checked_add(d).unwrap_or(started);
        Ok(Stamped::new(
            map,
            started,
            at(self.domain_ttl),
            at(self.domain_max_staleness.max(self.domain_ttl)),
        ))
    }

    /// The host of `service`: `fixed` if configured, else from the map.
    async fn service_host(
        &self,
        fixed: Option<&Host>,
        service: ServiceName,
        deadline: Option<Instant>,
    ) -> Result<Host, Error> {
        if let Some(host) = fixed {
            return Ok(host.clone());
        }
        let map = self.domains.get(Want::Usable, deadline).await?;
        map.value.require(&service).cloned().map_err(Error::Domain)
    }

    pub(super) async fn sentinel_host(&self, deadline: Option<Instant>) -> Result<Host, Error> {
        self.service_host(self.sentinel.as_ref(), ServiceName::sentinel(), deadline)
            .await
    }

    pub(super) async fn idp_host(&self, deadline: Option<Instant>) -> Result<Host, Error> {
        self.service_host(self.idp.as_ref(), ServiceName::idp(), deadline)
            .await
    }
}
