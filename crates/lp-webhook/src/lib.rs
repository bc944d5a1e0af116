//! Checks that a webhook came from LivePerson: the `x-liveperson-signature`
//! header is an HMAC of the raw request body keyed with the app's client
//! secret, and `x-liveperson-account-id` / `x-liveperson-client-id` say
//! whom it is for. Pure functions over an `http::HeaderMap` and the body
//! bytes; no IO, no clock.
//!
//! ```
//! use lp_webhook::{ACCOUNT_ID_HEADER, SIGNATURE_HEADER, VerifyError, WebhookVerifier};
//! use lp_oauth::{AccountId, ClientSecret};
//!
//! let secret = ClientSecret::new("s3cr3t")?;
//! let verifier = WebhookVerifier::new(&secret).expect_account(AccountId::new("56072331")?);
//!
//! // What the server framework handed over: the headers and the raw body,
//! // before any JSON parsing (a re-serialised body has other bytes).
//! let body = br#"{"kind":"notification","body":{"changes":[]},"type":"ms.MessagingEventNotification"}"#;
//! let mut headers = http::HeaderMap::new();
//! headers.insert(SIGNATURE_HEADER, "sha1=SKqMLsa6RGTXKc3eXHfn8lfRl6k=".parse()?);
//! headers.insert(ACCOUNT_ID_HEADER, "56072331".parse()?);
//! let verified = verifier.verify(&headers, body)?;
//! assert_eq!(verified.algorithm.name(), "sha1");
//!
//! // One changed byte, and the signature no longer matches.
//! let mut forged = body.to_vec();
//! forged[2] ^= 1;
//! assert!(matches!(verifier.verify(&headers, &forged), Err(VerifyError::Mismatch { .. })));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # What is accepted
//!
//! `sha1=` and `sha256=` prefixes, the digest in padded standard Base64
//! (LivePerson's default) or in hex (either case); the two are told apart
//! by length, see [`Encoding`]. Every signature header appears at most
//! once; a second one is refused rather than one of them picked.
//!
//! # Secrets
//!
//! The digest is compared in constant time by ring's `hmac::verify`, and
//! the expected digest is never computed where it could be seen: no error
//! carries it, nor the secret. [`WebhookVerifier`]'s `Debug` redacts the
//! secret. Received header values appear in messages only escaped and cut
//! by [`lp_jwt::Untrusted`] (an unknown algorithm name, an account or
//! client id that is not the expected one), never a received digest.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod signature;

use std::fmt;

use http::HeaderMap;
use lp_jwt::Untrusted;

pub use lp_ids::{AccountId, ClientId};
/// The key, re-exported so that a receiver needs no other crate of ours.
pub use lp_oauth::ClientSecret;
pub use signature::{Algorithm, Encoding, Signature, SignatureError};

/// The header holding the HMAC of the body.
pub const SIGNATURE_HEADER: &str = "x-liveperson-signature";
/// The header naming the account the webhook is for.
pub const ACCOUNT_ID_HEADER: &str = "x-liveperson-account-id";
/// The header naming the app installation (client id) the webhook is for.
pub const CLIENT_ID_HEADER: &str = "x-liveperson-client-id";

/// How many characters of a received account or client id an error shows.
const ID_CHARS: usize = 64;

/// Checks webhooks for one app installation: its secret, and optionally
/// the account and client id they must name.
///
/// `Debug` shows `secret: [redacted]`.
#[derive(Clone)]
pub struct WebhookVerifier {
    secret: ClientSecret,
    account: Option<AccountId>,
    client_id: Option<ClientId>,
}

/// What a valid signature used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    /// The HMAC hash.
    pub algorithm: Algorithm,
    /// How the digest was written.
    pub encoding: Encoding,
}

impl WebhookVerifier {
    /// A verifier keyed with `secret` (a copy is kept, zeroized on drop).
    /// Without [`expect_account`](Self::expect_account) or
    /// [`expect_client_id`](Self::expect_client_id) only the signature is
    /// checked.
    pub fn new(secret: &ClientSecret) -> Self {
        WebhookVerifier {
            secret: secret.clone(),
            account: None,
            client_id: None,
        }
    }

    /// Also requires `x-liveperson-account-id` to be exactly `account`.
    pub fn expect_account(mut self, account: AccountId) -> Self {
        self.account = Some(account);
        self
    }

    /// Also requires `x-liveperson-client-id` to be exactly `client_id`.
    pub fn expect_client_id(mut self, client_id: ClientId) -> Self {
        self.client_id = Some(client_id);
        self
    }

    /// Checks a webhook: its headers and its raw body, byte for byte as
    /// received.
    ///
    /// In this order, the first failure being the error: the signature
    /// header is there once and parses; the account and client id headers
    /// (when expected) are there once and match; the digest matches the
    /// body. The ids come before the digest because a webhook meant for
    /// another installation fails the digest too, and "wrong account" says
    /// more than "mismatch".
    pub fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Result<Verified, VerifyError> {
        let signature = Signature::parse(single(headers, SIGNATURE_HEADER)?)?;
        if let Some(expected) = &self.account {
            same_id(headers, ACCOUNT_ID_HEADER, expected.as_str(), |received| {
                VerifyError::WrongAccount {
                    expected: expected.clone(),
                    received,
                }
            })?;
        }
        if let Some(expected) = &self.client_id {
            same_id(headers, CLIENT_ID_HEADER, expected.as_str(), |received| {
                VerifyError::WrongClientId {
                    expected: expected.clone(),
                    received,
                }
            })?;
        }
        self.check(&signature, body)
    }

    /// Checks only the signature: `value` is the `x-liveperson-signature`
    /// header's value, `body` the raw body. The account and client id the
    /// verifier expects are not checked here (there are no headers to read
    /// them from).
    ///
    /// ```
    /// use lp_webhook::{VerifyError, WebhookVerifier};
    /// # let secret = lp_oauth::ClientSecret::new("s3cr3t")?;
    /// let verifier = WebhookVerifier::new(&secret);
    /// let body = b"{}";
    /// let header = "sha256=608b0c406f3dda19702d71a048483b8c331283106d80a208e3cf43dbde505286";
    /// assert!(verifier.verify_signature(header, body).is_ok());
    /// assert!(matches!(
    ///     verifier.verify_signature("sha512=x", body),
    ///     Err(VerifyError::Malformed(_))
    /// ));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn verify_signature(&self, value: &str, body: &[u8]) -> Result<Verified, VerifyError> {
        self.check(&Signature::parse(value)?, body)
    }

    fn check(&self, signature: &Signature, body: &[u8]) -> Result<Verified, VerifyError> {
        let verified = Verified {
            algorithm: signature.algorithm(),
            encoding: signature.encoding(),
        };
        if signature.verify(&self.secret, body) {
            Ok(verified)
        } else {
            Err(VerifyError::Mismatch {
                algorithm: verified.algorithm,
                encoding: verified.encoding,
            })
        }
    }
}

impl fmt::Debug for WebhookVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookVerifier")
            .field("secret", &format_args!("[redacted]"))
            .field("account", &self.account)
            .field("client_id", &self.client_id)
            .finish()
    }
}

/// Checks that header `name` is there once and is exactly `expected`;
/// `wrong` makes the error from the received value.
fn same_id(
    headers: &HeaderMap,
    name: &'static str,
    expected: &str,
    wrong: impl FnOnce(String) -> VerifyError,
) -> Result<(), VerifyError> {
    let received = single(headers, name)?;
    if received == expected {
        Ok(())
    } else {
        Err(wrong(received.to_owned()))
    }
}

/// The one value of header `name`, as text.
fn single<'h>(headers: &'h HeaderMap, name: &'static str) -> Result<&'h str, VerifyError> {
    let mut values = headers.get_all(name).iter();
    let value = values.next().ok_or(VerifyError::MissingHeader { name })?;
    if values.next().is_some() {
        return Err(VerifyError::DuplicateHeader { name });
    }
    value.to_str().map_err(|_| VerifyError::NotText { name })
}

/// Why a webhook is refused.
///
/// [`is_malformed`](Self::is_malformed) tells a request that is not shaped
/// like LivePerson's (a missing or unparsable header) from one that is but
/// is not for this installation or not signed with its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifyError {
    /// A header the check needs is absent.
    MissingHeader {
        /// Its name, lower case.
        name: &'static str,
    },
    /// A header the check needs appears more than once.
    DuplicateHeader {
        /// Its name, lower case.
        name: &'static str,
    },
    /// A header's value is not visible ASCII, so it is not what
    /// LivePerson sends.
    NotText {
        /// Its name, lower case.
        name: &'static str,
    },
    /// The signature header does not parse: unknown algorithm, bad length
    /// or bad encoding.
    Malformed(SignatureError),
    /// `x-liveperson-account-id` names another account.
    WrongAccount {
        /// The account the verifier expects.
        expected: AccountId,
        /// The header's value as received (escaped and cut when shown).
        received: String,
    },
    /// `x-liveperson-client-id` names another client id.
    WrongClientId {
        /// The client id the verifier expects.
        expected: ClientId,
        /// The header's value as received (escaped and cut when shown).
        received: String,
    },
    /// The digest is not the HMAC of the body under the secret: another
    /// secret, or a body changed on the way (also by re-serialising it).
    Mismatch {
        /// The HMAC hash the header named.
        algorithm: Algorithm,
        /// How its digest was written.
        encoding: Encoding,
    },
}

impl VerifyError {
    /// Whether the request is not shaped like a LivePerson webhook (a
    /// missing, repeated or unparsable header), rather than well formed
    /// but for someone else or with a digest that does not match.
    pub fn is_malformed(&self) -> bool {
        matches!(
            self,
            VerifyError::MissingHeader { .. }
                | VerifyError::DuplicateHeader { .. }
                | VerifyError::NotText { .. }
                | VerifyError::Malformed(_)
        )
    }
}

impl From<SignatureError> for VerifyError {
    fn from(e: SignatureError) -> Self {
        VerifyError::Malformed(e)
    }
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifyError::MissingHeader { name } => write!(f, "webhook has no {name} header"),
            VerifyError::DuplicateHeader { name } => {
                write!(f, "webhook has more than one {name} header")
            }
            VerifyError::NotText { name } => {
                write!(f, "webhook's {name} header is not visible ascii")
            }
            VerifyError::Malformed(e) => write!(f, "malformed {SIGNATURE_HEADER}: {e}"),
            VerifyError::WrongAccount { expected, received } => write!(
                f,
                "webhook is for account \"{}\", expected {}",
                Untrusted::new(received).max_chars(ID_CHARS),
                expected.as_str()
            ),
            VerifyError::WrongClientId { expected, received } => write!(
                f,
                "webhook is for client id \"{}\", expected {}",
                Untrusted::new(received).max_chars(ID_CHARS),
                expected.as_str()
            ),
            VerifyError::Mismatch {
                algorithm,
                encoding,
            } => write!(
                f,
                "webhook signature does not match the body (hmac-{algorithm}, {encoding} digest)"
            ),
        }
    }
}

impl std::error::Error for VerifyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            VerifyError::Malformed(e) => Some(e),
            _ => None,
        }
    }
}
