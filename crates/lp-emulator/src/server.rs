//! The accept loop, one task per connection, routing, and the transport
//! faults that replace an answer; the handlers live in a module per service.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::body::EmuBody;
use crate::reply::{JSON_UTF8, json, method_not_allowed, plain_status, read_body, with_type};
use crate::state::State;
use crate::{Endpoint, Fault, RequestLog};
use crate::{domain_api, idp, send_api, sentinel};

/// Most connections served at once; more are closed on accept.
const MAX_CONNECTIONS: usize = 1024;
/// Time allowed for a TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Time allowed for a request's headers (HTTP/1.1).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

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

/// The answer without transport faults; `fault` may alter a token or a
/// Domain API answer.
async fn normal(
    state: &State,
    req: Request<Incoming>,
    route: &Route,
    fault: Option<&Fault>,
) -> Response<Bytes> {
    match route {
        Route::DomainOne { account, service } => {
            domain_api::domain(state, &req, account, Some(service), fault)
        }
        Route::DomainAll { account } => domain_api::domain(state, &req, account, None, fault),
        Route::Token { account, v2 } => sentinel::token(state, req, account, *v2, fault).await,
        Route::Jwks => {
            if req.method() != Method::GET && req.method() != Method::HEAD {
                return method_not_allowed("GET, HEAD");
            }
            with_type(StatusCode::OK, JSON_UTF8, Bytes::from(state.jwks_json()))
        }
        Route::Consumer { account } => idp::consumer(state, req, account, fault).await,
        Route::Conversation { account } => send_api::conversation(state, req, account).await,
        Route::Send { account } => send_api::send(state, req, account).await,
        Route::Unknown => json(
            StatusCode::NOT_FOUND,
            &serde_json::json!({"error": "not_found"}),
        ),
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
    }
}
