//! The axum extractor for [`Session<T>`](struct@crate::Session) and its rejection.

use std::fmt;

use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::StatusCode;

use crate::layer::error_response;
use crate::session::RequestHandle;
use crate::{Error, Session, SessionData};

/// Why a [`Session<T>`](struct@crate::Session) could not be extracted.
#[derive(Debug)]
#[non_exhaustive]
pub enum SessionRejection {
    /// No [`SessionLayer`](crate::SessionLayer) runs in front of the handler.
    MissingLayer,
    /// Loading failed; the response comes from the layer's error handler
    /// (`503 Service Unavailable` by default).
    Failed(SessionFailure),
}

/// A session that failed to load, with the response the layer's error policy chose.
pub struct SessionFailure {
    error: Error,
    response: Response,
}

impl SessionFailure {
    /// What went wrong.
    pub fn error(&self) -> &Error {
        &self.error
    }
}

impl fmt::Debug for SessionFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionFailure")
            .field("error", &self.error)
            .field("status", &self.response.status())
            .finish()
    }
}

impl fmt::Display for SessionRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionRejection::MissingLayer => f.write_str(
                "missing session layer: `Session<T>` needs `SessionLayer` in front of the handler; \
                 perhaps you forgot to add `.layer(SessionLayer::new(store))` to your `Router`?",
            ),
            SessionRejection::Failed(failure) => fmt::Display::fmt(&failure.error, f),
        }
    }
}

impl std::error::Error for SessionRejection {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SessionRejection::MissingLayer => None,
            SessionRejection::Failed(failure) => Some(&failure.error),
        }
    }
}

impl IntoResponse for SessionRejection {
    fn into_response(self) -> Response {
        match self {
            SessionRejection::MissingLayer => {
                tracing::error!("{self}");
                (StatusCode::INTERNAL_SERVER_ERROR, self.to_string()).into_response()
            }
            SessionRejection::Failed(failure) => failure.response,
        }
    }
}

impl<S, T> FromRequestParts<S> for Session<T>
where
    S: Send + Sync,
    T: SessionData,
{
    type Rejection = SessionRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Some(RequestHandle(request)) = parts.extensions.get::<RequestHandle>() else {
            return Err(SessionRejection::MissingLayer);
        };
        Session::extract(request, &parts.headers)
            .await
            .map_err(|error| {
                let response = error_response(&request.shared, &error);
                SessionRejection::Failed(SessionFailure { error, response })
            })
    }
}
