//! An `lp-appjwt` [`Transport`] as a tower service, so that the Send API
//! calls go through the very transport (connection pool, trusted roots,
//! proxy) that fetches the tokens.

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use lp_appjwt::{Transport, TransportError, TransportFuture};
use tower_service::Service;

/// A [`Transport`] (for instance `lp_appjwt::HyperTransport`) as a
/// [`Service`] over `http::Request<Vec<u8>>`: wrap it in an
/// [`AppJwtLayer`](crate::AppJwtLayer) and the Send API is called over the
/// same connections, proxy and roots as Sentinel. A `Vec<u8>` body can be
/// replayed, so the 401 ladder applies in full. The response body is read
/// completely, within the transport's size limit.
///
/// Clones share the one transport.
pub struct TransportService<T> {
    transport: Arc<T>,
}

impl<T> TransportService<T> {
    /// Wraps `transport`.
    pub fn new(transport: T) -> Self {
        Self {
            transport: Arc::new(transport),
        }
    }

    /// The wrapped transport.
    pub fn get_ref(&self) -> &T {
        &self.transport
    }
}

impl<T> Clone for TransportService<T> {
    fn clone(&self) -> Self {
        Self {
            transport: Arc::clone(&self.transport),
        }
    }
}

impl<T> std::fmt::Debug for TransportService<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransportService").finish_non_exhaustive()
    }
}

impl<T: Transport> Service<Request<Vec<u8>>> for TransportService<T> {
    type Response = Response<Vec<u8>>;
    type Error = TransportError;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Response<Vec<u8>>, TransportError>> + Send>,
    >;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), TransportError>> {
        // A transport takes requests at any time; its pool queues them.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Vec<u8>>) -> Self::Future {
        let transport = Arc::clone(&self.transport);
        Box::pin(async move {
            let sent: TransportFuture<'_> = transport.send(request);
            sent.await
        })
    }
}
