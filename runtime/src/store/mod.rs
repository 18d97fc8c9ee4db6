//! The store trait, and one module per backend.
//!
//! # Writing a backend
//!
//! A store keeps opaque bytes (a JSON object, as sanic-session writes it)
//! under string keys (`prefix + id`, always 32 lowercase hex characters after
//! the prefix, or 64 with `hash_ids`, at most 250 bytes, no whitespace or
//! control characters) with a time to live. Per session and request the layer calls it at most:
//!
//! * once to [`load_versioned`](SessionStore::load_versioned), and only
//!   when a handler extracts the session;
//! * once to [`save_if`](SessionStore::save_if) when the encoded data
//!   changed (or the id was cycled), plus once more for each concurrent
//!   write it has to merge with;
//! * once to [`delete`](SessionStore::delete), when the session was
//!   destroyed, became empty, or its id was cycled.
//!
//! Rules every backend keeps (the conformance suite in the repository's
//! `tests/` checks them against each backend):
//!
//! * a load of a missing or expired key is `Ok(None)`, never an error;
//! * a load of a present key also extends its time to live to `ttl` (sliding
//!   expiry), in the same round trip where the backend allows it
//!   (Redis `GETEX`), so a read-only request writes nothing;
//! * `save` replaces the value and its time to live; it returns only once
//!   the backend acknowledged the write;
//! * `delete` of a missing key is `Ok(())`;
//! * every failure is a [`StoreError`], never a panic, and no call hangs
//!   forever (use a timeout).
//!
//! # Compare-and-set
//!
//! Two requests of one session can run at once (browser tabs, `fetch`,
//! prefetch). So that neither loses the other's change, the layer saves with
//! [`save_if`](SessionStore::save_if): "write this, but only if the key
//! still holds what I loaded" ([`Expect::Loaded`]), or "only if nothing is
//! stored under it" ([`Expect::Absent`], a new session). When the store
//! answers [`SaveOutcome::Changed`] with the value another writer left, the
//! layer merges the two JSON objects key by key and tries again; when it
//! answers [`SaveOutcome::Gone`], the session was ended meanwhile (logout,
//! expiry) and is not recreated.
//!
//! A store gets this by overriding
//! [`load_versioned`](SessionStore::load_versioned) (when it has a version
//! token cheaper to compare than the bytes, such as memcached's CAS unique)
//! and [`save_if`](SessionStore::save_if), which must check and write
//! atomically, and by returning `true` from
//! [`compare_and_set`](SessionStore::compare_and_set). A store that
//! implements only `load`, `save` and `delete` still works: the defaults
//! write unconditionally, so two concurrent writes of one session are
//! last-writer-wins, and a request that was running when the session was
//! ended can save it back.
//!
//! The trait is object safe: the layer keeps an `Arc<dyn SessionStore>`.
//!
//! A store that talks to a server returns its work as a future,
//! [`StoreFuture::new`] (one allocation). A store that does its work in the
//! call itself, in memory, can return [`StoreFuture::ready`] (no
//! allocation). The layer awaits every future it is given; it finishes a
//! request without boxing a future of its own only for this crate's memory
//! store, which it knows never waits.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

pub use crate::error::StoreError;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
pub use cleanup::{Cleanup, CleanupTask};

#[cfg(any(feature = "postgres", feature = "sqlite"))]
mod cleanup;
#[cfg(feature = "memcache")]
pub mod memcache;
#[cfg(feature = "memory")]
pub mod memory;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "redis")]
pub mod redis;
#[cfg(feature = "sqlite")]
pub mod sqlite;

/// What keeps [`SessionStore::immediate`] to this crate's stores.
pub(crate) mod sealed {
    /// An argument no other crate can name, so no other crate can override
    /// or call the method that takes it.
    #[derive(Debug, Clone, Copy)]
    pub struct OnlyThisCrate;
}

/// A store key as it may appear in a log line or an error message: the
/// prefix and the first four characters of the session id, never the whole
/// id (it is the visitor's bearer token). A key with a hashed id
/// (`hash_ids`) shows as little of the hash.
///
/// ```
/// use sessionkit::store::redact_key;
///
/// let key = "session:0123456789abcdef0123456789abcdef";
/// assert_eq!(redact_key(key).to_string(), "session:0123…");
/// let hashed = "session:3eb1bd439947eb762998e566ccc2e099c791118b2f40579cc4f7da2b5061b7f9";
/// assert_eq!(redact_key(hashed).to_string(), "session:3eb1…");
/// assert_eq!(redact_key("short").to_string(), "…");
/// ```
pub fn redact_key(key: &str) -> RedactedKey<'_> {
    RedactedKey(key)
}

/// A store key shown without most of its session id; see [`redact_key`].
#[derive(Clone, Copy)]
pub struct RedactedKey<'a>(&'a str);

/// Characters of the id a redacted key keeps.
const SHOWN_ID_CHARS: usize = 4;

impl fmt::Display for RedactedKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = self.0;
        // The id is the last 32 characters of a key, or its hash the last
        // 64. A key that ends in 64 hex digits is taken for a hashed one:
        // when it is an id after a prefix ending in hex digits, less of the
        // prefix shows, never more of the id. A key too short to hold an id
        // (not ours, or cut) shows nothing at all.
        let hex_tail = key
            .bytes()
            .rev()
            .take_while(u8::is_ascii_hexdigit)
            .take(sessionkit_rules::HASHED_ID_LEN)
            .count();
        let id_len = if hex_tail == sessionkit_rules::HASHED_ID_LEN {
            sessionkit_rules::HASHED_ID_LEN
        } else {
            crate::id::ID_LEN
        };
        let shown = key
            .len()
            .checked_sub(id_len - SHOWN_ID_CHARS)
            .filter(|_| key.len() >= id_len);
        match shown.and_then(|end| key.get(..end)) {
            Some(head) => write!(f, "{head}…"),
            None => f.write_str("…"),
        }
    }
}

impl fmt::Debug for RedactedKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

/// `text` with every run of more than four ASCII hex digits cut to its
/// first four and `…`, except a decimal number of at most 20 digits (a
/// port, a length, a CAS unique) and a run `keep` accepts: a session id is
/// 32 lowercase hex digits (its hash, with `hash_ids`, 64), so no more of
/// one than [`redact_key`] shows is left, wherever it stands in a server's
/// error text.
#[cfg(any(feature = "redis", feature = "memcache", feature = "postgres"))]
pub(crate) fn redact_ids(text: &str, keep: impl Fn(&str) -> bool) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        // Hex digits are ASCII, so both ends of a run are char boundaries.
        let plain = rest
            .find(|c: char| c.is_ascii_hexdigit())
            .unwrap_or(rest.len());
        out.push_str(&rest[..plain]);
        rest = &rest[plain..];
        let run = rest
            .find(|c: char| !c.is_ascii_hexdigit())
            .unwrap_or(rest.len());
        let (hex, after) = rest.split_at(run);
        let number = hex.len() <= 20 && hex.bytes().all(|b| b.is_ascii_digit());
        if hex.len() <= SHOWN_ID_CHARS || number || keep(hex) {
            out.push_str(hex);
        } else {
            out.push_str(&hex[..SHOWN_ID_CHARS]);
            out.push('…');
        }
        rest = after;
    }
    out
}

/// What a store method returns: a result the store already has, or a boxed
/// future that produces it.
///
/// ```
/// use sessionkit::store::{StoreError, StoreFuture};
///
/// # async fn demo() {
/// let done: StoreFuture<'_, ()> = StoreFuture::ready(Ok(()));
/// assert!(done.is_ready());
/// let later: StoreFuture<'_, u8> = StoreFuture::new(async { Ok(7) });
/// assert!(!later.is_ready());
/// assert_eq!(later.await.unwrap(), 7);
/// # }
/// ```
#[must_use = "a store future does nothing unless awaited"]
pub struct StoreFuture<'a, T> {
    state: State<'a, T>,
}

type Boxed<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

enum State<'a, T> {
    /// The result, until it is taken.
    Ready(Option<Result<T, StoreError>>),
    Pending(Boxed<'a, T>),
}

impl<'a, T> StoreFuture<'a, T> {
    /// A result the store already has: nothing is allocated.
    pub fn ready(result: Result<T, StoreError>) -> Self {
        StoreFuture {
            state: State::Ready(Some(result)),
        }
    }

    /// Work still to do: `future` is boxed.
    pub fn new(future: impl Future<Output = Result<T, StoreError>> + Send + 'a) -> Self {
        StoreFuture {
            state: State::Pending(Box::pin(future)),
        }
    }

    /// Whether the result is already there (made by [`ready`](Self::ready)).
    pub fn is_ready(&self) -> bool {
        matches!(self.state, State::Ready(Some(_)))
    }

    /// Applies `f` to the value once there is one: at once if the result is
    /// already there (still nothing allocated), otherwise in a new boxed
    /// future.
    ///
    /// ```
    /// use sessionkit::store::StoreFuture;
    ///
    /// let length = StoreFuture::ready(Ok(vec![1, 2, 3])).map(|v| v.len());
    /// assert!(length.is_ready());
    /// ```
    pub fn map<U>(self, f: impl FnOnce(T) -> U + Send + 'a) -> StoreFuture<'a, U>
    where
        T: Send + 'a,
    {
        match self.state {
            State::Ready(Some(result)) => StoreFuture::ready(result.map(f)),
            state => {
                let future = StoreFuture { state };
                StoreFuture::new(async move { future.await.map(f) })
            }
        }
    }

    /// The result, if it is already there; otherwise the future back.
    pub fn into_ready(self) -> Result<Result<T, StoreError>, Self> {
        match self.state {
            State::Ready(Some(result)) => Ok(result),
            state => Err(StoreFuture { state }),
        }
    }
}

// Nothing is ever pinned in place: the result is moved out and the pending
// future lives in its own box.
impl<T> Unpin for StoreFuture<'_, T> {}

impl<T> Future for StoreFuture<'_, T> {
    type Output = Result<T, StoreError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.get_mut().state {
            State::Ready(result) => {
                Poll::Ready(result.take().expect("StoreFuture polled after completion"))
            }
            State::Pending(future) => future.as_mut().poll(cx),
        }
    }
}

impl<T> fmt::Debug for StoreFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            State::Ready(Some(_)) => "ready",
            State::Ready(None) => "taken",
            State::Pending(_) => "pending",
        };
        f.debug_tuple("StoreFuture").field(&state).finish()
    }
}

/// A stored value and the version token a conditional save compares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// The stored bytes.
    pub value: Vec<u8>,
    /// The store's token for this exact value (a revision, memcached's CAS
    /// unique), or `None` when the store compares the bytes themselves.
    pub version: Option<u64>,
}

/// What [`SessionStore::save_if`] expects to find under the key.
#[derive(Debug, Clone, Copy)]
pub enum Expect<'a> {
    /// Nothing: the session is new. Write only if the key is free.
    Absent,
    /// What was loaded: write only if the key still holds it.
    Loaded {
        /// The bytes that were loaded.
        value: &'a [u8],
        /// Their version token, as [`Stored::version`] gave it.
        version: Option<u64>,
    },
}

/// The answer of [`SessionStore::save_if`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub enum SaveOutcome {
    /// Written.
    Saved {
        /// The version token of the written value, if the store learnt it
        /// in the same round trip; `None` otherwise.
        version: Option<u64>,
    },
    /// [`Expect::Absent`], but the key holds a value: nothing was written.
    Exists,
    /// [`Expect::Loaded`], but another writer changed the value: nothing was
    /// written; this is what the key holds now.
    Changed(Stored),
    /// [`Expect::Loaded`], but the key is gone (deleted or expired): nothing
    /// was written.
    Gone,
}

/// One session in an owner index, as [`SessionStore::index_list`] gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    /// The session's store key.
    pub key: String,
    /// What the layer keeps about the session in the index; opaque to the
    /// store.
    pub value: Vec<u8>,
    /// How long the session's key has left to live.
    pub ttl: Duration,
}

/// The error of an owner index operation on a store that keeps none.
fn no_owner_index() -> StoreError {
    StoreError::new("this store keeps no owner index").permanent()
}

/// Where sessions live. See the [module docs](self) for the contract.
pub trait SessionStore: Send + Sync + 'static {
    /// Reads the value under `key`, extending its time to live to `ttl` when
    /// it exists. Missing or expired: `Ok(None)`.
    fn load<'a>(&'a self, key: &'a str, ttl: Duration) -> StoreFuture<'a, Option<Vec<u8>>>;

    /// Writes `value` under `key` with time to live `ttl`, replacing what was there.
    fn save<'a>(&'a self, key: &'a str, value: &'a [u8], ttl: Duration) -> StoreFuture<'a, ()>;

    /// Removes `key`; a missing key is not an error.
    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()>;

    /// Like [`load`](Self::load), and also returns the value's version token
    /// for [`save_if`](Self::save_if), in the same round trip.
    ///
    /// The default calls `load` and gives no version (`None`): a store that
    /// compares bytes needs none.
    fn load_versioned<'a>(
        &'a self,
        key: &'a str,
        ttl: Duration,
    ) -> StoreFuture<'a, Option<Stored>> {
        self.load(key, ttl).map(|value| {
            value.map(|value| Stored {
                value,
                version: None,
            })
        })
    }

    /// Writes `value` under `key` with time to live `ttl` only if the key
    /// holds what `expect` says, checking and writing atomically; otherwise
    /// writes nothing and says what it found.
    ///
    /// The default writes unconditionally with [`save`](Self::save) and
    /// answers [`SaveOutcome::Saved`]: last writer wins. A store that
    /// overrides it returns `true` from
    /// [`compare_and_set`](Self::compare_and_set).
    fn save_if<'a>(
        &'a self,
        key: &'a str,
        value: &'a [u8],
        ttl: Duration,
        expect: Expect<'a>,
    ) -> StoreFuture<'a, SaveOutcome> {
        let _ = expect;
        self.save(key, value, ttl)
            .map(|()| SaveOutcome::Saved { version: None })
    }

    /// Whether [`save_if`](Self::save_if) really compares before it writes.
    /// Default `false` (last writer wins).
    fn compare_and_set(&self) -> bool {
        false
    }

    /// The largest value, in bytes, this store can keep under one key, if it
    /// has a limit of its own (memcached's item size, a configured maximum).
    /// The layer refuses a larger session before any I/O, as it does one
    /// over its own [`with_max_size`](crate::SessionLayer::with_max_size).
    /// Default `None`: no limit of the store's own.
    fn max_value_size(&self) -> Option<usize> {
        None
    }

    /// Whether the store keeps owner indexes: [`index_add`](Self::index_add),
    /// [`index_remove`](Self::index_remove) and
    /// [`index_list`](Self::index_list) work. Default `false`, and those
    /// three answer a permanent error.
    ///
    /// An owner index lists the sessions of one owner (a user), so that all
    /// of them can be ended at once ("log out everywhere"). It lives under
    /// its own key, which the layer names (`prefix + "owner:" + owner`), and
    /// maps session keys to a value the layer chooses and to the latest
    /// time the session can live (`until`, seconds since the Unix epoch).
    fn owner_index(&self) -> bool {
        false
    }

    /// Records in the index `index` that the session under `key` is one of
    /// its owner's, with `value`, until `until` (seconds since the Unix
    /// epoch). Atomically: an entry for `key` is replaced; entries whose
    /// `until` has passed are dropped; when more than `max` remain, those
    /// with the earliest `until` are dropped and their session keys
    /// returned (the layer then deletes those sessions); the index itself
    /// lives until its latest entry's `until`, and no longer.
    fn index_add<'a>(
        &'a self,
        index: &'a str,
        key: &'a str,
        value: &'a [u8],
        until: u64,
        max: usize,
    ) -> StoreFuture<'a, Vec<String>> {
        let _ = (index, key, value, until, max);
        StoreFuture::ready(Err(no_owner_index()))
    }

    /// Removes the entries of `keys` from the index `index`; missing ones
    /// are not an error, and an index left empty is removed.
    fn index_remove<'a>(&'a self, index: &'a str, keys: &'a [String]) -> StoreFuture<'a, ()> {
        let _ = (index, keys);
        StoreFuture::ready(Err(no_owner_index()))
    }

    /// The entries of the index `index` whose session key still exists,
    /// each with that key's time to live, in no particular order; entries
    /// whose key is gone (expired, deleted) are removed from the index on
    /// the way. A missing index has no entries.
    fn index_list<'a>(&'a self, index: &'a str) -> StoreFuture<'a, Vec<IndexEntry>> {
        let _ = index;
        StoreFuture::ready(Err(no_owner_index()))
    }

    /// Whether the store can be reached now, for a readiness probe: `Ok`
    /// when it answered, otherwise the [`StoreError`] a load would have
    /// failed with ([transient](crate::ErrorClass::Transient) when the
    /// server is down or did not answer within the store's timeout).
    /// Nothing is read or written.
    ///
    /// The default answers `Ok(())` at once, without asking anything: a
    /// store that does not override it cannot tell, and is reported
    /// reachable. This crate's stores override it: the memory store is
    /// always reachable, the Redis store sends `PING`, the memcached store
    /// sends `version` to each of its servers.
    ///
    /// [`SessionLayer::ping`](crate::SessionLayer::ping) asks the layer's
    /// store, for an axum `/ready` route.
    ///
    /// ```
    /// use sessionkit::{store::memory::MemoryStore, SessionStore};
    ///
    /// # async fn demo() {
    /// assert!(MemoryStore::new().ping().await.is_ok());
    /// # }
    /// ```
    fn ping(&self) -> StoreFuture<'_, ()> {
        StoreFuture::ready(Ok(()))
    }

    /// A short name for the kind of store, the same for every instance:
    /// the `store` label of the layer's metrics (with the `metrics`
    /// feature). This crate's stores answer `"memory"`, `"redis"` and
    /// `"memcache"`; the default is `"custom"`.
    fn name(&self) -> &'static str {
        "custom"
    }

    /// Whether every future this store returns is [ready](StoreFuture::ready)
    /// when returned, so that the layer can finish a request without boxing
    /// a future of its own. Only this crate's stores can say so (no other
    /// crate can name the argument): the layer drops a future it finds
    /// pending on that path and runs the operation again, which only a
    /// store known to do its work in the call makes safe.
    #[doc(hidden)]
    fn immediate(&self, _: sealed::OnlyThisCrate) -> bool {
        false
    }
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
    fn load_versioned<'a>(
        &'a self,
        key: &'a str,
        ttl: Duration,
    ) -> StoreFuture<'a, Option<Stored>> {
        (**self).load_versioned(key, ttl)
    }
    fn save_if<'a>(
        &'a self,
        key: &'a str,
        value: &'a [u8],
        ttl: Duration,
        expect: Expect<'a>,
    ) -> StoreFuture<'a, SaveOutcome> {
        (**self).save_if(key, value, ttl, expect)
    }
    fn compare_and_set(&self) -> bool {
        (**self).compare_and_set()
    }
    fn immediate(&self, token: sealed::OnlyThisCrate) -> bool {
        (**self).immediate(token)
    }
    fn max_value_size(&self) -> Option<usize> {
        (**self).max_value_size()
    }
    fn ping(&self) -> StoreFuture<'_, ()> {
        (**self).ping()
    }
    fn name(&self) -> &'static str {
        (**self).name()
    }
    fn owner_index(&self) -> bool {
        (**self).owner_index()
    }
    fn index_add<'a>(
        &'a self,
        index: &'a str,
        key: &'a str,
        value: &'a [u8],
        until: u64,
        max: usize,
    ) -> StoreFuture<'a, Vec<String>> {
        (**self).index_add(index, key, value, until, max)
    }
    fn index_remove<'a>(&'a self, index: &'a str, keys: &'a [String]) -> StoreFuture<'a, ()> {
        (**self).index_remove(index, keys)
    }
    fn index_list<'a>(&'a self, index: &'a str) -> StoreFuture<'a, Vec<IndexEntry>> {
        (**self).index_list(index)
    }
}

#[cfg(test)]
mod tests {
    use super::redact_key;
    use crate::config::SessionConfig;
    use crate::SessionId;
    use sessionkit_rules::Settings;

    fn shown(key: &str) -> String {
        redact_key(key).to_string()
    }

    /// Whatever the prefix, a key shows at most four characters of the id
    /// or hash it ends in.
    #[test]
    fn redacted_keys_show_four_characters_of_an_id_or_its_hash() {
        let id = SessionId::parse("0123456789abcdef0123456789abcdef").unwrap();
        for prefix in ["session:", "", "cafe", "p".repeat(186).as_str()] {
            for hash_ids in [false, true] {
                let config = SessionConfig::__checked(Settings {
                    prefix: "x",
                    hash_ids,
                    ..Settings::DEFAULT
                });
                let key = format!("{prefix}{}", &config.store_key(&id)[1..]);
                let shown = shown(&key);
                let tail = &key[prefix.len()..];
                assert_eq!(shown, format!("{prefix}{}…", &tail[..4]), "{key}");
            }
        }
        // A prefix ending in 32 hex digits before an id looks like a hashed
        // key: less of the prefix shows, none more of the id.
        let key = format!("{}{}", "f".repeat(32), id.as_str());
        assert_eq!(shown(&key), "ffff…");
        // 63 hex digits are an id after a prefix ending in 31 of them.
        let key = format!("s:{}{}", "f".repeat(31), id.as_str());
        assert_eq!(shown(&key), format!("s:{}0123…", "f".repeat(31)));
        assert_eq!(shown(&"a".repeat(31)), "…");
        assert_eq!(shown(&"a".repeat(32)), "aaaa…");
    }
}
