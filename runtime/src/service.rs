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
use crate::session::{RequestHandle, RequestState, Slot, SlotState, Slots};
use crate::store::{StoreError, StoreFuture};
use crate::{cookie, Error, SessionConfig};

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
                    match finish_now(request, slots, response) {
                        Finished::Done(response) => return Poll::Ready(Ok(response)),
                        Finished::Later(future) => this.state.set(State::Finish { future }),
                    }
                }
                StateProj::Finish { future } => return future.as_mut().poll(cx).map(Ok),
            }
        }
    }
}

enum Finished {
    Done(Response),
    Later(Pin<Box<dyn Future<Output = Response> + Send>>),
}

/// Saves, deletes and sets cookies for every session the request used,
/// without a future of its own when it can: when no session needs the
/// store (read-only), or the store is [immediate](crate::store::SessionStore::immediate).
/// Otherwise the rest is boxed, from the first operation that must wait.
fn finish_now(request: Arc<RequestState>, slots: Slots, mut response: Response) -> Finished {
    let shared = &request.shared;
    let immediate = shared.store.immediate();
    let mut slots = slots.into_iter();
    while let Some(slot) = slots.next() {
        let mut plan = match plan(slot) {
            Ok(plan) => plan,
            Err(error) => return Finished::Done(error_response(shared, &error)),
        };
        for i in 0..plan.ops.len() {
            let Some(op) = &plan.ops[i] else { continue };
            if !immediate {
                return Finished::Later(Box::pin(finish(request, plan, slots, response)));
            }
            // A pending future (the store was not immediate after all) is
            // dropped unpolled, and the operation done again in a future.
            let outcome = op.run(shared, &plan.config).into_ready().ok();
            match outcome {
                Some(Ok(())) => plan.ops[i] = None,
                Some(Err(source)) => {
                    let error = store_error(&plan.config, source);
                    return Finished::Done(error_response(shared, &error));
                }
                None => return Finished::Later(Box::pin(finish(request, plan, slots, response))),
            }
        }
        if let Some(cookie) = plan.cookie {
            response.headers_mut().append(SET_COOKIE, cookie);
        }
    }
    Finished::Done(response)
}

/// What [`finish_now`] left: the rest of `first`, then every slot in `rest`.
async fn finish(
    request: Arc<RequestState>,
    first: Plan,
    mut rest: std::vec::IntoIter<Slot>,
    mut response: Response,
) -> Response {
    let shared = &request.shared;
    let mut next = Some(Ok(first));
    while let Some(plan) = next.take().or_else(|| rest.next().map(plan)) {
        let plan = match plan {
            Ok(plan) => plan,
            Err(error) => return error_response(shared, &error),
        };
        for op in plan.ops.iter().flatten() {
            if let Err(source) = op.run(shared, &plan.config).await {
                return error_response(shared, &store_error(&plan.config, source));
            }
        }
        if let Some(cookie) = plan.cookie {
            response.headers_mut().append(SET_COOKIE, cookie);
        }
    }
    response
}

/// What one session leaves to do: store operations in order (a save, a
/// delete, or a save and then the delete of the old key when the id was
/// cycled), then its `Set-Cookie`, if any.
struct Plan {
    config: SessionConfig,
    ops: [Option<Op>; 2],
    cookie: Option<HeaderValue>,
}

enum Op {
    Save { key: String, bytes: Vec<u8> },
    Delete { key: String },
}

impl Op {
    fn run<'a>(&'a self, shared: &'a Shared, config: &SessionConfig) -> StoreFuture<'a, ()> {
        match self {
            Op::Save { key, bytes } => shared.store.save(key, bytes, config.expiry()),
            Op::Delete { key } => shared.store.delete(key),
        }
    }
}

fn store_error(config: &SessionConfig, source: StoreError) -> Error {
    Error::Store {
        session_name: config.session_name().to_owned(),
        source,
    }
}

/// Decides what one session left asks for.
fn plan(slot: Slot) -> Result<Plan, Error> {
    let config = slot.config;
    let mut plan = Plan {
        ops: [None, None],
        cookie: None,
        config,
    };
    let returned = match slot.state {
        SlotState::CheckedOut => {
            tracing::warn!(
                session = plan.config.session_name(),
                "a session was still held when the response was sent (moved into a task?); its changes are not saved"
            );
            return Ok(plan);
        }
        SlotState::Returned(Err(source)) => {
            return Err(Error::Encode {
                session_name: plan.config.session_name().to_owned(),
                source,
            })
        }
        SlotState::Returned(Ok(returned)) => returned,
    };
    if returned.empty {
        plan.ops[0] = slot.stored_key.map(|key| Op::Delete { key });
        let expire = slot.stored_id.is_some() || returned.destroyed;
        plan.cookie = expire.then(|| cookie::delete_cookie(&plan.config));
        return Ok(plan);
    }
    let cycled = slot.stored_id.is_some_and(|old| old != returned.id);
    let mut old_key = slot.stored_key;
    if returned.changed || cycled {
        let key = match old_key.take_if(|_| !cycled) {
            Some(key) => key,
            None => plan.config.store_key(&returned.id),
        };
        // `None`: unchanged, saved under a new id: the loaded bytes.
        let bytes = returned.bytes.or(slot.stored).unwrap_or_default();
        plan.ops[0] = Some(Op::Save { key, bytes });
    }
    if cycled {
        plan.ops[1] = old_key.map(|key| Op::Delete { key });
    }
    // Sent on every visit, like sanic-session: the cookie's expiry slides
    // with the store's (refreshed by the load).
    plan.cookie = Some(cookie::set_cookie(&plan.config, &returned.id));
    Ok(plan)
}
