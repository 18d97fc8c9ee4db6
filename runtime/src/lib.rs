//! Typed server-side sessions for axum.
//!
//! ```
//! use axum::{routing::get, Router};
//! use serde::{Deserialize, Serialize};
//! use sessionkit::{session_config, store::memory::MemoryStore, Session, SessionLayer};
//!
//! session_config! {
//!     /// The visit counter's cookie.
//!     pub COUNTER {
//!         cookie_name: "visits",
//!         expiry: 7 days,
//!         samesite: "lax",
//!     }
//! }
//!
//! #[derive(Session, Serialize, Deserialize, Default)]
//! #[session(config = COUNTER)]
//! struct Visits {
//!     n: u64,
//! }
//!
//! async fn incr(mut visits: Session<Visits>) -> String {
//!     visits.n += 1; // saved after the handler returns
//!     visits.n.to_string()
//! }
//!
//! let app: Router = Router::new()
//!     .route("/incr", get(incr))
//!     .layer(SessionLayer::new(MemoryStore::new()));
//! ```
//!
//! # Macros
//!
//! [`session_config!`] declares a session's cookie and store settings,
//! checked at compile time; [`#[derive(Session)]`](derive@Session) makes a
//! struct a session type and names its config. Their pages have the full
//! grammar, the defaults, and every rule with the compile error it gives.
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `memory` | yes | [`store::memory::MemoryStore`], no server needed |
//! | `axum` | yes | [`SessionLayer`], the [`Session<T>`](struct@Session) extractor, [`UntypedSession`] |
//! | `memcache` | no | `store::memcache::MemcacheStore`: memcached, pooled, several servers (ketama), acknowledged writes |
//! | `redis` | no | `store::redis::RedisStore`: Redis and Redis Cluster, through the `redis` crate (re-exported as `sessionkit::store::redis::client`) |
//! | `postgres` | no | `store::postgres::PostgresStore`: a PostgreSQL table through tokio-postgres, pooled by deadpool-postgres, with a cleanup task for expired rows |
//! | `redis-tls` | no | `redis` over TLS (`rediss://` URLs, `RedisStore::from_url_with_tls` for a private CA and client certificates), with rustls and ring |
//! | `sqlite` | no | `store::sqlite::SqliteStore`: a local SQLite file (rusqlite, SQLite built in), WAL, a cleanup task for expired rows |
//! | `metrics` | no | counters, histograms and gauges of loads, saves, deletes, merges, store errors and latency through the `metrics` facade (no exporter); see the README for the list |
//!
//! # Lifecycle
//!
//! * The cookie is read only when a handler extracts a session, and a value
//!   that is not a well-formed id (32 lowercase hex characters) is ignored
//!   without asking the store.
//! * An id the store does not know, or whose data does not decode as `T`,
//!   gives a fresh session with a **new** id: a client never picks its id.
//!   A derived `T` first rebuilds an object that no longer decodes as a
//!   whole field by field, keeping the session and its id (see
//!   [Changing the struct](derive@Session#changing-the-struct)).
//! * The session is saved after the handler returns, only when its encoded
//!   data changed; a session that became empty is deleted and its cookie
//!   expired; an empty fresh session is never stored.
//! * Expiry slides: a load refreshes the store's TTL and the cookie is sent
//!   again, without a store write.
//! * A store error that can pass (the store is down, slow or busy) gives
//!   `503 Service Unavailable` with `Retry-After`; one that cannot (a
//!   refused command) gives `500 Internal Server Error`, as do data that
//!   cannot be stored and read back (a float that is not finite, nesting
//!   deeper than the decoder reads) and a session over the size limit
//!   ([`SessionLayer::with_max_size`], 64 KiB by default, checked before any
//!   I/O). Whichever it is, nothing stored before is touched, the error is
//!   logged with the session name (never the id), and the response is
//!   configurable with [`SessionLayer::with_error_handler`].
//! * A handler's `5xx` response saves nothing: no session change, delete,
//!   id cycle or cookie of that request is kept (an error half way through
//!   a handler must not persist half its changes). An early
//!   [`Session::save`] already done stays done.
//!   [`SessionLayer::save_on_server_error`] turns saving on `5xx` back on.
//! * Every response of a request that extracted a session carries
//!   `Vary: Cookie`, and one that sets or expires a session cookie is marked
//!   `Cache-Control: private` unless it already says `private` or
//!   `no-store` (a `public` is replaced): a shared cache must never hand
//!   one visitor's `Set-Cookie` to the next.
//! * Keys of the stored object that `T` does not declare are kept on save.
//! * Concurrent requests of one session lose no update: a save writes only
//!   over what was loaded (compare-and-set); when another request wrote
//!   first, the two JSON objects are merged key by key (a key this request
//!   changed takes its value, every other key the stored one) and the save
//!   tried again. A session ended meanwhile (logout, expiry) is not
//!   recreated, and logout always wins. See [`store`] for what a store
//!   implements for this.
//! * Saves come before deletes and cookies, so a failed save deletes
//!   nothing; once the handler returned, the commit finishes even if the
//!   client hangs up; [`Session::save`] commits early and
//!   returns the store's error to the handler.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod checked;
#[cfg(feature = "axum")]
mod codec;
#[cfg(feature = "axum")]
mod commit;
pub mod config;
#[cfg(feature = "axum")]
mod cookie;
mod data;
mod error;
mod frozen;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod id;
#[cfg(feature = "axum")]
mod merge;
#[cfg(feature = "axum")]
mod observe;
#[cfg(feature = "axum")]
mod queue;
#[cfg(feature = "axum")]
mod rebuild;
pub mod store;
mod untyped;

#[cfg(feature = "axum")]
mod extract;
#[cfg(feature = "axum")]
pub mod future;
#[cfg(feature = "axum")]
mod layer;
#[cfg(feature = "axum")]
mod owners;
#[cfg(feature = "axum")]
mod request;
#[cfg(feature = "axum")]
mod response;
#[cfg(feature = "axum")]
mod scratch;
#[cfg(feature = "axum")]
mod service;
#[cfg(feature = "axum")]
mod session;

pub use config::{ConfigError, ConfigSource, DefaultConfig, SameSite, SessionConfig};
pub use data::SessionData;
pub use error::{BoxError, Error, ErrorClass, Result, StoreError};
pub use id::SessionId;
#[doc = include_str!("docs/session_config.md")]
pub use sessionkit_macros::session_config;
#[doc = include_str!("docs/derive_session.md")]
pub use sessionkit_macros::Session;
pub use store::{Expect, SaveOutcome, SessionStore, Stored};
pub use untyped::Untyped;

#[cfg(feature = "axum")]
pub use extract::{SessionFailure, SessionRejection};
#[cfg(feature = "axum")]
pub use layer::SessionLayer;
#[cfg(feature = "axum")]
pub use owners::{OwnedSession, Owners};
#[cfg(feature = "axum")]
pub use response::{default_error_response, RETRY_AFTER_SECS};
#[cfg(feature = "axum")]
pub use service::SessionService;
#[cfg(feature = "axum")]
pub use session::Session;
#[cfg(feature = "axum")]
pub use untyped::UntypedSession;

#[cfg(feature = "memcache")]
pub use store::memcache::MemcacheStore;
#[cfg(feature = "memory")]
pub use store::memory::MemoryStore;
#[cfg(feature = "postgres")]
pub use store::postgres::PostgresStore;
#[cfg(feature = "redis")]
pub use store::redis::RedisStore;
#[cfg(feature = "sqlite")]
pub use store::sqlite::SqliteStore;

#[doc(hidden)]
pub mod __private {
    pub use crate::config::{SameSite, SessionConfig};
    pub use crate::data::{FieldKeys, Recovery, SessionData};
    /// What `#[derive(Session)]` asks whether a field's type is frozen with.
    pub mod frozen {
        pub use crate::frozen::{IsFrozen, NotFrozen, Probe};
    }
    pub use serde_json::{Map, Value};
    pub use sessionkit_rules::Settings;
}
