//! The accept loop, one task per connection, and the request handlers.

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::body::EmuBody;
use crate::fault::{Counts, Faults, lock};
use crate::jwt::{self, Claims, ConsumerClaims, ConsumerIdentity, Rejection};
use crate::revoke::Revocations;
use crate::send_api;
use crate::{EmulatorError, Endpoint, Fault, RequestLog, SigningKey, UnknownService};

/// Most connections served at once; more are closed on accept.
const MAX_CONNECTIONS: usize = 1024;
/// Time allowed for a TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Time allowed for a request's headers (HTTP/1.1).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Time allowed for a request's body.
const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Seconds a token of [`Fault::FutureIatToken`] is issued in the future.
const FUTURE_IAT_SECS: i64 = 3600;
/// Seconds ago a token of [`Fault::ExpiredToken`] expired.
const EXPIRED_AGO_SECS: i64 = 60;

const FORM: &str = "application/x-www-form-urlencoded";
pub(crate) const JSON: &str = "application/json";
const JSON_UTF8: &str = "application/json;charset=utf-8";
/// Most times a token is re-signed a second earlier to differ from a
/// revoked one (see [`State::mint`]).
const MAX_REVOKED_SHIFTS: i64 = 10_000;

/// Everything the handlers share.
pub(crate) struct State {
    /// `host:port` the Domain API answers for every service.
    pub(crate) advertised: String,
    /// (account, client id) -> SHA-256 of the secret.
    pub(crate) clients: HashMap<(String, String), [u8; 32]>,
    pub(crate) accounts: HashSet<String>,
    pub(crate) services: Vec<String>,
    pub(crate) lifetime: Duration,
    pub(crate) send_expires_in: bool,
    pub(crate) unknown_service: UnknownService,
    pub(crate) keys: Mutex<KeyRing>,
    pub(crate) faults: Faults,
    pub(crate) counts: Counts,
    pub(crate) on_request: Option<crate::RequestCallback>,
    pub(crate) rng: ring::rand::SystemRandom,
    pub(crate) shutdown: watch::Receiver<bool>,
    pub(crate) max_body: usize,
    pub(crate) revocations: Revocations,
    pub(crate) send_api: send_api::Store,
}

/// The current signing key and the retired ones still published.
pub(crate) struct KeyRing {
    current: SigningKey,
    /// Retired keys with the instant they were retired, oldest first.
    retired: Vec<(SigningKey, Instant)>,
    /// `None`: a retired key is published until the next rotation.
    grace: Option<Duration>,
    kids_used: HashSet<String>,
}

impl KeyRing {
    pub(crate) fn new(current: SigningKey, grace: Option<Duration>) -> Self {
        let kids_used = HashSet::from([current.kid().to_owned()]);
        KeyRing {
            current,
            retired: Vec::new(),
            grace,
            kids_used,
        }
    }

    pub(crate) fn current(&self) -> &SigningKey {
        &self.current
    }

    /// Makes `key` the signing key, renaming it `kid-2`, `kid-3`, ... when
    /// its kid was used before, so a kid always names one key.
    pub(crate) fn rotate(&mut self, key: SigningKey, now: Instant) {
        let base = key.kid().to_owned();
        let mut kid = base.clone();
        let mut n = 2u64;
        while self.kids_used.contains(&kid) {
            kid = format!("{base}-{n}");
            n += 1;
        }
        self.kids_used.insert(kid.clone());
        let old = std::mem::replace(&mut self.current, key.with_kid(kid));
        if self.grace.is_none() {
            self.retired.clear();
        }
        self.retired.push((old, now));
    }

    /// The keys in the JWKS: the current one first, then retired ones,
    /// newest first.
    pub(crate) fn published(&self, now: Instant) -> Vec<SigningKey> {
        let mut keys = vec![self.current.clone()];
        for (key, retired_at) in self.retired.iter().rev() {
            let live = match self.grace {
                None => true,
                Some(grace) => now.saturating_duration_since(*retired_at) < grace,
            };
            if live {
                keys.push(key.clone());
            }
        }
        keys
    }
}

impl State {
    pub(crate) fn jwks_json(&self) -> String {
        let keys = lock(&self.keys).published(Instant::now());
        let keys: Vec<_> = keys.iter().map(SigningKey::jwk).collect();
        serde_json::json!({ "keys": keys }).to_string()
    }

    /// A token as the endpoint issues it, altered by a token fault.
    pub(crate) fn mint(
        &self,
        account: &str,
        client_id: &str,
        fault: Option<&Fault>,
    ) -> Result<String, EmulatorError> {
        let key = lock(&self.keys).current().clone();
        let now = unix_now();
        let lifetime = i64::try_from(self.lifetime.as_secs()).unwrap_or(i64::MAX / 4);
        let wrong_account = format!("{account}-other");
        let mut claims = Claims {
            aud: account,
            azp: client_id,
            scope: "msg.consumer",
            iss: "Sentinel",
            exp: now.saturating_add(lifetime),
            iat: now,
        };
        match fault {
            Some(Fault::WrongAccountToken) => claims.aud = &wrong_account,
            Some(Fault::WrongIssuerToken) => claims.iss = "NotSentinel",
            Some(Fault::ExpiredToken) => {
                claims.exp = now - EXPIRED_AGO_SECS;
                claims.iat = claims.exp.saturating_sub(lifetime);
            }
            Some(Fault::FutureIatToken) => {
                claims.iat = now + FUTURE_IAT_SECS;
                claims.exp = claims.iat.saturating_add(lifetime);
            }
            _ => {}
        }
        let corrupt = matches!(fault, Some(Fault::BadSignatureToken));
        // RS256 is deterministic: a token asked for in the second a revoked
        // twin was issued in would be that very token, still refused. Moving
        // `iat` and `exp` a second back makes it a new one, as a client that
        // fetches again after a revocation expects.
        for _ in 0..MAX_REVOKED_SHIFTS {
            let token = jwt::encode(&key, &self.rng, &claims, corrupt)?;
            if !self.revocations.is_revoked(&token) {
                self.revocations.issued(&token);
                return Ok(token);
            }
            claims.iat -= 1;
            claims.exp -= 1;
        }
        Err(EmulatorError::Signing)
    }

    /// A ConsumerJWS as the idp endpoint issues it.
    pub(crate) fn mint_consumer(
        &self,
        account: &str,
        ext_consumer_id: &str,
    ) -> Result<String, EmulatorError> {
        let key = lock(&self.keys).current().clone();
        let lp_consumer_id = jwt::lp_consumer_id(account, ext_consumer_id);
        let claims = ConsumerClaims {
            account_id: account,
            ext_consumer_id,
            lp_consumer_id: &lp_consumer_id,
            iat: unix_now(),
        };
        jwt::encode(&key, &self.rng, &claims, false)
    }

    /// Checks an AppJWT against the keys the JWKS publishes now, and that
    /// it was not revoked.
    pub(crate) fn verify_app_jwt(&self, token: &str, account: &str) -> Result<(), Rejection> {
        let keys = lock(&self.keys).published(Instant::now());
        jwt::verify_app_jwt(token, &keys, account, unix_now())?;
        if self.revocations.is_revoked(token) {
            return Err(Rejection::Revoked);
        }
        Ok(())
    }

    /// Checks a ConsumerJWS against the keys the JWKS publishes now.
    pub(crate) fn verify_consumer_jws(
        &self,
        token: &str,
        account: &str,
    ) -> Result<ConsumerIdentity, Rejection> {
        let keys = lock(&self.keys).published(Instant::now());
        jwt::verify_consumer_jws(token, &keys, account)
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 4))
        .unwrap_or(0)
}

/// Runs hyper's background futures (HTTP/2 streams) on tokio, each one
/// stopped when the emulator shuts down so that no task outlives it.
#[derive(Clone)]
struct ShutdownExec {
    shutdown: watch::Receiver<bool>,
}

impl<F> hyper::rt::Executor<F> for ShutdownExec
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, fut: F) {
        let mut shutdown = self.shutdown.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = fut => {}
                _ = shutdown.wait_for(|stop| *stop) => {}
            }
        });
    }
}

/// Accepts connections until the task is aborted; aborting it drops the
/// listener (freeing the port) and the `JoinSet`, which aborts every
/// connection task.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    state: Arc<State>,
) {
    let mut conns = JoinSet::new();
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _peer)) => stream,
            Err(e) => {
                // Typically out of file descriptors: back off instead of
                // spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        while conns.try_join_next().is_some() {}
        if conns.len() >= MAX_CONNECTIONS {
            tracing::warn!(
                limit = MAX_CONNECTIONS,
                "too many connections, closing a new one"
            );
            continue;
        }
        conns.spawn(serve_connection(stream, tls.clone(), state.clone()));
    }
}

async fn serve_connection(stream: TcpStream, tls: Option<TlsAcceptor>, state: Arc<State>) {
    let _ = stream.set_nodelay(true);
    let mut builder = hyper_util::server::conn::auto::Builder::new(ShutdownExec {
        shutdown: state.shutdown.clone(),
    });
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(256)
        .max_header_list_size(64 * 1024);
    let service = hyper::service::service_fn(move |req| {
        let state = state.clone();
        async move { Ok::<_, Infallible>(handle(state, req).await) }
    });
    let result = match tls {
        Some(acceptor) => {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls_stream)) => {
                    builder
                        .serve_connection(TokioIo::new(tls_stream), service)
                        .await
                }
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, "tls handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!("tls handshake timed out");
                    return;
                }
            }
        }
        None => {
            builder
                .serve_connection(TokioIo::new(stream), service)
                .await
        }
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

/// Where a path leads.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    DomainOne { account: String, service: String },
    DomainAll { account: String },
    Token { account: String, v2: bool },
    Jwks,
    Consumer { account: String },
    Conversation { account: String },
    Send { account: String },
    Unknown,
}

impl Route {
    fn parse(path: &str) -> Route {
        let Some(rest) = path.strip_prefix('/') else {
            return Route::Unknown;
        };
        let segments: Vec<&str> = rest.split('/').collect();
        match segments.as_slice() {
            ["api", "account", acc, "service", svc, "baseURI.json"] => Route::DomainOne {
                account: (*acc).to_owned(),
                service: (*svc).to_owned(),
            },
            ["api", "account", acc, "service", "baseURI.json"] => Route::DomainAll {
                account: (*acc).to_owned(),
            },
            ["sentinel", "api", "account", acc, "app", "token"] => Route::Token {
                account: (*acc).to_owned(),
                v2: false,
            },
            ["sentinel", "api", "v2", "account", acc, "app", "token"] => Route::Token {
                account: (*acc).to_owned(),
                v2: true,
            },
            ["sentinel", "well-known", "jwks"] => Route::Jwks,
            ["api", "account", acc, "consumer"] => Route::Consumer {
                account: (*acc).to_owned(),
            },
            ["api", "account", acc, "messaging", rest @ ..] => {
                let account = (*acc).to_owned();
                match rest {
                    ["consumer", "conversation"] => Route::Conversation { account },
                    ["consumer", "conversation", "send"] => Route::Send { account },
                    _ => Route::Unknown,
                }
            }
            _ => Route::Unknown,
        }
    }

    fn endpoint(&self) -> Option<Endpoint> {
        match self {
            Route::DomainOne { .. } | Route::DomainAll { .. } => Some(Endpoint::Domain),
            Route::Token { .. } => Some(Endpoint::Token),
            Route::Jwks => Some(Endpoint::Jwks),
            Route::Consumer { .. } => Some(Endpoint::Consumer),
            Route::Conversation { .. } => Some(Endpoint::Conversation),
            Route::Send { .. } => Some(Endpoint::Send),
            Route::Unknown => None,
        }
    }
}

async fn handle(state: Arc<State>, req: Request<Incoming>) -> Response<EmuBody> {
    let started = Instant::now();
    let method = req.method().clone();
    // Only the path is ever logged: a token request's query may carry
    // credentials from a careless client.
    let path = req.uri().path().to_owned();
    let route = Route::parse(&path);
    let endpoint = route.endpoint();
    state.counts.record(endpoint);
    let fault = state.faults.take(endpoint);
    let response = answer(&state, req, &route, fault.as_ref()).await;
    let log = RequestLog {
        method,
        path,
        status: response.status(),
        latency: started.elapsed(),
        endpoint,
        fault: fault.as_ref().map(Fault::name),
    };
    tracing::info!(
        method = %log.method,
        path = %log.path,
        status = log.status.as_u16(),
        latency_us = u64::try_from(log.latency.as_micros()).unwrap_or(u64::MAX),
        fault = log.fault,
        "request"
    );
    if let Some(callback) = &state.on_request {
        callback(&log);
    }
    response
}

async fn answer(
    state: &State,
    req: Request<Incoming>,
    route: &Route,
    fault: Option<&Fault>,
) -> Response<EmuBody> {
    match fault {
        Some(Fault::Status {
            status,
            retry_after,
            body,
        }) => {
            let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut builder = Response::builder().status(status);
            if let Some(v) = retry_after
                .as_deref()
                .and_then(|v| HeaderValue::from_str(v).ok())
            {
                builder = builder.header(header::RETRY_AFTER, v);
            }
            let response = match body {
                Some(b) => builder
                    .header(header::CONTENT_TYPE, "text/plain;charset=utf-8")
                    .body(EmuBody::full(b.clone())),
                None => builder.body(EmuBody::empty()),
            };
            response.unwrap_or_else(|_| plain_status(status))
        }
        Some(Fault::Delay(d)) => {
            let mut shutdown = state.shutdown.clone();
            tokio::select! {
                _ = tokio::time::sleep(*d) => {}
                _ = shutdown.wait_for(|stop| *stop) => {}
            }
            normal(state, req, route, None).await.map(EmuBody::full)
        }
        Some(Fault::Hang) => {
            let _ = read_body(req, state.max_body).await;
            // Never answer: shutting down aborts the connection task (HTTP/1.1)
            // or the stream task (HTTP/2, see `ShutdownExec`), which drops
            // this future, so the client sees the connection close instead.
            std::future::pending::<Response<EmuBody>>().await
        }
        Some(Fault::CloseMidBody) => {
            let (mut parts, body) = normal(state, req, route, None).await.into_parts();
            let full_len = body.len();
            parts
                .headers
                .insert(header::CONTENT_LENGTH, HeaderValue::from(full_len));
            Response::from_parts(parts, EmuBody::cut(body.slice(..full_len / 2)))
        }
        Some(Fault::MalformedJson) => {
            let text: &'static str = match route.endpoint() {
                Some(Endpoint::Domain) => "{\"service\":\"sentinel\",\"account\":\"",
                Some(Endpoint::Jwks) => "{\"keys\":[{\"kty\":\"RSA\",\"n\":\"",
                Some(Endpoint::Consumer) => "{\"token\":\"eyJraWQiOiJhcHBqd3Qi",
                Some(Endpoint::Conversation) => "[{\"kind\":\"resp\",\"reqId\":\"",
                Some(Endpoint::Send) => "{\"kind\":\"resp\",\"reqId\":\"",
                _ => "{\"access_token\":\"eyJraWQiOiJhcHBqd3Qi",
            };
            with_type(
                StatusCode::OK,
                JSON_UTF8,
                Bytes::from_static(text.as_bytes()),
            )
            .map(EmuBody::full)
        }
        Some(Fault::NonJson200) => with_type(
            StatusCode::OK,
            "text/html;charset=utf-8",
            Bytes::from_static(b"<html><body><h1>Maintenance</h1></body></html>"),
        )
        .map(EmuBody::full),
        Some(Fault::HugeBody(n)) => {
            let mut response = Response::new(EmuBody::huge(*n));
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_UTF8));
            response
        }
        other => normal(state, req, route, other).await.map(EmuBody::full),
    }
}

fn plain_status(status: StatusCode) -> Response<EmuBody> {
    let mut response = Response::new(EmuBody::empty());
    *response.status_mut() = status;
    response
}

fn with_type(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<Bytes> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

pub(crate) fn json(status: StatusCode, value: &serde_json::Value) -> Response<Bytes> {
    with_type(status, JSON_UTF8, Bytes::from(value.to_string()))
}

pub(crate) fn method_not_allowed(allow: &'static str) -> Response<Bytes> {
    let mut response = json(
        StatusCode::METHOD_NOT_ALLOWED,
        &serde_json::json!({"error": "method_not_allowed"}),
    );
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    response
}

/// The answer without transport faults; `fault` may alter a token or a
/// Domain API answer.
async fn normal(
    state: &State,
    req: Request<Incoming>,
    route: &Route,
    fault: Option<&Fault>,
) -> Response<Bytes> {
    match route {
        Route::DomainOne { account, service } => domain(state, &req, account, Some(service), fault),
        Route::DomainAll { account } => domain(state, &req, account, None, fault),
        Route::Token { account, v2 } => token(state, req, account, *v2, fault).await,
        Route::Jwks => {
            if req.method() != Method::GET && req.method() != Method::HEAD {
                return method_not_allowed("GET, HEAD");
            }
            with_type(StatusCode::OK, JSON_UTF8, Bytes::from(state.jwks_json()))
        }
        Route::Consumer { account } => consumer(state, req, account, fault).await,
        Route::Conversation { account } => send_api::conversation(state, req, account).await,
        Route::Send { account } => send_api::send(state, req, account).await,
        Route::Unknown => json(
            StatusCode::NOT_FOUND,
            &serde_json::json!({"error": "not_found"}),
        ),
    }
}

pub(crate) fn query_pairs(req: &Request<Incoming>) -> Vec<(String, String)> {
    req.uri()
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default()
}

fn domain(
    state: &State,
    req: &Request<Incoming>,
    account: &str,
    service: Option<&str>,
    fault: Option<&Fault>,
) -> Response<Bytes> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return method_not_allowed("GET, HEAD");
    }
    let query = query_pairs(req);
    let versions: Vec<&str> = query
        .iter()
        .filter(|(k, _)| k == "version")
        .map(|(_, v)| v.as_str())
        .collect();
    if versions != ["1.0"] {
        return json(
            StatusCode::BAD_REQUEST,
            &serde_json::json!({"error": "bad request", "message": "query parameter version=1.0 is required"}),
        );
    }
    if !state.accounts.contains(account) {
        return json(
            StatusCode::UNAUTHORIZED,
            &serde_json::json!({"error": "unauthorized", "message": "invalid site"}),
        );
    }
    let base_uri = |name: &str| -> String {
        match fault {
            Some(Fault::DomainHost(raw)) if name == "sentinel" => raw.clone(),
            _ => state.advertised.clone(),
        }
    };
    match service {
        Some(name) => {
            if state.services.iter().any(|s| s == name) {
                json(
                    StatusCode::OK,
                    &serde_json::json!({"service": name, "account": account, "baseURI": base_uri(name)}),
                )
            } else {
                match state.unknown_service {
                    UnknownService::NotFound => json(
                        StatusCode::NOT_FOUND,
                        &serde_json::json!({"error": "not found", "message": "unknown service"}),
                    ),
                    UnknownService::Omit => json(
                        StatusCode::OK,
                        &serde_json::json!({"service": name, "account": account}),
                    ),
                }
            }
        }
        None => {
            let all: Vec<_> = state
                .services
                .iter()
                .map(|s| serde_json::json!({"service": s, "account": account, "baseURI": base_uri(s)}))
                .collect();
            json(StatusCode::OK, &serde_json::json!({ "baseURIs": all }))
        }
    }
}

/// An RFC 6749 section 5.2 error answer.
fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response<Bytes> {
    let mut response = json(
        status,
        &serde_json::json!({"error": error, "error_description": description}),
    );
    no_store(&mut response);
    response
}

pub(crate) fn no_store(response: &mut Response<Bytes>) {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

pub(crate) async fn read_body(
    req: Request<Incoming>,
    max: usize,
) -> Result<Bytes, Response<Bytes>> {
    let too_large = || {
        oauth_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request",
            "request body too large",
        )
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(too_large());
    }
    let limited = http_body_util::Limited::new(req.into_body(), max);
    match tokio::time::timeout(BODY_READ_TIMEOUT, limited.collect()).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Ok(Err(_)) => Err(oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "could not read the request body",
        )),
        Err(_) => Err(oauth_error(
            StatusCode::REQUEST_TIMEOUT,
            "invalid_request",
            "request body not received in time",
        )),
    }
}

/// Whether the request's media type (parameters such as `charset` aside)
/// is `expected`.
pub(crate) fn has_content_type(req: &Request<Incoming>, expected: &str) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(expected))
}

/// One parameter of a form or query, refusing repeats (RFC 6749 section 3.2).
pub(crate) fn single<'a>(pairs: &'a [(String, String)], name: &str) -> Result<Option<&'a str>, ()> {
    let mut found = pairs
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.as_str());
    let first = found.next();
    match found.next() {
        Some(_) => Err(()),
        None => Ok(first),
    }
}

/// Compares two secrets through their SHA-256 digests in constant time, so
/// neither the content nor the length of the registered secret leaks
/// through timing.
fn secret_matches(expected_digest: &[u8; 32], given: &str) -> bool {
    let given = ring::digest::digest(&ring::digest::SHA256, given.as_bytes());
    let diff = expected_digest
        .iter()
        .zip(given.as_ref())
        .fold(0u8, |acc, (a, b)| acc | (a ^ b));
    diff == 0
}

pub(crate) fn digest_secret(secret: &str) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, secret.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

async fn token(
    state: &State,
    req: Request<Incoming>,
    account: &str,
    v2: bool,
    fault: Option<&Fault>,
) -> Response<Bytes> {
    let bad =
        |description: &str| oauth_error(StatusCode::BAD_REQUEST, "invalid_request", description);
    if req.method() != Method::POST {
        let mut response = oauth_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request",
            "the token endpoint takes POST",
        );
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    if !has_content_type(&req, FORM) {
        return bad("content type must be application/x-www-form-urlencoded");
    }
    let query = query_pairs(&req);
    if query
        .iter()
        .any(|(k, _)| k == "client_id" || k == "client_secret")
    {
        return bad("client credentials must not be sent in the query string");
    }
    if !v2 {
        match single(&query, "v") {
            Ok(Some("1.0" | "2.0")) => {}
            Ok(Some(_)) => return bad("unsupported api version"),
            Ok(None) => return bad("missing query parameter v"),
            Err(()) => return bad("repeated query parameter v"),
        }
    }
    let body = match read_body(req, state.max_body).await {
        Ok(b) => b,
        Err(response) => return response,
    };
    let form: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();

    let grant_query = single(&query, "grant_type");
    let grant_body = single(&form, "grant_type");
    let grant = match (grant_query, grant_body) {
        (Err(()), _) | (_, Err(())) => return bad("repeated parameter grant_type"),
        (Ok(None), Ok(None)) => return bad("missing parameter grant_type"),
        (Ok(Some(q)), Ok(Some(b))) if q != b => {
            return bad("grant_type differs between query and body");
        }
        (Ok(Some(g)), _) | (_, Ok(Some(g))) => g,
    };
    if grant != "client_credentials" {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "only client_credentials is supported",
        );
    }
    let (client_id, secret) = match (single(&form, "client_id"), single(&form, "client_secret")) {
        (Ok(Some(id)), Ok(Some(secret))) => (id, secret),
        (Err(()), _) | (_, Err(())) => return bad("repeated client credentials"),
        _ => {
            return oauth_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "client authentication missing",
            );
        }
    };
    let known = state
        .clients
        .get(&(account.to_owned(), client_id.to_owned()))
        .is_some_and(|digest| secret_matches(digest, secret));
    if !known {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client authentication failed",
        );
    }
    let access_token = match state.mint(account, client_id, fault) {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "could not sign a token");
            return oauth_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "could not sign the token",
            );
        }
    };
    let token_type = match fault {
        Some(Fault::TokenType(t)) => t.as_str(),
        _ => "Bearer",
    };
    let mut value = serde_json::json!({"access_token": access_token, "token_type": token_type});
    if state.send_expires_in {
        value["expires_in"] = serde_json::json!(state.lifetime.as_secs());
    }
    let mut response = json(StatusCode::OK, &value);
    no_store(&mut response);
    response
}

/// The idp's answer to a refused AppJWT.
fn unauthorized(rejection: Rejection) -> Response<Bytes> {
    let mut response = json(
        StatusCode::UNAUTHORIZED,
        &serde_json::json!({"error": "unauthorized", "message": rejection.message()}),
    );
    no_store(&mut response);
    response
}

/// `POST /api/account/{acc}/consumer?v=1.0`: checks the AppJWT in
/// `Authorization` (raw, as LivePerson documents it; a `Bearer` prefix is
/// refused like any other malformed token), then the JSON body, and issues
/// a ConsumerJWS.
async fn consumer(
    state: &State,
    req: Request<Incoming>,
    account: &str,
    fault: Option<&Fault>,
) -> Response<Bytes> {
    let bad = |message: &str| {
        json(
            StatusCode::BAD_REQUEST,
            &serde_json::json!({"error": "bad request", "message": message}),
        )
    };
    if matches!(fault, Some(Fault::ConsumerUnauthorized)) {
        return unauthorized(Rejection::Expired);
    }
    if req.method() != Method::POST {
        let mut response = method_not_allowed("POST");
        no_store(&mut response);
        return response;
    }
    match single(&query_pairs(&req), "v") {
        Ok(Some("1.0")) => {}
        Ok(Some(_)) => return bad("unsupported api version"),
        Ok(None) => return bad("query parameter v=1.0 is required"),
        Err(()) => return bad("repeated query parameter v"),
    }
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().map_err(|_| Rejection::Malformed))
        .unwrap_or(Err(Rejection::Missing));
    if let Err(rejection) = token.and_then(|t| state.verify_app_jwt(t, account)) {
        return unauthorized(rejection);
    }
    if !has_content_type(&req, JSON) {
        return bad("content type must be application/json");
    }
    let body = match read_body(req, state.max_body).await {
        Ok(b) => b,
        Err(response) => return response,
    };
    let ext_consumer_id = match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(serde_json::Value::Object(map)) => match map.get("ext_consumer_id") {
            Some(serde_json::Value::String(id)) if !id.is_empty() => id.clone(),
            Some(serde_json::Value::String(_)) => return bad("ext_consumer_id is empty"),
            Some(_) => return bad("ext_consumer_id must be a string"),
            None => return bad("ext_consumer_id is required"),
        },
        Ok(_) => return bad("the body must be a json object"),
        Err(_) => return bad("the body is not valid json"),
    };
    match state.mint_consumer(account, &ext_consumer_id) {
        Ok(token) => {
            let mut response = json(StatusCode::CREATED, &serde_json::json!({ "token": token }));
            no_store(&mut response);
            response
        }
        Err(e) => {
            tracing::error!(error = %e, "could not sign a consumer jws");
            json(
                StatusCode::INTERNAL_SERVER_ERROR,
                &serde_json::json!({"error": "server error", "message": "could not sign the consumer jws"}),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        fn check(path: &str, expected: Route) {
            assert_eq!(Route::parse(path), expected, "{path}");
        }
        let s = String::from;
        check(
            "/api/account/123/service/sentinel/baseURI.json",
            Route::DomainOne {
                account: s("123"),
                service: s("sentinel"),
            },
        );
        check(
            "/api/account/123/service/baseURI.json",
            Route::DomainAll { account: s("123") },
        );
        check(
            "/sentinel/api/account/123/app/token",
            Route::Token {
                account: s("123"),
                v2: false,
            },
        );
        check(
            "/sentinel/api/v2/account/123/app/token",
            Route::Token {
                account: s("123"),
                v2: true,
            },
        );
        check("/sentinel/well-known/jwks", Route::Jwks);
        check(
            "/api/account/le81823118/consumer",
            Route::Consumer {
                account: s("le81823118"),
            },
        );
        check(
            "/api/account/123/messaging/consumer/conversation",
            Route::Conversation { account: s("123") },
        );
        check(
            "/api/account/123/messaging/consumer/conversation/send",
            Route::Send { account: s("123") },
        );
        check(
            "/api/account/123/messaging/consumer/conversation/send/",
            Route::Unknown,
        );
        check("/api/account/123/messaging/consumer", Route::Unknown);
        check("/api/account/1/consumer/", Route::Unknown);
        check("/api/account//consumer/x", Route::Unknown);
        check("/sentinel/well-known/jwks/", Route::Unknown);
        check("/sentinel/api/account/123/app/token/x", Route::Unknown);
        check("", Route::Unknown);
        check("/", Route::Unknown);
    }

    #[test]
    fn secrets_compare_by_content() {
        let digest = digest_secret("s3cret");
        let cases = [
            ("s3cret", true),
            ("s3cre", false),
            ("s3cret ", false),
            ("", false),
        ];
        for (given, expected) in cases {
            assert_eq!(secret_matches(&digest, given), expected, "{given:?}");
        }
    }

    #[test]
    fn single_parameters() {
        let pairs = |s: &str| -> Vec<(String, String)> {
            form_urlencoded::parse(s.as_bytes()).into_owned().collect()
        };
        let cases: [(&str, Result<Option<&str>, ()>); 4] = [
            ("a=1&b=2", Ok(Some("1"))),
            ("b=2", Ok(None)),
            ("a=1&a=1", Err(())),
            ("a=x%20y", Ok(Some("x y"))),
        ];
        for (input, expected) in cases {
            assert_eq!(single(&pairs(input), "a"), expected, "{input}");
        }
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn route_parse_never_panics(path in ".{0,200}") {
            let _ = Route::parse(&path);
        }

        #[test]
        fn token_paths_round_trip(account in "[A-Za-z0-9_-]{1,20}", v2 in any::<bool>()) {
            let path = if v2 {
                format!("/sentinel/api/v2/account/{account}/app/token")
            } else {
                format!("/sentinel/api/account/{account}/app/token")
            };
            prop_assert_eq!(Route::parse(&path), Route::Token { account, v2 });
        }

        #[test]
        fn single_never_panics(input in ".{0,100}") {
            let pairs: Vec<(String, String)> =
                form_urlencoded::parse(input.as_bytes()).into_owned().collect();
            let _ = single(&pairs, "grant_type");
        }
    }
}
