//! The swappable HTTP transport: one request in, one response out.

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// The future a [`Transport`] returns.
pub type TransportFuture<'a> =
    Pin<Box<dyn Future<Output = Result<http::Response<Vec<u8>>, TransportError>> + Send + 'a>>;

/// Sends one HTTP request and returns the whole response.
///
/// The protocol crates build complete `https://` requests (absolute URI,
/// headers, body) and parse complete responses; a transport only moves the
/// bytes. It must not follow redirects: a `3xx` is handed back as it is, so
/// the client reports it instead of sending the secret somewhere else.
///
/// Any closure `Fn(http::Request<Vec<u8>>) -> impl Future<Output =
/// Result<http::Response<Vec<u8>>, TransportError>>` is a transport, which
/// makes a fake for tests one line long:
///
/// ```
/// use lp_appjwt::{Transport, TransportError};
///
/// let fake = |_req: http::Request<Vec<u8>>| async {
///     Ok::<_, TransportError>(http::Response::new(b"{}".to_vec()))
/// };
/// fn is_transport(_: &impl Transport) {}
/// is_transport(&fake);
/// ```
pub trait Transport: Send + Sync + 'static {
    /// Sends `req` and returns the response with its body read completely.
    fn send(&self, req: http::Request<Vec<u8>>) -> TransportFuture<'_>;
}

impl<F, Fut> Transport for F
where
    F: Fn(http::Request<Vec<u8>>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<http::Response<Vec<u8>>, TransportError>> + Send + 'static,
{
    fn send(&self, req: http::Request<Vec<u8>>) -> TransportFuture<'_> {
        Box::pin(self(req))
    }
}

/// What kind of failure a [`TransportError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransportErrorKind {
    /// The TCP connection could not be established (refused, unreachable,
    /// name resolution failed). Retryable.
    Connect,
    /// The TLS handshake failed, e.g. the certificate is not trusted or not
    /// valid for the host. Not retryable: an untrusted certificate does not
    /// become trusted by asking again.
    Tls,
    /// The connect or the whole-request timeout elapsed. Retryable.
    Timeout,
    /// The connection broke while the request or response was in flight.
    /// Retryable.
    Io,
    /// The response body was larger than the transport accepts.
    BodyTooLarge,
    /// The request used plain `http://` where that is not allowed.
    InsecureScheme,
    /// The transport was misconfigured (bad PEM file, no trusted roots).
    Config,
    /// Anything else.
    Other,
}

impl TransportErrorKind {
    fn describe(self) -> &'static str {
        match self {
            TransportErrorKind::Connect => "connection failed",
            TransportErrorKind::Tls => "tls handshake failed",
            TransportErrorKind::Timeout => "request timed out",
            TransportErrorKind::Io => "connection broken",
            TransportErrorKind::BodyTooLarge => "response body too large",
            TransportErrorKind::InsecureScheme => "plain http refused",
            TransportErrorKind::Config => "invalid transport configuration",
            TransportErrorKind::Other => "transport failed",
        }
    }
}

/// Why a [`Transport`] could not deliver a response.
///
/// Cheap to clone: the underlying error is shared.
#[derive(Clone)]
pub struct TransportError {
    kind: TransportErrorKind,
    detail: Option<&'static str>,
    source: Option<Arc<dyn StdError + Send + Sync + 'static>>,
}

impl TransportError {
    /// An error of `kind` without an underlying cause.
    pub fn new(kind: TransportErrorKind) -> Self {
        TransportError {
            kind,
            detail: None,
            source: None,
        }
    }

    /// An error of `kind` caused by `source`.
    pub fn with_source(
        kind: TransportErrorKind,
        source: impl Into<Box<dyn StdError + Send + Sync + 'static>>,
    ) -> Self {
        TransportError {
            kind,
            detail: None,
            source: Some(Arc::from(source.into())),
        }
    }

    /// Adds a fixed explanation shown after the kind in `Display`.
    pub fn with_detail(mut self, detail: &'static str) -> Self {
        self.detail = Some(detail);
        self
    }

    /// A connection failure, as a fake transport would report a refused port.
    pub fn connect() -> Self {
        TransportError::new(TransportErrorKind::Connect)
    }

    /// A timeout.
    pub fn timeout() -> Self {
        TransportError::new(TransportErrorKind::Timeout)
    }

    /// A TLS failure.
    pub fn tls() -> Self {
        TransportError::new(TransportErrorKind::Tls)
    }

    /// A broken connection.
    pub fn io() -> Self {
        TransportError::new(TransportErrorKind::Io)
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> TransportErrorKind {
        self.kind
    }

    /// Whether sending the same request again may succeed: connect, timeout
    /// and broken-connection errors are; TLS, configuration, size and scheme
    /// errors are not.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.kind,
            TransportErrorKind::Connect | TransportErrorKind::Timeout | TransportErrorKind::Io
        )
    }

    /// Whether the peer could not be reached at all, which suggests the host
    /// name came from a stale domain map.
    pub(crate) fn is_connection_failure(&self) -> bool {
        matches!(
            self.kind,
            TransportErrorKind::Connect | TransportErrorKind::Timeout | TransportErrorKind::Tls
        )
    }
}

impl fmt::Debug for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("TransportError");
        d.field("kind", &self.kind);
        if let Some(detail) = self.detail {
            d.field("detail", &detail);
        }
        if let Some(source) = &self.source {
            d.field("source", &format_args!("{source}"));
        }
        d.finish()
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind.describe())?;
        if let Some(detail) = self.detail {
            write!(f, ": {detail}")?;
        }
        Ok(())
    }
}

impl StdError for TransportError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_kinds() {
        let check = |kind, expected| {
            assert_eq!(
                TransportError::new(kind).is_retryable(),
                expected,
                "{kind:?}"
            );
        };
        check(TransportErrorKind::Connect, true);
        check(TransportErrorKind::Timeout, true);
        check(TransportErrorKind::Io, true);
        check(TransportErrorKind::Tls, false);
        check(TransportErrorKind::BodyTooLarge, false);
        check(TransportErrorKind::InsecureScheme, false);
        check(TransportErrorKind::Config, false);
        check(TransportErrorKind::Other, false);
    }

    #[test]
    fn display_and_source() {
        let inner = std::io::Error::other("refused");
        let e = TransportError::with_source(TransportErrorKind::Connect, inner)
            .with_detail("to 127.0.0.1");
        assert_eq!(e.to_string(), "connection failed: to 127.0.0.1");
        assert_eq!(
            StdError::source(&e).map(|s| s.to_string()).as_deref(),
            Some("refused")
        );
        assert!(StdError::source(&TransportError::tls()).is_none());
    }
}
