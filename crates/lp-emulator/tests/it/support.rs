//! A small raw HTTP client over tokio-rustls, trusting exactly the
//! emulator's CA, and the shared fixtures.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use lp_emulator::{Emulator, EmulatorBuilder, EmulatorHandle, SigningKey};
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;

pub const ACCOUNT: &str = "56072331";
pub const CLIENT: &str = "75588e18-0213-4e33-8174-883acac7e3c4";
pub const SECRET: &str = "s3cret-with-&-and-=-and-%";
pub const OTHER_ACCOUNT: &str = "le81823118";
pub const OTHER_CLIENT: &str = "other-app";
pub const OTHER_SECRET: &str = "other-secret";
pub const FORM: &str = "application/x-www-form-urlencoded";

/// Guard against a test hanging forever; not a timing assertion.
pub const GUARD: Duration = Duration::from_secs(20);

/// RSA generation is slow, so every test shares these keys.
pub fn key() -> SigningKey {
    SigningKey::shared().expect("generate key")
}

/// A second key, different from [`key`], for rotation and foreign-key tests.
pub fn second_key() -> SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| SigningKey::generate().expect("generate key"))
        .clone()
}

/// An emulator with the two test clients and the shared key.
pub fn builder() -> EmulatorBuilder {
    Emulator::builder()
        .client(ACCOUNT, CLIENT, SECRET)
        .client(OTHER_ACCOUNT, OTHER_CLIENT, OTHER_SECRET)
        .signing_key(key())
}

pub async fn emulator() -> EmulatorHandle {
    builder().start().await.expect("start emulator")
}

/// A request to send.
#[derive(Debug, Clone)]
pub struct Req {
    pub method: &'static str,
    pub target: String,
    pub content_type: Option<&'static str>,
    pub body: Vec<u8>,
    pub h2: bool,
    pub authorization: Option<String>,
    /// `X-LP-ON-BEHALF`, the Send API's ConsumerJWS header.
    pub on_behalf: Option<String>,
}

impl Req {
    pub fn get(target: impl Into<String>) -> Self {
        Req {
            method: "GET",
            target: target.into(),
            content_type: None,
            body: Vec::new(),
            h2: false,
            authorization: None,
            on_behalf: None,
        }
    }

    pub fn post_form(target: impl Into<String>, pairs: &[(&str, &str)]) -> Self {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish()
            .into_bytes();
        Req {
            method: "POST",
            target: target.into(),
            content_type: Some(FORM),
            body,
            h2: false,
            authorization: None,
            on_behalf: None,
        }
    }

    /// A JSON POST with the AppJWT in `Authorization`, as LivePerson
    /// documents the ConsumerJWS request.
    pub fn post_json(target: impl Into<String>, app_jwt: &str, body: &serde_json::Value) -> Self {
        Req {
            method: "POST",
            target: target.into(),
            content_type: Some("application/json"),
            body: body.to_string().into_bytes(),
            h2: false,
            authorization: Some(app_jwt.to_owned()),
            on_behalf: None,
        }
    }

    pub fn authorization(mut self, value: Option<&str>) -> Self {
        self.authorization = value.map(str::to_owned);
        self
    }

    pub fn on_behalf(mut self, value: Option<&str>) -> Self {
        self.on_behalf = value.map(str::to_owned);
        self
    }

    pub fn method(mut self, method: &'static str) -> Self {
        self.method = method;
        self
    }

    pub fn content_type(mut self, content_type: Option<&'static str>) -> Self {
        self.content_type = content_type;
        self
    }

    pub fn body(mut self, body: Vec<u8>) -> Self {
        self.body = body;
        self
    }

    pub fn h2(mut self) -> Self {
        self.h2 = true;
        self
    }
}

/// The seed's request: v1, grant_type in the query, credentials in the body.
pub fn seed_request(account: &str, client_id: &str, secret: &str) -> Req {
    Req::post_form(
        format!("/sentinel/api/account/{account}/app/token?v=1.0&grant_type=client_credentials"),
        &[("client_id", client_id), ("client_secret", secret)],
    )
}

/// What came back: the status and headers, and the body or why reading it
/// failed.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Result<Bytes, String>,
    pub alpn_h2: bool,
}

impl Reply {
    pub fn bytes(&self) -> &[u8] {
        match &self.body {
            Ok(b) => b,
            Err(e) => panic!("body failed: {e}"),
        }
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(self.bytes()).unwrap_or_else(|e| {
            panic!(
                "not json ({e}): {:?}",
                String::from_utf8_lossy(self.bytes())
            )
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `error` member of an RFC 6749 error body.
    pub fn oauth_error(&self) -> String {
        self.json()["error"].as_str().unwrap_or("").to_owned()
    }
}

pub fn tls_config(ca_der: &[u8], h2: bool) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from(ca_der.to_vec()))
        .expect("add ca");
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = if h2 {
        vec![b"h2".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    config
}

/// Where to connect and what to trust; owned, so a spawned task can use it.
#[derive(Debug, Clone)]
pub struct Target {
    pub addr: std::net::SocketAddr,
    pub host: String,
    pub ca: Option<Vec<u8>>,
}

impl From<&EmulatorHandle> for Target {
    fn from(emu: &EmulatorHandle) -> Self {
        Target {
            addr: emu.addr(),
            host: emu.host().to_string(),
            ca: emu.ca_cert_der().map(<[u8]>::to_vec),
        }
    }
}

/// Sends one request on a new connection; `Err` when no response head
/// arrived (connection refused, reset, TLS failure).
pub async fn send(target: impl Into<Target>, req: Req) -> Result<Reply, String> {
    send_with_name(target, req, "127.0.0.1").await
}

pub async fn send_with_name(
    target: impl Into<Target>,
    req: Req,
    server_name: &str,
) -> Result<Reply, String> {
    let target = target.into();
    let tcp = TcpStream::connect(target.addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let scheme = if target.ca.is_some() { "https" } else { "http" };
    let uri = format!("{scheme}://{}{}", target.host, req.target);
    let mut request = Request::builder().method(req.method).uri(uri);
    if !req.h2 {
        request = request.header("host", target.host.as_str());
    }
    if let Some(ct) = req.content_type {
        request = request.header("content-type", ct);
    }
    if let Some(auth) = &req.authorization {
        request = request.header("authorization", auth.as_str());
    }
    if let Some(jws) = &req.on_behalf {
        request = request.header("x-lp-on-behalf", jws.as_str());
    }
    let request = request
        .body(Full::new(Bytes::from(req.body)))
        .map_err(|e| format!("request: {e}"))?;
    match &target.ca {
        Some(ca) => {
            let connector = tokio_rustls::TlsConnector::from(Arc::new(tls_config(ca, req.h2)));
            let name = ServerName::try_from(server_name.to_owned())
                .map_err(|e| format!("server name: {e}"))?;
            let tls = connector
                .connect(name, tcp)
                .await
                .map_err(|e| format!("tls: {e}"))?;
            let alpn_h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
            exchange(TokioIo::new(tls), req.h2, request, alpn_h2).await
        }
        None => exchange(TokioIo::new(tcp), req.h2, request, false).await,
    }
}

async fn exchange<I>(
    io: I,
    h2: bool,
    request: Request<Full<Bytes>>,
    alpn_h2: bool,
) -> Result<Reply, String>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let response = if h2 {
        let (mut sender, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
            .await
            .map_err(|e| format!("h2 handshake: {e}"))?;
        tokio::spawn(conn);
        sender
            .send_request(request)
            .await
            .map_err(|e| format!("send: {e}"))?
    } else {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        tokio::spawn(conn);
        sender
            .send_request(request)
            .await
            .map_err(|e| format!("send: {e}"))?
    };
    let (parts, body) = response.into_parts();
    let body = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|e| format!("body: {e}"));
    Ok(Reply {
        status: parts.status,
        headers: parts.headers,
        body,
        alpn_h2,
    })
}

/// `send` under the hang guard.
pub async fn call(emu: &EmulatorHandle, req: Req) -> Reply {
    match tokio::time::timeout(GUARD, send(emu, req)).await {
        Ok(Ok(reply)) => reply,
        Ok(Err(e)) => panic!("request failed: {e}"),
        Err(_) => panic!("request hung"),
    }
}

/// Sends each `(name, request, status, message)` and checks the status and,
/// unless it is `"*"`, the `message` member of the JSON answer.
pub async fn check_replies(emu: &EmulatorHandle, cases: Vec<(&str, Req, u16, &str)>) {
    for (name, req, status, message) in cases {
        let reply = call(emu, req).await;
        assert_eq!(reply.status.as_u16(), status, "{name}: {:?}", reply.body);
        if message != "*" {
            assert_eq!(reply.json()["message"], message, "{name}");
        }
    }
}

/// A decoded JWT: header, claims, signing input and signature.
#[derive(Debug)]
pub struct Jwt {
    pub header: serde_json::Value,
    pub claims: serde_json::Value,
    pub raw_header: String,
    pub raw_claims: String,
    pub signing_input: String,
    pub signature: Vec<u8>,
}

pub fn decode_jwt(token: &str) -> Jwt {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "three parts");
    let b64 = |s: &str| URL_SAFE_NO_PAD.decode(s).expect("base64url");
    let raw_header = String::from_utf8(b64(parts[0])).expect("utf-8 header");
    let raw_claims = String::from_utf8(b64(parts[1])).expect("utf-8 claims");
    Jwt {
        header: serde_json::from_str(&raw_header).expect("json header"),
        claims: serde_json::from_str(&raw_claims).expect("json claims"),
        raw_header,
        raw_claims,
        signing_input: format!("{}.{}", parts[0], parts[1]),
        signature: b64(parts[2]),
    }
}

/// Verifies `token` against the key with its kid in `jwks`, as a client
/// would: `Ok(())`, or why not.
pub fn verify_with_jwks(token: &str, jwks: &str) -> Result<(), String> {
    let jwt = decode_jwt(token);
    let kid = jwt.header["kid"].as_str().ok_or("no kid")?;
    let jwks: serde_json::Value = serde_json::from_str(jwks).map_err(|e| e.to_string())?;
    let jwk = jwks["keys"]
        .as_array()
        .ok_or("no keys")?
        .iter()
        .find(|k| k["kid"] == kid)
        .ok_or_else(|| format!("kid {kid} not in jwks"))?;
    let field = |name: &str| -> Result<Vec<u8>, String> {
        let s = jwk[name].as_str().ok_or(format!("no {name}"))?;
        URL_SAFE_NO_PAD.decode(s).map_err(|e| e.to_string())
    };
    let key = ring::signature::RsaPublicKeyComponents {
        n: field("n")?,
        e: field("e")?,
    };
    key.verify(
        &ring::signature::RSA_PKCS1_2048_8192_SHA256,
        jwt.signing_input.as_bytes(),
        &jwt.signature,
    )
    .map_err(|_| "signature does not verify".to_owned())
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

/// Another emulator for the same client, signing with [`second_key`]: its
/// tokens have this suite's kid scheme but other key material.
pub async fn stranger() -> EmulatorHandle {
    Emulator::builder()
        .client(ACCOUNT, CLIENT, SECRET)
        .signing_key(second_key())
        .start()
        .await
        .expect("start")
}

/// Gets a token the seed's way and returns it.
pub async fn fetch_token(emu: &EmulatorHandle) -> String {
    fetch_token_for(emu, ACCOUNT).await
}

/// Like [`fetch_token`] for `ACCOUNT` or, with any other account, the
/// client of `OTHER_ACCOUNT`.
pub async fn fetch_token_for(emu: &EmulatorHandle, account: &str) -> String {
    let (client, secret) = match account {
        ACCOUNT => (CLIENT, SECRET),
        _ => (OTHER_CLIENT, OTHER_SECRET),
    };
    let reply = call(emu, seed_request(account, client, secret)).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    reply.json()["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}
