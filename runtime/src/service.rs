//! `SessionService`: runs the handler, then saves what its sessions changed.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use axum::response::Response;
use http::header::SET_COOKIE;
use http::{HeaderValue, Request};
use pin_project_lite::pin_project;
use tower_service::Service;

use crate::layer::{error_response, Shared};
use crate::session::{RequestHandle, RequestState, Slot, SlotState};
use crate::{cookie, Error};

/// The service [`SessionLayer`](crate::SessionLayer) wraps around a router.
#[derive(Clone)]
pub struct SessionService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> SessionService<S> {
    pub(crate) fn new(inner: S, shared: Arc<Shared>) -> Self {
        SessionService { inner, shared }
    }
}

impl<S, B> Service<Request<B>> for SessionService<S>
where
    S: Service<Request<B>, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let state = Arc::new(RequestState::new(Arc::clone(&self.shared)));
        request
            .extensions_mut()
            .insert(RequestHandle(Arc::clone(&state)));
        // Called here, on the service `poll_ready` readied: no clone needed.
        ResponseFuture {
            state: State::Inner {
                future: self.inner.call(request),
                request: Some(state),
            },
        }
    }
}

pin_project! {
    /// The future of [`SessionService`]: the inner service's response, then
    /// the saves it calls for. Nothing is boxed unless a session was used.
    pub struct ResponseFuture<F> {
        #[pin]
        state: State<F>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Inner {
            #[pin]
            future: F,
            request: Option<Arc<RequestState>>,
        },
        Finish {
            future: Pin<Box<dyn Future<Output = Response> + Send>>,
        },
    }
}

impl<F, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Inner { future, request } => {
                    let response = ready!(future.poll(cx))?;
                    let request = request.take().expect("polled after completion");
                    let slots = std::mem::take(&mut *request.slots());
                    if slots.is_empty() {
                        return Poll::Ready(Ok(response));
                    }
                    let future = Box::pin(finish(request, slots, response));
                    this.state.set(State::Finish { future });
                }
                StateProj::Finish { future } => return future.as_mut().poll(cx).map(Ok),
            }
        }
    }
}

/// Saves, deletes and sets cookies for every session the request used.
async fn finish(request: Arc<RequestState>, slots: Vec<Slot>, mut response: Response) -> Response {
    for slot in slots {
        match commit(&request.shared, slot).await {
            Ok(Some(cookie)) => {
                response.headers_mut().append(SET_COOKIE, cookie);
            }
            Ok(None) => {}
            Err(error) => return error_response(&request.shared, &error),
        }
    }
    response
}

/// Carries out what one session left; returns its `Set-Cookie`, if any.
async fn commit(shared: &Shared, slot: Slot) -> Result<Option<HeaderValue>, Error> {
    let config = &slot.config;
    let returned = match slot.state {
        SlotState::CheckedOut => {
            tracing::warn!(
                session = config.session_name(),
                "a session was still held when the response was sent (moved into a task?); its changes are not saved"
            );
            return Ok(None);
        }
        SlotState::Returned(Err(source)) => {
            return Err(Error::Encode {
                session_name: config.session_name().to_owned(),
                source,
            })
        }
        SlotState::Returned(Ok(returned)) => returned,
    };
    let store_error = |source| Error::Store {
        session_name: config.session_name().to_owned(),
        source,
    };
    let store = &shared.store;
    if returned.empty {
        if let Some(key) = &slot.stored_key {
            store.delete(key).await.map_err(store_error)?;
        }
        let expire = slot.stored_id.is_some() || returned.destroyed;
        return Ok(expire.then(|| cookie::delete_cookie(config)));
    }
    let cycled = slot.stored_id.filter(|old| *old != returned.id);
    if returned.changed || cycled.is_some() {
        let new_key;
        let key = match (&slot.stored_key, cycled) {
            (Some(key), None) => key,
            _ => {
                new_key = config.store_key(&returned.id);
                &new_key
            }
        };
        store
            .save(key, &returned.bytes, config.expiry())
            .await
            .map_err(store_error)?;
    }
    if let (Some(key), Some(_)) = (&slot.stored_key, cycled) {
        store.delete(key).await.map_err(store_error)?;
    }
    // Sent on every visit, like sanic-session: the cookie's expiry slides
    // with the store's (refreshed by the load).
    Ok(Some(cookie::set_cookie(config, &returned.id)))
}
