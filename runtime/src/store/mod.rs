//! The store trait, and one module per backend.
//!
//! # Writing a backend
//!
//! A store keeps opaque bytes (a JSON object, as sanic-session writes it)
//! under string keys (`prefix + id`, always 32 lowercase hex characters after
//! the prefix, at most 250 bytes, no whitespace or control characters) with a
//! time to live. The layer calls it at most:
//!
//! * once per session per request to [`load`](SessionStore::load), and only
//!   when a handler extracts the session;
//! * once to [`save`](SessionStore::save), only when the encoded data changed
//!   (or the id was cycled);
//! * once to [`delete`](SessionStore::delete), when the session was
//!   destroyed, became empty, or its id was cycled.
//!
//! Rules every backend keeps (the conformance suite in the repository's
//! `tests/` checks them against each backend):
//!
//! * `load` of a missing or expired key is `Ok(None)`, never an error;
//! * `load` of a present key also extends its time to live to `ttl` (sliding
//!   expiry), in the same round trip where the backend allows it
//!   (Redis `GETEX`), so a read-only request writes nothing;
//! * `save` replaces the value and its time to live; it returns only once
//!   the backend acknowledged the write;
//! * `delete` of a missing key is `Ok(())`;
//! * every failure is a [`StoreError`], never a panic, and no call hangs
//!   forever (use a timeout).
//!
//! The trait is object safe: the layer keeps an `Arc<dyn SessionStore>`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

pub use crate::error::StoreError;

#[cfg(feature = "memcache")]
pub mod memcache;
#[cfg(feature = "memory")]
pub mod memory;
#[cfg(feature = "redis")]
pub mod redis;

/// The future a store method returns.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// Where sessions live. See the [module docs](self) for the contract.
pub trait SessionStore: Send + Sync + 'static {
    /// Reads the value under `key`, extending its time to live to `ttl` when
    /// it exists. Missing or expired: `Ok(None)`.
    fn load<'a>(&'a self, key: &'a str, ttl: Duration) -> StoreFuture<'a, Option<Vec<u8>>>;

    /// Writes `value` under `key` with time to live `ttl`, replacing what was there.
    fn save<'a>(&'a self, key: &'a str, value: &'a [u8], ttl: Duration) -> StoreFuture<'a, ()>;

    /// Removes `key`; a missing key is not an error.
    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()>;
}

impl<S: SessionStore + ?Sized> SessionStore for Arc<S> {
    fn load<'a>(&'a self, key: &'a str, ttl: Duration) -> StoreFuture<'a, Option<Vec<u8>>> {
        (**self).load(key, ttl)
    }
    fn save<'a>(&'a self, key: &'a str, value: &'a [u8], ttl: Duration) -> StoreFuture<'a, ()> {
        (**self).save(key, value, ttl)
    }
    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
        (**self).delete(key)
    }
}
