//! The default transport: hyper 1.x over rustls (ring provider), direct or
//! through an HTTP proxy.

mod proxy;
mod roots;

use std::error::Error as StdError;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use lp_ids::Host;

use self::proxy::{ProxyConnector, ProxyError, ProxySetting, ProxyUrl, Route};
use self::roots::RootSources;
use crate::transport::{Transport, TransportError, TransportErrorKind, TransportFuture};

/// Default time allowed to establish a TCP connection.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default time allowed for a whole request, connect to last body byte.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// Default cap on a response body.
pub const DEFAULT_MAX_BODY: usize = 1024 * 1024;

/// How long an idle pooled connection is kept for reuse.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// The default [`Transport`]: a pooled hyper client (HTTP/1.1 keep-alive,
/// HTTP/2 when the server offers it through ALPN) over rustls with the
/// `ring` provider.
///
/// - Trust: the webpki (Mozilla) roots compiled in (feature
///   `webpki-roots`, default), the platform's store (feature
///   `native-roots`, which also reads `SSL_CERT_FILE` and `SSL_CERT_DIR`),
///   both when both features are on, plus any roots added with
///   [`HyperTransportBuilder::add_root_pem`] (for the emulator or a private
///   CA). With neither feature, only the added roots.
/// - Proxy: `HTTPS_PROXY` (or `https_proxy`, `ALL_PROXY`, `all_proxy`)
///   unless the builder says otherwise ([`HyperTransportBuilder::proxy`],
///   [`HyperTransportBuilder::no_proxy`]); hosts matching `NO_PROXY` (or
///   `no_proxy`) go direct. Requests go through the proxy in a `CONNECT`
///   tunnel, so TLS runs end to end with the host and the certificate
///   checked is the host's, never the proxy's. Loopback is proxied too
///   unless `NO_PROXY` names it, as in curl.
/// - Timeouts: connect (default 5 s, to the host or the proxy) and whole
///   request (default 15 s, the `CONNECT` included).
/// - The response body is read with a cap (default 1 MiB) and never buffered
///   past it.
/// - Redirects are not followed.
/// - Plain `http://` is refused unless
///   [`HyperTransportBuilder::allow_plain_http_loopback`] is set, and even
///   then only for loopback hosts (and never through a proxy).
///
/// Cloning is cheap and clones share the connection pool. It needs a tokio
/// runtime when sending.
#[derive(Clone)]
pub struct HyperTransport {
    client: Client<HttpsConnector<ProxyConnector>, Full<Bytes>>,
    route: Route,
    request_timeout: Duration,
    max_body: usize,
    plain_http_loopback: bool,
}

impl std::fmt::Debug for HyperTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HyperTransport")
            .field("request_timeout", &self.request_timeout)
            .field("max_body", &self.max_body)
            .field("plain_http_loopback", &self.plain_http_loopback)
            .field("route", &self.route)
            .finish_non_exhaustive()
    }
}

/// Configures a [`HyperTransport`].
#[derive(Debug, Clone)]
pub struct HyperTransportBuilder {
    roots: RootSources,
    connect_timeout: Duration,
    request_timeout: Duration,
    max_body: usize,
    plain_http_loopback: bool,
    proxy: ProxySetting,
    /// `NO_PROXY`-style list given to the builder; replaces the variable.
    proxy_bypass: Option<String>,
}

impl Default for HyperTransportBuilder {
    fn default() -> Self {
        HyperTransportBuilder {
            roots: RootSources::default(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            max_body: DEFAULT_MAX_BODY,
            plain_http_loopback: false,
            proxy: ProxySetting::default(),
            proxy_bypass: None,
        }
    }
}

impl HyperTransport {
    /// A builder with the defaults described on [`HyperTransport`].
    pub fn builder() -> HyperTransportBuilder {
        HyperTransportBuilder::default()
    }

    /// A transport with all defaults.
    pub fn new() -> Result<Self, TransportError> {
        HyperTransportBuilder::default().build()
    }
}

impl HyperTransportBuilder {
    /// Also trusts every certificate in `pem` (one or more `CERTIFICATE`
    /// blocks). Fails when the PEM cannot be parsed or holds no certificate.
    pub fn add_root_pem(mut self, pem: &[u8]) -> Result<Self, TransportError> {
        let before = self.roots.extra.len();
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| {
                TransportError::with_source(TransportErrorKind::Config, e)
                    .with_detail("unreadable pem certificate")
            })?;
            self.roots.extra.push(cert);
        }
        if self.roots.extra.len() == before {
            return Err(TransportError::new(TransportErrorKind::Config)
                .with_detail("no certificate in pem"));
        }
        Ok(self)
    }

    /// Like [`HyperTransportBuilder::add_root_pem`], reading the PEM from a
    /// file.
    pub fn add_root_pem_file(self, path: &Path) -> Result<Self, TransportError> {
        let pem = std::fs::read(path).map_err(|e| {
            TransportError::with_source(TransportErrorKind::Config, e)
                .with_detail("cannot read pem file")
        })?;
        self.add_root_pem(&pem)
    }

    /// Time allowed to establish the TCP connection (default 5 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Time allowed for the whole request, from connecting to reading the
    /// last body byte (default 15 s).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Largest response body accepted (default 1 MiB). A larger body fails
    /// with [`TransportErrorKind::BodyTooLarge`] as soon as the cap is
    /// passed.
    pub fn max_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }

    /// Talks plain HTTP to loopback hosts (`localhost`, `127.0.0.0/8`,
    /// `::1`), for an emulator started without TLS. Default `false`.
    ///
    /// When set, an `http://` URI to a loopback host is sent as it is, and
    /// an `https://` URI to a loopback host (the protocol crates always
    /// build `https://`) is rewritten to `http://`. Requests to any other
    /// host are unaffected: they use TLS, and `http://` to them is refused
    /// with [`TransportErrorKind::InsecureScheme`]. Do not set it to reach a
    /// loopback server that speaks TLS.
    pub fn allow_plain_http_loopback(mut self, allow: bool) -> Self {
        self.plain_http_loopback = allow;
        self
    }

    /// Whether to trust the webpki (Mozilla) roots compiled into the
    /// binary (default `true`). Turn it off to trust only the platform's
    /// roots (feature `native-roots`) and those added with
    /// [`HyperTransportBuilder::add_root_pem`].
    #[cfg(feature = "webpki-roots")]
    pub fn webpki_roots(mut self, enable: bool) -> Self {
        self.roots.webpki = enable;
        self
    }

    /// Whether to trust the platform's certificate store (default `true`),
    /// read when the transport is built; on Linux `SSL_CERT_FILE` and
    /// `SSL_CERT_DIR` replace the distribution's bundle.
    #[cfg(feature = "native-roots")]
    pub fn native_roots(mut self, enable: bool) -> Self {
        self.roots.native = enable;
        self
    }

    /// Sends every `https://` request through the HTTP proxy at `url`
    /// (`http://[user:password@]host[:port]`, port 80 if left out),
    /// whatever `HTTPS_PROXY` and `NO_PROXY` say; see
    /// [`HyperTransportBuilder::proxy_bypass`] for exceptions.
    ///
    /// Credentials in the URL (percent-encoded) are sent as
    /// `Proxy-Authorization: Basic` on the `CONNECT` only, never to the
    /// host, and never shown in `Debug` or errors. Fails with
    /// [`TransportErrorKind::Config`] for a URL that is not `http://` (a
    /// TLS connection to the proxy and SOCKS are not supported); the error
    /// does not quote the URL.
    pub fn proxy(mut self, url: &str) -> Result<Self, TransportError> {
        self.proxy = ProxySetting::Explicit(ProxyUrl::parse(url, "proxy url")?);
        Ok(self)
    }

    /// Never uses a proxy, whatever the environment says.
    pub fn no_proxy(mut self) -> Self {
        self.proxy = ProxySetting::Off;
        self
    }

    /// Hosts that bypass the proxy, in `NO_PROXY` syntax: comma-separated
    /// host names (each also matching its subdomains, a leading dot
    /// optional), IP addresses, CIDR blocks (`10.0.0.0/8`), or `*` for all.
    /// Replaces what the `NO_PROXY` variable says, for an explicit proxy
    /// and one from the environment alike.
    pub fn proxy_bypass(mut self, list: &str) -> Self {
        self.proxy_bypass = Some(list.to_owned());
        self
    }

    /// Builds the transport. Fails when no root certificate would be
    /// trusted, or when the proxy variables hold an unusable URL (which is
    /// better than silently connecting directly).
    pub fn build(self) -> Result<HyperTransport, TransportError> {
        let route = Route::new(&self.proxy, self.proxy_bypass.as_deref(), &|name| {
            std::env::var(name).ok()
        })?;
        let roots = self.roots.into_store()?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| {
                TransportError::with_source(TransportErrorKind::Config, e)
                    .with_detail("tls configuration")
            })?
            .with_root_certificates(roots)
            .with_no_client_auth();

        let mut http = HttpConnector::new();
        // The https connector below does TLS itself; the inner connector
        // must let `https://` URIs through.
        http.enforce_http(false);
        http.set_connect_timeout(Some(self.connect_timeout));
        http.set_nodelay(true);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http();
        // HTTP/2 by ALPN only with the `http2` feature; HTTP/1.1 always.
        #[cfg(feature = "http2")]
        let https = https.enable_all_versions();
        #[cfg(not(feature = "http2"))]
        let https = https.enable_http1();
        let https = https.wrap_connector(ProxyConnector::new(http, route.clone()));
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .timer(TokioTimer::new())
            .build(https);
        Ok(HyperTransport {
            client,
            route,
            request_timeout: self.request_timeout,
            max_body: self.max_body,
            plain_http_loopback: self.plain_http_loopback,
        })
    }
}

/// Whether `uri` names this machine, by the one rule of the workspace
/// ([`Host::is_loopback`]); a URI whose authority is not a valid host
/// (userinfo, no host) is not loopback.
fn is_loopback_host(uri: &http::Uri) -> bool {
    uri.authority()
        .and_then(|a| Host::parse(a.as_str()).ok())
        .is_some_and(|h| h.is_loopback())
}

/// Applies the scheme policy: `https` passes; `http` only to loopback when
/// allowed; with the loopback option, `https` to loopback becomes `http`.
fn check_scheme(uri: http::Uri, plain_http_loopback: bool) -> Result<http::Uri, TransportError> {
    let insecure = || TransportError::new(TransportErrorKind::InsecureScheme);
    let loopback = is_loopback_host(&uri);
    match uri.scheme_str() {
        Some("https") if plain_http_loopback && loopback => {
            let mut parts = uri.into_parts();
            parts.scheme = Some(http::uri::Scheme::HTTP);
            http::Uri::from_parts(parts).map_err(|e| {
                TransportError::with_source(TransportErrorKind::Other, e)
                    .with_detail("cannot rewrite uri")
            })
        }
        Some("https") => Ok(uri),
        Some("http") if plain_http_loopback && loopback => Ok(uri),
        Some("http") => Err(insecure().with_detail("only https, or http to loopback when allowed")),
        _ => Err(insecure().with_detail("unsupported scheme")),
    }
}

/// Maps a hyper client error to a kind by looking through its causes.
fn classify(err: hyper_util::client::legacy::Error) -> TransportError {
    let mut kind = if err.is_connect() {
        TransportErrorKind::Connect
    } else {
        TransportErrorKind::Io
    };
    let mut cur: Option<&(dyn StdError + 'static)> = Some(&err);
    while let Some(e) = cur {
        if let Some(proxy) = e.downcast_ref::<ProxyError>() {
            let (kind, detail) = proxy.to_transport_kind();
            let timed_out = proxy
                .source_ref()
                .and_then(|s| s.downcast_ref::<std::io::Error>())
                .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut);
            let kind = if timed_out {
                TransportErrorKind::Timeout
            } else {
                kind
            };
            return TransportError::with_source(kind, err).with_detail(detail);
        }
        if e.downcast_ref::<rustls::Error>().is_some() {
            kind = TransportErrorKind::Tls;
            break;
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::TimedOut {
                kind = TransportErrorKind::Timeout;
            }
            // `io::Error::source` skips the wrapped error, so step into it.
            cur = match io.get_ref() {
                Some(inner) => Some(inner as &(dyn StdError + 'static)),
                None => io.source(),
            };
            continue;
        }
        cur = e.source();
    }
    TransportError::with_source(kind, err)
}

impl HyperTransport {
    async fn send_inner(
        &self,
        req: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, TransportError> {
        let (mut parts, body) = req.into_parts();
        parts.uri = check_scheme(parts.uri, self.plain_http_loopback)?;
        let req = http::Request::from_parts(parts, Full::new(Bytes::from(body)));
        let response = self.client.request(req).await.map_err(classify)?;
        let (parts, body) = response.into_parts();
        let declared = parts
            .headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let too_large = || {
            TransportError::new(TransportErrorKind::BodyTooLarge)
                .with_detail("response body over the limit")
        };
        if declared.is_some_and(|len| len > self.max_body as u64) {
            return Err(too_large());
        }
        let collected = Limited::new(body, self.max_body)
            .collect()
            .await
            .map_err(|e| {
                if e.is::<http_body_util::LengthLimitError>() {
                    too_large()
                } else {
                    TransportError::with_source(TransportErrorKind::Io, e)
                }
            })?;
        Ok(http::Response::from_parts(
            parts,
            collected.to_bytes().to_vec(),
        ))
    }
}

impl Transport for HyperTransport {
    fn send(&self, req: http::Request<Vec<u8>>) -> TransportFuture<'_> {
        Box::pin(async move {
            tokio::time::timeout(self.request_timeout, self.send_inner(req))
                .await
                .unwrap_or_else(|_| {
                    Err(TransportError::timeout().with_detail("whole-request timeout elapsed"))
                })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheme_policy() {
        let check = |uri: &str, allow: bool, expected: Result<&str, TransportErrorKind>| {
            let got = check_scheme(uri.parse().unwrap(), allow)
                .map(|u| u.to_string())
                .map_err(|e| e.kind());
            assert_eq!(
                got.as_deref().map_err(|k| *k),
                expected,
                "{uri} allow={allow}"
            );
        };
        use TransportErrorKind::InsecureScheme as Insecure;
        check(
            "https://va.sentinel.liveperson.net/x",
            false,
            Ok("https://va.sentinel.liveperson.net/x"),
        );
        check(
            "https://va.sentinel.liveperson.net/x",
            true,
            Ok("https://va.sentinel.liveperson.net/x"),
        );
        check("http://va.sentinel.liveperson.net/x", false, Err(Insecure));
        check("http://va.sentinel.liveperson.net/x", true, Err(Insecure));
        check("http://127.0.0.1:8080/x", false, Err(Insecure));
        check(
            "http://127.0.0.1:8080/x",
            true,
            Ok("http://127.0.0.1:8080/x"),
        );
        check(
            "https://127.0.0.1:8080/x?a=b",
            true,
            Ok("http://127.0.0.1:8080/x?a=b"),
        );
        check(
            "https://127.0.0.1:8080/x",
            false,
            Ok("https://127.0.0.1:8080/x"),
        );
        check("https://[::1]:8080/x", true, Ok("http://[::1]:8080/x"));
        check(
            "https://localhost:8080/x",
            true,
            Ok("http://localhost:8080/x"),
        );
        check("http://localhost.evil.example/x", true, Err(Insecure));
        check("http://10.0.0.1/x", true, Err(Insecure));
        check("ftp://127.0.0.1/x", true, Err(Insecure));
        check("/relative", true, Err(Insecure));
    }

    #[test]
    fn pem_errors() {
        let check = |pem: &[u8]| {
            let err = HyperTransport::builder().add_root_pem(pem).unwrap_err();
            assert_eq!(err.kind(), TransportErrorKind::Config);
        };
        check(b"");
        check(b"not a pem at all");
        check(b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n");
        let err = HyperTransport::builder()
            .add_root_pem_file(Path::new("/nonexistent/ca.pem"))
            .unwrap_err();
        assert_eq!(err.kind(), TransportErrorKind::Config);
    }

    #[cfg(feature = "webpki-roots")]
    #[test]
    fn default_transport_builds() {
        assert!(HyperTransport::builder().no_proxy().build().is_ok());
    }

    #[test]
    fn debug_names_the_proxy_but_not_its_credentials() {
        let t = HyperTransport::builder()
            .add_root_pem(include_bytes!("../tests/data/unrelated-ca.pem"))
            .and_then(|b| b.proxy("http://alice:hunter2@127.0.0.1:3128"))
            .and_then(HyperTransportBuilder::build)
            .unwrap();
        let shown = format!("{t:?}");
        assert!(shown.contains("via proxy 127.0.0.1:3128"), "{shown}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("alice"),
            "{shown}"
        );
        let b = HyperTransport::builder()
            .proxy("http://alice:hunter2@127.0.0.1:3128")
            .unwrap();
        let shown = format!("{b:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("alice"),
            "{shown}"
        );
    }
}
