//! Fault injection and request counting.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Which endpoint a fault or a count is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// The Domain API (both `baseURI.json` forms).
    Domain,
    /// The Sentinel token endpoint (v1 and v2).
    Token,
    /// The JWKS at `/sentinel/well-known/jwks`.
    Jwks,
    /// The idp's ConsumerJWS endpoint, `/api/account/{acc}/consumer`.
    Consumer,
    /// The Send API's CONVERSATION call (`asyncMessagingEnt`),
    /// `/api/account/{acc}/messaging/consumer/conversation`.
    Conversation,
    /// The Send API's SEND call (`asyncMessagingEnt`),
    /// `/api/account/{acc}/messaging/consumer/conversation/send`.
    Send,
    /// Every request, including ones to unknown paths.
    Any,
}

/// What an injected fault does to a request.
///
/// Transport-level faults (`Status` to `HugeBody`) replace the answer of any
/// endpoint. Token faults (`TokenType` to `FutureIatToken`) only change a
/// successful token answer, `DomainHost` only a Domain API answer, and
/// `ConsumerUnauthorized` only a ConsumerJWS answer; an entry injected for
/// [`Endpoint::Any`] with such a fault waits for a request it applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer this status (an invalid code becomes 500), with an optional
    /// `Retry-After` value and body (`text/plain`; empty when `None`).
    Status {
        /// The HTTP status code, e.g. 500, 503, 429.
        status: u16,
        /// The `Retry-After` header value, e.g. `"2"`.
        retry_after: Option<String>,
        /// The body, if any.
        body: Option<String>,
    },
    /// Wait this long, then answer normally.
    Delay(Duration),
    /// Read the request, then never answer (until the emulator shuts down).
    Hang,
    /// Send the headers of the normal answer with its full `Content-Length`,
    /// half of the body, then reset the connection.
    CloseMidBody,
    /// `200` with `application/json` that is cut off mid-document.
    MalformedJson,
    /// `200` with a `text/html` page.
    NonJson200,
    /// `200` `application/json` with a body of exactly this many bytes,
    /// streamed in chunks (never a valid document).
    HugeBody(usize),
    /// A successful token answer whose `token_type` is this instead of
    /// `Bearer`.
    TokenType(String),
    /// A token whose `aud` is another account.
    WrongAccountToken,
    /// A token that expired a minute ago (`exp = now - 60`).
    ExpiredToken,
    /// A token whose `iss` is not `Sentinel`.
    WrongIssuerToken,
    /// A token whose signature does not verify (one bit flipped).
    BadSignatureToken,
    /// A token issued an hour in the future.
    FutureIatToken,
    /// The Domain API answers this raw `baseURI` for `sentinel`, e.g.
    /// `"evil@host"` or `"host/path"`.
    DomainHost(String),
    /// The ConsumerJWS endpoint answers `401` with its JSON error body
    /// whatever the request, as when the AppJWT expired between the client's
    /// check and the server's (to test a client's refresh-and-retry path).
    ConsumerUnauthorized,
}

impl Fault {
    /// Whether this fault can change the answer of a request to `endpoint`
    /// (`None`: a path the emulator does not serve).
    fn applies_to(&self, endpoint: Option<Endpoint>) -> bool {
        match self {
            Fault::TokenType(_)
            | Fault::WrongAccountToken
            | Fault::ExpiredToken
            | Fault::WrongIssuerToken
            | Fault::BadSignatureToken
            | Fault::FutureIatToken => endpoint == Some(Endpoint::Token),
            Fault::DomainHost(_) => endpoint == Some(Endpoint::Domain),
            Fault::ConsumerUnauthorized => endpoint == Some(Endpoint::Consumer),
            _ => true,
        }
    }

    /// A short name for logs.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Fault::Status { .. } => "status",
            Fault::Delay(_) => "delay",
            Fault::Hang => "hang",
            Fault::CloseMidBody => "close-mid-body",
            Fault::MalformedJson => "malformed-json",
            Fault::NonJson200 => "non-json-200",
            Fault::HugeBody(_) => "huge-body",
            Fault::TokenType(_) => "token-type",
            Fault::WrongAccountToken => "wrong-account-token",
            Fault::ExpiredToken => "expired-token",
            Fault::WrongIssuerToken => "wrong-issuer-token",
            Fault::BadSignatureToken => "bad-signature-token",
            Fault::FutureIatToken => "future-iat-token",
            Fault::DomainHost(_) => "domain-host",
            Fault::ConsumerUnauthorized => "consumer-unauthorized",
        }
    }
}

struct Entry {
    endpoint: Endpoint,
    fault: Fault,
    remaining: u32,
}

/// Injected faults, in the order they were injected.
#[derive(Default)]
pub(crate) struct Faults {
    entries: Mutex<Vec<Entry>>,
}

impl Faults {
    pub(crate) fn inject(&self, endpoint: Endpoint, fault: Fault, times: u32) {
        if times == 0 {
            return;
        }
        lock(&self.entries).push(Entry {
            endpoint,
            fault,
            remaining: times,
        });
    }

    pub(crate) fn clear(&self) {
        lock(&self.entries).clear();
    }

    /// Takes one use of the oldest fault that applies to a request to
    /// `endpoint`.
    pub(crate) fn take(&self, endpoint: Option<Endpoint>) -> Option<Fault> {
        let mut entries = lock(&self.entries);
        let i = entries.iter().position(|e| {
            (e.endpoint == Endpoint::Any || Some(e.endpoint) == endpoint)
                && e.fault.applies_to(endpoint)
        })?;
        let entry = &mut entries[i];
        entry.remaining -= 1;
        let fault = entry.fault.clone();
        if entry.remaining == 0 {
            entries.remove(i);
        }
        Some(fault)
    }
}

/// Every endpoint, [`Endpoint::Any`] last.
const ALL: [Endpoint; 7] = [
    Endpoint::Domain,
    Endpoint::Token,
    Endpoint::Jwks,
    Endpoint::Consumer,
    Endpoint::Conversation,
    Endpoint::Send,
    Endpoint::Any,
];

/// Request counters per endpoint.
#[derive(Default)]
pub(crate) struct Counts {
    domain: AtomicU64,
    token: AtomicU64,
    jwks: AtomicU64,
    consumer: AtomicU64,
    conversation: AtomicU64,
    send: AtomicU64,
    any: AtomicU64,
}

impl Counts {
    pub(crate) fn record(&self, endpoint: Option<Endpoint>) {
        self.any.fetch_add(1, Ordering::Relaxed);
        if let Some(e) = endpoint {
            self.counter(e).fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn get(&self, endpoint: Endpoint) -> u64 {
        self.counter(endpoint).load(Ordering::Relaxed)
    }

    pub(crate) fn reset(&self) {
        for e in ALL {
            self.counter(e).store(0, Ordering::Relaxed);
        }
    }

    fn counter(&self, endpoint: Endpoint) -> &AtomicU64 {
        match endpoint {
            Endpoint::Domain => &self.domain,
            Endpoint::Token => &self.token,
            Endpoint::Jwks => &self.jwks,
            Endpoint::Consumer => &self.consumer,
            Endpoint::Conversation => &self.conversation,
            Endpoint::Send => &self.send,
            Endpoint::Any => &self.any,
        }
    }
}

/// Locks a mutex, carrying on after a panic elsewhere: every structure kept
/// behind these locks stays consistent between statements.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_are_taken_in_order_and_only_where_they_apply() {
        let faults = Faults::default();
        faults.inject(Endpoint::Any, Fault::ExpiredToken, 1);
        faults.inject(Endpoint::Domain, Fault::Hang, 2);
        faults.inject(Endpoint::Token, Fault::NonJson200, 0);
        faults.inject(Endpoint::Any, Fault::ConsumerUnauthorized, 1);
        let steps: [(Option<Endpoint>, Option<Fault>); 8] = [
            (Some(Endpoint::Jwks), None),
            (Some(Endpoint::Consumer), Some(Fault::ConsumerUnauthorized)),
            (Some(Endpoint::Consumer), None),
            (None, None),
            (Some(Endpoint::Domain), Some(Fault::Hang)),
            (Some(Endpoint::Token), Some(Fault::ExpiredToken)),
            (Some(Endpoint::Token), None),
            (Some(Endpoint::Domain), Some(Fault::Hang)),
        ];
        for (i, (endpoint, expected)) in steps.into_iter().enumerate() {
            assert_eq!(faults.take(endpoint), expected, "step {i}");
        }
        assert_eq!(faults.take(Some(Endpoint::Domain)), None);
    }

    #[test]
    fn counts() {
        let counts = Counts::default();
        counts.record(Some(Endpoint::Token));
        counts.record(Some(Endpoint::Token));
        counts.record(Some(Endpoint::Consumer));
        counts.record(Some(Endpoint::Send));
        counts.record(None);
        let got = ALL.map(|e| counts.get(e));
        assert_eq!(got, [0, 2, 0, 1, 0, 1, 5]);
        counts.reset();
        assert_eq!(counts.get(Endpoint::Any), 0);
        assert_eq!(ALL.map(|e| counts.get(e)), [0; 7]);
    }
}
