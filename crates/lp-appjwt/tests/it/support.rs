//! A fake LivePerson: a transport closure that checks every request exactly
//! and answers from a script, plus a wall clock that follows tokio's paused
//! clock. Tokens are really signed (RS256, with lp-jwt's test-only keys) and
//! the sentinel serves a key set at `/sentinel/well-known/jwks`.

use std::cell::Cell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use lp_appjwt::{
    AccountId, ApiVersion, AppJwtClient, AppJwtClientBuilder, ClientId, ClientSecret,
    Rs256Verifier, Transport, TransportError, VerifyWith,
};
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use tokio::time::Instant;

pub const ACCOUNT: &str = "56072331";
pub const CLIENT_ID: &str = "75588e18-0213-4e33-8174-883acac7e3c4";
/// Distinctive so a leak is easy to find in any string.
pub const SECRET: &str = "TOPSECRET-sh0uld-n3ver-leak";
pub const SENTINEL: &str = "va.sentinel.liveperson.net";
pub const IDP: &str = "va.idp.liveperson.net";
/// Mon, 04 Nov 2019 16:00:47 GMT, the date in the seed's example response.
pub const WALL_START: u64 = 1_572_883_247;

std::thread_local! {
    /// How far this test's wall clock is off tokio's (paused tests run on
    /// one thread, so each test has its own).
    static WALL_SKEW_MS: Cell<i64> = const { Cell::new(0) };
}

/// The machine slept for `by`: the wall clock moved on, tokio's monotonic
/// clock (CLOCK_MONOTONIC, which stops during a suspend) did not.
pub fn suspend_for(by: Duration) {
    let ms = i64::try_from(by.as_millis()).unwrap();
    WALL_SKEW_MS.with(|s| s.set(s.get() + ms));
}

/// Someone set the wall clock back by `by`; tokio's clock did not move.
pub fn set_wall_clock_back(by: Duration) {
    let ms = i64::try_from(by.as_millis()).unwrap();
    WALL_SKEW_MS.with(|s| s.set(s.get() - ms));
}

/// Wall time that starts at [`WALL_START`] and advances with tokio's clock,
/// so paused-time tests move both together (unless a test moves the wall
/// clock alone, see [`suspend_for`]).
#[derive(Clone, Copy)]
pub struct TestClock {
    start: Instant,
}

impl TestClock {
    pub fn new() -> Self {
        TestClock {
            start: Instant::now(),
        }
    }
    pub fn now(&self) -> SystemTime {
        let base = UNIX_EPOCH + Duration::from_secs(WALL_START) + self.start.elapsed();
        let skew = WALL_SKEW_MS.with(Cell::get);
        let by = Duration::from_millis(skew.unsigned_abs());
        if skew >= 0 { base + by } else { base - by }
    }
    pub fn now_secs(&self) -> i64 {
        self.now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
    }
}

/// The kid of the fake's tokens unless a test changes it (the seed's).
pub const DEFAULT_KID: &str = "appjwt-13-05-17";

/// lp-jwt's test-only RSA-2048 keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TestKey {
    A,
    B,
}

fn test_data(name: &str) -> Vec<u8> {
    let path = format!("{}/../lp-jwt/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

impl TestKey {
    fn file(self) -> &'static str {
        match self {
            TestKey::A => "rsa2048-a",
            TestKey::B => "rsa2048-b",
        }
    }

    pub fn pair(self) -> RsaKeyPair {
        RsaKeyPair::from_pkcs8(&test_data(&format!("{}.pk8.der", self.file()))).unwrap()
    }

    /// The public key, without kid.
    pub fn verifier(self) -> Rs256Verifier {
        Rs256Verifier::from_spki_der(&test_data(&format!("{}.spki.der", self.file()))).unwrap()
    }

    /// The public key as a JWK with this kid.
    pub fn jwk(self, kid: &str) -> serde_json::Value {
        let set: serde_json::Value = serde_json::from_slice(&test_data("jwks.json")).unwrap();
        let original = match self {
            TestKey::A => "test-a",
            TestKey::B => "test-b",
        };
        let mut jwk = set["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["kid"] == original)
            .unwrap()
            .clone();
        jwk["kid"] = kid.into();
        jwk
    }
}

/// A JWKS document holding these keys under these kids.
pub fn jwks_json(keys: &[(TestKey, &str)]) -> String {
    let keys: Vec<_> = keys.iter().map(|(k, kid)| k.jwk(kid)).collect();
    serde_json::json!({ "keys": keys }).to_string()
}

/// Signs `header.claims` with `key` (RS256) and returns the compact token.
pub fn sign(key: TestKey, header: &serde_json::Value, claims: &serde_json::Value) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
    );
    let pair = key.pair();
    let mut signature = vec![0; pair.public().modulus_len()];
    pair.sign(
        &RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        input.as_bytes(),
        &mut signature,
    )
    .unwrap();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// What the fake does with one request.
#[derive(Clone)]
pub enum Reply {
    /// A valid answer: the domain map, or a fresh token with `expires_in`
    /// 3600.
    Ok,
    /// A token with these properties.
    Token(TokenSpec),
    /// Any status, headers and body.
    Status(u16, Vec<(&'static str, String)>, String),
    /// A transport failure.
    Fail(TransportError),
    /// No answer, ever: a transport without a timeout and a server that
    /// never replies.
    Hang,
}

#[derive(Clone)]
pub struct TokenSpec {
    pub expires_in: Option<u64>,
    /// `exp` relative to the fake's wall clock at answer time.
    pub exp_in: i64,
    pub aud: String,
    pub azp: String,
    pub iss: String,
    /// The header's `alg`.
    pub alg: String,
    /// The header's `kid`; `None`: the fake's current kid.
    pub kid: Option<String>,
    /// Signed with this key instead of the fake's current one.
    pub key: Option<TestKey>,
    /// One bit of the signature flipped.
    pub tamper: bool,
}

impl Default for TokenSpec {
    fn default() -> Self {
        TokenSpec {
            expires_in: Some(3600),
            exp_in: 3600,
            aud: ACCOUNT.to_owned(),
            azp: CLIENT_ID.to_owned(),
            iss: "Sentinel".to_owned(),
            alg: "RS256".to_owned(),
            kid: None,
            key: None,
            tamper: false,
        }
    }
}

pub struct Fake {
    pub clock: TestClock,
    pub version: ApiVersion,
    /// Host expected in token requests.
    pub sentinel: String,
    /// How long each answer takes (paused time advances on its own).
    pub latency: Mutex<Duration>,
    lookups: AtomicUsize,
    fetches: AtomicUsize,
    lookup_script: Mutex<VecDeque<Reply>>,
    fetch_script: Mutex<VecDeque<Reply>>,
    /// When each token request arrived.
    pub fetch_times: Mutex<Vec<Instant>>,
    issued: AtomicUsize,
    /// The key and kid new tokens are signed with.
    signing: Mutex<(TestKey, String)>,
    /// What the key set endpoint serves.
    published: Mutex<Vec<(TestKey, String)>>,
    jwks_fetches: AtomicUsize,
    jwks_script: Mutex<VecDeque<Reply>>,
    /// Every key set request's URI.
    pub jwks_uris: Mutex<Vec<String>>,
    /// Host expected in ConsumerJWS requests.
    pub idp: String,
    consumer_requests: AtomicUsize,
    consumer_script: Mutex<VecDeque<Reply>>,
    /// The `Authorization` of every ConsumerJWS request, in order.
    pub consumer_auths: Mutex<Vec<String>>,
    /// `exp` of issued ConsumerJWS, relative to the fake's wall clock;
    /// `None`: no `exp` claim.
    pub consumer_exp_in: Mutex<Option<i64>>,
}

impl Fake {
    pub fn new() -> Arc<Self> {
        Self::with_version(ApiVersion::V1)
    }

    pub fn with_version(version: ApiVersion) -> Arc<Self> {
        Arc::new(Fake {
            clock: TestClock::new(),
            version,
            sentinel: SENTINEL.to_owned(),
            latency: Mutex::new(Duration::ZERO),
            lookups: AtomicUsize::new(0),
            fetches: AtomicUsize::new(0),
            lookup_script: Mutex::new(VecDeque::new()),
            fetch_script: Mutex::new(VecDeque::new()),
            fetch_times: Mutex::new(Vec::new()),
            issued: AtomicUsize::new(0),
            signing: Mutex::new((TestKey::A, DEFAULT_KID.to_owned())),
            published: Mutex::new(vec![(TestKey::A, DEFAULT_KID.to_owned())]),
            jwks_fetches: AtomicUsize::new(0),
            jwks_script: Mutex::new(VecDeque::new()),
            jwks_uris: Mutex::new(Vec::new()),
            idp: IDP.to_owned(),
            consumer_requests: AtomicUsize::new(0),
            consumer_script: Mutex::new(VecDeque::new()),
            consumer_auths: Mutex::new(Vec::new()),
            consumer_exp_in: Mutex::new(None),
        })
    }

    pub fn lookups(&self) -> usize {
        self.lookups.load(Ordering::SeqCst)
    }
    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
    pub fn consumer_requests(&self) -> usize {
        self.consumer_requests.load(Ordering::SeqCst)
    }
    pub fn script_consumers(&self, replies: impl IntoIterator<Item = Reply>) {
        self.consumer_script.lock().unwrap().extend(replies);
    }
    pub fn jwks_fetches(&self) -> usize {
        self.jwks_fetches.load(Ordering::SeqCst)
    }
    /// New tokens are signed with `key` under `kid`.
    pub fn sign_with(&self, key: TestKey, kid: &str) {
        *self.signing.lock().unwrap() = (key, kid.to_owned());
    }
    /// The key set endpoint serves these keys from now on.
    pub fn publish(&self, keys: &[(TestKey, &str)]) {
        *self.published.lock().unwrap() = keys
            .iter()
            .map(|(k, kid)| (*k, (*kid).to_owned()))
            .collect();
    }
    /// Rotation as Sentinel does it: sign with the new key, publish both.
    pub fn rotate_to(&self, key: TestKey, kid: &str) {
        let old = self.signing.lock().unwrap().clone();
        self.sign_with(key, kid);
        self.publish(&[(old.0, &old.1), (key, kid)]);
    }
    pub fn script_jwks(&self, replies: impl IntoIterator<Item = Reply>) {
        self.jwks_script.lock().unwrap().extend(replies);
    }
    pub fn set_latency(&self, d: Duration) {
        *self.latency.lock().unwrap() = d;
    }
    pub fn script_lookups(&self, replies: impl IntoIterator<Item = Reply>) {
        self.lookup_script.lock().unwrap().extend(replies);
    }
    pub fn script_fetches(&self, replies: impl IntoIterator<Item = Reply>) {
        self.fetch_script.lock().unwrap().extend(replies);
    }
    /// Gaps between consecutive token requests.
    pub fn fetch_gaps(&self) -> Vec<Duration> {
        let t = self.fetch_times.lock().unwrap();
        t.windows(2).map(|w| w[1] - w[0]).collect()
    }

    pub fn transport(self: &Arc<Self>) -> impl Transport + use<> {
        let fake = Arc::clone(self);
        move |req: http::Request<Vec<u8>>| {
            let fake = Arc::clone(&fake);
            async move { fake.handle(req).await }
        }
    }

    /// A builder wired to this fake: its transport, its clock, no jitter,
    /// and key A as the one verification key (no key set requests; the
    /// verification tests choose their own source).
    pub fn client(self: &Arc<Self>) -> AppJwtClientBuilder {
        self.bare_client()
            .verify_with(VerifyWith::Key(TestKey::A.verifier()))
    }

    /// Like [`Fake::client`] but with the default verification source.
    pub fn bare_client(self: &Arc<Self>) -> AppJwtClientBuilder {
        let clock = self.clock;
        AppJwtClient::builder(
            AccountId::new(ACCOUNT).unwrap(),
            ClientId::new(CLIENT_ID).unwrap(),
            ClientSecret::new(SECRET).unwrap(),
        )
        .transport(self.transport())
        .clock(move || clock.now())
        .refresh_jitter(Duration::ZERO)
        .api_version(self.version)
    }

    async fn handle(
        &self,
        req: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, TransportError> {
        let is_lookup = req.uri().path().ends_with("/baseURI.json");
        if req.uri().path().ends_with("/well-known/jwks") {
            return self.handle_jwks(req).await;
        }
        if req.uri().path().ends_with("/consumer") {
            return self.handle_consumer(req).await;
        }
        let reply = if is_lookup {
            check_lookup(&req);
            self.lookups.fetch_add(1, Ordering::SeqCst);
            self.lookup_script.lock().unwrap().pop_front()
        } else {
            check_token_request(&req, self.version, &self.sentinel);
            self.fetches.fetch_add(1, Ordering::SeqCst);
            self.fetch_times.lock().unwrap().push(Instant::now());
            self.fetch_script.lock().unwrap().pop_front()
        };
        let latency = *self.latency.lock().unwrap();
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        match reply.unwrap_or(Reply::Ok) {
            Reply::Ok if is_lookup => Ok(json(200, &domain_body(&self.sentinel))),
            Reply::Ok => Ok(self.token_response(&TokenSpec::default())),
            Reply::Token(spec) => Ok(self.token_response(&spec)),
            Reply::Status(status, headers, body) => {
                let mut b = http::Response::builder().status(status);
                for (k, v) in headers {
                    b = b.header(k, v);
                }
                Ok(b.body(body.into_bytes()).unwrap())
            }
            Reply::Fail(e) => Err(e),
            Reply::Hang => std::future::pending().await,
        }
    }

    async fn handle_jwks(
        &self,
        req: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, TransportError> {
        assert_eq!(req.method(), http::Method::GET);
        assert_eq!(req.uri().scheme_str(), Some("https"));
        assert_eq!(
            req.headers().get(http::header::ACCEPT).unwrap(),
            "application/json"
        );
        assert!(req.body().is_empty());
        self.jwks_uris.lock().unwrap().push(req.uri().to_string());
        assert_no_secret_outside_body(&req);
        self.jwks_fetches.fetch_add(1, Ordering::SeqCst);
        let latency = *self.latency.lock().unwrap();
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        let reply = self.jwks_script.lock().unwrap().pop_front();
        match reply.unwrap_or(Reply::Ok) {
            Reply::Ok | Reply::Token(_) => {
                let published = self.published.lock().unwrap().clone();
                let keys: Vec<_> = published
                    .iter()
                    .map(|(k, kid)| (*k, kid.as_str()))
                    .collect();
                Ok(json(200, &jwks_json(&keys)))
            }
            Reply::Status(status, headers, body) => {
                let mut r = json(status, &body);
                for (k, v) in headers {
                    r.headers_mut().insert(k, v.parse().unwrap());
                }
                Ok(r)
            }
            Reply::Fail(e) => Err(e),
            Reply::Hang => std::future::pending().await,
        }
    }

    /// The idp: checks the request exactly, records its `Authorization`
    /// and answers `201 {"token": <JWS>}` unless scripted otherwise.
    async fn handle_consumer(
        &self,
        req: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, TransportError> {
        let ext = check_consumer_request(&req, &self.idp);
        let auth = req.headers()[http::header::AUTHORIZATION]
            .to_str()
            .unwrap()
            .to_owned();
        self.consumer_auths.lock().unwrap().push(auth);
        let n = self.consumer_requests.fetch_add(1, Ordering::SeqCst);
        let latency = *self.latency.lock().unwrap();
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        let reply = self.consumer_script.lock().unwrap().pop_front();
        match reply.unwrap_or(Reply::Ok) {
            Reply::Ok | Reply::Token(_) => {
                let exp_in = *self.consumer_exp_in.lock().unwrap();
                let jws = make_consumer_jws(&ext, self.clock.now_secs(), exp_in, n);
                let body = serde_json::json!({ "token": jws }).to_string();
                Ok(json(201, &body))
            }
            Reply::Status(status, headers, body) => {
                let mut b = http::Response::builder().status(status);
                for (k, v) in headers {
                    b = b.header(k, v);
                }
                Ok(b.body(body.into_bytes()).unwrap())
            }
            Reply::Fail(e) => Err(e),
            Reply::Hang => std::future::pending().await,
        }
    }

    fn token_response(&self, spec: &TokenSpec) -> http::Response<Vec<u8>> {
        let n = self.issued.fetch_add(1, Ordering::SeqCst);
        let now = self.clock.now_secs();
        let (key, kid) = self.signing.lock().unwrap().clone();
        let token = make_token(spec, now, n, spec.key.unwrap_or(key), &kid);
        let mut body = serde_json::json!({ "access_token": token, "token_type": "Bearer" });
        if let Some(e) = spec.expires_in {
            body["expires_in"] = e.into();
        }
        json(200, &body.to_string())
    }
}

pub fn domain_body(sentinel: &str) -> String {
    serde_json::json!({ "baseURIs": [
        { "service": "liveEngageUI", "account": ACCOUNT, "baseURI": "lo.le1.liveperson.net" },
        { "service": "sentinel", "account": ACCOUNT, "baseURI": sentinel },
        { "service": "idp", "account": ACCOUNT, "baseURI": IDP },
    ]})
    .to_string()
}

fn json(status: u16, body: &str) -> http::Response<Vec<u8>> {
    http::Response::builder()
        .status(status)
        .header("content-type", "application/json;charset=utf-8")
        .body(body.as_bytes().to_vec())
        .unwrap()
}

/// A compact JWT signed with `key`; `n` makes each token unique.
pub fn make_token(spec: &TokenSpec, now: i64, n: usize, key: TestKey, kid: &str) -> String {
    let kid = spec.kid.as_deref().unwrap_or(kid);
    let header = serde_json::json!({ "kid": kid, "typ": "JWT", "alg": spec.alg });
    let claims = serde_json::json!({
        "aud": spec.aud, "azp": spec.azp, "scope": "msg.consumer", "iss": spec.iss,
        "exp": now + spec.exp_in, "iat": now, "n": n,
    });
    let token = sign(key, &header, &claims);
    if !spec.tamper {
        return token;
    }
    // Flip one bit in the middle of the signature.
    let (input, signature) = token.rsplit_once('.').unwrap();
    let mut signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
    signature[100] ^= 0x01;
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// The idp's `lp_consumer_id` for a consumer in the fake: fixed per id.
pub fn fake_lp_consumer_id(ext: &str) -> String {
    format!("lp-{ext}")
}

/// A ConsumerJWS as the fake idp issues it: signed with key B (so it can
/// never pass for an AppJWT), claims `account_id`, `ext_consumer_id`,
/// `lp_consumer_id`, `iat`, `n` and, with `exp_in`, `exp`.
pub fn make_consumer_jws(ext: &str, now: i64, exp_in: Option<i64>, n: usize) -> String {
    let header = serde_json::json!({ "kid": "idp-key", "typ": "JWT", "alg": "RS256" });
    let mut claims = serde_json::json!({
        "account_id": ACCOUNT, "ext_consumer_id": ext,
        "lp_consumer_id": fake_lp_consumer_id(ext), "iat": now, "n": n,
    });
    if let Some(e) = exp_in {
        claims["exp"] = (now + e).into();
    }
    sign(TestKey::B, &header, &claims)
}

/// Checks a ConsumerJWS request exactly and returns its ext consumer id.
fn check_consumer_request(req: &http::Request<Vec<u8>>, idp: &str) -> String {
    assert_eq!(req.method(), http::Method::POST);
    assert_eq!(
        req.uri().to_string(),
        format!("https://{idp}/api/account/{ACCOUNT}/consumer?v=1.0")
    );
    let h = req.headers();
    assert_eq!(h[http::header::CONTENT_TYPE], "application/json");
    assert_eq!(h[http::header::ACCEPT], "application/json");
    let auth = h[http::header::AUTHORIZATION].to_str().unwrap();
    // The raw AppJWT, as LivePerson documents it: no `Bearer`.
    assert!(!auth.contains(' '), "{auth}");
    assert_eq!(auth.split('.').count(), 3);
    assert!(h[http::header::AUTHORIZATION].is_sensitive());
    assert_eq!(h.len(), 3, "{h:?}");
    assert_no_secret_outside_body(req);
    assert!(!String::from_utf8_lossy(req.body()).contains(SECRET));
    let body: serde_json::Value = serde_json::from_slice(req.body()).unwrap();
    let ext = body["ext_consumer_id"].as_str().unwrap().to_owned();
    assert_eq!(
        req.body(),
        serde_json::json!({ "ext_consumer_id": ext })
            .to_string()
            .as_bytes()
    );
    ext
}

fn check_lookup(req: &http::Request<Vec<u8>>) {
    assert_eq!(req.method(), http::Method::GET);
    assert_eq!(
        req.uri().to_string(),
        format!(
            "https://api.liveperson.net/api/account/{ACCOUNT}/service/baseURI.json?version=1.0"
        )
    );
    assert!(req.body().is_empty());
    assert_no_secret_outside_body(req);
}

fn check_token_request(req: &http::Request<Vec<u8>>, version: ApiVersion, sentinel: &str) {
    assert_eq!(req.method(), http::Method::POST);
    let uri = req.uri();
    assert_eq!(uri.scheme_str(), Some("https"));
    assert_eq!(uri.authority().map(|a| a.as_str()), Some(sentinel));
    let mut expected_form = vec![
        ("client_id".to_owned(), CLIENT_ID.to_owned()),
        ("client_secret".to_owned(), SECRET.to_owned()),
    ];
    match version {
        ApiVersion::V1 => {
            assert_eq!(
                uri.path(),
                format!("/sentinel/api/account/{ACCOUNT}/app/token")
            );
            assert_eq!(uri.query(), Some("v=1.0&grant_type=client_credentials"));
        }
        ApiVersion::V2 => {
            assert_eq!(
                uri.path(),
                format!("/sentinel/api/v2/account/{ACCOUNT}/app/token")
            );
            assert_eq!(uri.query(), None);
            expected_form.push(("grant_type".to_owned(), "client_credentials".to_owned()));
        }
    }
    assert_eq!(
        req.headers().get(http::header::CONTENT_TYPE).unwrap(),
        "application/x-www-form-urlencoded"
    );
    let form: Vec<(String, String)> = form_urlencoded::parse(req.body())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    assert_eq!(form, expected_form);
    assert_no_secret_outside_body(req);
}

fn assert_no_secret_outside_body(req: &http::Request<Vec<u8>>) {
    assert!(!req.uri().to_string().contains(SECRET));
    for (name, value) in req.headers() {
        assert!(
            !String::from_utf8_lossy(value.as_bytes()).contains(SECRET),
            "secret in header {name}"
        );
    }
}

/// Fails the test if `s` shows the secret or any token the fake issued.
pub fn assert_clean(s: &str) {
    assert!(!s.contains(SECRET), "secret leaked: {s}");
    // Every token starts with the same base64url header.
    let header_b64 = URL_SAFE_NO_PAD.encode(
        serde_json::json!({ "kid": "appjwt-13-05-17", "typ": "JWT", "alg": "RS256" }).to_string(),
    );
    assert!(!s.contains(&header_b64), "token leaked: {s}");
}

/// `Debug` and `Display` of an error, and of its sources, checked clean.
pub fn assert_error_clean(e: &dyn std::error::Error) {
    let mut cur: Option<&dyn std::error::Error> = Some(e);
    while let Some(err) = cur {
        assert_clean(&format!("{err}"));
        assert_clean(&format!("{err:?}"));
        cur = err.source();
    }
}

/// Lets the client's background tasks run without moving the clock.
pub async fn settle() {
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
}

pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Everything a test's tracing subscriber wrote.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Keeps a test's log capture installed on its thread.
pub struct Capture {
    _guard: tracing::subscriber::DefaultGuard,
    _second: tracing::Dispatch,
}

/// Captures every event and span (TRACE) on this thread until the
/// returned guard is dropped.
pub fn capture_logs() -> (Captured, Capture) {
    let logs = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(logs.clone())
        .with_max_level(tracing::Level::TRACE)
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .with_ansi(false)
        .finish();
    // With exactly one registered dispatcher, tracing-core computes the
    // interest of a callsite first hit on another thread (another test)
    // from that thread's default, which has no subscriber, and caches
    // "never" for every thread: a test then lost a span now and then. A
    // second registered dispatcher makes it ask every registered one.
    let second = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());
    let guard = tracing::subscriber::set_default(subscriber);
    tracing::callsite::rebuild_interest_cache();
    (
        logs,
        Capture {
            _guard: guard,
            _second: second,
        },
    )
}
