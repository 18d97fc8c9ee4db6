//! The background sweeper: one tokio task per store, started on first use
//! inside a runtime, that removes expired sessions nobody reads any more and
//! gives memory back: it shrinks tables that became mostly empty, and once it
//! has freed a lot it asks the allocator to return the freed memory to the
//! operating system.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use super::Inner;

/// How long the sweeper takes to visit every shard once. It visits one
/// shard at a time, so a request waits on a sweep of at most one shard.
pub(super) const FULL_PASS: Duration = Duration::from_secs(4);

/// How many bytes the sweeper must have freed before it asks the allocator
/// to give memory back, at the end of a pass: glibc keeps freed small blocks
/// for reuse, so without that a store that held many sessions keeps the
/// process's memory at its peak. Below this, what comes back is not worth
/// the walk over the heap. A shard's table must also have shrunk since (the
/// store holds far fewer sessions than it did): under steady churn the
/// freed room is what the next sessions reuse, and the walk (milliseconds
/// on a large heap, holding each arena's lock) would give back nothing.
const RELEASE_THRESHOLD: usize = 1 << 20;

/// Starts the sweeper unless one is running or there is no tokio runtime
/// here (then a later call, made inside a runtime, starts it).
pub(super) fn ensure_running(inner: &Arc<Inner>) {
    if inner.sweeper_running.load(Ordering::Relaxed) {
        return;
    }
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    if inner
        .sweeper_running
        .compare_exchange(false, true, Ordering::Relaxed, Ordering::Relaxed)
        .is_err()
    {
        return;
    }
    // At most 32 shards: the cast cannot truncate.
    let tick = FULL_PASS / inner.shards.len() as u32;
    let store = Arc::downgrade(inner);
    // The flag travels in the future from the start, so that it is cleared
    // even if the runtime shuts down before first polling the task.
    let task = runtime.spawn(run(RunningFlag(store.clone()), store, tick));
    #[cfg(test)]
    {
        *super::lock(&inner.sweeper_task) = Some(task);
    }
    #[cfg(not(test))]
    drop(task);
}

async fn run(_running: RunningFlag, store: Weak<Inner>, tick: Duration) {
    let mut next = 0;
    // Bytes freed since memory was last given back: counted across passes,
    // so that sessions expiring a few at a time are given back too.
    let mut freed = 0_usize;
    let mut shrank = false;
    // Set by a release: the sessions of one burst expire over some time,
    // and those the sweeper frees after the release share pages with what
    // it freed before, which glibc could then not give back. The next
    // pass that frees anything releases once more, whatever its amount.
    let mut follow_up = false;
    loop {
        tokio::time::sleep(tick).await;
        // Strong only for the sweep itself, so that dropping the last clone
        // of the store frees it and ends this task at the next tick.
        let Some(inner) = store.upgrade() else {
            return;
        };
        let now = inner.now_ms();
        let swept = super::tracked(super::lock(&inner.shards[next])).sweep_all(now);
        freed = freed.saturating_add(swept.freed);
        shrank |= swept.shrank;
        next = (next + 1) % inner.shards.len();
        if next == 0 {
            // Once a pass: owner indexes whose sessions can no longer live.
            inner.sweep_indexes();
        }
        let threshold = shrank && freed >= RELEASE_THRESHOLD;
        if next == 0 && (threshold || (follow_up && freed > 0)) {
            follow_up = threshold;
            freed = 0;
            shrank = false;
            #[cfg(test)]
            inner.releases.fetch_add(1, Ordering::Relaxed);
            // glibc locks and walks each arena in turn: on a blocking
            // thread, so that no request waits behind it on this worker.
            drop(tokio::task::spawn_blocking(
                sessionkit_trim::release_free_memory,
            ));
        }
    }
}

/// Clears `sweeper_running` when the task is dropped while the store lives
/// on, that is when its runtime shut down, so that the next call made in
/// another runtime starts a new sweeper there.
struct RunningFlag(Weak<Inner>);

impl Drop for RunningFlag {
    fn drop(&mut self) {
        // After a panic (a runtime without timers) the flag stays set: a new
        // task would only panic again, on every call.
        if std::thread::panicking() {
            return;
        }
        if let Some(inner) = self.0.upgrade() {
            inner.sweeper_running.store(false, Ordering::Relaxed);
        }
    }
}
