//! `SessionLayer`: the tower layer that gives handlers their sessions.

use std::future::Future;
use std::sync::Arc;

use axum::response::Response;
use tower_layer::Layer;

use crate::owners::Owners;
use crate::request::LayerState;
use crate::response::default_error_response;
use crate::service::SessionService;
use crate::{ConfigError, Error, SessionConfig, SessionData, SessionStore, StoreError};

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
    state: Arc<LayerState>,
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
        let state = Arc::make_mut(&mut self.state);
        state.max_size = state.store.max_value_size().map_or(bytes, |s| s.min(bytes));
        self
    }

    /// Whether a response with a `5xx` status still saves what its handler
    /// changed in its sessions. Default `false`: a handler that fails half
    /// way must not persist half its changes, so on a server error nothing
    /// is saved, deleted or cycled, and no session cookie is set.
    pub fn save_on_server_error(mut self, save: bool) -> Self {
        Arc::make_mut(&mut self.state).save_on_server_error = save;
        self
    }

    /// Asks the layer's store whether it can be reached now
    /// ([`SessionStore::ping`]), for a readiness probe. The future owns
    /// what it needs, so a route can keep a clone of the layer and call
    /// this for each probe; it is bounded by the store's timeout.
    ///
    /// ```
    /// use axum::{http::StatusCode, routing::get, Router};
    /// use sessionkit::{store::memory::MemoryStore, SessionLayer};
    ///
    /// let sessions = SessionLayer::new(MemoryStore::new());
    /// let probe = sessions.clone();
    /// let app: Router = Router::new()
    ///     .route(
    ///         "/ready",
    ///         get(move || {
    ///             let ping = probe.ping();
    ///             async move {
    ///                 match ping.await {
    ///                     Ok(()) => StatusCode::OK,
    ///                     Err(_) => StatusCode::SERVICE_UNAVAILABLE,
    ///                 }
    ///             }
    ///         }),
    ///     )
    ///     .layer(sessions);
    /// ```
    ///
    /// # Errors
    ///
    /// What the store's [`ping`](SessionStore::ping) reported: a
    /// [transient](crate::ErrorClass::Transient) [`StoreError`] when the
    /// server is down or slow.
    pub fn ping(&self) -> impl Future<Output = Result<(), StoreError>> + Send + 'static {
        let store = Arc::clone(&self.state.store);
        async move { store.ping().await }
    }

    /// A layer keeping sessions in `store`.
    pub fn new<S: SessionStore>(store: S) -> Self {
        SessionLayer {
            state: Arc::new(LayerState {
                configs: Vec::new(),
                on_error: Arc::new(default_error_response),
                queues: Arc::default(),
                max_size: store
                    .max_value_size()
                    .map_or(Self::DEFAULT_MAX_SIZE, |s| s.min(Self::DEFAULT_MAX_SIZE)),
                save_on_server_error: false,
                owners: false,
                store: Arc::new(store),
            }),
        }
    }

    /// Uses `config` at run time for the session type `T`, instead of the
    /// config compiled into it: for deployment values such as `domain` and
    /// `secure` ([`SessionConfig::with_domain`], [`SessionConfig::with_secure`]).
    /// Every session type with the same cookie name uses it too.
    ///
    /// The config is checked against every rule again, and its cookie name
    /// must be `T`'s (the cookie name is how a request finds its session, so
    /// it is not a deployment value). A config that breaks any of this is
    /// refused at start-up, with a [`ConfigError`] that lists every
    /// violation at once, instead of failing requests later.
    ///
    /// ```
    /// use serde::{Deserialize, Serialize};
    /// use sessionkit::{session_config, store::memory::MemoryStore, Session, SessionLayer};
    ///
    /// session_config! { pub CART { cookie_name: "cart", secure: true } }
    ///
    /// #[derive(Session, Serialize, Deserialize, Default)]
    /// #[session(config = CART)]
    /// struct Cart {
    ///     items: Vec<String>,
    /// }
    ///
    /// # fn main() -> Result<(), sessionkit::ConfigError> {
    /// let dev = std::env::var("DEV").is_ok();
    /// let layer = SessionLayer::new(MemoryStore::new())
    ///     .with_config::<Cart>(CART.with_secure(!dev).with_domain(Some("shop.example")))?;
    /// # Ok(()) }
    /// ```
    pub fn with_config<T: SessionData>(
        mut self,
        config: SessionConfig,
    ) -> Result<Self, ConfigError> {
        config.validate_override_of(&T::CONFIG, std::any::type_name::<T>())?;
        let state = Arc::make_mut(&mut self.state);
        state
            .configs
            .retain(|c| c.cookie_name() != config.cookie_name());
        state.configs.push(config);
        Ok(self)
    }

    /// Lets sessions have owners ([`Session::set_owner`](crate::Session::set_owner)),
    /// kept in owner indexes in the store, so that [`Owners`] can list and
    /// end every session of one owner ("log out everywhere").
    ///
    /// # Errors
    ///
    /// [`Error::Owner`] when the store keeps no owner index
    /// ([`SessionStore::owner_index`]): the memory and Redis stores do;
    /// memcached, which cannot list what it holds, does not. Checked here,
    /// at start-up, rather than at the first login.
    ///
    /// ```
    /// use sessionkit::{store::memory::MemoryStore, SessionLayer};
    ///
    /// let layer = SessionLayer::new(MemoryStore::new()).with_owners().unwrap();
    /// let owners = layer.owners().unwrap();
    /// # let _ = owners;
    /// ```
    pub fn with_owners(mut self) -> Result<Self, Error> {
        if !self.state.store.owner_index() {
            return Err(Error::Owner {
                session_name: String::new(),
                message: format!(
                    "the {} store keeps no owner index, so sessions cannot have owners; the memory and Redis stores keep them",
                    self.state.store.name()
                ),
            });
        }
        Arc::make_mut(&mut self.state).owners = true;
        Ok(self)
    }

    /// A handle on the layer's owner indexes, for code that runs outside a
    /// request (an admin task, a password change): the same as the
    /// [`Owners`] a handler extracts.
    ///
    /// # Errors
    ///
    /// [`Error::Owner`] when the layer was not built
    /// [`with_owners`](Self::with_owners).
    pub fn owners(&self) -> Result<Owners, Error> {
        Owners::of(&self.state)
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
        Arc::make_mut(&mut self.state).on_error = Arc::new(handler);
        self
    }
}

impl std::fmt::Debug for SessionLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = &self.state;
        f.debug_struct("SessionLayer")
            .field("store", &state.store.name())
            .field("configs", &state.configs)
            .field("max_size", &state.max_size)
            .field("save_on_server_error", &state.save_on_server_error)
            .field("owners", &state.owners)
            .finish_non_exhaustive()
    }
}

impl<S> Layer<S> for SessionLayer {
    type Service = SessionService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SessionService::new(inner, Arc::clone(&self.state))
    }
}
