//! The layer, the service it makes, and the 401 ladder.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::header::{AUTHORIZATION, HeaderName, HeaderValue};
use http::{Extensions, HeaderMap, Method, Request, Response, StatusCode, Uri, Version};
use lp_appjwt::{
    AccountId, AppJwt, AppJwtClient, AppJwtRegistry, ConsumerJws, ExtConsumerId, RetryAfter,
    X_LP_ON_BEHALF,
};
use tower_layer::Layer;
use tower_service::Service;

use crate::body::ReplayableBody;
use crate::error::Error;

/// The Messaging REST API's spelling of the on-behalf header
/// (`LP-On-Behalf`; header names are case-insensitive, `http` keeps them
/// in lower case).
pub const LP_ON_BEHALF: HeaderName = HeaderName::from_static("lp-on-behalf");

/// Which header carries the ConsumerJWS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum OnBehalfHeader {
    /// `X-LP-ON-BEHALF`, as the Send API (Connector API) spells it.
    #[default]
    XLpOnBehalf,
    /// `LP-On-Behalf`, as the Messaging REST API spells it.
    LpOnBehalf,
}

impl OnBehalfHeader {
    /// The header's name.
    pub fn name(self) -> HeaderName {
        match self {
            OnBehalfHeader::XLpOnBehalf => X_LP_ON_BEHALF,
            OnBehalfHeader::LpOnBehalf => LP_ON_BEHALF,
        }
    }
}

/// Where a service takes its tokens from.
#[derive(Debug, Clone)]
enum Tokens {
    /// One account's client.
    One(AppJwtClient),
    /// A registry: the account is the request's [`AccountId`] extension.
    Registry(AppJwtRegistry),
}

impl Tokens {
    /// The client for a request naming `account` in its extensions.
    async fn client<E>(self, account: Option<AccountId>) -> Result<AppJwtClient, Error<E>> {
        match self {
            Tokens::One(client) => Ok(client),
            Tokens::Registry(registry) => {
                let account = account.ok_or(Error::NoAccount)?;
                registry.client(&account).await.map_err(Error::Registry)
            }
        }
    }
}

/// A [`tower::Layer`](tower_layer::Layer) that wraps a service in an
/// [`AppJwtService`]: LivePerson's auth headers on every request, and the
/// 401 retries. See the crate documentation.
#[derive(Debug, Clone)]
pub struct AppJwtLayer {
    tokens: Tokens,
    on_behalf: OnBehalfHeader,
}

impl AppJwtLayer {
    /// Tokens from `client` (cheap to clone: every service of the layer
    /// shares its caches), the ConsumerJWS in `X-LP-ON-BEHALF`.
    pub fn new(client: AppJwtClient) -> Self {
        AppJwtLayer {
            tokens: Tokens::One(client),
            on_behalf: OnBehalfHeader::default(),
        }
    }

    /// Tokens from `registry`, for the account each request names with an
    /// [`AccountId`] in its extensions (a request without one is
    /// [`Error::NoAccount`], and is not sent). Everything else is as with
    /// [`AppJwtLayer::new`], per account: the 401 ladder invalidates that
    /// account's AppJWT and ConsumerJWS only.
    pub fn registry(registry: AppJwtRegistry) -> Self {
        AppJwtLayer {
            tokens: Tokens::Registry(registry),
            on_behalf: OnBehalfHeader::default(),
        }
    }

    /// Which header carries the ConsumerJWS: [`OnBehalfHeader::LpOnBehalf`]
    /// for the Messaging REST API.
    pub fn on_behalf_header(mut self, header: OnBehalfHeader) -> Self {
        self.on_behalf = header;
        self
    }
}

impl<S> Layer<S> for AppJwtLayer {
    type Service = AppJwtService<S>;

    fn layer(&self, inner: S) -> AppJwtService<S> {
        AppJwtService {
            inner,
            tokens: self.tokens.clone(),
            on_behalf: self.on_behalf,
        }
    }
}

/// The service made by [`AppJwtLayer`]: sets `Authorization` (and the
/// on-behalf header for a request with an
/// [`ExtConsumerId`](lp_appjwt::ExtConsumerId) extension), retries 401s,
/// and tags 429s with their [`RetryAfter`].
#[derive(Debug, Clone)]
pub struct AppJwtService<S> {
    inner: S,
    tokens: Tokens,
    on_behalf: OnBehalfHeader,
}

impl<S> AppJwtService<S> {
    /// Wraps `inner` the way [`AppJwtLayer::new`] does.
    pub fn new(inner: S, client: AppJwtClient) -> Self {
        AppJwtLayer::new(client).layer(inner)
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, by value.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

/// The future of [`AppJwtService::call`]. Boxed: it awaits the client and
/// up to three calls of the inner service.
pub type ResponseFuture<R, E> = Pin<Box<dyn Future<Output = Result<R, Error<E>>> + Send + 'static>>;

impl<S, B, R> Service<Request<B>> for AppJwtService<S>
where
    S: Service<Request<B>, Response = Response<R>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Send,
    B: ReplayableBody + Send + 'static,
    R: Send + 'static,
{
    type Response = Response<R>;
    type Error = Error<S::Error>;
    type Future = ResponseFuture<Response<R>, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Error::Service)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        // The service that was polled ready is the one to call first; the
        // clone left behind is polled by the next caller (tower's usual
        // idiom for services that are called from a future).
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let tokens = self.tokens.clone();
        let on_behalf = self.on_behalf.name();
        let account = match &tokens {
            Tokens::One(_) => None,
            Tokens::Registry(_) => request.extensions().get::<AccountId>().cloned(),
        };
        Box::pin(async move {
            let client = tokens.client(account).await?;
            authorized(inner, client, on_behalf, request).await
        })
    }
}

/// What is kept of the caller's request to build each attempt.
struct Template {
    method: Method,
    uri: Uri,
    version: Version,
    headers: HeaderMap,
    extensions: Extensions,
}

impl Template {
    fn request<B>(
        &self,
        body: B,
        jwt: &AppJwt,
        jws: Option<(&HeaderName, &ConsumerJws)>,
    ) -> Result<Request<B>, http::header::InvalidHeaderValue> {
        let mut request = Request::new(body);
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = self.uri.clone();
        *request.version_mut() = self.version;
        *request.extensions_mut() = self.extensions.clone();
        let headers = request.headers_mut();
        *headers = self.headers.clone();
        headers.insert(AUTHORIZATION, sensitive(jwt.authorization_header_value())?);
        if let Some((name, jws)) = jws {
            headers.insert(name.clone(), sensitive(jws.secret())?);
        }
        Ok(request)
    }
}

fn sensitive(token: &str) -> Result<HeaderValue, http::header::InvalidHeaderValue> {
    let mut value = HeaderValue::from_str(token)?;
    value.set_sensitive(true);
    Ok(value)
}

/// Where a request is on the 401 ladder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sent {
    /// With the tokens at hand.
    First,
    /// Again, after the AppJWT that was refused was replaced.
    NewAppJwt,
    /// Again, after the consumer's ConsumerJWS was replaced.
    NewConsumerJws,
}

async fn authorized<S, B, R>(
    mut inner: S,
    client: AppJwtClient,
    on_behalf: HeaderName,
    request: Request<B>,
) -> Result<Response<R>, Error<S::Error>>
where
    S: Service<Request<B>, Response = Response<R>>,
    B: ReplayableBody,
{
    let (parts, mut body) = request.into_parts();
    let consumer = parts.extensions.get::<ExtConsumerId>().cloned();
    let template = Template {
        method: parts.method,
        uri: parts.uri,
        version: parts.version,
        headers: parts.headers,
        extensions: parts.extensions,
    };
    // The ConsumerJWS first: getting it may refresh a refused AppJWT on
    // the way, and then the refreshed one is the one sent.
    let mut jws = match &consumer {
        Some(ext) => Some(client.consumer_jws(ext).await.map_err(Error::ConsumerJws)?),
        None => None,
    };
    let mut jwt = client.token().await.map_err(Error::Token)?;
    let mut sent = Sent::First;
    // The inner service was polled ready by our caller for the first call.
    let mut ready = true;
    loop {
        // A copy only where a retry could follow.
        let last = match sent {
            Sent::First => false,
            Sent::NewAppJwt => consumer.is_none(),
            Sent::NewConsumerJws => true,
        };
        let spare = if last { None } else { body.try_clone() };
        let request = template
            .request(body, &jwt, jws.as_ref().map(|j| (&on_behalf, j)))
            .map_err(Error::InvalidHeader)?;
        if !ready {
            std::future::poll_fn(|cx| inner.poll_ready(cx))
                .await
                .map_err(Error::Service)?;
        }
        ready = false;
        let mut response = inner.call(request).await.map_err(Error::Service)?;
        match response.status() {
            StatusCode::UNAUTHORIZED => {}
            StatusCode::TOO_MANY_REQUESTS => {
                // Handed back, not retried: the caller knows whether the
                // request may wait that long.
                if let Some(after) = RetryAfter::from_headers(response.headers()) {
                    response.extensions_mut().insert(after);
                }
                return Ok(response);
            }
            _ => return Ok(response),
        }
        // A body that cannot be sent again ends the ladder, as does its
        // last rung.
        let Some(again) = spare else {
            tracing::debug!(
                retried = ?sent,
                "send api answered 401; handed back (last retry made, or a body that cannot be sent again)"
            );
            if sent == Sent::First {
                // Not retried, but the caller's own retry (with a new
                // body) should not be refused for the same token.
                client.invalidate_token(&jwt);
            }
            return Ok(response);
        };
        body = again;
        if sent == Sent::First {
            // Only the AppJWT that was refused: a newer one that another
            // request got meanwhile is kept (and used for this retry).
            client.invalidate_token(&jwt);
            let fresh = client.token().await.map_err(Error::Token)?;
            if fresh.authorization_header_value() != jwt.authorization_header_value() {
                tracing::debug!("send api answered 401; retrying with a new appjwt");
                jwt = fresh;
                sent = Sent::NewAppJwt;
                continue;
            }
            // Not replaced (the invalidation was rate limited): the same
            // headers would get the same answer, so the ConsumerJWS is
            // what is tried next.
        }
        let Some(ext) = &consumer else {
            tracing::debug!("send api answered 401; handed back (no consumer jws to replace)");
            return Ok(response);
        };
        tracing::debug!("send api answered 401; retrying with a new consumer jws");
        client.invalidate_consumer(ext);
        jws = Some(client.consumer_jws(ext).await.map_err(Error::ConsumerJws)?);
        jwt = client.token().await.map_err(Error::Token)?;
        sent = Sent::NewConsumerJws;
    }
}
