//! [`MemoryStore`]: sessions in this process's memory, no server needed.
//!
//! Sessions are lost on restart and not shared between processes: use it for
//! development, tests, and single-instance services.
//!
//! # Expiry
//!
//! Expiry is real and sliding: a `load` of an expired session returns
//! `Ok(None)` and removes it; a `load` of a live one extends its expiry to
//! `ttl` from now. Expired sessions never read again are reclaimed too, two
//! ways:
//!
//! * every `save` examines a couple of entries of its shard at a rotating
//!   cursor and removes the expired ones (amortised O(1), works without any
//!   runtime);
//! * a background sweeper, a tokio task started on first use inside a tokio
//!   runtime, visits one shard at a time so that every shard is swept once
//!   every 4 seconds, and gives memory back (see
//!   [below](#giving-memory-back)).
//!   It holds only a weak reference, so it ends once the last clone of the
//!   store is dropped. If its runtime shuts down while the store lives on,
//!   the next call made inside another runtime starts a new one. It needs a
//!   runtime with timers enabled (`#[tokio::main]` enables them); in one
//!   built without `enable_time`, the task panics once (tokio catches the
//!   panic, unless the binary is built with `panic = "abort"`) and only the
//!   write-path sweep remains.
//!
//! Time is measured with tokio's monotonic [`Instant`]
//! (so tests can pause it), with millisecond resolution.
//!
//! # Capacity and eviction
//!
//! The store holds at most [`capacity`](MemoryStore::capacity) sessions
//! ([`MemoryStore::DEFAULT_CAPACITY`] unless set with
//! [`with_capacity`](MemoryStore::with_capacity)) and at most
//! [`max_bytes`](MemoryStore::max_bytes) bytes of them
//! ([`MemoryStore::DEFAULT_MAX_BYTES`] unless set with
//! [`with_max_bytes`](MemoryStore::with_max_bytes)), counting expired ones
//! not yet reclaimed. A session counts as its key and value bytes plus
//! [`MemoryStore::ENTRY_OVERHEAD`]. A flood of new visitors never makes a
//! request fail, and spares the sessions in use: sessions that were read
//! again after they were created are evicted only once no session that
//! never was is left in their shard, as long as they fit in 80 % of its
//! capacity (the exact rule is below). A single value larger than the byte
//! budget allows is refused (see
//! [`with_max_bytes`](MemoryStore::with_max_bytes)).
//!
//! Eviction is a segmented LRU, per shard. A new session enters the
//! *probation* segment. When it is read (or a live one is overwritten) it
//! moves to the *protected* segment, as its most recently used; protected
//! holds at most 80 % of the shard's capacity, and past that its least
//! recently used session goes back to probation, as its newest. To make
//! room the shard removes expired sessions it finds at its sweep cursor,
//! then evicts the oldest session of probation, and only once probation is
//! empty the least recently used one of protected. So sessions that were
//! created and never used again (bots, visitors who never return, a flood
//! of cookie-less requests) go before any session in use. The order is a
//! doubly linked list threaded through the shard's entries, so a load, a
//! save and a delete each stay O(1) (amortised, as hash-table operations
//! are).
//!
//! # Memory per session
//!
//! Each session costs its key and value bytes plus, computed from the
//! layout on a 64-bit target:
//!
//! * 64 bytes in its shard's entry vector (hash, `Box<str>` key,
//!   `Box<[u8]>` value, `u64` expiry, `u64` revision for compare-and-set
//!   whose top bit holds the segment, two `u32` links of the eviction list)
//!   and 9 bytes per slot of the shard's hash index (a `usize` and a
//!   control byte), whose load factor is at most 7/8; the entry vector's
//!   capacity follows the index's. That is about 74 bytes per session when
//!   a table is full, up to about 149 right after it doubled;
//! * the allocator's overhead on two allocations, the key's and the
//!   value's: with glibc, 8 to 23 bytes each.
//!
//! So some 90 to 195 bytes per session on top of its key and value
//! (capacity a table has not used yet is not resident).
//! [`MemoryStore::ENTRY_OVERHEAD`], what a session counts against the byte
//! budget besides its key and value, is the full-table figure plus 32 bytes
//! of allocator overhead. The repository's BENCHMARKS.md has the resident
//! memory measured per session.
//!
//! # Giving memory back
//!
//! Removing sessions frees their memory to the allocator, not to the
//! operating system, and glibc's `malloc` keeps freed small blocks for
//! reuse: a process that held 100,000 sessions would stay near its peak size
//! after they expired. So the background sweeper shrinks a shard's table
//! once it is an eighth full or less, and at the end of a pass over all
//! shards, once what it removed since it last did so adds up to at least
//! 1 MiB (keys, values and table space, estimated) and a table has shrunk
//! (the store holds far fewer sessions than it did), it asks the allocator
//! to return free memory to the operating system; and once more at the end
//! of the next pass that removes anything, since the last sessions of a
//! burst share pages with the first, which could not be returned while
//! they lived. Under steady churn no
//! table shrinks and nothing is asked: the freed room is what the next
//! sessions reuse. Only what the sweeper removes counts: the room that
//! `load`, `save` and `delete` free as they go is reused the same way.
//!
//! On Linux with glibc that is `malloc_trim(0)`, called on a tokio blocking
//! thread, since glibc locks each of its arenas in turn while it walks it,
//! holding up the threads that allocate from it. Without it, most of
//! what expired sessions took stays resident; the repository's
//! BENCHMARKS.md has the resident memory measured before, with and after
//! 100,000 sessions. `malloc_trim` leaves alone the free space at the end
//! of a thread's arena, so some can stay, depending on where that arena's
//! last live block lies. On other targets (musl, macOS, Windows) nothing is
//! called, and memory goes back as that allocator decides.
//!
//! # Owner indexes
//!
//! The store keeps owner indexes ([`SessionStore::owner_index`] is `true`)
//! in a map of their own, next to the shards, under one lock: an index is
//! a small map from session key to the layer's value and the session's
//! `until`. They count toward neither the capacity nor the byte budget;
//! each holds at most the `max` entries the layer asks for, an entry whose
//! `until` has passed is dropped whenever its index is touched, and the
//! sweeper drops such entries from every index, and the indexes left
//! empty, once every pass (4 seconds), so an index lives until its latest
//! entry's `until` and no longer. `index_list` gives each session's time
//! left by the store's own expiry (as a `load` sees it, without sliding
//! it), and drops the entries of sessions that are gone (expired, deleted
//! or evicted).
//!
//! `until` is Unix time, which the store reads from the system clock once,
//! when it is made, and counts on from there on its monotonic clock: an
//! index expires by the same clock as its sessions (so a paused tokio
//! clock pauses both), and a later step of the system clock is not seen.

#[cfg(feature = "metrics")]
mod gauges;
mod index;
mod shard;
mod sweeper;
#[cfg(test)]
mod tests;

use std::fmt;
use std::hash::BuildHasher;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use self::index::Indexes;
use self::shard::{Conditional, Shard};
use super::{
    redact_key, Expect, IndexEntry, SaveOutcome, SessionStore, StoreError, StoreFuture, Stored,
};

/// At most this many shards: a lock is held for one hash lookup and a copy,
/// so 32 makes contention negligible at the core counts this runs on.
const MAX_SHARDS: usize = 32;
/// Fewer shards for small stores: each shard evicts on its own, and its
/// choice is only as good as the shard is big.
const MIN_SESSIONS_PER_SHARD: usize = 256;
/// Fewer shards for small byte budgets: the largest value a store takes is
/// what one shard's share of the budget allows.
const MIN_BYTES_PER_SHARD: usize = 1 << 20;
/// The longest store key the layer makes (`prefix + id`, or the id's hash).
const MAX_KEY_LEN: usize = sessionkit_rules::MAX_KEY_LEN;

/// An in-memory, concurrent, bounded session store with real expiry.
///
/// Cloning is cheap and every clone shares the same sessions. See the
/// [module docs](self) for how expiry, capacity, eviction and memory work.
///
/// ```
/// use std::time::Duration;
/// use sessionkit::store::memory::MemoryStore;
/// use sessionkit::SessionStore;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), sessionkit::StoreError> {
/// let store = MemoryStore::new()
///     .with_capacity(100_000)
///     .with_max_bytes(64 << 20);
/// let ttl = Duration::from_secs(3600);
/// store.save("session:9ca69ea696434e99beff2880eb95116a", br#"{"n":1}"#, ttl).await?;
/// let value = store.load("session:9ca69ea696434e99beff2880eb95116a", ttl).await?;
/// assert_eq!(value.as_deref(), Some(&br#"{"n":1}"#[..]));
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

/// What every clone shares; the sweeper holds only a `Weak` to it.
struct Inner {
    /// Expiries are milliseconds since this instant.
    epoch: Instant,
    /// The system clock at `epoch`, in milliseconds since the Unix epoch:
    /// owner indexes count Unix time from it on the store's clock.
    unix_at_epoch: u64,
    /// The sum of the shards' capacities.
    capacity: usize,
    /// The sum of the shards' byte budgets.
    max_bytes: usize,
    /// The largest value every shard accepts under any key the layer makes.
    max_value_size: usize,
    /// Picks the shard; separate from the shards' own hashers so that the
    /// keys of one shard do not share hash bits their table relies on.
    shard_hasher: foldhash::fast::RandomState,
    shards: Box<[Mutex<Shard>]>,
    /// The owner indexes. Locked before a shard when both are, never
    /// while a shard is locked.
    indexes: Mutex<Indexes>,
    /// Whether a sweeper task is alive (or died of a panic: see `sweeper`).
    sweeper_running: AtomicBool,
    #[cfg(test)]
    sweeper_task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// How many times the sweeper asked the allocator to give memory back.
    #[cfg(test)]
    releases: std::sync::atomic::AtomicUsize,
}

impl MemoryStore {
    /// The capacity of a store made by [`new`](Self::new): one million
    /// sessions. By the layout (see the
    /// [module docs](self#memory-per-session)), that is some 130 to 235 MB
    /// plus the values, with sanic-session's 40-byte keys.
    ///
    /// ```
    /// use sessionkit::store::memory::MemoryStore;
    /// assert_eq!(MemoryStore::new().capacity(), MemoryStore::DEFAULT_CAPACITY);
    /// ```
    pub const DEFAULT_CAPACITY: usize = 1_000_000;

    /// The byte budget of a store made by [`new`](Self::new): 256 MiB.
    /// With small values (under about 120 bytes with a 40-byte key) the
    /// [`DEFAULT_CAPACITY`](Self::DEFAULT_CAPACITY) of one million sessions
    /// is reached first; with larger ones, this budget. Split among 32
    /// shards, it takes single values of up to about 8 MiB.
    ///
    /// ```
    /// use sessionkit::store::memory::MemoryStore;
    /// assert_eq!(MemoryStore::new().max_bytes(), MemoryStore::DEFAULT_MAX_BYTES);
    /// assert_eq!(MemoryStore::DEFAULT_MAX_BYTES, 256 * 1024 * 1024);
    /// ```
    pub const DEFAULT_MAX_BYTES: usize = 256 << 20;

    /// What one session counts against the byte budget besides its key and
    /// value bytes: 106 bytes, its share of its shard's table when the
    /// table is full (74 bytes on a 64-bit target) and the allocator's
    /// overhead on its key and value (32; see the
    /// [module docs](self#memory-per-session)).
    ///
    /// ```
    /// use std::time::Duration;
    /// use sessionkit::store::memory::MemoryStore;
    /// use sessionkit::SessionStore;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), sessionkit::StoreError> {
    /// let store = MemoryStore::new();
    /// let key = "session:9ca69ea696434e99beff2880eb95116a";
    /// store.save(key, b"{}", Duration::from_secs(60)).await?;
    /// assert_eq!(store.used_bytes(), key.len() + 2 + MemoryStore::ENTRY_OVERHEAD);
    /// # Ok(())
    /// # }
    /// ```
    pub const ENTRY_OVERHEAD: usize = shard::ENTRY_OVERHEAD;

    /// An empty store holding up to [`DEFAULT_CAPACITY`](Self::DEFAULT_CAPACITY)
    /// sessions and [`DEFAULT_MAX_BYTES`](Self::DEFAULT_MAX_BYTES) bytes.
    ///
    /// ```
    /// use sessionkit::store::memory::MemoryStore;
    /// let store = MemoryStore::new();
    /// assert!(store.is_empty());
    /// ```
    pub fn new() -> Self {
        MemoryStore {
            inner: Arc::new(Inner::new(
                Self::DEFAULT_CAPACITY,
                Self::DEFAULT_MAX_BYTES,
                Instant::now(),
                unix_ms_now(),
            )),
        }
    }

    /// Sets how many sessions the store holds at most; `0` is taken as `1`.
    ///
    /// The store is split into up to 32 shards by key hash, and the bound is
    /// kept per shard: `max_sessions` is divided among the shards (their
    /// shares differ by at most one and add up to `max_sessions`), so the
    /// store never holds more than `max_sessions` sessions, expired ones not
    /// yet reclaimed included. When a new session arrives in a full shard,
    /// the shard first removes expired entries it finds at its sweep cursor;
    /// if there are none, it evicts by its segmented LRU (see the
    /// [module docs](self#capacity-and-eviction)): the oldest session of its
    /// probation segment (sessions not read since they were created, and
    /// those protected pushed out), or, only when probation is empty, the
    /// least recently used one. Overwriting a session evicts
    /// nothing, unless its value grew past the byte budget
    /// ([`with_max_bytes`](Self::with_max_bytes)). Because random ids spread
    /// evenly but not exactly, one shard may start evicting while the store
    /// as a whole is still slightly (a few percent) below `max_sessions`.
    /// Stores of fewer than 512 sessions, or with a byte budget under 2 MiB,
    /// have a single shard; a shard holds at most 4,294,967,295 sessions.
    ///
    /// A builder: call it on a new store, before cloning it. The returned
    /// store keeps a copy of the sessions already in `self`, in their
    /// segments, copied shard by shard in eviction order, so that those that
    /// do not fit its new bounds are the ones each old shard would have
    /// evicted first; clones of `self` taken before do not share its state.
    ///
    /// ```
    /// use sessionkit::store::memory::MemoryStore;
    /// let store = MemoryStore::new().with_capacity(10_000);
    /// assert_eq!(store.capacity(), 10_000);
    /// assert_eq!(MemoryStore::new().with_capacity(0).capacity(), 1);
    /// ```
    pub fn with_capacity(self, max_sessions: usize) -> Self {
        let max_bytes = self.inner.max_bytes;
        self.rebuild(max_sessions.max(1), max_bytes)
    }

    /// Sets how many bytes the sessions may take at most, counting each as
    /// its key, its value and [`ENTRY_OVERHEAD`](Self::ENTRY_OVERHEAD).
    /// Default: [`DEFAULT_MAX_BYTES`](Self::DEFAULT_MAX_BYTES).
    ///
    /// Like the capacity, the budget is divided among the shards (shares
    /// differing by at most one byte), and each shard keeps its share:
    /// a save that would take its shard over it first evicts, by the same
    /// rule as for the capacity (expired sessions, then the oldest never
    /// read again, then the least recently used), until the new value fits;
    /// it never evicts the session it writes. The number of shards is
    /// lowered so that each has at least 1 MiB of the budget (down to one
    /// shard).
    ///
    /// A single value too large for its shard's share (key and overhead
    /// included) is refused: the save fails with a
    /// [permanent](crate::ErrorClass::Permanent) [`StoreError`] before
    /// anything is changed, and what the key held stays as it was. The
    /// largest value every key is sure to be taken with is what
    /// [`SessionStore::max_value_size`] answers, and the layer refuses a
    /// larger session itself, before calling the store.
    ///
    /// A builder like [`with_capacity`](Self::with_capacity): call it on a
    /// new store, before cloning it; the returned store keeps a copy of the
    /// sessions already in `self` that fit its new bounds, as
    /// [`with_capacity`](Self::with_capacity) does.
    ///
    /// ```
    /// use sessionkit::store::memory::MemoryStore;
    /// use sessionkit::SessionStore;
    ///
    /// let store = MemoryStore::new().with_max_bytes(64 << 20);
    /// assert_eq!(store.max_bytes(), 64 << 20);
    /// // 32 shards of 2 MiB, less a 250-byte key and the overhead.
    /// assert_eq!(
    ///     store.max_value_size(),
    ///     Some((2 << 20) - 250 - MemoryStore::ENTRY_OVERHEAD)
    /// );
    /// ```
    pub fn with_max_bytes(self, max_bytes: usize) -> Self {
        let capacity = self.inner.capacity;
        self.rebuild(capacity, max_bytes)
    }

    /// A store with these bounds holding a copy of this one's live
    /// sessions, each shard's oldest first, in their segments.
    fn rebuild(self, capacity: usize, max_bytes: usize) -> Self {
        let inner = Inner::new(
            capacity,
            max_bytes,
            self.inner.epoch,
            self.inner.unix_at_epoch,
        );
        let now = self.inner.now_ms();
        // The owner indexes are copied as they are: an entry of a session
        // the new bounds left out reads as gone, and goes, at the next list.
        *lock(&inner.indexes) = lock(&self.inner.indexes).clone();
        for shard in self.inner.shards.iter() {
            let shard = lock(shard);
            for (key, value, expires_at, protected) in shard.entries_oldest_first() {
                if expires_at > now {
                    inner
                        .shard(key)
                        .restore(key, value, now, expires_at, protected);
                }
            }
        }
        MemoryStore {
            inner: Arc::new(inner),
        }
    }

    /// The most sessions the store holds.
    ///
    /// ```
    /// use sessionkit::store::memory::MemoryStore;
    /// assert_eq!(MemoryStore::new().with_capacity(500).capacity(), 500);
    /// ```
    pub fn capacity(&self) -> usize {
        self.inner.capacity
    }

    /// The most bytes the sessions take, as
    /// [`with_max_bytes`](Self::with_max_bytes) counts them.
    ///
    /// ```
    /// use sessionkit::store::memory::MemoryStore;
    /// assert_eq!(MemoryStore::new().with_max_bytes(1 << 30).max_bytes(), 1 << 30);
    /// ```
    pub fn max_bytes(&self) -> usize {
        self.inner.max_bytes
    }

    /// How many bytes the sessions the store holds take, as
    /// [`with_max_bytes`](Self::with_max_bytes) counts them: for each, its
    /// key, its value and [`ENTRY_OVERHEAD`](Self::ENTRY_OVERHEAD). Expired
    /// sessions not yet reclaimed count too. A close snapshot under
    /// concurrent writes, like [`len`](Self::len).
    ///
    /// ```
    /// use sessionkit::store::memory::MemoryStore;
    /// assert_eq!(MemoryStore::new().used_bytes(), 0);
    /// ```
    pub fn used_bytes(&self) -> usize {
        self.inner.shards.iter().map(|s| lock(s).bytes()).sum()
    }

    /// How many sessions the store holds: live ones plus expired ones not
    /// yet reclaimed (a `load` of them, the write-path sweep or the
    /// background sweeper removes them).
    ///
    /// The shards are counted one after another, so under concurrent writes
    /// this is a close snapshot, not an exact count at one instant.
    ///
    /// ```
    /// use std::time::Duration;
    /// use sessionkit::store::memory::MemoryStore;
    /// use sessionkit::SessionStore;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), sessionkit::StoreError> {
    /// let store = MemoryStore::new();
    /// store.save("session:9ca69ea696434e99beff2880eb95116a", b"{}", Duration::from_secs(60)).await?;
    /// assert_eq!(store.len(), 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn len(&self) -> usize {
        self.inner.shards.iter().map(|s| lock(s).len()).sum()
    }

    /// Whether [`len`](Self::len) is zero.
    ///
    /// ```
    /// use sessionkit::store::memory::MemoryStore;
    /// assert!(MemoryStore::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.inner.shards.iter().all(|s| lock(s).len() == 0)
    }

    /// Starts the sweeper if needed; returns the clock reading.
    fn prepare(&self) -> u64 {
        sweeper::ensure_running(&self.inner);
        self.inner.now_ms()
    }
}

impl Default for MemoryStore {
    /// Same as [`MemoryStore::new`].
    ///
    /// ```
    /// use sessionkit::store::memory::MemoryStore;
    /// assert_eq!(MemoryStore::default().capacity(), MemoryStore::DEFAULT_CAPACITY);
    /// ```
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("capacity", &self.inner.capacity)
            .field("max_bytes", &self.inner.max_bytes)
            .field("shards", &self.inner.shards.len())
            .finish_non_exhaustive()
    }
}

/// The error of a save whose value does not fit its shard's byte budget.
fn too_large(key: &str, value: &[u8], shard: &Shard) -> StoreError {
    let limit = shard
        .max_bytes()
        .saturating_sub(key.len() + MemoryStore::ENTRY_OVERHEAD);
    StoreError::new(format!(
        "memory store: a value of {} bytes under key {} is over the {limit} bytes its byte budget allows under that key",
        value.len(),
        redact_key(key),
    ))
    .permanent()
}

// The work is synchronous and short (one locked hash-map operation), so each
// method computes its result and returns it ready: no allocation, no async
// state machine, and no lock is ever held across an await.
impl SessionStore for MemoryStore {
    fn load<'a>(&'a self, key: &'a str, ttl: Duration) -> StoreFuture<'a, Option<Vec<u8>>> {
        let now = self.prepare();
        let value = self.inner.shard(key).load(key, now, expiry(now, ttl));
        StoreFuture::ready(Ok(value.map(|(value, _)| value)))
    }

    fn load_versioned<'a>(
        &'a self,
        key: &'a str,
        ttl: Duration,
    ) -> StoreFuture<'a, Option<Stored>> {
        let now = self.prepare();
        let value = self.inner.shard(key).load(key, now, expiry(now, ttl));
        StoreFuture::ready(Ok(value.map(|(value, revision)| Stored {
            value,
            version: Some(revision),
        })))
    }

    fn save_if<'a>(
        &'a self,
        key: &'a str,
        value: &'a [u8],
        ttl: Duration,
        expect: Expect<'a>,
    ) -> StoreFuture<'a, SaveOutcome> {
        let now = self.prepare();
        let expected = match expect {
            Expect::Absent => None,
            Expect::Loaded { value, version } => Some((value, version)),
        };
        let mut shard = self.inner.shard(key);
        if !shard.fits(key, value) {
            return StoreFuture::ready(Err(too_large(key, value, &shard)));
        }
        // A zero ttl stores an entry that has already expired: it reads as
        // missing and the sweep reclaims it.
        let outcome = shard.save_if(key, value, expected, now, expiry(now, ttl));
        drop(shard);
        StoreFuture::ready(Ok(match outcome {
            Conditional::Saved(revision) => SaveOutcome::Saved {
                version: Some(revision),
            },
            Conditional::Exists => SaveOutcome::Exists,
            Conditional::Changed(value, revision) => SaveOutcome::Changed(Stored {
                value,
                version: Some(revision),
            }),
            Conditional::Gone => SaveOutcome::Gone,
        }))
    }

    fn compare_and_set(&self) -> bool {
        true
    }

    /// The largest value the byte budget takes under any key of up to 250
    /// bytes (the longest the layer makes): the smallest shard's share of
    /// [`max_bytes`](MemoryStore::max_bytes), less 250 and
    /// [`ENTRY_OVERHEAD`](MemoryStore::ENTRY_OVERHEAD). Under a shorter key
    /// a save takes a little more.
    fn max_value_size(&self) -> Option<usize> {
        Some(self.inner.max_value_size)
    }

    fn save<'a>(&'a self, key: &'a str, value: &'a [u8], ttl: Duration) -> StoreFuture<'a, ()> {
        let now = self.prepare();
        let mut shard = self.inner.shard(key);
        if !shard.fits(key, value) {
            return StoreFuture::ready(Err(too_large(key, value, &shard)));
        }
        if ttl.is_zero() {
            // Stored, it would already be expired.
            shard.delete(key);
        } else {
            shard.save(key, value, now, expiry(now, ttl));
        }
        StoreFuture::ready(Ok(()))
    }

    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
        self.prepare();
        self.inner.shard(key).delete(key);
        StoreFuture::ready(Ok(()))
    }

    fn immediate(&self, _: super::sealed::OnlyThisCrate) -> bool {
        true
    }

    fn name(&self) -> &'static str {
        "memory"
    }

    /// Always `Ok`: the sessions are in this process.
    fn ping(&self) -> StoreFuture<'_, ()> {
        StoreFuture::ready(Ok(()))
    }

    /// `true`: see [Owner indexes](self#owner-indexes).
    fn owner_index(&self) -> bool {
        true
    }

    fn index_add<'a>(
        &'a self,
        index: &'a str,
        key: &'a str,
        value: &'a [u8],
        until: u64,
        max: usize,
    ) -> StoreFuture<'a, Vec<String>> {
        self.prepare();
        let now = self.inner.unix_now_secs();
        let mut indexes = lock(&self.inner.indexes);
        let evicted = indexes
            .map
            .entry(index.into())
            .or_default()
            .add(key, value, until, max, now);
        indexes.drop_if_empty(index);
        StoreFuture::ready(Ok(evicted))
    }

    fn index_remove<'a>(&'a self, index: &'a str, keys: &'a [String]) -> StoreFuture<'a, ()> {
        self.prepare();
        let mut indexes = lock(&self.inner.indexes);
        if let Some(listed) = indexes.map.get_mut(index) {
            for key in keys {
                listed.entries.remove(key.as_str());
            }
        }
        indexes.drop_if_empty(index);
        StoreFuture::ready(Ok(()))
    }

    fn index_list<'a>(&'a self, index: &'a str) -> StoreFuture<'a, Vec<IndexEntry>> {
        let now = self.prepare();
        let unix_now = self.inner.unix_now_secs();
        let mut indexes = lock(&self.inner.indexes);
        let Some(listed) = indexes.live(index, unix_now) else {
            return StoreFuture::ready(Ok(Vec::new()));
        };
        let mut found = Vec::with_capacity(listed.entries.len());
        listed.entries.retain(|key, entry| {
            let remaining = self.inner.shard(key).remaining(key, now);
            if let Some(ms) = remaining {
                found.push(IndexEntry {
                    key: key.to_string(),
                    value: entry.value.to_vec(),
                    ttl: Duration::from_millis(ms),
                });
            }
            remaining.is_some()
        });
        indexes.drop_if_empty(index);
        StoreFuture::ready(Ok(found))
    }
}

impl Inner {
    fn new(capacity: usize, max_bytes: usize, epoch: Instant, unix_at_epoch: u64) -> Inner {
        let count = (capacity / MIN_SESSIONS_PER_SHARD)
            .min(max_bytes / MIN_BYTES_PER_SHARD)
            .clamp(1, MAX_SHARDS);
        // A power of two, so the shard index is a mask.
        let count = 1 << count.ilog2();
        let shards: Box<[Mutex<Shard>]> = (0..count)
            .map(|i| {
                let sessions = capacity / count + usize::from(i < capacity % count);
                let bytes = max_bytes / count + usize::from(i < max_bytes % count);
                Mutex::new(Shard::new(sessions, bytes))
            })
            .collect();
        // The last shard has the smallest shares.
        let smallest = lock(&shards[count - 1]);
        let max_value_size = smallest
            .max_bytes()
            .saturating_sub(MAX_KEY_LEN + MemoryStore::ENTRY_OVERHEAD);
        drop(smallest);
        Inner {
            epoch,
            unix_at_epoch,
            capacity: shards.iter().map(|s| lock(s).capacity()).sum(),
            max_bytes,
            max_value_size,
            shard_hasher: foldhash::fast::RandomState::default(),
            shards,
            indexes: Mutex::new(Indexes::default()),
            sweeper_running: AtomicBool::new(false),
            #[cfg(test)]
            sweeper_task: Mutex::new(None),
            #[cfg(test)]
            releases: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    fn shard(&self, key: &str) -> Locked<'_> {
        let index = match self.shards.len() {
            1 => 0,
            n => self.shard_hasher.hash_one(key) as usize & (n - 1),
        };
        tracked(lock(&self.shards[index]))
    }

    /// Milliseconds since the epoch.
    fn now_ms(&self) -> u64 {
        let elapsed = Instant::now().saturating_duration_since(self.epoch);
        u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
    }

    /// Seconds since the Unix epoch on the store's clock, for the `until`
    /// of owner index entries.
    fn unix_now_secs(&self) -> u64 {
        self.unix_at_epoch.saturating_add(self.now_ms()) / 1000
    }

    /// Drops the owner index entries whose `until` has passed, and the
    /// indexes left empty.
    fn sweep_indexes(&self) {
        let now = self.unix_now_secs();
        lock(&self.indexes).sweep(now);
    }
}

/// The system clock, in milliseconds since the Unix epoch (0 before it).
fn unix_ms_now() -> u64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}

/// When an entry touched at `now` with time to live `ttl` expires (rounding
/// the ttl up to whole milliseconds, so a nonzero ttl never expires at once).
fn expiry(now: u64, ttl: Duration) -> u64 {
    let ttl = u64::try_from(ttl.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX);
    now.saturating_add(ttl)
}

/// A locked shard: with the `metrics` feature, one whose changes reach
/// the memory gauges when it is unlocked.
#[cfg(feature = "metrics")]
type Locked<'a> = gauges::Tracked<'a>;
#[cfg(not(feature = "metrics"))]
type Locked<'a> = MutexGuard<'a, Shard>;

#[cfg(feature = "metrics")]
fn tracked(shard: MutexGuard<'_, Shard>) -> Locked<'_> {
    gauges::Tracked::new(shard)
}

#[cfg(not(feature = "metrics"))]
#[inline(always)]
fn tracked(shard: MutexGuard<'_, Shard>) -> Locked<'_> {
    shard
}

#[cfg(feature = "metrics")]
impl Drop for Inner {
    fn drop(&mut self) {
        gauges::forget(&mut self.shards);
    }
}

/// Locks a mutex, ignoring poisoning: nothing panics while holding a shard
/// lock short of an allocation failure, which leaves the map consistent, and
/// a store must fail with an error or not at all, never panic.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
