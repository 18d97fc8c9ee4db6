//! `SessionLayer`: the tower layer that gives handlers their sessions.

use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use http::StatusCode;
use tower_layer::Layer;

use crate::queue::SaveQueues;
use crate::service::SessionService;
use crate::{Error, SessionConfig, SessionStore};

/// Turns a session error into the response the client gets.
pub(crate) type ErrorHandler = Arc<dyn Fn(&Error) -> Response + Send + Sync>;

/// What every request of one layer shares.
#[derive(Clone)]
pub(crate) struct Shared {
    pub(crate) store: Arc<dyn SessionStore>,
    configs: Vec<SessionConfig>,
    pub(crate) on_error: ErrorHandler,
    /// Where saves of one session that ran into each other take turns.
    pub(crate) queues: Arc<SaveQueues>,
}

impl Shared {
    /// The config to use for a session type: a start-up override with the
    /// same cookie name, or the one compiled in.
    pub(crate) fn config_for(&self, compiled: SessionConfig) -> SessionConfig {
        self.configs
            .iter()
            .find(|c| c.cookie_name() == compiled.cookie_name())
            .cloned()
            .unwrap_or(compiled)
    }
}

/// Adds sessions to an axum router.
///
/// One layer serves every session type of the app (each has its own cookie
/// name, prefix and expiry from its config) and keeps them in one store.
///
/// ```
/// use axum::{routing::get, Router};
/// use sessionkit::{store::memory::MemoryStore, SessionLayer};
///
/// let app: Router = Router::new()
///     .route("/", get(|| async { "hello" }))
///     .layer(SessionLayer::new(MemoryStore::new()));
/// ```
///
/// Nothing is loaded until a handler extracts a session, so routes that do
/// not use one cost no store I/O.
#[derive(Clone)]
pub struct SessionLayer {
    shared: Arc<Shared>,
}

impl SessionLayer {
    /// A layer keeping sessions in `store`.
    pub fn new<S: SessionStore>(store: S) -> Self {
        SessionLayer {
            shared: Arc::new(Shared {
                store: Arc::new(store),
                configs: Vec::new(),
                on_error: Arc::new(default_error_response),
                queues: Arc::default(),
            }),
        }
    }

    /// Uses `config` at run time for the session type whose compiled-in
    /// config has the same `cookie_name` — for deployment values such as
    /// `domain` and `secure`, validated by [`SessionConfig::with_domain`] and
    /// [`SessionConfig::with_secure`].
    ///
    /// ```
    /// use sessionkit::{session_config, store::memory::MemoryStore, SessionLayer};
    ///
    /// session_config! { pub CART { cookie_name: "cart", secure: true } }
    ///
    /// # fn main() -> Result<(), sessionkit::ConfigError> {
    /// let dev = std::env::var("DEV").is_ok();
    /// let layer = SessionLayer::new(MemoryStore::new())
    ///     .with_config(CART.with_secure(!dev)?.with_domain(Some("shop.example"))?);
    /// # Ok(()) }
    /// ```
    pub fn with_config(mut self, config: SessionConfig) -> Self {
        let shared = Arc::make_mut(&mut self.shared);
        shared
            .configs
            .retain(|c| c.cookie_name() != config.cookie_name());
        shared.configs.push(config);
        self
    }

    /// Replaces the response sent when a session cannot be loaded or saved.
    ///
    /// The default, [`default_error_response`], answers `503 Service
    /// Unavailable` for store errors. The error is logged either way.
    ///
    /// ```
    /// use axum::{http::StatusCode, response::IntoResponse};
    /// use sessionkit::{store::memory::MemoryStore, SessionLayer};
    ///
    /// let layer = SessionLayer::new(MemoryStore::new()).with_error_handler(|error| {
    ///     (StatusCode::INTERNAL_SERVER_ERROR, format!("sorry: {error}")).into_response()
    /// });
    /// ```
    pub fn with_error_handler<F>(mut self, handler: F) -> Self
    where
        F: Fn(&Error) -> Response + Send + Sync + 'static,
    {
        Arc::make_mut(&mut self.shared).on_error = Arc::new(handler);
        self
    }
}

impl<S> Layer<S> for SessionLayer {
    type Service = SessionService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SessionService::new(inner, Arc::clone(&self.shared))
    }
}

/// The default error policy: `503 Service Unavailable` with a short
/// plain-text reason for store errors, `500 Internal Server Error` for data
/// that cannot be encoded or a session extracted twice.
pub fn default_error_response(error: &Error) -> Response {
    match error {
        Error::Store { .. } => (
            StatusCode::SERVICE_UNAVAILABLE,
            "session store unavailable, please retry\n",
        )
            .into_response(),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "session error\n").into_response(),
    }
}

/// Logs a session error with its session name and builds the response.
pub(crate) fn error_response(shared: &Shared, error: &Error) -> Response {
    tracing::error!(session = error.session_name(), %error, "session error");
    (shared.on_error)(error)
}
