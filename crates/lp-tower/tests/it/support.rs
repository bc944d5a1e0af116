//! A fake LivePerson behind the client (Sentinel and idp, through a
//! `Transport` closure), a wall clock that follows tokio's paused clock,
//! and a fake Send API: a `tower::service_fn` that records each request
//! and answers from a script.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::BodyExt;
use lp_appjwt::{
    AccountId, AppJwtClient, AppJwtClientBuilder, ClientId, ClientSecret, Host, TransportError,
    VerifyWith,
};
use tokio::time::Instant;

pub const ACCOUNT: &str = "56072331";
pub const CLIENT_ID: &str = "75588e18-0213-4e33-8174-883acac7e3c4";
pub const SECRET: &str = "TOPSECRET-sh0uld-n3ver-leak";
/// Mon, 04 Nov 2019 16:00:47 GMT.
const WALL_START: u64 = 1_572_883_247;

/// Sentinel and idp: every token request gets a new AppJWT, every
/// consumer request a new ConsumerJWS (a counter in the claims makes each
/// text unique), and both are counted.
pub struct Fake {
    start: Instant,
    token_fetches: AtomicUsize,
    consumer_fetches: AtomicUsize,
    /// Status codes Sentinel answers before it hands out tokens again.
    token_script: Mutex<VecDeque<u16>>,
}

impl Fake {
    pub fn new() -> Arc<Self> {
        Arc::new(Fake {
            start: Instant::now(),
            token_fetches: AtomicUsize::new(0),
            consumer_fetches: AtomicUsize::new(0),
            token_script: Mutex::new(VecDeque::new()),
        })
    }

    pub fn token_fetches(&self) -> usize {
        self.token_fetches.load(Ordering::SeqCst)
    }

    pub fn consumer_fetches(&self) -> usize {
        self.consumer_fetches.load(Ordering::SeqCst)
    }

    pub fn script_tokens(&self, statuses: impl IntoIterator<Item = u16>) {
        self.token_script.lock().unwrap().extend(statuses);
    }

    /// Wall time that advances with tokio's clock.
    pub fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(WALL_START) + self.start.elapsed()
    }

    fn now_secs(&self) -> i64 {
        self.now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
    }

    /// A client wired to this fake; its sentinel and idp are fixed, so no
    /// Domain API lookup is made.
    pub fn client(self: &Arc<Self>) -> AppJwtClientBuilder {
        let fake = Arc::clone(self);
        let clock = Arc::clone(self);
        AppJwtClient::builder(
            AccountId::new(ACCOUNT).unwrap(),
            ClientId::new(CLIENT_ID).unwrap(),
            ClientSecret::new(SECRET).unwrap(),
        )
        .transport(move |req: http::Request<Vec<u8>>| {
            let fake = Arc::clone(&fake);
            async move { Ok::<_, TransportError>(fake.answer(&req)) }
        })
        .clock(move || clock.now())
        .sentinel_host(Host::parse("va.sentinel.liveperson.net").unwrap())
        .idp_host(Host::parse("va.idp.liveperson.net").unwrap())
        // The tokens are unsigned: what is tested is the middleware.
        .verify_with(VerifyWith::None)
        .refresh_jitter(Duration::ZERO)
    }

    pub fn answer(&self, req: &http::Request<Vec<u8>>) -> http::Response<Vec<u8>> {
        let now = self.now_secs();
        let (status, body) = if req.uri().path().ends_with("/consumer") {
            let n = self.consumer_fetches.fetch_add(1, Ordering::SeqCst);
            let jws = token(now, &format!("jws-{n}"));
            (201, format!(r#"{{"token":"{jws}"}}"#))
        } else {
            let n = self.token_fetches.fetch_add(1, Ordering::SeqCst);
            match self.token_script.lock().unwrap().pop_front() {
                Some(status) => (status, r#"{"error":"invalid_client"}"#.to_owned()),
                None => {
                    let jwt = token(now, &format!("jwt-{n}"));
                    (
                        200,
                        format!(
                            r#"{{"access_token":"{jwt}","token_type":"Bearer","expires_in":3600}}"#
                        ),
                    )
                }
            }
        };
        http::Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(body.into_bytes())
            .unwrap()
    }
}

/// An unsigned token that validates as this account's AppJWT, unique by
/// `n`.
fn token(now: i64, n: &str) -> String {
    let mut claims = lp_jwt::AppJwtClaims {
        aud: Some(lp_jwt::Audience::One(ACCOUNT.into())),
        azp: Some(CLIENT_ID.into()),
        iss: Some("Sentinel".into()),
        exp: lp_jwt::NumericDate::from_secs(now + 3600),
        iat: lp_jwt::NumericDate::from_secs(now),
        ..Default::default()
    };
    claims.extra.insert("n".into(), n.into());
    let input = lp_jwt::encode_signing_input(&lp_jwt::Header::new("RS256"), &claims);
    lp_jwt::assemble(&input, b"unsigned")
}

/// One request as the fake Send API received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub authorization: Option<String>,
    pub x_lp_on_behalf: Option<String>,
    pub lp_on_behalf: Option<String>,
    /// Whether every header that carries a token was marked sensitive.
    pub sensitive: bool,
    pub body: Bytes,
    /// `Debug` of the request's head as received.
    pub debug: String,
}

/// How the fake Send API answers.
pub enum Script {
    /// These statuses in order (with their headers), then 200.
    InOrder(VecDeque<(u16, Vec<(&'static str, &'static str)>)>),
    /// 401 to this `Authorization`, 200 to any other, after `delay`.
    RefuseToken(String, Duration),
}

/// The fake Send API's records, shared with the test.
pub struct SendApi {
    pub seen: Mutex<Vec<Seen>>,
    script: Mutex<Script>,
}

impl SendApi {
    pub fn answering(statuses: &[u16]) -> Arc<Self> {
        Self::with_headers(statuses.iter().map(|s| (*s, vec![])))
    }

    pub fn with_headers(
        replies: impl IntoIterator<Item = (u16, Vec<(&'static str, &'static str)>)>,
    ) -> Arc<Self> {
        Self::scripted(Script::InOrder(replies.into_iter().collect()))
    }

    pub fn scripted(script: Script) -> Arc<Self> {
        Arc::new(SendApi {
            seen: Mutex::new(Vec::new()),
            script: Mutex::new(script),
        })
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// The `Authorization` of each request received, in order.
    pub fn authorizations(&self) -> Vec<String> {
        self.seen()
            .into_iter()
            .map(|s| s.authorization.unwrap_or_default())
            .collect()
    }

    /// A tower service over requests with any body of bytes.
    pub fn service<B>(
        self: &Arc<Self>,
    ) -> impl tower::Service<
        http::Request<B>,
        Response = http::Response<()>,
        Error = Infallible,
        Future = impl Send,
    > + Clone
    + Send
    + std::fmt::Debug
    + 'static
    where
        B: BodyExt<Data = Bytes> + Send + 'static,
        B::Error: std::fmt::Debug,
    {
        let api = Arc::clone(self);
        tower::service_fn(move |req: http::Request<B>| {
            let api = Arc::clone(&api);
            async move { Ok(api.answer(req).await) }
        })
    }

    async fn answer<B>(&self, req: http::Request<B>) -> http::Response<()>
    where
        B: BodyExt<Data = Bytes>,
        B::Error: std::fmt::Debug,
    {
        let (parts, body) = req.into_parts();
        let debug = format!("{parts:?}");
        let text = |name: &str| {
            parts
                .headers
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
        };
        let token_headers = ["authorization", "x-lp-on-behalf", "lp-on-behalf"];
        let seen = Seen {
            authorization: text("authorization"),
            x_lp_on_behalf: text("x-lp-on-behalf"),
            lp_on_behalf: text("lp-on-behalf"),
            sensitive: token_headers
                .iter()
                .filter_map(|h| parts.headers.get(*h))
                .all(|v| v.is_sensitive()),
            body: body.collect().await.unwrap().to_bytes(),
            debug,
        };
        let authorization = seen.authorization.clone().unwrap_or_default();
        self.seen.lock().unwrap().push(seen);
        let (status, headers) = match &mut *self.script.lock().unwrap() {
            Script::InOrder(replies) => replies.pop_front().unwrap_or((200, vec![])),
            Script::RefuseToken(refused, _) if *refused == authorization => (401, vec![]),
            Script::RefuseToken(..) => (200, vec![]),
        };
        let delay = match &*self.script.lock().unwrap() {
            Script::RefuseToken(_, delay) => *delay,
            Script::InOrder(_) => Duration::ZERO,
        };
        tokio::time::sleep(delay).await;
        let mut response = http::Response::builder().status(status);
        for (name, value) in headers {
            response = response.header(name, value);
        }
        response.body(()).unwrap()
    }
}
