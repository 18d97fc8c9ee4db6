//! The axum extractors for [`Session<T>`](struct@crate::Session) and
//! `Option<Session<T>>`, and their rejection.

use std::fmt;
use std::sync::Arc;

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::StatusCode;

use crate::request::{LayerState, RequestHandle, RequestState};
use crate::response::{error_response, vary_cookie};
use crate::{Error, Owners, Session, SessionData};

/// Why a [`Session<T>`](struct@crate::Session) could not be extracted.
///
/// A rejection is only data: building one logs nothing and calls no error
/// handler. That happens when it becomes a response
/// ([`IntoResponse`]), so a handler that takes
/// `Result<Session<T>, SessionRejection>` and answers the error its own way
/// leaves no trace of the layer's error policy.
#[derive(Debug)]
#[non_exhaustive]
pub enum SessionRejection {
    /// No [`SessionLayer`](crate::SessionLayer) runs in front of the handler.
    MissingLayer,
    /// Loading failed; as a response it is the layer's error policy's
    /// (`503 Service Unavailable` for a store that can come back, by default).
    Failed(SessionFailure),
}

/// A session that failed to load, and the layer whose error policy answers it.
pub struct SessionFailure {
    error: Error,
    layer: Arc<LayerState>,
}

impl SessionFailure {
    /// What went wrong.
    pub fn error(&self) -> &Error {
        &self.error
    }

    /// What went wrong, taken out (the layer's error policy is not applied).
    pub fn into_error(self) -> Error {
        self.error
    }
}

impl fmt::Debug for SessionFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionFailure")
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for SessionRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionRejection::MissingLayer => f.write_str(
                "missing session layer: `Session<T>` needs `SessionLayer` in front of the handler; \
                 perhaps you forgot to add `.layer(SessionLayer::new(store))` to your `Router`?",
            ),
            // Transparent: the error's own text, and its source below.
            SessionRejection::Failed(failure) => fmt::Display::fmt(&failure.error, f),
        }
    }
}

impl std::error::Error for SessionRejection {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SessionRejection::MissingLayer => None,
            SessionRejection::Failed(failure) => std::error::Error::source(&failure.error),
        }
    }
}

impl IntoResponse for SessionRejection {
    /// Logs the rejection and answers it: a missing layer with `500`, a
    /// failed load with the layer's error policy and `Vary: Cookie`.
    fn into_response(self) -> Response {
        match self {
            SessionRejection::MissingLayer => {
                tracing::error!("{self}");
                (StatusCode::INTERNAL_SERVER_ERROR, self.to_string()).into_response()
            }
            SessionRejection::Failed(failure) => {
                // It answers a request for the session its cookie names.
                let mut response = error_response(&failure.layer, &failure.error);
                vary_cookie(response.headers_mut());
                response
            }
        }
    }
}

/// Extracts the request's session of type `T`: the visitor's stored one, or
/// a fresh one (stored once it holds something).
impl<S, T> FromRequestParts<S> for Session<T>
where
    S: Send + Sync,
    T: SessionData,
{
    type Rejection = SessionRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let request = handle(parts)?;
        match Session::extract(request, &parts.headers, true).await {
            Ok(Some(session)) => Ok(session),
            Ok(None) => {
                unreachable!("with `start_fresh`, a visitor without a session gets a fresh one")
            }
            Err(error) => Err(failed(request, error)),
        }
    }
}

/// Extracts the visitor's stored session of type `T`, if there is one:
/// `None` for a visitor without one (no cookie, an id the store does not
/// know, data that does not decode), and then no session is started. A
/// session this request already extracted is `Some`. A failed load is still
/// a rejection, and so is a missing layer.
///
/// ```
/// use serde::{Deserialize, Serialize};
/// use sessionkit::Session;
///
/// #[derive(Session, Serialize, Deserialize, Default)]
/// struct Login {
///     user: Option<String>,
/// }
///
/// async fn greet(login: Option<Session<Login>>) -> String {
///     match login.as_ref().and_then(|l| l.user.as_deref()) {
///         Some(user) => format!("hello, {user}"),
///         None => "hello, stranger".to_owned(),
///     }
/// }
/// ```
impl<S, T> OptionalFromRequestParts<S> for Session<T>
where
    S: Send + Sync,
    T: SessionData,
{
    type Rejection = SessionRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        let request = handle(parts)?;
        Session::extract(request, &parts.headers, false)
            .await
            .map_err(|error| failed(request, error))
    }
}

/// The request's session state, which the layer put in its extensions.
fn handle(parts: &Parts) -> Result<&Arc<RequestState>, SessionRejection> {
    match parts.extensions.get::<RequestHandle>() {
        Some(RequestHandle(request)) => Ok(request),
        None => Err(SessionRejection::MissingLayer),
    }
}

/// A failed load, with the layer whose error policy answers it.
fn failed(request: &RequestState, error: Error) -> SessionRejection {
    SessionRejection::Failed(SessionFailure {
        error,
        layer: Arc::clone(&request.layer),
    })
}

/// The layer's owner indexes, for a handler: rejected as
/// [`SessionRejection::MissingLayer`] without a layer, and with the
/// layer's error policy when the layer keeps no owner index.
impl<S: Send + Sync> FromRequestParts<S> for Owners {
    type Rejection = SessionRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Some(RequestHandle(request)) = parts.extensions.get::<RequestHandle>() else {
            return Err(SessionRejection::MissingLayer);
        };
        Owners::of(&request.layer).map_err(|error| {
            SessionRejection::Failed(SessionFailure {
                error,
                layer: Arc::clone(&request.layer),
            })
        })
    }
}
