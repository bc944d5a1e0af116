//! SKELETON: the public API contract of lp-domain. Bodies are filled in by the
//! crate's implementer; signatures may gain items but should not change.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]
#![allow(missing_docs, clippy::todo, unused_variables)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

pub use lp_ids::{AccountId, Host, IdError};

/// LivePerson's public Domain API host.
pub const DEFAULT_CSDS_HOST: &str = "api.liveperson.net";
/// How long a fetched map is trusted by [`DomainCache`].
pub const DEFAULT_TTL: Duration = Duration::from_secs(600);
/// Largest Domain API body accepted.
pub const DEFAULT_MAX_BODY: usize = 256 * 1024;

/// A Domain API service name such as `sentinel` or `asyncMessagingEnt`
/// (case sensitive; ASCII letters, digits, `-`, `_`, `.`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceName(String);

impl ServiceName {
    pub const SENTINEL: &'static str = "sentinel";
    pub const IDP: &'static str = "idp";
    pub fn new(name: impl Into<String>) -> Result<Self, IdError> {
        todo!()
    }
    pub fn sentinel() -> Self {
        ServiceName(Self::SENTINEL.to_owned())
    }
    pub fn idp() -> Self {
        ServiceName(Self::IDP.to_owned())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `GET https://{csds}/api/account/{acc}/service/{service}/baseURI.json?version=1.0`
pub fn service_request(csds: &Host, account: &AccountId, service: &ServiceName) -> http::Request<Vec<u8>> {
    todo!()
}

/// `GET https://{csds}/api/account/{acc}/service/baseURI.json?version=1.0`
pub fn all_services_request(csds: &Host, account: &AccountId) -> http::Request<Vec<u8>> {
    todo!()
}

/// One service's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceDomain {
    pub service: ServiceName,
    pub account: String,
    pub host: Host,
}

/// All services of an account.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DomainMap {
    map: BTreeMap<String, Host>,
}

impl DomainMap {
    pub fn get(&self, service: &str) -> Option<&Host> {
        self.map.get(service)
    }
    /// Like `get`, with a typed error when the service is absent.
    pub fn require(&self, service: &ServiceName) -> Result<&Host, DomainError> {
        todo!()
    }
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Host)> {
        self.map.iter().map(|(k, v)| (k.as_str(), v))
    }
    pub fn len(&self) -> usize {
        self.map.len()
    }
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// Why a Domain API answer could not be used.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum DomainError {
    /// A non-200 status (400 bad query, 401 invalid site, 404, 5xx ...).
    Status { status: http::StatusCode },
    /// 200, but the wanted service is not in it.
    ServiceNotFound { service: String },
    /// `baseURI` is not a bare host with an optional port.
    InvalidHost { service: String, error: IdError },
    BodyTooLarge { status: http::StatusCode, limit: usize },
    /// Not JSON, truncated, or the wrong shape.
    Malformed { status: http::StatusCode, reason: String },
}

impl DomainError {
    pub fn status(&self) -> Option<http::StatusCode> {
        todo!()
    }
    /// 5xx: worth retrying.
    pub fn is_retryable(&self) -> bool {
        todo!()
    }
}

impl std::fmt::Display for DomainError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        todo!()
    }
}
impl std::error::Error for DomainError {}

pub fn parse_service_response<B: AsRef<[u8]>>(
    response: &http::Response<B>,
    expected: &ServiceName,
) -> Result<ServiceDomain, DomainError> {
    todo!()
}

pub fn parse_all_services_response<B: AsRef<[u8]>>(
    response: &http::Response<B>,
) -> Result<DomainMap, DomainError> {
    todo!()
}

/// A TTL cache for one account's [`DomainMap`]. Pure: `now` is a parameter.
#[derive(Debug, Clone)]
pub struct DomainCache {
    ttl: Duration,
    entry: Option<(DomainMap, Instant)>,
}

impl Default for DomainCache {
    fn default() -> Self {
        DomainCache::new(DEFAULT_TTL)
    }
}

impl DomainCache {
    pub fn new(ttl: Duration) -> Self {
        DomainCache { ttl, entry: None }
    }
    /// The map if it was stored less than `ttl` before `now`.
    pub fn get(&self, now: Instant) -> Option<&DomainMap> {
        todo!()
    }
    pub fn insert(&mut self, map: DomainMap, now: Instant) {
        todo!()
    }
    /// Forget the map (e.g. after a connection error to a host from it).
    pub fn invalidate(&mut self) {
        self.entry = None;
    }
}
