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
//! # Capacity
//!
//! The store holds at most [`capacity`](MemoryStore::capacity) sessions
//! ([`MemoryStore::DEFAULT_CAPACITY`] unless set with
//! [`with_capacity`](MemoryStore::with_capacity)), counting expired ones not
//! yet reclaimed. A flood of new visitors never makes a request fail: it
//! evicts the least recently used sessions. See
//! [`with_capacity`](MemoryStore::with_capacity) for the exact rule.
//!
//! # Memory per session
//!
//! Each session costs its key and value bytes plus, computed from the
//! layout on a 64-bit target:
//!
//! * 56 bytes in its shard's entry vector (hash, `Box<str>` key,
//!   `Box<[u8]>` value, `u64` expiry, `u64` revision for compare-and-set)
//!   and 9 bytes per slot of the shard's hash index (a `usize` and a
//!   control byte), whose load factor is at most 7/8; the entry vector's
//!   capacity follows the index's. That is about 66 bytes per session when
//!   a table is full, up to about 133 right after it doubled;
//! * the allocator's overhead on two allocations, the key's and the
//!   value's: with glibc, 8 to 23 bytes each.
//!
//! So some 90 to 160 bytes per session on top of its key and value
//! (capacity a table has not used yet is not resident). The repository's
//! BENCHMARKS.md has the resident memory measured per session.
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
//! to return free memory to the operating system. Under steady churn no
//! table shrinks and nothing is asked: the freed room is what the next
//! sessions reuse. Only what the sweeper removes counts: the room that
//! `load`, `save` and `delete` free as they go is reused the same way.
//!
//! On Linux with glibc that is `malloc_trim(0)`, called on a tokio blocking
//! thread, since glibc locks each of its arenas in turn while it walks it
//! (well under a millisecond after 100,000 sessions expired; some 12 ms, for
//! nothing, when 100,000 of 1,000,000 expire at scattered places). Measured
//! with 100,000 sessions, resident memory goes from 5.2 MB to 19 MB and back
//! to 5.4 MB (15 MB without it). `malloc_trim` leaves alone the free space at
//! the end of a thread's arena, so some can stay: a few hundred KB to a few
//! MB, depending on where that arena's last live block lies. On other
//! targets (musl, macOS, Windows) nothing is called, and memory goes back as
//! that allocator decides.

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

use self::shard::{Conditional, Shard};
use super::{Expect, SaveOutcome, SessionStore, StoreFuture, Stored};

/// At most this many shards: a lock is held for one hash lookup and a copy,
/// so 32 makes contention negligible at the core counts this runs on.
const MAX_SHARDS: usize = 32;
/// Fewer shards for small stores: eviction samples within one shard, and
/// its choice is only as good as the shard is big.
const MIN_SESSIONS_PER_SHARD: usize = 256;

/// An in-memory, concurrent, bounded session store with real expiry.
///
/// Cloning is cheap and every clone shares the same sessions. See the
/// [module docs](self) for how expiry, capacity and memory work.
///
/// ```
/// use std::time::Duration;
/// use sessionkit::store::memory::MemoryStore;
/// use sessionkit::SessionStore;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), sessionkit::StoreError> {
/// let store = MemoryStore::new().with_capacity(100_000);
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
    capacity: usize,
    /// Picks the shard; separate from the shards' own hashers so that the
    /// keys of one shard do not share hash bits their table relies on.
    shard_hasher: foldhash::fast::RandomState,
    shards: Box<[Mutex<Shard>]>,
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
    /// sessions, about 150 MB with small values (see the
    /// [module docs](self#memory-per-session)).
    ///
    /// ```
    /// use sessionkit::store::memory::MemoryStore;
    /// assert_eq!(MemoryStore::new().capacity(), MemoryStore::DEFAULT_CAPACITY);
    /// ```
    pub const DEFAULT_CAPACITY: usize = 1_000_000;

    /// An empty store holding up to [`DEFAULT_CAPACITY`](Self::DEFAULT_CAPACITY)
    /// sessions.
    ///
    /// ```
    /// use sessionkit::store::memory::MemoryStore;
    /// let store = MemoryStore::new();
    /// assert!(store.is_empty());
    /// ```
    pub fn new() -> Self {
        MemoryStore {
            inner: Arc::new(Inner::new(Self::DEFAULT_CAPACITY, Instant::now())),
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
    /// if there are none, it evicts the session closest to expiry among 5
    /// sampled at random (Redis's approximated LRU: since every read slides
    /// the expiry, with one TTL for all sessions that is the least recently
    /// used one). So a flood of new visitors evicts old, idle sessions rather
    /// than failing requests or growing memory, and a session in use is very
    /// unlikely to go. Overwriting an existing session never evicts. Because
    /// random ids spread evenly but not exactly, one shard may start evicting
    /// while the store as a whole is still slightly (a few percent) below
    /// `max_sessions`. Stores of fewer than 512 sessions have a single shard.
    ///
    /// A builder: call it on a new store, before cloning it. The returned
    /// store keeps a copy of the sessions already in `self` (within its new
    /// capacity); clones of `self` taken before do not share its state.
    ///
    /// ```
    /// use sessionkit::store::memory::MemoryStore;
    /// let store = MemoryStore::new().with_capacity(10_000);
    /// assert_eq!(store.capacity(), 10_000);
    /// assert_eq!(MemoryStore::new().with_capacity(0).capacity(), 1);
    /// ```
    pub fn with_capacity(self, max_sessions: usize) -> Self {
        let inner = Inner::new(max_sessions.max(1), self.inner.epoch);
        let now = self.inner.now_ms();
        for shard in self.inner.shards.iter() {
            for (key, value, expires_at) in lock(shard).live_entries(now) {
                inner.shard(key).save(key, value, now, expires_at);
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
            .field("shards", &self.inner.shards.len())
            .finish_non_exhaustive()
    }
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
        // A zero ttl stores an entry that has already expired: it reads as
        // missing and the sweep reclaims it.
        let outcome = self
            .inner
            .shard(key)
            .save_if(key, value, expected, now, expiry(now, ttl));
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

    fn save<'a>(&'a self, key: &'a str, value: &'a [u8], ttl: Duration) -> StoreFuture<'a, ()> {
        let now = self.prepare();
        let mut shard = self.inner.shard(key);
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

    fn immediate(&self) -> bool {
        true
    }
}

impl Inner {
    fn new(capacity: usize, epoch: Instant) -> Inner {
        let count = (capacity / MIN_SESSIONS_PER_SHARD).clamp(1, MAX_SHARDS);
        // A power of two, so the shard index is a mask.
        let count = 1 << count.ilog2();
        let seeds = foldhash::fast::RandomState::default();
        let shards = (0..count)
            .map(|i| {
                let share = capacity / count + usize::from(i < capacity % count);
                Mutex::new(Shard::new(share, seeds.hash_one(i)))
            })
            .collect();
        Inner {
            epoch,
            capacity,
            shard_hasher: foldhash::fast::RandomState::default(),
            shards,
            sweeper_running: AtomicBool::new(false),
            #[cfg(test)]
            sweeper_task: Mutex::new(None),
            #[cfg(test)]
            releases: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    fn shard(&self, key: &str) -> MutexGuard<'_, Shard> {
        let index = match self.shards.len() {
            1 => 0,
            n => self.shard_hasher.hash_one(key) as usize & (n - 1),
        };
        lock(&self.shards[index])
    }

    /// Milliseconds since the epoch.
    fn now_ms(&self) -> u64 {
        let elapsed = Instant::now().saturating_duration_since(self.epoch);
        u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
    }
}

/// When an entry touched at `now` with time to live `ttl` expires (rounding
/// the ttl up to whole milliseconds, so a nonzero ttl never expires at once).
fn expiry(now: u64, ttl: Duration) -> u64 {
    let ttl = u64::try_from(ttl.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX);
    now.saturating_add(ttl)
}

/// Locks a mutex, ignoring poisoning: nothing panics while holding a shard
/// lock short of an allocation failure, which leaves the map consistent, and
/// a store must fail with an error or not at all, never panic.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
