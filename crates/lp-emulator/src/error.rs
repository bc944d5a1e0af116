//! The emulator's one error type.

use std::fmt;

/// Why the emulator could not start, or could not make or rotate a key.
///
/// None of these carries a secret: client secrets, private keys and tokens
/// never reach an error message.
#[derive(Debug)]
#[non_exhaustive]
pub enum EmulatorError {
    /// RSA key generation failed (the operating system's random source or
    /// the `rsa` crate reported an error).
    KeyGeneration {
        /// What failed, in a few words.
        reason: String,
    },
    /// A PKCS#8 key was not an RSA key `ring` accepts for RS256 signing.
    InvalidKey {
        /// Why `ring` or `rsa` refused it.
        reason: String,
    },
    /// `ring` failed to sign (should not happen with a key it accepted).
    Signing,
    /// A registered client had an invalid account id or client id, or an
    /// empty secret.
    InvalidClient {
        /// Which part was wrong, in a few words (never the secret).
        reason: String,
    },
    /// The self-signed CA or the leaf certificate could not be made.
    Certificate(rcgen::Error),
    /// rustls refused the server configuration.
    Tls(rustls::Error),
    /// The listening socket could not be bound.
    Bind(std::io::Error),
    /// A background task (key generation) did not finish.
    Task {
        /// What the runtime said.
        reason: String,
    },
}

impl fmt::Display for EmulatorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EmulatorError::KeyGeneration { reason } => {
                write!(f, "rsa key generation failed: {reason}")
            }
            EmulatorError::InvalidKey { reason } => write!(f, "invalid signing key: {reason}"),
            EmulatorError::Signing => f.write_str("rs256 signing failed"),
            EmulatorError::InvalidClient { reason } => {
                write!(f, "invalid registered client: {reason}")
            }
            EmulatorError::Certificate(_) => f.write_str("could not create the tls certificates"),
            EmulatorError::Tls(_) => f.write_str("could not configure tls"),
            EmulatorError::Bind(_) => f.write_str("could not bind the listening socket"),
            EmulatorError::Task { reason } => write!(f, "background task failed: {reason}"),
        }
    }
}

impl std::error::Error for EmulatorError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            EmulatorError::Certificate(e) => Some(e),
            EmulatorError::Tls(e) => Some(e),
            EmulatorError::Bind(e) => Some(e),
            _ => None,
        }
    }
}
