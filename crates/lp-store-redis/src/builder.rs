//! [`RedisStoreBuilder`]: the options of a store, checked when it is
//! built, and the redis client they make.

use std::fmt;
use std::time::Duration;

use lp_store::{StoreError, StoreErrorKind};
use redis::IntoConnectionInfo;

use crate::address::Address;
use crate::link::Link;
use crate::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_KEY_PREFIX, DEFAULT_RESPONSE_TIMEOUT, MAX_KEY_PREFIX_LEN,
    RedisStore, errors,
};

/// Options for a [`RedisStore`], from [`RedisStore::builder`].
pub struct RedisStoreBuilder {
    address: Address,
    prefix: String,
    connect_timeout: Duration,
    response_timeout: Duration,
    #[cfg(feature = "tls")]
    ca_pem: Option<Vec<u8>>,
}

impl RedisStoreBuilder {
    pub(crate) fn new(address: Address) -> RedisStoreBuilder {
        RedisStoreBuilder {
            address,
            prefix: DEFAULT_KEY_PREFIX.to_owned(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            response_timeout: DEFAULT_RESPONSE_TIMEOUT,
            #[cfg(feature = "tls")]
            ca_pem: None,
        }
    }

    /// The prefix of every key the store writes (default
    /// [`DEFAULT_KEY_PREFIX`]): up to [`MAX_KEY_PREFIX_LEN`] bytes of
    /// `[A-Za-z0-9:._-]`, possibly empty. Checked by `build`.
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long one connection attempt (TCP, TLS, AUTH) may take (default
    /// [`DEFAULT_CONNECT_TIMEOUT`]).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long a command may wait for its answer (default
    /// [`DEFAULT_RESPONSE_TIMEOUT`]); a command that waits longer fails
    /// with a `Timeout` error and the connection is kept.
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// Trusts the certificates in `pem` (one or more PEM `CERTIFICATE`s)
    /// for `rediss://`, instead of the system's roots: for a Redis with a
    /// private CA. Read by `build`.
    #[cfg(feature = "tls")]
    pub fn ca_certificates_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca_pem = Some(pem.into());
        self
    }

    /// The store, without connecting (the first call connects).
    pub fn build(self) -> Result<RedisStore, StoreError> {
        check_prefix(&self.prefix)?;
        let client = self.client()?;
        Ok(RedisStore {
            link: Link::new(
                self.address,
                client,
                self.connect_timeout,
                self.response_timeout,
            ),
            prefix: self.prefix,
            connect_timeout: self.connect_timeout,
            response_timeout: self.response_timeout,
        })
    }

    /// The store, once Redis has answered a `PING`.
    pub async fn connect(self) -> Result<RedisStore, StoreError> {
        let store = self.build()?;
        store.ping().await?;
        Ok(store)
    }

    fn client(&self) -> Result<redis::Client, StoreError> {
        let refused = |err: redis::RedisError| {
            StoreError::new(
                StoreErrorKind::Config,
                self.address.scrub(&format!(
                    "{}: not usable: {}",
                    self.address.redacted(),
                    errors::classify(&err).1
                )),
            )
        };
        #[cfg(not(feature = "tls"))]
        if self.address.tls() {
            return Err(StoreError::new(
                StoreErrorKind::Config,
                format!(
                    "{}: rediss:// needs the `tls` feature of lp-store-redis",
                    self.address.redacted()
                ),
            ));
        }
        let info = self.address.url().into_connection_info().map_err(refused)?;
        #[cfg(feature = "tls")]
        if self.address.tls() {
            // redis builds its rustls configuration with
            // `ClientConfig::builder()`, which panics when the process has
            // no default provider and more than one is compiled in.
            if rustls::crypto::CryptoProvider::get_default().is_none() {
                // Another thread may install one first: theirs is kept.
                let _ = rustls::crypto::ring::default_provider().install_default();
            }
            if let Some(pem) = &self.ca_pem {
                check_ca_pem(pem)?;
                let certificates = redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(pem.clone()),
                };
                return redis::Client::build_with_tls(info, certificates).map_err(refused);
            }
        }
        redis::Client::open(info).map_err(refused)
    }
}

/// At least one certificate, and nothing unreadable: redis would take a
/// PEM without any as "trust nothing", and every connection would then
/// fail on the certificate instead of at start with the real reason.
#[cfg(feature = "tls")]
fn check_ca_pem(pem: &[u8]) -> Result<(), StoreError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let certificates: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(pem).collect();
    match certificates {
        Ok(certificates) if !certificates.is_empty() => Ok(()),
        Ok(_) => Err(StoreError::new(
            StoreErrorKind::Config,
            "the CA certificates hold no PEM CERTIFICATE",
        )),
        Err(err) => Err(StoreError::new(
            StoreErrorKind::Config,
            format!("the CA certificates are not readable PEM: {err}"),
        )),
    }
}

/// A key prefix is what a record key may hold, shorter, or nothing.
fn check_prefix(prefix: &str) -> Result<(), StoreError> {
    let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b':' | b'.' | b'_' | b'-');
    if prefix.len() <= MAX_KEY_PREFIX_LEN && prefix.bytes().all(allowed) {
        Ok(())
    } else {
        Err(StoreError::new(
            StoreErrorKind::Config,
            format!(
                "a key prefix is up to {MAX_KEY_PREFIX_LEN} bytes of [A-Za-z0-9:._-] (got {} bytes)",
                prefix.len()
            ),
        ))
    }
}

impl fmt::Debug for RedisStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("RedisStoreBuilder");
        s.field("url", &self.address.redacted())
            .field("key_prefix", &self.prefix)
            .field("connect_timeout", &self.connect_timeout)
            .field("response_timeout", &self.response_timeout);
        #[cfg(feature = "tls")]
        s.field("ca_certificates_pem", &self.ca_pem.is_some());
        s.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        for (prefix, ok) in [
            ("", true),
            ("lp-appjwt:", true),
            ("a.b_c-d:", true),
            ("has space", false),
            ("{tag}", false),
            ("é", false),
        ] {
            assert_eq!(check_prefix(prefix).is_ok(), ok, "{prefix:?}");
        }
        assert!(check_prefix(&"p".repeat(MAX_KEY_PREFIX_LEN)).is_ok());
        assert!(check_prefix(&"p".repeat(MAX_KEY_PREFIX_LEN + 1)).is_err());
    }
}
