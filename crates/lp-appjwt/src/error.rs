//! The facade's error types.

use std::error::Error as StdError;
use std::fmt;

use lp_consumer::{ConsumerError, RequestError};
use lp_domain::DomainError;
use lp_jwt::{DecodeError, ValidationError, VerifyError};
use lp_oauth::{RetryAfter, TokenError};

use crate::jwks::JwksError;
use crate::transport::TransportError;

/// Why [`AppJwtClient::token`](crate::AppJwtClient::token),
/// [`AppJwtClient::domains`](crate::AppJwtClient::domains) or
/// [`AppJwtClient::consumer_jws`](crate::AppJwtClient::consumer_jws) failed.
///
/// `Display` includes the cause's message, so printing the error alone is
/// enough; [`source`](StdError::source) continues with the cause's own
/// source, so a chain printer shows every message once. No variant ever
/// holds the client secret or a token.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Error {
    /// The Domain API answer could not be used (bad status, no `sentinel`).
    Domain(DomainError),
    /// Sentinel did not hand out a token (rejected, throttled, 5xx, bad body).
    Token(TokenError),
    /// The request could not be delivered or its answer not read.
    Transport(TransportError),
    /// The access token is not a well-formed compact JWT.
    Decode(DecodeError),
    /// The token is well formed but not acceptable (wrong account, client
    /// id or issuer, expired).
    Validation(ValidationError),
    /// The token's signature was not accepted by the configured
    /// [`VerifyWith`](crate::VerifyWith) source: bad signature, an algorithm
    /// other than RS256, or a `kid` the key set does not hold. Not
    /// retryable; the token is not cached.
    Verify(VerifyError),
    /// The key set to verify the token with could not be fetched or used
    /// (a transport failure to reach it is [`Error::Transport`]).
    Jwks(JwksError),
    /// The idp did not hand out a ConsumerJWS: the AppJWT refused (401,
    /// also after one refresh), another 4xx, 429, 5xx, or an unusable
    /// answer.
    Consumer(ConsumerError),
    /// The ConsumerJWS request or the Send API headers could not be built
    /// from the tokens at hand (a token with bytes a header cannot carry).
    ConsumerRequest(RequestError),
    /// Sentinel's answer was valid but leaves no time to use the token:
    /// `expires_in` is zero, or `exp` has passed (within the clock
    /// leeway). Treated as a rejection: not retried at once, remembered.
    NoLifetime {
        /// `expires_in` as sent, in seconds.
        expires_in: Option<u64>,
        /// `exp` minus the client's wall-clock time, in seconds (negative:
        /// already past).
        exp_in: Option<i64>,
    },
    /// The caller's deadline (the retry policy's, counted from the call)
    /// passed, or would have before the next attempt could finish.
    DeadlineExceeded {
        /// Attempts made so far, including the last one (0: the caller
        /// waited for a request that had not failed yet).
        attempts: u32,
        /// The last attempt's error.
        last: Box<Error>,
    },
    /// Not asked: the server said "wait" (429, `Retry-After`) or "no" (a
    /// rejection) a moment ago, and the client does not ask again before
    /// `retry_in` has passed (see [`FailureMemory`](crate::FailureMemory)).
    /// No request was sent.
    Backoff {
        /// Time left before the client asks again.
        retry_in: std::time::Duration,
        /// The failure being remembered.
        last: Box<Error>,
    },
}

impl Error {
    /// Whether asking again later may succeed: 429, 5xx, and connection,
    /// timeout or broken-connection errors, as each inner error's own
    /// `is_retryable` says. Rejected credentials, other 4xx, unusable
    /// tokens and TLS errors are not retryable. [`Error::Backoff`] is
    /// retryable (later) when the failure it remembers is.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Domain(e) => e.is_retryable(),
            Error::Token(e) => e.is_retryable(),
            Error::Transport(e) => e.is_retryable(),
            Error::Jwks(e) => e.is_retryable(),
            Error::Consumer(e) => e.is_retryable(),
            Error::Decode(_)
            | Error::Validation(_)
            | Error::Verify(_)
            | Error::ConsumerRequest(_)
            | Error::NoLifetime { .. }
            | Error::DeadlineExceeded { .. } => false,
            Error::Backoff { last, .. } => last.is_retryable(),
        }
    }

    /// Whether the server answered 429 Too Many Requests (also when that
    /// answer is being remembered, [`Error::Backoff`]).
    pub fn is_throttled(&self) -> bool {
        match self {
            Error::Domain(e) => e.status() == Some(http::StatusCode::TOO_MANY_REQUESTS),
            Error::Token(e) => matches!(e, TokenError::Throttled { .. }),
            Error::Jwks(e) => e.status() == Some(http::StatusCode::TOO_MANY_REQUESTS),
            Error::Consumer(e) => matches!(e, ConsumerError::Throttled { .. }),
            Error::DeadlineExceeded { last, .. } | Error::Backoff { last, .. } => {
                last.is_throttled()
            }
            _ => false,
        }
    }

    /// When to ask again: the server's `Retry-After`, or for
    /// [`Error::Backoff`] the time left before the client asks again.
    pub fn retry_after(&self) -> Option<RetryAfter> {
        match self {
            Error::Token(e) => e.retry_after(),
            Error::Domain(e) => e.retry_after(),
            Error::Jwks(e) => e.retry_after(),
            Error::Consumer(e) => e.retry_after(),
            Error::DeadlineExceeded { last, .. } => last.retry_after(),
            Error::Backoff { retry_in, .. } => Some(RetryAfter::Delay(*retry_in)),
            _ => None,
        }
    }

    /// The HTTP status of the answer behind this error, when there was one.
    pub fn status(&self) -> Option<http::StatusCode> {
        match self {
            Error::Domain(e) => e.status(),
            Error::Token(e) => Some(e.status()),
            Error::Jwks(e) => e.status(),
            Error::Consumer(e) => Some(e.status()),
            Error::DeadlineExceeded { last, .. } | Error::Backoff { last, .. } => last.status(),
            Error::Transport(_)
            | Error::Decode(_)
            | Error::Validation(_)
            | Error::Verify(_)
            | Error::ConsumerRequest(_)
            | Error::NoLifetime { .. } => None,
        }
    }

    /// The innermost error: the last attempt's for
    /// [`Error::DeadlineExceeded`], the remembered one for
    /// [`Error::Backoff`], `self` otherwise.
    pub fn root(&self) -> &Error {
        match self {
            Error::DeadlineExceeded { last, .. } | Error::Backoff { last, .. } => last.root(),
            other => other,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Domain(e) => write!(f, "domain lookup failed: {e}"),
            Error::Token(e) => write!(f, "token request failed: {e}"),
            Error::Transport(e) => write!(f, "transport error: {e}"),
            Error::Decode(e) => write!(f, "access token is not a valid jwt: {e}"),
            Error::Validation(e) => write!(f, "access token refused: {e}"),
            Error::Verify(e) => write!(f, "access token signature refused: {e}"),
            Error::Jwks(e) => write!(f, "cannot get the verification keys: {e}"),
            Error::Consumer(e) => write!(f, "consumer jws request failed: {e}"),
            Error::ConsumerRequest(e) => write!(f, "cannot build the consumer request: {e}"),
            Error::NoLifetime { expires_in, exp_in } => {
                f.write_str("token arrived with no time left to use it")?;
                if let Some(e) = expires_in {
                    write!(f, " (expires_in {e} s)")?;
                }
                if let Some(e) = exp_in {
                    write!(f, " (exp in {e} s)")?;
                }
                Ok(())
            }
            Error::DeadlineExceeded { attempts, last } => {
                write!(f, "deadline exceeded after {attempts} attempt")?;
                if *attempts != 1 {
                    f.write_str("s")?;
                }
                write!(f, ": {last}")
            }
            Error::Backoff { retry_in, last } => {
                let ms = retry_in.as_millis();
                write!(
                    f,
                    "not asking again for {}.{:03} s after: {last}",
                    ms / 1000,
                    ms % 1000
                )
            }
        }
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        // `Display` already includes the cause's message, so the chain
        // continues with the cause's own source.
        match self {
            Error::Domain(e) => e.source(),
            Error::Token(e) => e.source(),
            Error::Transport(e) => e.source(),
            Error::Decode(e) => e.source(),
            Error::Validation(e) => e.source(),
            Error::Verify(e) => e.source(),
            Error::Jwks(e) => e.source(),
            Error::Consumer(e) => e.source(),
            Error::ConsumerRequest(e) => e.source(),
            Error::NoLifetime { .. } => None,
            Error::DeadlineExceeded { last, .. } | Error::Backoff { last, .. } => last.source(),
        }
    }
}

impl From<DomainError> for Error {
    fn from(e: DomainError) -> Self {
        Error::Domain(e)
    }
}

impl From<TokenError> for Error {
    fn from(e: TokenError) -> Self {
        Error::Token(e)
    }
}

impl From<TransportError> for Error {
    fn from(e: TransportError) -> Self {
        Error::Transport(e)
    }
}

impl From<DecodeError> for Error {
    fn from(e: DecodeError) -> Self {
        Error::Decode(e)
    }
}

impl From<VerifyError> for Error {
    fn from(e: VerifyError) -> Self {
        Error::Verify(e)
    }
}

impl From<JwksError> for Error {
    fn from(e: JwksError) -> Self {
        Error::Jwks(e)
    }
}

impl From<ConsumerError> for Error {
    fn from(e: ConsumerError) -> Self {
        Error::Consumer(e)
    }
}

impl From<ValidationError> for Error {
    fn from(e: ValidationError) -> Self {
        Error::Validation(e)
    }
}

/// Why [`AppJwtClientBuilder::build`](crate::AppJwtClientBuilder::build)
/// failed.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum BuildError {
    /// No transport was given and the `hyper-transport` feature is off.
    NoTransport,
    /// The default transport could not be built.
    Transport(TransportError),
    /// A configured host is not valid.
    InvalidHost(lp_ids::IdError),
    /// [`prefetch`](crate::AppJwtClientBuilder::prefetch) was asked for,
    /// but `build` ran outside a tokio runtime, where no fetch can start.
    NoRuntime,
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::NoTransport => f.write_str(
                "no transport configured: call `AppJwtClientBuilder::transport` \
                 or enable the `hyper-transport` feature",
            ),
            BuildError::Transport(e) => write!(f, "cannot build the default transport: {e}"),
            BuildError::InvalidHost(e) => write!(f, "invalid host: {e}"),
            BuildError::NoRuntime => f.write_str(
                "prefetch needs a tokio runtime: build the client inside one, \
                 or call `AppJwtClient::prefetch` later from inside one",
            ),
        }
    }
}

impl StdError for BuildError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            BuildError::NoTransport | BuildError::NoRuntime => None,
            BuildError::Transport(e) => e.source(),
            BuildError::InvalidHost(e) => e.source(),
        }
    }
}
