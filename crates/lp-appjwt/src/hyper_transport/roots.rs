//! Which certificate authorities the transport trusts: compiled-in webpki
//! roots (feature `webpki-roots`), the platform's store (feature
//! `native-roots`), and PEM roots the caller adds.

use rustls_pki_types::CertificateDer;

use crate::transport::{TransportError, TransportErrorKind};

/// The root sources a builder asks for; a source whose feature is off is
/// never asked for.
#[derive(Debug, Clone)]
pub(super) struct RootSources {
    #[cfg(feature = "webpki-roots")]
    pub(super) webpki: bool,
    #[cfg(feature = "native-roots")]
    pub(super) native: bool,
    pub(super) extra: Vec<CertificateDer<'static>>,
}

#[allow(
    clippy::derivable_impls,
    reason = "derivable only when neither root feature is on"
)]
impl Default for RootSources {
    fn default() -> Self {
        RootSources {
            #[cfg(feature = "webpki-roots")]
            webpki: true,
            #[cfg(feature = "native-roots")]
            native: true,
            extra: Vec::new(),
        }
    }
}

impl RootSources {
    /// The store to verify servers with. Fails when it would be empty: a
    /// transport that trusts nobody can only fail later, less clearly.
    pub(super) fn into_store(self) -> Result<rustls::RootCertStore, TransportError> {
        let mut roots = rustls::RootCertStore::empty();
        #[cfg(feature = "webpki-roots")]
        if self.webpki {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        #[cfg(feature = "native-roots")]
        if self.native {
            add_native(&mut roots);
        }
        for cert in self.extra {
            roots.add(cert).map_err(|e| {
                TransportError::with_source(TransportErrorKind::Config, e)
                    .with_detail("unusable root certificate")
            })?;
        }
        if roots.is_empty() {
            return Err(TransportError::new(TransportErrorKind::Config)
                .with_detail("no trusted root certificate"));
        }
        Ok(roots)
    }
}

/// Adds the platform's roots (on Linux the distribution's bundle, or the
/// file named by `SSL_CERT_FILE` and the directory in `SSL_CERT_DIR`).
/// Unreadable or unparsable certificates are skipped with a warning, as
/// every other TLS client on the machine skips them; an empty result is
/// caught by the caller when nothing else is trusted either.
#[cfg(feature = "native-roots")]
fn add_native(roots: &mut rustls::RootCertStore) {
    let found = rustls_native_certs::load_native_certs();
    for error in &found.errors {
        tracing::warn!(%error, "skipping part of the platform's certificate store");
    }
    let (added, ignored) = roots.add_parsable_certificates(found.certs);
    tracing::debug!(added, ignored, "platform root certificates");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_store_is_an_error() {
        let none = RootSources {
            #[cfg(feature = "webpki-roots")]
            webpki: false,
            #[cfg(feature = "native-roots")]
            native: false,
            extra: Vec::new(),
        };
        let err = none.into_store().unwrap_err();
        assert_eq!(err.kind(), TransportErrorKind::Config);
        assert_eq!(
            err.to_string(),
            "invalid transport configuration: no trusted root certificate"
        );
    }

    #[cfg(feature = "webpki-roots")]
    #[test]
    fn webpki_roots_are_compiled_in() {
        let only_webpki = RootSources {
            #[cfg(feature = "native-roots")]
            native: false,
            ..RootSources::default()
        };
        let store = only_webpki.into_store().unwrap();
        assert_eq!(store.len(), webpki_roots::TLS_SERVER_ROOTS.len());
    }

    /// The machines this runs on have a CA bundle (Debian's
    /// `ca-certificates`); a store read from it holds more than a handful.
    #[cfg(feature = "native-roots")]
    #[test]
    fn native_roots_are_read_from_the_platform() {
        let only_native = RootSources {
            #[cfg(feature = "webpki-roots")]
            webpki: false,
            ..RootSources::default()
        };
        let store = only_native.into_store().unwrap();
        assert!(store.len() > 10, "only {} platform roots", store.len());
    }
}
