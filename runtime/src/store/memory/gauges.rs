//! The `sessionkit_memory_sessions` and `sessionkit_memory_bytes` gauges
//! (with the `metrics` feature): the sessions, and the bytes charged
//! against the byte budgets, of every memory store of the process.
//!
//! Each shard lock is taken through [`Tracked`], which notes the shard's
//! count and bytes when taken and adds the difference to the process-wide
//! totals when released; a dropped store takes its sessions off.

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::MutexGuard;

use super::shard::Shard;

static SESSIONS: AtomicI64 = AtomicI64::new(0);
static BYTES: AtomicI64 = AtomicI64::new(0);

/// A locked shard whose changes reach the gauges when it is unlocked.
pub(super) struct Tracked<'a> {
    shard: MutexGuard<'a, Shard>,
    len: usize,
    bytes: usize,
}

impl<'a> Tracked<'a> {
    pub(super) fn new(shard: MutexGuard<'a, Shard>) -> Self {
        let (len, bytes) = (shard.len(), shard.bytes());
        Tracked { shard, len, bytes }
    }
}

impl Deref for Tracked<'_> {
    type Target = Shard;
    fn deref(&self) -> &Shard {
        &self.shard
    }
}

impl DerefMut for Tracked<'_> {
    fn deref_mut(&mut self) -> &mut Shard {
        &mut self.shard
    }
}

impl Drop for Tracked<'_> {
    fn drop(&mut self) {
        let sessions = signed(self.shard.len()) - signed(self.len);
        let bytes = signed(self.shard.bytes()) - signed(self.bytes);
        add(sessions, bytes);
    }
}

fn signed(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Adds to the totals (a store dropped: negative) and sets the gauges.
pub(super) fn add(sessions: i64, bytes: i64) {
    if sessions == 0 && bytes == 0 {
        return;
    }
    let sessions = SESSIONS.fetch_add(sessions, Ordering::Relaxed) + sessions;
    let bytes = BYTES.fetch_add(bytes, Ordering::Relaxed) + bytes;
    // Name and labels as literals: the keys are statics, hashed once.
    metrics::gauge!("sessionkit_memory_sessions", "store" => "memory").set(sessions as f64);
    metrics::gauge!("sessionkit_memory_bytes", "store" => "memory").set(bytes as f64);
}

/// Takes a dropped store's sessions off the totals.
pub(super) fn forget(shards: &mut [std::sync::Mutex<Shard>]) {
    let (mut sessions, mut bytes) = (0, 0);
    for shard in shards {
        let shard = shard
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        sessions += signed(shard.len());
        bytes += signed(shard.bytes());
    }
    add(-sessions, -bytes);
}
