//! The middleware's error type.

use std::error::Error as StdError;
use std::fmt;

/// Why an [`AppJwtService`](crate::AppJwtService) call failed.
///
/// An HTTP answer, whatever its status (a 401 after the retries, a 403, a
/// 429), is not an error: it is handed back as the response. No variant
/// holds a token; the inner errors of `lp-appjwt` never do either.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error<E> {
    /// No AppJWT could be had for the request.
    Token(lp_appjwt::Error),
    /// No ConsumerJWS could be had for the request's
    /// [`ExtConsumerId`](lp_appjwt::ExtConsumerId).
    ConsumerJws(lp_appjwt::Error),
    /// A token holds bytes that a header cannot carry (never the case for
    /// what `lp-appjwt` hands out, which is visible ASCII).
    InvalidHeader(http::header::InvalidHeaderValue),
    /// The wrapped service failed (connection refused, timeout, ...).
    Service(E),
    /// A layer over a registry ([`AppJwtLayer::registry`](crate::AppJwtLayer::registry))
    /// got a request without an [`AccountId`](lp_appjwt::AccountId) in its
    /// extensions; nothing was sent.
    NoAccount,
    /// The registry has no client for the request's account (unknown, or
    /// its credentials could not be had); nothing was sent.
    Registry(lp_appjwt::RegistryError),
}

impl<E: fmt::Display> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Token(e) => write!(f, "no appjwt for the request: {e}"),
            Error::ConsumerJws(e) => write!(f, "no consumer jws for the request: {e}"),
            // InvalidHeaderValue's message does not quote the value.
            Error::InvalidHeader(e) => write!(f, "a token cannot be sent as a header: {e}"),
            Error::Service(e) => write!(f, "{e}"),
            Error::NoAccount => f.write_str(
                "the request names no account: put an lp_appjwt::AccountId in its extensions",
            ),
            Error::Registry(e) => write!(f, "no client for the request's account: {e}"),
        }
    }
}

impl<E: StdError + 'static> StdError for Error<E> {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            // Display already carries the cause's message; its source
            // continues the chain.
            Error::Token(e) | Error::ConsumerJws(e) => e.source(),
            Error::InvalidHeader(_) | Error::NoAccount => None,
            Error::Service(e) => e.source(),
            Error::Registry(e) => e.source(),
        }
    }
}
