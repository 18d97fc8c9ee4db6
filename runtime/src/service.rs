//! `SessionService`: gives each request its session state, runs the inner
//! service, then commits what the request's sessions ask for.

use std::sync::Arc;
use std::task::{Context, Poll};

use axum::response::Response;
use http::Request;
use tower_service::Service;

use crate::future::ResponseFuture;
use crate::request::{LayerState, RequestHandle, RequestState};

/// The service [`SessionLayer`](crate::SessionLayer) wraps around a router.
///
/// It asks nothing of the inner service, its future or the request body
/// beyond being a service of requests to responses: the inner service is
/// called on the instance `poll_ready` readied, never cloned, sent or kept
/// past the call, and the body is passed through untouched. (axum's own
/// bounds on a router's services still apply there.)
#[derive(Clone)]
pub struct SessionService<S> {
    inner: S,
    layer: Arc<LayerState>,
}

impl<S> SessionService<S> {
    pub(crate) fn new(inner: S, layer: Arc<LayerState>) -> Self {
        SessionService { inner, layer }
    }
}

impl<S, B> Service<Request<B>> for SessionService<S>
where
    S: Service<Request<B>, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let state = Arc::new(RequestState::new(Arc::clone(&self.layer)));
        request
            .extensions_mut()
            .insert(RequestHandle(Arc::clone(&state)));
        // Called here, on the service `poll_ready` readied: no clone needed.
        ResponseFuture::new(self.inner.call(request), state)
    }
}

#[cfg(all(test, feature = "memory"))]
mod tests {
    use std::cell::Cell;
    use std::convert::Infallible;
    use std::future::{poll_fn, Future};
    use std::pin::Pin;
    use std::rc::Rc;

    use axum::body::Body;
    use tower_layer::Layer;

    use super::*;
    use crate::{MemoryStore, SessionLayer};

    /// A service that is neither `Clone`, `Send` nor `'static`, with a
    /// future that is not `Send` either.
    struct Local<'a> {
        calls: &'a Cell<usize>,
        _not_send: Rc<()>,
    }

    /// A request body that is neither `Send` nor `'static`.
    struct LocalBody<'a>(#[allow(dead_code)] &'a Rc<()>);

    impl<'a, 'b> Service<Request<LocalBody<'b>>> for Local<'a> {
        type Response = Response;
        type Error = Infallible;
        type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + 'a>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, _: Request<LocalBody<'b>>) -> Self::Future {
            let calls = self.calls;
            let not_send = Rc::clone(&self._not_send);
            Box::pin(async move {
                drop(not_send);
                calls.set(calls.get() + 1);
                Ok(Response::new(Body::from("ok")))
            })
        }
    }

    #[tokio::test]
    async fn the_inner_service_its_future_and_the_body_need_not_be_clone_send_or_static() {
        let calls = Cell::new(0);
        let body = Rc::new(());
        let mut service = SessionLayer::new(MemoryStore::new()).layer(Local {
            calls: &calls,
            _not_send: Rc::new(()),
        });
        poll_fn(|cx| service.poll_ready(cx)).await.unwrap();
        let response = service.call(Request::new(LocalBody(&body))).await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(calls.get(), 1);
    }
}
