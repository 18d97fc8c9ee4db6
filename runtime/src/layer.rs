//! `SessionLayer`: the tower layer that gives handlers their sessions.

use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use http::header::RETRY_AFTER;
use http::{HeaderValue, StatusCode};
use tower_layer::Layer;

use crate::queue::SaveQueues;
use crate::service::SessionService;
use crate::{ConfigError, Error, ErrorClass, SessionConfig, SessionStore};

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
    /// The largest encoded session saved: the layer's own limit, lowered
    /// to the store's if that is smaller.
    pub(crate) max_size: usize,
    /// Whether a handler's 5xx response still saves its sessions' changes.
    pub(crate) save_on_server_error: bool,
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
    /// The default largest encoded session, in bytes: 64 KiB.
    pub const DEFAULT_MAX_SIZE: usize = 64 * 1024;

    /// Sets the largest encoded session the layer saves, in bytes (default
    /// [`DEFAULT_MAX_SIZE`](Self::DEFAULT_MAX_SIZE)). A store with a smaller
    /// limit of its own ([`SessionStore::max_value_size`]) keeps its limit.
    ///
    /// A larger session is refused before any I/O: the request gets the
    /// error response for [`Error::TooLarge`] (a `500` by default) and what
    /// was stored before stays as it was.
    pub fn with_max_size(mut self, bytes: usize) -> Self {
        let shared = Arc::make_mut(&mut self.shared);
        shared.max_size = shared
            .store
            .max_value_size()
            .map_or(bytes, |s| s.min(bytes));
        self
    }

    /// Whether a response with a `5xx` status still saves what its handler
    /// changed in its sessions. Default `false`: a handler that fails half
    /// way must not persist half its changes, so on a server error nothing
    /// is saved, deleted or cycled, and no session cookie is set.
    pub fn save_on_server_error(mut self, save: bool) -> Self {
        Arc::make_mut(&mut self.shared).save_on_server_error = save;
        self
    }

    /// A layer keeping sessions in `store`.
    pub fn new<S: SessionStore>(store: S) -> Self {
        SessionLayer {
            shared: Arc::new(Shared {
                configs: Vec::new(),
                on_error: Arc::new(default_error_response),
                queues: Arc::default(),
                max_size: store
                    .max_value_size()
                    .map_or(Self::DEFAULT_MAX_SIZE, |s| s.min(Self::DEFAULT_MAX_SIZE)),
                save_on_server_error: false,
                store: Arc::new(store),
            }),
        }
    }

    /// Uses `config` at run time for the session type whose compiled-in
    /// config has the same `cookie_name` — for deployment values such as
    /// `domain` and `secure`, validated by [`SessionConfig::with_domain`] and
    /// [`SessionConfig::with_secure`].
    ///
    /// The config is checked against every rule again, whichever way it
    /// was built: a config that breaks one is refused with the
    /// [`ConfigError`](crate::ConfigError) naming it, at start-up, instead
    /// of failing requests later.
    ///
    /// ```
    /// use sessionkit::{session_config, store::memory::MemoryStore, SessionLayer};
    ///
    /// session_config! { pub CART { cookie_name: "cart", secure: true } }
    ///
    /// # fn main() -> Result<(), sessionkit::ConfigError> {
    /// let dev = std::env::var("DEV").is_ok();
    /// let layer = SessionLayer::new(MemoryStore::new())
    ///     .with_config(CART.with_secure(!dev)?.with_domain(Some("shop.example"))?)?;
    /// # Ok(()) }
    /// ```
    pub fn with_config(mut self, config: SessionConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let shared = Arc::make_mut(&mut self.shared);
        shared
            .configs
            .retain(|c| c.cookie_name() != config.cookie_name());
        shared.configs.push(config);
        Ok(self)
    }

    /// Replaces the response sent when a session cannot be loaded or saved.
    ///
    /// The default, [`default_error_response`], answers `503 Service
    /// Unavailable` with `Retry-After` for a
    /// [transient](crate::ErrorClass::Transient) error and `500 Internal
    /// Server Error` for a [permanent](crate::ErrorClass::Permanent) one;
    /// [`Error::class`] tells a handler which it is. The error is logged
    /// either way, with its session name and class. Whatever the response,
    /// what was stored before stays as it was.
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

/// How long the default error response asks a client to wait before it
/// retries after a transient store error, in seconds.
pub const RETRY_AFTER_SECS: u32 = 2;

/// The default error policy, by the error's [`class`](Error::class):
///
/// * [transient](crate::ErrorClass::Transient) (the store could not be
///   reached, timed out, or is busy): `503 Service Unavailable` with
///   `Retry-After: 2` ([`RETRY_AFTER_SECS`]);
/// * [permanent](crate::ErrorClass::Permanent) (a session too large, data
///   that cannot be encoded, a refused command, a session extracted twice):
///   `500 Internal Server Error`.
///
/// The body is a short line of plain text that names neither the session
/// nor the cause; both are in the log line the layer writes.
pub fn default_error_response(error: &Error) -> Response {
    match error.class() {
        ErrorClass::Transient => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS))],
            "session store unavailable, please retry\n",
        )
            .into_response(),
        ErrorClass::Permanent => {
            (StatusCode::INTERNAL_SERVER_ERROR, "session error\n").into_response()
        }
    }
}

/// Logs a session error with its session name and class, and builds the
/// response.
pub(crate) fn error_response(shared: &Shared, error: &Error) -> Response {
    let class = match error.class() {
        ErrorClass::Transient => "transient",
        ErrorClass::Permanent => "permanent",
    };
    tracing::error!(session = error.session_name(), class, error = %crate::error::Report(error), "session error");
    (shared.on_error)(error)
}
