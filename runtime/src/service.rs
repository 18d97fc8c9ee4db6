//! `SessionService`: runs the handler, then saves what its sessions changed.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::response::Response;
use http::header::SET_COOKIE;
use http::{HeaderValue, Request};
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
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let state = Arc::new(RequestState::new(Arc::clone(&self.shared)));
        request
            .extensions_mut()
            .insert(RequestHandle(Arc::clone(&state)));
        // The clone is ready only if polled; keep the one that was.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let mut response = inner.call(request).await?;
            finish(&state, &mut response).await;
            Ok(response)
        })
    }
}

/// Saves, deletes and sets cookies for every session the request used.
async fn finish(state: &RequestState, response: &mut Response) {
    let slots = std::mem::take(&mut *state.slots());
    for slot in slots {
        match commit(&state.shared, slot).await {
            Ok(Some(cookie)) => {
                response.headers_mut().append(SET_COOKIE, cookie);
            }
            Ok(None) => {}
            Err(error) => {
                *response = error_response(&state.shared, &error);
                return;
            }
        }
    }
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
