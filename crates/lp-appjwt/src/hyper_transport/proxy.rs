//! HTTPS through an HTTP proxy: which requests go through it (the
//! `HTTPS_PROXY` / `ALL_PROXY` / `NO_PROXY` rules), and the `CONNECT`
//! tunnel that carries the TLS connection, so that TLS runs end to end
//! between the client and LivePerson and the proxy sees only bytes.
//!
//! hyper-util's `Matcher` decides which destinations are proxied and turns
//! the credentials of the proxy URL into a `Proxy-Authorization: Basic`
//! value. The `CONNECT` exchange is ours: hyper-util's `Tunnel` reports a
//! refused tunnel without its status code, in an error type it does not
//! export, so a wrong password (tinyproxy answers it with 401, others with
//! 407) could not be told from a proxy that failed to reach the host.

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{HeaderValue, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::transport::{TransportError, TransportErrorKind};

type BoxError = Box<dyn StdError + Send + Sync>;

/// The environment variables naming a proxy for `https://` requests, in
/// the order they are read; the first one set and not empty wins.
pub(super) const PROXY_VARS: [&str; 4] = ["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"];
/// The environment variables listing the hosts that bypass the proxy.
pub(super) const NO_PROXY_VARS: [&str; 2] = ["NO_PROXY", "no_proxy"];

/// A proxy response header larger than this is refused.
const MAX_CONNECT_RESPONSE: usize = 8 * 1024;

/// Where the proxy setting of a [`super::HyperTransportBuilder`] comes from.
#[derive(Clone, Default)]
pub(super) enum ProxySetting {
    /// `HTTPS_PROXY` & co., read when the transport is built.
    #[default]
    Env,
    /// A URL given to the builder (already checked by [`ProxyUrl::parse`]).
    Explicit(ProxyUrl),
    /// Never a proxy.
    Off,
}

impl fmt::Debug for ProxySetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProxySetting::Env => f.write_str("Env"),
            ProxySetting::Explicit(url) => f.debug_tuple("Explicit").field(url).finish(),
            ProxySetting::Off => f.write_str("Off"),
        }
    }
}

/// A checked proxy URL: `http://[user[:password]@]host[:port]`. Its text
/// may hold a password, so it is only ever shown as host and port.
#[derive(Clone)]
pub(super) struct ProxyUrl {
    /// The URL as given, handed to hyper-util's matcher.
    raw: Arc<str>,
    /// `host:port`, safe to show.
    address: Arc<str>,
    has_credentials: bool,
}

impl fmt::Debug for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyUrl")
            .field("address", &self.address)
            .field("credentials", &self.credentials_shown())
            .finish()
    }
}

impl ProxyUrl {
    fn credentials_shown(&self) -> &'static str {
        if self.has_credentials {
            "[redacted]"
        } else {
            "none"
        }
    }

    /// Checks `raw` (from `source`, a variable name or `proxy url`). Only
    /// plain `http://` proxies are supported: a TLS connection to the
    /// proxy itself (`https://`) or SOCKS would need another connector.
    pub(super) fn parse(raw: &str, source: &'static str) -> Result<ProxyUrl, TransportError> {
        let bad = |why: &'static str| {
            TransportError::with_source(TransportErrorKind::Config, ProxyUrlError { source, why })
                .with_detail("invalid proxy url")
        };
        let raw = raw.trim();
        let uri: Uri = raw
            .parse()
            .map_err(|_| bad("not a url of the form http://host:port"))?;
        match uri.scheme_str() {
            None | Some("http") => {}
            Some("https") => {
                return Err(bad(
                    "a tls connection to the proxy (https://) is not supported, use http://",
                ));
            }
            Some(_) => return Err(bad("only http:// proxies are supported")),
        }
        let authority = uri.authority().ok_or_else(|| bad("no host"))?;
        let host = authority.host();
        if host.is_empty() {
            return Err(bad("no host"));
        }
        if uri
            .path_and_query()
            .is_some_and(|p| !matches!(p.as_str(), "" | "/"))
        {
            return Err(bad("a proxy url has no path"));
        }
        // `http` reads an out-of-range port as no port at all: check the text.
        let host_port = authority
            .as_str()
            .rsplit_once('@')
            .map_or(authority.as_str(), |(_, hp)| hp);
        let port = match host_port
            .strip_prefix(host)
            .and_then(|r| r.strip_prefix(':'))
        {
            None | Some("") => 80,
            Some(text) => text
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| bad("invalid port"))?,
        };
        Ok(ProxyUrl {
            raw: Arc::from(raw),
            address: Arc::from(format!("{host}:{port}")),
            has_credentials: authority.as_str().contains('@'),
        })
    }

    /// Reads the first proxy variable that is set and not empty.
    pub(super) fn from_vars(
        var: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<ProxyUrl>, TransportError> {
        for name in PROXY_VARS {
            if let Some(value) = var(name).filter(|v| !v.trim().is_empty()) {
                return ProxyUrl::parse(&value, name).map(Some);
            }
        }
        Ok(None)
    }
}

/// Why a proxy URL was refused. Never quotes the URL: it may carry a
/// password.
#[derive(Debug)]
struct ProxyUrlError {
    source: &'static str,
    why: &'static str,
}

impl fmt::Display for ProxyUrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.source, self.why)
    }
}

impl StdError for ProxyUrlError {}

/// The first `NO_PROXY` variable that is set.
pub(super) fn no_proxy_from_vars(var: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    NO_PROXY_VARS.iter().find_map(|name| var(name))
}

/// The rules a transport follows for every request, fixed when it is built.
#[derive(Clone)]
pub(super) struct Route {
    proxy: Option<(ProxyUrl, Arc<Matcher>)>,
}

impl fmt::Debug for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.proxy {
            None => f.write_str("direct"),
            Some((url, _)) => write!(
                f,
                "via proxy {} (credentials: {})",
                url.address,
                url.credentials_shown()
            ),
        }
    }
}

impl Route {
    /// Resolves a builder's setting: an explicit URL with `bypass`, the
    /// environment (its `NO_PROXY` unless `bypass` is given), or none.
    pub(super) fn new(
        setting: &ProxySetting,
        bypass: Option<&str>,
        var: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Route, TransportError> {
        let (url, no_proxy) = match setting {
            ProxySetting::Off => return Ok(Route { proxy: None }),
            ProxySetting::Explicit(url) => (url.clone(), bypass.map(str::to_owned)),
            ProxySetting::Env => match ProxyUrl::from_vars(var)? {
                None => return Ok(Route { proxy: None }),
                Some(url) => (
                    url,
                    bypass
                        .map(str::to_owned)
                        .or_else(|| no_proxy_from_vars(var)),
                ),
            },
        };
        let no_proxy = no_proxy.unwrap_or_default();
        // hyper-util's matcher applies `*` to host names only, not to IP
        // addresses; curl lets it bypass the proxy for everything.
        if no_proxy.split(',').any(|entry| entry.trim() == "*") {
            return Ok(Route { proxy: None });
        }
        let matcher = Matcher::builder()
            .https(url.raw.to_string())
            .no(no_proxy)
            .build();
        Ok(Route {
            proxy: Some((url, Arc::new(matcher))),
        })
    }

    /// The proxy for `dst`, if it is to go through one: only `https://`
    /// destinations are tunnelled (plain `http://` is allowed to loopback
    /// only, for an emulator without TLS, and goes direct).
    fn proxy_for(&self, dst: &Uri) -> Option<Hop> {
        let (url, matcher) = self.proxy.as_ref()?;
        if dst.scheme_str() != Some("https") {
            return None;
        }
        let intercept = matcher.intercept(dst)?;
        Some(Hop {
            uri: intercept.uri().clone(),
            auth: intercept.basic_auth().cloned(),
            address: Arc::clone(&url.address),
        })
    }

    /// Whether any request can go through a proxy.
    #[cfg(test)]
    fn is_direct(&self) -> bool {
        self.proxy.is_none()
    }
}

/// One proxied connection: where to connect and what to send.
struct Hop {
    uri: Uri,
    /// `Basic ...`, marked sensitive by hyper-util.
    auth: Option<HeaderValue>,
    address: Arc<str>,
}

/// The TCP connector under rustls: straight to the host, or to the proxy
/// followed by a `CONNECT` to the host.
#[derive(Clone)]
pub(super) struct ProxyConnector {
    http: HttpConnector,
    route: Route,
}

impl ProxyConnector {
    pub(super) fn new(http: HttpConnector, route: Route) -> Self {
        ProxyConnector { http, route }
    }
}

type Connecting = Pin<Box<dyn Future<Output = Result<TokioIo<TcpStream>, BoxError>> + Send>>;

impl tower_service::Service<Uri> for ProxyConnector {
    type Response = TokioIo<TcpStream>;
    type Error = BoxError;
    type Future = Connecting;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.http.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, dst: Uri) -> Connecting {
        let Some(hop) = self.route.proxy_for(&dst) else {
            let connecting = self.http.call(dst);
            return Box::pin(async move { connecting.await.map_err(Into::into) });
        };
        let connecting = self.http.call(hop.uri.clone());
        Box::pin(async move {
            let mut conn = connecting.await.map_err(|e| {
                ProxyError::new(&hop, ProxyErrorKind::Unreachable).with_source(e.into())
            })?;
            tunnel(conn.inner_mut(), &dst, &hop).await?;
            Ok(conn)
        })
    }
}

/// Asks the proxy to open a tunnel to `dst` and reads its answer; on
/// success the stream is positioned at the first byte from the host.
async fn tunnel(stream: &mut TcpStream, dst: &Uri, hop: &Hop) -> Result<(), ProxyError> {
    let fail = |kind| ProxyError::new(hop, kind);
    let host = dst
        .host()
        .ok_or_else(|| fail(ProxyErrorKind::BadRequest("no host in the destination")))?;
    let port = dst.port_u16().unwrap_or(443);
    let mut request =
        format!("CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n").into_bytes();
    if let Some(auth) = &hop.auth {
        request.extend_from_slice(b"Proxy-Authorization: ");
        request.extend_from_slice(auth.as_bytes());
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"\r\n");
    stream
        .write_all(&request)
        .await
        .map_err(|e| fail(ProxyErrorKind::Broken).with_source(e.into()))?;

    let mut answer = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|e| fail(ProxyErrorKind::Broken).with_source(e.into()))?;
        if n == 0 {
            return Err(fail(ProxyErrorKind::Broken));
        }
        answer.extend_from_slice(&chunk[..n]);
        match parse_connect_answer(&answer) {
            Ok(Some(status)) => return check_status(status, hop),
            Ok(None) if answer.len() >= MAX_CONNECT_RESPONSE => {
                return Err(fail(ProxyErrorKind::BadAnswer("answer headers too long")));
            }
            Ok(None) => {}
            Err(why) => return Err(fail(ProxyErrorKind::BadAnswer(why))),
        }
    }
}

/// The status of a complete `CONNECT` answer, `None` while it is
/// incomplete. Bytes after the header are refused: the host cannot have
/// sent any before the client's TLS hello, so they came from the proxy.
fn parse_connect_answer(buf: &[u8]) -> Result<Option<u16>, &'static str> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    match response.parse(buf) {
        Ok(httparse::Status::Partial) => Ok(None),
        Ok(httparse::Status::Complete(len)) => {
            let status = response.code.ok_or("no status")?;
            if (200..300).contains(&status) && len != buf.len() {
                return Err("data after the answer headers");
            }
            Ok(Some(status))
        }
        Err(_) => Err("not an http answer"),
    }
}

fn check_status(status: u16, hop: &Hop) -> Result<(), ProxyError> {
    let kind = match status {
        200..=299 => return Ok(()),
        // 407 is the standard answer; tinyproxy 1.11 says 401 to a wrong
        // password (and 407 when none was sent).
        401 | 407 if hop.auth.is_some() => ProxyErrorKind::CredentialsRefused(status),
        401 | 407 => ProxyErrorKind::CredentialsRequired(status),
        _ => ProxyErrorKind::Refused(status),
    };
    Err(ProxyError::new(hop, kind))
}

/// A failure on the way to the host through the proxy. Shows the proxy's
/// address, never its credentials.
#[derive(Debug)]
pub(super) struct ProxyError {
    kind: ProxyErrorKind,
    address: Arc<str>,
    source: Option<BoxError>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ProxyErrorKind {
    /// No TCP connection to the proxy.
    Unreachable,
    /// The connection to the proxy broke during `CONNECT`.
    Broken,
    /// The proxy refused the credentials of the proxy URL.
    CredentialsRefused(u16),
    /// The proxy wants credentials and the URL has none.
    CredentialsRequired(u16),
    /// Another status than 2xx.
    Refused(u16),
    /// The answer was not HTTP, or too long.
    BadAnswer(&'static str),
    /// The request cannot be tunnelled.
    BadRequest(&'static str),
}

impl ProxyError {
    fn new(hop: &Hop, kind: ProxyErrorKind) -> Self {
        ProxyError {
            kind,
            address: Arc::clone(&hop.address),
            source: None,
        }
    }

    fn with_source(mut self, source: BoxError) -> Self {
        self.source = Some(source);
        self
    }

    /// The transport error this becomes. A dead proxy, a broken exchange
    /// and a proxy that could not reach the host (5xx) are worth another
    /// try; refused credentials or a refusal by policy are not.
    pub(super) fn to_transport_kind(&self) -> (TransportErrorKind, &'static str) {
        match self.kind {
            ProxyErrorKind::Unreachable => (TransportErrorKind::Connect, "cannot reach the proxy"),
            ProxyErrorKind::Broken => (TransportErrorKind::Io, "proxy connection broken"),
            ProxyErrorKind::Refused(status) if status >= 500 => (
                TransportErrorKind::Connect,
                "proxy could not reach the host",
            ),
            ProxyErrorKind::CredentialsRefused(_) => {
                (TransportErrorKind::Other, "proxy refused the credentials")
            }
            ProxyErrorKind::CredentialsRequired(_) => {
                (TransportErrorKind::Other, "proxy requires credentials")
            }
            ProxyErrorKind::Refused(_) => (TransportErrorKind::Other, "proxy refused the tunnel"),
            ProxyErrorKind::BadAnswer(_) | ProxyErrorKind::BadRequest(_) => {
                (TransportErrorKind::Other, "proxy tunnel failed")
            }
        }
    }

    /// The timeout of the connect to the proxy, if that is what happened.
    pub(super) fn source_ref(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}

impl fmt::Display for ProxyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = &self.address;
        match self.kind {
            ProxyErrorKind::Unreachable => write!(f, "cannot connect to the proxy at {at}"),
            ProxyErrorKind::Broken => {
                write!(
                    f,
                    "the connection to the proxy at {at} broke during CONNECT"
                )
            }
            ProxyErrorKind::CredentialsRefused(s) => {
                write!(
                    f,
                    "the proxy at {at} refused the credentials of the proxy url (status {s})"
                )
            }
            ProxyErrorKind::CredentialsRequired(s) => write!(
                f,
                "the proxy at {at} requires credentials (status {s}): put them in the proxy url"
            ),
            ProxyErrorKind::Refused(s) => {
                write!(f, "the proxy at {at} refused to open a tunnel (status {s})")
            }
            ProxyErrorKind::BadAnswer(why) => {
                write!(
                    f,
                    "the proxy at {at} gave an unusable answer to CONNECT: {why}"
                )
            }
            ProxyErrorKind::BadRequest(why) => {
                write!(f, "cannot tunnel through the proxy at {at}: {why}")
            }
        }
    }
}

impl StdError for ProxyError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    /// Where a request to `dst` goes under the environment `env`: the
    /// proxy address, or `None` for direct.
    fn check_env(env: &[(&str, &str)], dst: &str, expected: Option<&str>) {
        let route = Route::new(&ProxySetting::Env, None, &vars(env)).unwrap();
        let got = route
            .proxy_for(&dst.parse().unwrap())
            .map(|hop| hop.address.to_string());
        assert_eq!(got.as_deref(), expected, "{env:?} {dst}");
    }

    const P: &str = "http://proxy.corp:3128";
    const AT: Option<&str> = Some("proxy.corp:3128");

    #[test]
    fn environment_picks_the_proxy() {
        let dst = "https://va.sentinel.liveperson.net/x";
        check_env(&[], dst, None);
        check_env(&[("HTTPS_PROXY", P)], dst, AT);
        check_env(&[("https_proxy", P)], dst, AT);
        check_env(&[("ALL_PROXY", P)], dst, AT);
        check_env(&[("all_proxy", P)], dst, AT);
        // HTTP_PROXY is for http:// destinations, which this client never
        // proxies (and under CGI it is attacker-controlled: httpoxy).
        check_env(&[("HTTP_PROXY", P)], dst, None);
        check_env(
            &[("HTTPS_PROXY", P), ("ALL_PROXY", "http://other:1")],
            dst,
            AT,
        );
        check_env(&[("HTTPS_PROXY", ""), ("ALL_PROXY", P)], dst, AT);
        check_env(&[("HTTPS_PROXY", "proxy.corp:3128")], dst, AT);
        check_env(
            &[("HTTPS_PROXY", "http://proxy.corp")],
            dst,
            Some("proxy.corp:80"),
        );
        // Plain http (the loopback emulator without TLS) goes direct.
        check_env(&[("HTTPS_PROXY", P)], "http://127.0.0.1:8080/x", None);
    }

    #[test]
    fn no_proxy_rules() {
        let with = |no: &'static str| [("HTTPS_PROXY", P), ("NO_PROXY", no)];
        #[rustfmt::skip]
        let rows = [
            // Loopback is proxied unless NO_PROXY says otherwise, as in curl.
            ("", "https://127.0.0.1:8443/x", true),
            ("", "https://localhost:8443/x", true),
            ("", "https://[::1]:8443/x", true),
            ("127.0.0.1", "https://127.0.0.1:8443/x", false),
            ("localhost", "https://localhost:8443/x", false),
            ("::1", "https://[::1]:8443/x", false),
            // Hosts and domain suffixes, with or without the leading dot.
            ("liveperson.net", "https://va.sentinel.liveperson.net/x", false),
            (".liveperson.net", "https://va.sentinel.liveperson.net/x", false),
            ("liveperson.net", "https://liveperson.net/x", false),
            ("liveperson.net", "https://notliveperson.net/x", true),
            ("sentinel.liveperson.net", "https://va.sentinel.liveperson.net/x", false),
            ("idp.liveperson.net", "https://va.sentinel.liveperson.net/x", true),
            ("LivePerson.NET", "https://va.sentinel.liveperson.net/x", false),
            // IPs and CIDRs.
            ("10.0.0.0/8", "https://10.1.2.3/x", false),
            ("10.0.0.0/8", "https://11.1.2.3/x", true),
            ("fd00::/8", "https://[fd00::1]/x", false),
            ("192.0.2.7", "https://192.0.2.7/x", false),
            // Lists, with spaces.
            ("example.com, 127.0.0.0/8", "https://127.0.0.2:1/x", false),
            ("example.com, 127.0.0.0/8", "https://api.example.com/x", false),
            ("example.com, 127.0.0.0/8", "https://api.example.org/x", true),
            // `*` bypasses the proxy for everything, IP addresses included.
            ("*", "https://va.sentinel.liveperson.net/x", false),
            ("*", "https://127.0.0.1:1/x", false),
            ("example.com, *", "https://10.0.0.1/x", false),
        ];
        for (no, dst, proxied) in rows {
            check_env(&with(no), dst, if proxied { AT } else { None });
        }
        // lower-case no_proxy too.
        check_env(
            &[("HTTPS_PROXY", P), ("no_proxy", "127.0.0.1")],
            "https://127.0.0.1:1/x",
            None,
        );
    }

    #[test]
    fn explicit_proxy_ignores_the_environment() {
        let env = vars(&[("HTTPS_PROXY", "http://env:1"), ("NO_PROXY", "*")]);
        let url = ProxyUrl::parse(P, "proxy url").unwrap();
        let route = Route::new(&ProxySetting::Explicit(url.clone()), None, &env).unwrap();
        let hop = route.proxy_for(&"https://127.0.0.1:1/".parse().unwrap());
        assert_eq!(hop.map(|h| h.address.to_string()).as_deref(), AT);
        let route = Route::new(&ProxySetting::Explicit(url), Some("127.0.0.1"), &env).unwrap();
        assert!(
            route
                .proxy_for(&"https://127.0.0.1:1/".parse().unwrap())
                .is_none()
        );
        assert!(
            Route::new(&ProxySetting::Off, None, &env)
                .unwrap()
                .is_direct()
        );
    }

    #[test]
    fn credentials_become_basic_auth_and_stay_hidden() {
        let raw = "http://alice:p%40ss w0rd@proxy.corp:3128";
        // A space is not valid in a URL; the percent-encoded form is.
        assert!(ProxyUrl::parse(raw, "proxy url").is_err());
        let raw = "http://alice:p%40ssw0rd@proxy.corp:3128";
        let url = ProxyUrl::parse(raw, "HTTPS_PROXY").unwrap();
        let route = Route::new(&ProxySetting::Explicit(url.clone()), None, &vars(&[])).unwrap();
        let hop = route
            .proxy_for(&"https://va.sentinel.liveperson.net/".parse().unwrap())
            .unwrap();
        let auth = hop.auth.unwrap();
        // base64("alice:p@ssw0rd")
        assert_eq!(auth, "Basic YWxpY2U6cEBzc3cwcmQ=");
        assert!(auth.is_sensitive());
        for shown in [format!("{url:?}"), format!("{route:?}")] {
            assert!(
                !shown.contains("alice") && !shown.contains("p%40ss"),
                "{shown}"
            );
            assert!(shown.contains("proxy.corp:3128"), "{shown}");
            assert!(shown.contains("[redacted]"), "{shown}");
        }
        let plain = ProxyUrl::parse(P, "proxy url").unwrap();
        assert!(format!("{plain:?}").contains("credentials: \"none\""));
    }

    #[test]
    fn bad_proxy_urls_are_config_errors_that_quote_nothing() {
        let check = |raw: &str, why: &str| {
            let err = ProxyUrl::parse(raw, "HTTPS_PROXY").unwrap_err();
            assert_eq!(err.kind(), TransportErrorKind::Config, "{raw}");
            let source = StdError::source(&err)
                .map(|s| s.to_string())
                .unwrap_or_default();
            assert_eq!(source, format!("HTTPS_PROXY: {why}"), "{raw}");
            assert!(!format!("{err} {err:?}").contains("hunter2"), "{raw}");
        };
        check(
            "https://u:hunter2@proxy:3128",
            "a tls connection to the proxy (https://) is not supported, use http://",
        );
        check(
            "socks5://u:hunter2@proxy:1080",
            "only http:// proxies are supported",
        );
        check(
            "http://u:hunter2@proxy:3128/path",
            "a proxy url has no path",
        );
        check(
            "http://u:hunter2@",
            "not a url of the form http://host:port",
        );
        check("http://u:hunter2@proxy:99999", "invalid port");
        check("http://u:hunter2@proxy:0", "invalid port");
        check(
            "not a url hunter2",
            "not a url of the form http://host:port",
        );
        let err = ProxyUrl::from_vars(&vars(&[("ALL_PROXY", "ftp://x")])).unwrap_err();
        assert!(
            StdError::source(&err)
                .unwrap()
                .to_string()
                .starts_with("ALL_PROXY: ")
        );
    }

    #[test]
    fn connect_answers() {
        let check = |answer: &[u8], expected: Result<Option<u16>, &str>| {
            assert_eq!(
                parse_connect_answer(answer),
                expected,
                "{}",
                String::from_utf8_lossy(answer)
            );
        };
        check(
            b"HTTP/1.1 200 Connection established\r\n\r\n",
            Ok(Some(200)),
        );
        check(b"HTTP/1.0 200 OK\r\nProxy-agent: x\r\n\r\n", Ok(Some(200)));
        check(b"HTTP/1.1 200 OK\r\n", Ok(None));
        check(b"HTTP/1.1 20", Ok(None));
        check(
            b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n",
            Ok(Some(407)),
        );
        check(b"HTTP/1.0 401 Unauthorized\r\n\r\n<html>", Ok(Some(401)));
        check(
            b"HTTP/1.1 200 OK\r\n\r\n\x16\x03",
            Err("data after the answer headers"),
        );
        check(b"SSH-2.0-OpenSSH\r\n\r\n", Err("not an http answer"));
    }

    #[test]
    fn statuses_map_to_kinds() {
        let hop = |auth: bool| Hop {
            uri: "http://proxy:1/".parse().unwrap(),
            auth: auth.then(|| HeaderValue::from_static("Basic eDp5")),
            address: Arc::from("proxy:1"),
        };
        let check = |status: u16, auth: bool, expected: Option<(TransportErrorKind, &str)>| {
            let got = check_status(status, &hop(auth))
                .err()
                .map(|e| (e.to_transport_kind().0, e.to_string()));
            let expected = expected.map(|(k, m)| (k, m.to_owned()));
            assert_eq!(got, expected, "{status} auth={auth}");
        };
        use TransportErrorKind::{Connect, Other};
        check(200, true, None);
        check(204, false, None);
        check(
            407,
            true,
            Some((
                Other,
                "the proxy at proxy:1 refused the credentials of the proxy url (status 407)",
            )),
        );
        check(
            401,
            true,
            Some((
                Other,
                "the proxy at proxy:1 refused the credentials of the proxy url (status 401)",
            )),
        );
        check(
            407,
            false,
            Some((
                Other,
                "the proxy at proxy:1 requires credentials (status 407): put them in the proxy url",
            )),
        );
        check(
            403,
            true,
            Some((
                Other,
                "the proxy at proxy:1 refused to open a tunnel (status 403)",
            )),
        );
        check(
            502,
            false,
            Some((
                Connect,
                "the proxy at proxy:1 refused to open a tunnel (status 502)",
            )),
        );
    }
}
