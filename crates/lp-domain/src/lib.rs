//! LivePerson's Domain API (CSDS) as pure functions: build the lookup
//! request, parse the answer into validated [`Host`]s, and keep the map in a
//! [`DomainCache`]. Nothing here opens a socket or reads the clock; `now` is
//! always a parameter.
//!
//! ```
//! use lp_domain::{AccountId, DomainCache, Host, ServiceName};
//! use std::time::{Duration, Instant};
//!
//! let csds = Host::parse(lp_domain::DEFAULT_CSDS_HOST)?;
//! let account = AccountId::new("56072331")?;
//! let request = lp_domain::all_services_request(&csds, &account);
//! assert_eq!(
//!     request.uri(),
//!     "https://api.liveperson.net/api/account/56072331/service/baseURI.json?version=1.0",
//! );
//!
//! // ... send it, then hand the answer back:
//! let answer = http::Response::builder().status(200).body(
//!     br#"{"baseURIs":[{"service":"sentinel","account":"56072331","baseURI":"va.sentinel.liveperson.net"}]}"#
//!         .to_vec(),
//! )?;
//! let map = lp_domain::parse_all_services_response(&answer)?;
//! assert_eq!(map.require(&ServiceName::sentinel())?.to_string(), "va.sentinel.liveperson.net");
//!
//! let mut cache = DomainCache::default();
//! let now = Instant::now();
//! cache.insert(map, now);
//! assert!(cache.get(now + Duration::from_secs(60)).is_some());
//! assert!(cache.get(now + lp_domain::DEFAULT_TTL).is_none());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::fmt;
use std::time::{Duration, Instant};

use http::header::ACCEPT;
use http::{HeaderValue, Method, StatusCode};
use lp_json::{field, kind_of, parse_object, text_field};
use serde_json::{Map, Value};

pub use lp_ids::{AccountId, Host, IdError, IdKind};
/// `Retry-After` of a 429 or 5xx answer (the type the other protocol
/// crates use too).
pub use lp_json::RetryAfter;

/// LivePerson's public Domain API host.
pub const DEFAULT_CSDS_HOST: &str = "api.liveperson.net";
/// How long a fetched map is trusted by [`DomainCache`].
pub const DEFAULT_TTL: Duration = Duration::from_secs(600);
/// Largest Domain API body accepted.
pub const DEFAULT_MAX_BODY: usize = 256 * 1024;
/// Longest service name accepted.
pub const MAX_SERVICE_NAME_LEN: usize = 64;

/// A Domain API service name such as `sentinel` or `asyncMessagingEnt`
/// (case sensitive; ASCII letters, digits, `-`, `_`, `.`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceName(String);

/// Builds the error for a refused service name.
fn name_error(reason: &'static str) -> IdError {
    IdError::Invalid {
        kind: IdKind::ServiceName,
        reason,
    }
}

impl ServiceName {
    /// The token endpoint's service.
    pub const SENTINEL: &'static str = "sentinel";
    /// The consumer identity service (ConsumerJWS).
    pub const IDP: &'static str = "idp";

    /// Validates a service name: 1 to [`MAX_SERVICE_NAME_LEN`] bytes of
    /// ASCII letters, digits, `-`, `_` and `.`, without `..` and not `.`
    /// alone (those are path segments that URL normalisation removes, which
    /// would turn a one-service lookup into another request).
    ///
    /// ```
    /// use lp_domain::ServiceName;
    /// assert!(ServiceName::new("asyncMessagingEnt").is_ok());
    /// assert!(ServiceName::new("a.b-c_d").is_ok());
    /// assert!(ServiceName::new("..").is_err());
    /// assert!(ServiceName::new("a/b").is_err());
    /// ```
    pub fn new(name: impl Into<String>) -> Result<Self, IdError> {
        let name = name.into();
        if name.is_empty() {
            return Err(name_error("service name is empty"));
        }
        if name.len() > MAX_SERVICE_NAME_LEN {
            return Err(name_error("service name is longer than 64 bytes"));
        }
        if !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        {
            return Err(name_error(
                "service name may only hold ascii letters, digits, '-', '_' and '.'",
            ));
        }
        if name == "." || name.contains("..") {
            return Err(name_error("service name is '.' or contains '..'"));
        }
        Ok(ServiceName(name))
    }

    /// `sentinel`.
    pub fn sentinel() -> Self {
        ServiceName(Self::SENTINEL.to_owned())
    }

    /// `idp`.
    pub fn idp() -> Self {
        ServiceName(Self::IDP.to_owned())
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ServiceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for ServiceName {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        ServiceName::new(s)
    }
}

impl AsRef<str> for ServiceName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// `GET https://{csds}/api/account/{acc}/service/{service}/baseURI.json?version=1.0`
/// with `Accept: application/json`.
///
/// See [`all_services_request`] on why this cannot fail.
pub fn service_request(
    csds: &Host,
    account: &AccountId,
    service: &ServiceName,
) -> http::Request<Vec<u8>> {
    get_request(
        csds,
        format!("/api/account/{account}/service/{service}/baseURI.json?version=1.0"),
    )
}

/// `GET https://{csds}/api/account/{acc}/service/baseURI.json?version=1.0`
/// with `Accept: application/json`.
///
/// Building cannot fail: [`Host`] displays as a valid URI authority, and
/// [`AccountId`] and [`ServiceName`] hold only characters that are valid in
/// a path segment. Rather than panic should that ever stop being true, the
/// result would be an inert `GET /` without an authority, which every
/// transport refuses.
pub fn all_services_request(csds: &Host, account: &AccountId) -> http::Request<Vec<u8>> {
    get_request(
        csds,
        format!("/api/account/{account}/service/baseURI.json?version=1.0"),
    )
}

fn get_request(csds: &Host, path_and_query: String) -> http::Request<Vec<u8>> {
    let uri = http::Uri::builder()
        .scheme("https")
        .authority(csds.to_string())
        .path_and_query(path_and_query)
        .build();
    let mut request = http::Request::new(Vec::new());
    *request.method_mut() = Method::GET;
    if let Ok(uri) = uri {
        *request.uri_mut() = uri;
    }
    request
        .headers_mut()
        .insert(ACCEPT, HeaderValue::from_static("application/json"));
    request
}

/// One service's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceDomain {
    /// The service asked for.
    pub service: ServiceName,
    /// The `account` field as sent (empty when absent).
    pub account: String,
    /// The validated `baseURI`.
    pub host: Host,
}

/// All services of an account.
///
/// An entry whose `baseURI` is not a valid host is kept as an error for that
/// service alone: [`DomainMap::require`] reports it, while other services
/// stay usable. [`DomainMap::get`], [`DomainMap::iter`], [`DomainMap::len`]
/// and [`DomainMap::is_empty`] see only the valid entries;
/// [`DomainMap::invalid`] lists the others.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DomainMap {
    map: BTreeMap<String, Result<Host, IdError>>,
}

impl DomainMap {
    /// An empty map.
    pub fn new() -> Self {
        DomainMap::default()
    }

    /// The host of `service`, if it is present and valid.
    pub fn get(&self, service: &str) -> Option<&Host> {
        self.map.get(service).and_then(|r| r.as_ref().ok())
    }

    /// Like `get`, with a typed error when the service is absent
    /// ([`DomainError::ServiceNotFound`]) or its host was invalid
    /// ([`DomainError::InvalidHost`]).
    pub fn require(&self, service: &ServiceName) -> Result<&Host, DomainError> {
        match self.map.get(service.as_str()) {
            Some(Ok(host)) => Ok(host),
            Some(Err(error)) => Err(DomainError::InvalidHost {
                service: service.as_str().to_owned(),
                error: error.clone(),
            }),
            None => Err(DomainError::ServiceNotFound {
                service: service.as_str().to_owned(),
            }),
        }
    }

    /// The valid entries, ordered by service name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Host)> {
        self.map
            .iter()
            .filter_map(|(k, v)| v.as_ref().ok().map(|h| (k.as_str(), h)))
    }

    /// The entries whose `baseURI` was refused, with the reason.
    pub fn invalid(&self) -> impl Iterator<Item = (&str, &IdError)> {
        self.map
            .iter()
            .filter_map(|(k, v)| v.as_ref().err().map(|e| (k.as_str(), e)))
    }

    /// How many valid entries there are.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// Whether there is no valid entry.
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }

    /// Sets the host of `service`, replacing any entry (for tests and for
    /// configured overrides).
    pub fn insert(&mut self, service: ServiceName, host: Host) {
        self.map.insert(service.0, Ok(host));
    }
}

impl FromIterator<(ServiceName, Host)> for DomainMap {
    fn from_iter<I: IntoIterator<Item = (ServiceName, Host)>>(iter: I) -> Self {
        let mut map = DomainMap::new();
        for (service, host) in iter {
            map.insert(service, host);
        }
        map
    }
}

/// Why a Domain API answer could not be used.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum DomainError {
    /// A non-200 status (400 bad query, 401 invalid site, 404, 5xx ...).
    Status {
        /// The HTTP status.
        status: StatusCode,
        /// The answer's `Retry-After`, read for 429 and 5xx only.
        retry_after: Option<RetryAfter>,
    },
    /// 200, but the wanted service is not in it.
    ServiceNotFound {
        /// The service asked for.
        service: String,
    },
    /// `baseURI` is not a bare host with an optional port.
    InvalidHost {
        /// The service whose `baseURI` was refused.
        service: String,
        /// Why it was refused.
        error: IdError,
    },
    /// A 200 whose body exceeded the cap.
    BodyTooLarge {
        /// The HTTP status.
        status: StatusCode,
        /// The cap in bytes.
        limit: usize,
    },
    /// Not JSON, truncated, or the wrong shape.
    Malformed {
        /// The HTTP status.
        status: StatusCode,
        /// What is wrong, with the position for JSON syntax errors. Never
        /// contains body text.
        reason: String,
    },
}

impl DomainError {
    /// The HTTP status, for the errors that come with one
    /// ([`DomainError::Status`], [`DomainError::BodyTooLarge`],
    /// [`DomainError::Malformed`]).
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            DomainError::Status { status, .. }
            | DomainError::BodyTooLarge { status, .. }
            | DomainError::Malformed { status, .. } => Some(*status),
            DomainError::ServiceNotFound { .. } | DomainError::InvalidHost { .. } => None,
        }
    }

    /// 5xx and 429: worth retrying. Everything else would get the same
    /// answer again.
    pub fn is_retryable(&self) -> bool {
        matches!(self, DomainError::Status { status, .. }
            if status.is_server_error() || *status == StatusCode::TOO_MANY_REQUESTS)
    }

    /// The server's `Retry-After` (429 and 5xx), when it sent one.
    pub fn retry_after(&self) -> Option<RetryAfter> {
        match self {
            DomainError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

impl fmt::Display for DomainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DomainError::Status {
                status,
                retry_after,
            } => {
                write!(
                    f,
                    "domain api answered with http status {}",
                    status.as_u16()
                )?;
                match retry_after {
                    Some(RetryAfter::Delay(d)) => write!(f, " (retry after {} s)", d.as_secs()),
                    Some(RetryAfter::At(_)) => f.write_str(" (retry after a given date)"),
                    None => Ok(()),
                }
            }
            DomainError::ServiceNotFound { service } => {
                write!(f, "service {service:?} is not in the domain api answer")
            }
            DomainError::InvalidHost { service, error } => write!(
                f,
                "domain api gave an unusable host for service {service:?}: {error}"
            ),
            DomainError::BodyTooLarge { status, limit } => write!(
                f,
                "domain api answer with http status {} is larger than {limit} bytes",
                status.as_u16()
            ),
            DomainError::Malformed { status, reason } => write!(
                f,
                "malformed domain api answer with http status {}: {reason}",
                status.as_u16()
            ),
        }
    }
}

impl std::error::Error for DomainError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DomainError::InvalidHost { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// Parses the answer to [`service_request`], the flat
/// `{"service":"sentinel","account":"56072331","baseURI":"va.sentinel.liveperson.net"}`,
/// with the default body cap.
pub fn parse_service_response<B: AsRef<[u8]>>(
    response: &http::Response<B>,
    expected: &ServiceName,
) -> Result<ServiceDomain, DomainError> {
    parse_service_response_with_limit(response, expected, DEFAULT_MAX_BODY)
}

/// Parses the answer to [`service_request`], refusing bodies over
/// `max_body` bytes.
///
/// A 200 whose `service` is absent or differs from `expected`, or whose
/// `baseURI` is absent, `null` or empty, is
/// [`DomainError::ServiceNotFound`]; a `baseURI` that is not a bare host is
/// [`DomainError::InvalidHost`]; any other status is
/// [`DomainError::Status`].
pub fn parse_service_response_with_limit<B: AsRef<[u8]>>(
    response: &http::Response<B>,
    expected: &ServiceName,
    max_body: usize,
) -> Result<ServiceDomain, DomainError> {
    let status = response.status();
    let object = read_object(response, max_body)?;
    let malformed = |reason: String| DomainError::Malformed { status, reason };
    let not_found = || DomainError::ServiceNotFound {
        service: expected.as_str().to_owned(),
    };

    match text_field(&object, "service").map_err(malformed)? {
        Some(s) if s == expected.as_str() => {}
        _ => return Err(not_found()),
    }
    let account = match field(&object, "account") {
        None => String::new(),
        Some(Value::String(s)) => s.clone(),
        // Account ids are digits; tolerate an unquoted one.
        Some(Value::Number(n)) => n.to_string(),
        Some(other) => {
            return Err(malformed(format!(
                "account is {}, expected a string",
                kind_of(other)
            )));
        }
    };
    let base_uri = match text_field(&object, "baseURI").map_err(malformed)? {
        None | Some("") => return Err(not_found()),
        Some(s) => s,
    };
    let host = Host::parse(base_uri).map_err(|error| DomainError::InvalidHost {
        service: expected.as_str().to_owned(),
        error,
    })?;
    Ok(ServiceDomain {
        service: expected.clone(),
        account,
        host,
    })
}

/// Parses the answer to [`all_services_request`],
/// `{"baseURIs":[{"service":..,"account":..,"baseURI":..},..]}`, with the
/// default body cap.
pub fn parse_all_services_response<B: AsRef<[u8]>>(
    response: &http::Response<B>,
) -> Result<DomainMap, DomainError> {
    parse_all_services_response_with_limit(response, DEFAULT_MAX_BODY)
}

/// Parses the answer to [`all_services_request`], refusing bodies over
/// `max_body` bytes.
///
/// * `baseURIs` must be an array of objects whose `service` is a string and
///   whose `baseURI`, if present, is a string or `null`; anything else is
///   [`DomainError::Malformed`].
/// * An entry with an absent, `null` or empty `baseURI` is skipped, as is one
///   whose `service` is not a valid [`ServiceName`] (it could never be asked
///   for).
/// * A `baseURI` that is not a bare host is kept as an error for that
///   service only (see [`DomainMap`]).
/// * When a service appears more than once, **the first entry wins**, valid
///   or not; later ones are ignored. All entries come from the same answer,
///   so a later one is no more trustworthy than the first.
pub fn parse_all_services_response_with_limit<B: AsRef<[u8]>>(
    response: &http::Response<B>,
    max_body: usize,
) -> Result<DomainMap, DomainError> {
    let status = response.status();
    let object = read_object(response, max_body)?;
    let malformed = |reason: String| DomainError::Malformed { status, reason };
    let entries = match field(&object, "baseURIs") {
        None => return Err(malformed("baseURIs is missing".to_owned())),
        Some(Value::Array(entries)) => entries,
        Some(other) => {
            return Err(malformed(format!(
                "baseURIs is {}, expected an array",
                kind_of(other)
            )));
        }
    };

    let mut map = BTreeMap::new();
    for (i, entry) in entries.iter().enumerate() {
        let Value::Object(entry) = entry else {
            return Err(malformed(format!(
                "baseURIs[{i}] is {}, expected an object",
                kind_of(entry)
            )));
        };
        let in_entry = |reason: String| malformed(format!("baseURIs[{i}]: {reason}"));
        let service = match text_field(entry, "service").map_err(in_entry)? {
            Some(s) => s,
            None => return Err(in_entry("service is missing".to_owned())),
        };
        let base_uri = match text_field(entry, "baseURI").map_err(in_entry)? {
            None | Some("") => continue,
            Some(s) => s,
        };
        let Ok(name) = ServiceName::new(service) else {
            continue;
        };
        if let Entry::Vacant(slot) = map.entry(name.0) {
            slot.insert(Host::parse(base_uri));
        }
    }
    Ok(DomainMap { map })
}

/// Checks status and size, then parses the body as a JSON object.
fn read_object<B: AsRef<[u8]>>(
    response: &http::Response<B>,
    max_body: usize,
) -> Result<Map<String, Value>, DomainError> {
    let status = response.status();
    if status != StatusCode::OK {
        let retry_after = (status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error())
            .then(|| RetryAfter::from_headers(response.headers()))
            .flatten();
        return Err(DomainError::Status {
            status,
            retry_after,
        });
    }
    let body = response.body().as_ref();
    if body.len() > max_body {
        return Err(DomainError::BodyTooLarge {
            status,
            limit: max_body,
        });
    }
    parse_object(body).map_err(|reason| DomainError::Malformed { status, reason })
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
    /// An empty cache trusting a map for `ttl`.
    pub fn new(ttl: Duration) -> Self {
        DomainCache { ttl, entry: None }
    }

    /// How long a map is trusted.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The map if it was stored less than `ttl` before `now`. A `now` earlier
    /// than the insertion (a caller mixing clocks) counts as fresh; a `ttl`
    /// too large to add to the insertion time never expires.
    pub fn get(&self, now: Instant) -> Option<&DomainMap> {
        let (map, inserted_at) = self.entry.as_ref()?;
        match inserted_at.checked_add(self.ttl) {
            Some(expires_at) if now >= expires_at => None,
            _ => Some(map),
        }
    }

    /// Stores `map` as fetched at `now`, replacing any earlier one.
    pub fn insert(&mut self, map: DomainMap, now: Instant) {
        self.entry = Some((map, now));
    }

    /// Forget the map (e.g. after a connection error to a host from it).
    pub fn invalidate(&mut self) {
        self.entry = None;
    }
}
