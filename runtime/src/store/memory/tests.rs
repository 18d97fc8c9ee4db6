use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::time::advance;

use super::shard::{
    charge, Conditional, Entry, Shard, ENTRY_ALLOCATION_OVERHEAD, ENTRY_OVERHEAD,
    TABLE_BYTES_PER_SLOT,
};
use super::sweeper::FULL_PASS;
use super::{lock, MemoryStore};
use crate::store::{Expect, SaveOutcome, SessionStore, StoreError, StoreFuture};
use crate::ErrorClass;

const HOUR: Duration = Duration::from_secs(3600);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn key(i: usize) -> String {
    format!("session:{i:032x}")
}

/// One shard (capacity below 512), which the sweeper visits only every
/// `FULL_PASS`: what the read path does is not hidden by a sweep.
fn one_shard_store() -> MemoryStore {
    let store = MemoryStore::new().with_capacity(100);
    assert_eq!(store.inner.shards.len(), 1);
    store
}

/// Takes a store future's result at once, outside any runtime: memory
/// store futures are always ready.
fn ready_now<T>(future: StoreFuture<'_, T>) -> Result<T, StoreError> {
    match future.into_ready() {
        Ok(result) => result,
        Err(_) => panic!("memory store futures are always ready"),
    }
}

fn sweeper_running(store: &MemoryStore) -> bool {
    store.inner.sweeper_running.load(Ordering::Relaxed)
}

fn table_capacity(store: &MemoryStore) -> usize {
    let shards = store.inner.shards.iter();
    shards.map(|s| lock(s).table_capacity()).sum()
}

#[test]
fn entry_layout_matches_the_documented_overhead() {
    assert_eq!(size_of::<Entry>(), 40);
    assert_eq!(size_of::<Box<str>>(), 16);
    // An entry vector slot (hash, key, entry), and 8/7 of a 9-byte index
    // slot, rounded down.
    let slot = size_of::<u64>() + size_of::<Box<str>>() + size_of::<Entry>();
    assert_eq!(slot, 64);
    assert_eq!(TABLE_BYTES_PER_SLOT, slot + 9 * 8 / 7);
    assert_eq!(
        ENTRY_OVERHEAD,
        TABLE_BYTES_PER_SLOT + ENTRY_ALLOCATION_OVERHEAD
    );
    assert_eq!(MemoryStore::ENTRY_OVERHEAD, 106);
}

#[test]
fn a_full_sweep_reports_the_bytes_it_freed() {
    let mut shard = Shard::new(1_000, usize::MAX);
    for i in 0..100 {
        shard.save(&key(i), b"0123456789", 0, 10);
    }
    for i in 100..110 {
        shard.save(&key(i), b"live", 0, 1_000);
    }
    let table_before = shard.table_capacity();
    let swept = shard.sweep_all(10);
    let (freed, shrank) = (swept.freed, swept.shrank);
    let table_after = shard.table_capacity();
    shard.check();
    assert_eq!(shard.len(), 10);
    assert!(shrank && table_after < table_before, "table not shrunk");
    // Each removed entry: its key (40 bytes), its value (10) and 32 of
    // allocation overhead; each table slot given up: 74.
    assert_eq!(
        freed,
        100 * (40 + 10 + 32) + (table_before - table_after) * 74
    );
    // Nothing more expired: nothing freed, no shrink.
    let again = shard.sweep_all(10);
    assert_eq!((again.freed, again.shrank), (0, false));
}

#[tokio::test]
async fn save_load_delete_round_trip() {
    let store = MemoryStore::new();
    store.save(&key(1), b"one", HOUR).await.unwrap();
    assert_eq!(
        store.load(&key(1), HOUR).await.unwrap().as_deref(),
        Some(&b"one"[..])
    );

    store.save(&key(1), b"1", HOUR).await.unwrap();
    store.save(&key(2), b"two", HOUR).await.unwrap();
    assert_eq!(
        store.load(&key(1), HOUR).await.unwrap().as_deref(),
        Some(&b"1"[..])
    );
    assert_eq!(
        store.load(&key(2), HOUR).await.unwrap().as_deref(),
        Some(&b"two"[..])
    );
    assert_eq!(store.len(), 2);

    store.delete(&key(1)).await.unwrap();
    assert_eq!(store.load(&key(1), HOUR).await.unwrap(), None);
    assert_eq!(
        store.load(&key(2), HOUR).await.unwrap().as_deref(),
        Some(&b"two"[..])
    );
    assert_eq!(store.len(), 1);
}

#[tokio::test]
async fn clones_share_sessions() {
    let store = MemoryStore::new();
    let clone = store.clone();
    clone.save(&key(1), b"x", HOUR).await.unwrap();
    assert_eq!(
        store.load(&key(1), HOUR).await.unwrap().as_deref(),
        Some(&b"x"[..])
    );
}

#[tokio::test]
async fn missing_key_is_none_and_deleting_it_is_ok() {
    let store = MemoryStore::new();
    assert_eq!(store.load(&key(7), HOUR).await.unwrap(), None);
    store.delete(&key(7)).await.unwrap();
    assert!(store.is_empty());
}

#[tokio::test]
async fn save_with_zero_ttl_stores_nothing() {
    let store = MemoryStore::new();
    store.save(&key(1), b"x", HOUR).await.unwrap();
    store.save(&key(1), b"y", Duration::ZERO).await.unwrap();
    assert_eq!(store.load(&key(1), HOUR).await.unwrap(), None);
    assert!(store.is_empty());
}

#[tokio::test(start_paused = true)]
async fn expired_session_reads_as_missing_and_is_removed() {
    let store = one_shard_store();
    store.save(&key(1), b"short", ms(100)).await.unwrap();
    store.save(&key(2), b"long", ms(200)).await.unwrap();
    advance(ms(150)).await;
    assert_eq!(store.len(), 2, "nothing swept yet");
    assert_eq!(store.load(&key(1), ms(100)).await.unwrap(), None);
    assert_eq!(store.len(), 1, "the load removed the expired session");
    assert_eq!(
        store.load(&key(2), ms(200)).await.unwrap().as_deref(),
        Some(&b"long"[..])
    );
}

#[tokio::test(start_paused = true)]
async fn expiry_is_exact_to_the_millisecond() {
    let store = one_shard_store();
    store.save(&key(1), b"a", ms(100)).await.unwrap();
    store.save(&key(2), b"b", ms(100)).await.unwrap();
    advance(ms(99)).await;
    assert!(store.load(&key(1), ms(100)).await.unwrap().is_some());
    advance(ms(1)).await;
    assert_eq!(store.load(&key(2), ms(100)).await.unwrap(), None);
}

#[tokio::test(start_paused = true)]
async fn reads_slide_the_expiry() {
    let store = one_shard_store();
    store.save(&key(1), b"x", ms(100)).await.unwrap();
    for _ in 0..10 {
        advance(ms(60)).await;
        assert!(store.load(&key(1), ms(100)).await.unwrap().is_some());
    }
    // Slid to the ttl the read passes, even a longer one.
    assert!(store.load(&key(1), ms(1000)).await.unwrap().is_some());
    advance(ms(999)).await;
    assert!(store.load(&key(1), ms(100)).await.unwrap().is_some());
    advance(ms(101)).await;
    assert_eq!(store.load(&key(1), ms(100)).await.unwrap(), None);
}

#[tokio::test(start_paused = true)]
async fn sweeper_reclaims_unread_sessions_and_gives_memory_back() {
    let store = MemoryStore::new().with_capacity(100_000);
    assert_eq!(store.inner.shards.len(), 32);
    for i in 0..20_000 {
        store
            .save(&key(i), b"{}", Duration::from_secs(1))
            .await
            .unwrap();
    }
    assert_eq!(store.len(), 20_000);
    let table_before = table_capacity(&store);
    assert!(table_before >= 20_000);

    // No read, no write: only the sweeper can reclaim them.
    tokio::time::sleep(Duration::from_secs(1) + FULL_PASS + ms(500)).await;
    assert_eq!(store.len(), 0);
    let table_after = table_capacity(&store);
    assert!(
        table_after <= 32 * 64 && table_after < table_before / 4,
        "tables not shrunk: {table_before} -> {table_after}"
    );
}

fn releases(store: &MemoryStore) -> usize {
    store.inner.releases.load(Ordering::Relaxed)
}

#[tokio::test(start_paused = true)]
async fn memory_is_given_back_after_many_sessions_expired_and_once_more_for_the_last() {
    let store = MemoryStore::new().with_capacity(100_000);
    for i in 0..20_000 {
        store.save(&key(i), b"{}", ms(500)).await.unwrap();
    }
    // The first pass visits the first shards before the sessions expire:
    // it frees the others' (far over the threshold) and gives memory back.
    tokio::time::sleep(FULL_PASS + ms(100)).await;
    assert!(!store.is_empty());
    assert_eq!(releases(&store), 1);
    // The second frees the first shards' (under the threshold, but on the
    // same pages as the rest) and gives back once more; then nothing.
    tokio::time::sleep(FULL_PASS * 3).await;
    assert_eq!(store.len(), 0);
    assert_eq!(releases(&store), 2, "once more for the last, then no more");
}

#[tokio::test(start_paused = true)]
async fn memory_is_not_asked_back_under_steady_churn() {
    // Every second, 1,000 new sessions that live 5 s: 5,000 to 6,000 alive
    // at any time. Over 60 s the sweeper removes most of the 55,000 that
    // expire (saves sweep only 2 entries each), several MB; but no table
    // shrinks, so the room is reused rather than given back.
    let store = MemoryStore::new().with_capacity(100_000);
    let mut next = 0;
    for _ in 0..60 {
        for _ in 0..1_000 {
            store.save(&key(next), b"{}", ms(5_000)).await.unwrap();
            next += 1;
        }
        tokio::time::sleep(ms(1_000)).await;
    }
    assert!((5_000..12_000).contains(&store.len()), "{}", store.len());
    assert_eq!(releases(&store), 0);
}

#[test]
fn writes_reclaim_expired_sessions_without_a_runtime() {
    assert!(tokio::runtime::Handle::try_current().is_err());
    let store = MemoryStore::new().with_capacity(200);
    assert_eq!(store.inner.shards.len(), 1);
    for i in 0..50 {
        ready_now(store.save(&key(i), b"old", ms(20))).unwrap();
    }
    std::thread::sleep(ms(60));
    for i in 100..200 {
        ready_now(store.save(&key(i), b"new", HOUR)).unwrap();
    }
    assert!(!sweeper_running(&store));
    // 150 saved, within capacity: the 50 expired ones went on the write path.
    assert_eq!(store.len(), 100);
    for i in 100..200 {
        assert!(ready_now(store.load(&key(i), HOUR)).unwrap().is_some());
    }
}

#[tokio::test(start_paused = true)]
async fn flood_of_new_sessions_evicts_the_least_recently_used() {
    let store = one_shard_store();
    for i in 0..50 {
        store.save(&key(i), b"old", HOUR).await.unwrap();
    }
    let hot = key(usize::MAX);
    store.save(&hot, b"hot", HOUR).await.unwrap();
    let flood = 1_000..11_000;
    for i in flood.clone() {
        advance(ms(1)).await;
        store.save(&key(i), b"new", HOUR).await.unwrap();
        assert!(store.len() <= 100);
        advance(ms(1)).await;
        assert!(
            store.load(&hot, HOUR).await.unwrap().is_some(),
            "the session in use was evicted after {} new ones",
            i - flood.start
        );
    }
    assert_eq!(store.len(), 100);
    let mut old_left = 0;
    for i in 0..50 {
        old_left += usize::from(store.load(&key(i), HOUR).await.unwrap().is_some());
    }
    assert_eq!(old_left, 0, "idle sessions outlived the flood");
    let mut newest_left = 0;
    for i in flood.end - 20..flood.end {
        newest_left += usize::from(store.load(&key(i), HOUR).await.unwrap().is_some());
    }
    assert!(
        newest_left >= 15,
        "only {newest_left} of the 20 newest kept"
    );
}

#[tokio::test]
async fn capacity_bounds_a_sharded_store_exactly() {
    let store = MemoryStore::new().with_capacity(5_000);
    assert_eq!(store.inner.shards.len(), 16);
    for i in 0..20_000 {
        store.save(&key(i), b"{}", HOUR).await.unwrap();
    }
    // Every shard received far more than its share, so each is full.
    assert_eq!(store.len(), 5_000);
}

#[tokio::test]
async fn overwriting_at_capacity_never_evicts() {
    let store = one_shard_store();
    for i in 0..100 {
        store.save(&key(i), b"first", HOUR).await.unwrap();
    }
    for i in 0..100 {
        store.save(&key(i), b"second value", HOUR).await.unwrap();
    }
    assert_eq!(store.len(), 100);
    for i in 0..100 {
        let value = store.load(&key(i), HOUR).await.unwrap();
        assert_eq!(value.as_deref(), Some(&b"second value"[..]), "key {i}");
    }
}

#[tokio::test]
async fn zero_capacity_holds_one_session() {
    let store = MemoryStore::new().with_capacity(0);
    assert_eq!(store.capacity(), 1);
    store.save(&key(1), b"a", HOUR).await.unwrap();
    store.save(&key(2), b"b", HOUR).await.unwrap();
    assert_eq!(store.len(), 1);
    assert!(store.load(&key(2), HOUR).await.unwrap().is_some());
}

#[tokio::test]
async fn with_capacity_keeps_sessions_already_saved() {
    let store = MemoryStore::new();
    store.save(&key(1), b"kept", HOUR).await.unwrap();
    let store = store.with_capacity(10);
    assert_eq!(
        store.load(&key(1), HOUR).await.unwrap().as_deref(),
        Some(&b"kept"[..])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_tasks_see_consistent_data() {
    let store = MemoryStore::new();
    let tasks: Vec<_> = (0..8)
        .map(|t| {
            let store = store.clone();
            tokio::spawn(async move {
                for i in 0..500 {
                    let own = key(t * 1_000 + i);
                    let value = format!("{t}:{i}");
                    store.save(&own, value.as_bytes(), HOUR).await.unwrap();
                    let read = store.load(&own, HOUR).await.unwrap();
                    assert_eq!(read.as_deref(), Some(value.as_bytes()));

                    let shared = key(100_000 + i % 4);
                    store
                        .save(&shared, format!("task {t}").as_bytes(), HOUR)
                        .await
                        .unwrap();
                    if let Some(read) = store.load(&shared, HOUR).await.unwrap() {
                        assert!(read.starts_with(b"task "), "torn value {read:?}");
                    }
                    if i % 50 == 0 {
                        store.delete(&shared).await.unwrap();
                    }
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    for t in 0..8 {
        for i in 0..500 {
            let read = store.load(&key(t * 1_000 + i), HOUR).await.unwrap();
            assert_eq!(read.as_deref(), Some(format!("{t}:{i}").as_bytes()));
        }
    }
    assert!((4_000..=4_004).contains(&store.len()));
}

#[test]
fn concurrent_threads_see_consistent_data() {
    let store = MemoryStore::new().with_capacity(2_000);
    std::thread::scope(|scope| {
        for t in 0..4 {
            let store = store.clone();
            scope.spawn(move || {
                for i in 0..2_000 {
                    let own = key(t * 10_000 + i);
                    ready_now(store.save(&own, &i.to_le_bytes(), HOUR)).unwrap();
                    let shared = key(1_000_000 + i % 8);
                    ready_now(store.save(&shared, &[t as u8; 16], HOUR)).unwrap();
                    if let Some(read) = ready_now(store.load(&shared, HOUR)).unwrap() {
                        assert!(read.len() == 16 && read.iter().all(|&b| b == read[0]));
                    }
                    assert!(store.len() <= 2_000);
                }
            });
        }
    });
    // 8_008 distinct keys went into a store of 2_000.
    assert!(
        store.len() <= 2_000 && store.len() > 1_800,
        "{}",
        store.len()
    );
}

#[tokio::test(start_paused = true)]
async fn sweeper_ends_when_the_store_is_dropped() {
    let store = MemoryStore::new();
    store.save(&key(1), b"x", HOUR).await.unwrap();
    assert!(sweeper_running(&store));
    let task = lock(&store.inner.sweeper_task)
        .take()
        .expect("sweeper started");
    // Let it sweep a while, so it is past its start when the store goes.
    tokio::time::sleep(FULL_PASS).await;
    assert!(!task.is_finished());
    drop(store);
    tokio::time::timeout(FULL_PASS * 4, task)
        .await
        .expect("the sweeper outlived the store")
        .expect("the sweeper panicked");
}

#[test]
fn sweeper_restarts_in_a_new_runtime() {
    let store = MemoryStore::new();
    let runtime = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    };
    let first = runtime();
    // Inside an async block: the store does its work when called, and the
    // call must happen inside the runtime.
    first.block_on(async { store.save(&key(1), b"x", HOUR).await.unwrap() });
    assert!(sweeper_running(&store));
    drop(first);
    assert!(
        !sweeper_running(&store),
        "still marked running after its runtime ended"
    );
    runtime().block_on(async {
        store.load(&key(1), HOUR).await.unwrap();
        assert!(sweeper_running(&store));
    });
}

#[test]
fn a_runtime_without_timers_does_not_respawn_the_sweeper() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let store = MemoryStore::new();
    runtime.block_on(async {
        store.save(&key(1), b"x", HOUR).await.unwrap();
        let task = lock(&store.inner.sweeper_task)
            .take()
            .expect("sweeper started");
        assert!(task.await.unwrap_err().is_panic());
        store.save(&key(2), b"y", HOUR).await.unwrap();
        assert!(
            lock(&store.inner.sweeper_task).is_none(),
            "sweeper respawned"
        );
        assert!(store.load(&key(1), HOUR).await.unwrap().is_some());
    });
}

#[test]
fn conditional_saves_compare_the_revision_or_else_the_bytes() {
    let mut shard = Shard::new(100, usize::MAX);
    let k = key(1);
    let Conditional::Saved(first) = shard.save_if(&k, b"a", None, 0, 100) else {
        panic!("a free key is created")
    };
    assert!(matches!(
        shard.save_if(&k, b"x", None, 0, 100),
        Conditional::Exists
    ));
    let Conditional::Saved(second) = shard.save_if(&k, b"b", Some((b"a", Some(first))), 0, 100)
    else {
        panic!("the loaded revision is current")
    };
    assert!(second > first);
    match shard.save_if(&k, b"c", Some((b"a", Some(first))), 0, 100) {
        Conditional::Changed(value, revision) => {
            assert_eq!((value, revision), (b"b".to_vec(), second))
        }
        _ => panic!("a stale revision is refused with what the key holds"),
    }
    // Without a revision, the bytes decide.
    assert!(matches!(
        shard.save_if(&k, b"c", Some((b"a", None)), 0, 100),
        Conditional::Changed(..)
    ));
    assert!(matches!(
        shard.save_if(&k, b"c", Some((b"b", None)), 0, 100),
        Conditional::Saved(_)
    ));
    // Expired reads as gone for an update, and as free for a create.
    assert!(matches!(
        shard.save_if(&k, b"d", Some((b"c", None)), 100, 200),
        Conditional::Gone
    ));
    assert!(matches!(
        shard.save_if(&k, b"e", None, 100, 200),
        Conditional::Saved(_)
    ));
    // A key deleted and created again never gets back an old revision.
    shard.delete(&k);
    let Conditional::Saved(again) = shard.save_if(&k, b"a", None, 100, 200) else {
        panic!()
    };
    assert!(again > second);
    assert!(matches!(
        shard.save_if(&k, b"z", Some((b"a", Some(first))), 100, 200),
        Conditional::Changed(..)
    ));
}

/// `count` sessions, each read once after all were saved: what a visitor who
/// came back looks like to the store.
async fn returning_users(store: &MemoryStore, count: usize) {
    for i in 0..count {
        store.save(&key(i), b"user", HOUR).await.unwrap();
    }
    for i in 0..count {
        assert!(store.load(&key(i), HOUR).await.unwrap().is_some());
    }
}

#[tokio::test]
async fn sessions_read_again_survive_a_flood_of_twice_the_capacity() {
    let store = MemoryStore::new().with_capacity(1_000);
    assert!(store.inner.shards.len() > 1, "sharded, as in a real store");
    returning_users(&store, 100).await;
    for i in 1_000..3_000 {
        store.save(&key(i), b"{}", HOUR).await.unwrap();
    }
    assert_eq!(store.len(), 1_000, "the flood filled the store");
    for i in 0..100 {
        let value = store.load(&key(i), HOUR).await.unwrap();
        assert_eq!(value.as_deref(), Some(&b"user"[..]), "user {i} logged out");
    }
    for shard in store.inner.shards.iter() {
        lock(shard).check();
    }
}

#[tokio::test]
async fn a_conditional_write_of_a_loaded_session_counts_as_use() {
    let store = one_shard_store();
    for i in 0..10 {
        let created = store
            .save_if(&key(i), b"1", HOUR, Expect::Absent)
            .await
            .unwrap();
        let SaveOutcome::Saved { version } = created else {
            panic!("{created:?}")
        };
        let expect = Expect::Loaded {
            value: b"1",
            version,
        };
        let updated = store.save_if(&key(i), b"2", HOUR, expect).await.unwrap();
        assert!(matches!(updated, SaveOutcome::Saved { .. }), "{updated:?}");
    }
    for i in 1_000..1_300 {
        store.save(&key(i), b"{}", HOUR).await.unwrap();
    }
    for i in 0..10 {
        let value = store.load(&key(i), HOUR).await.unwrap();
        assert_eq!(value.as_deref(), Some(&b"2"[..]), "session {i} evicted");
    }
}

#[test]
fn protected_keeps_four_fifths_and_its_overflow_goes_back_to_probation() {
    let mut shard = Shard::new(10, usize::MAX);
    for i in 0..10 {
        shard.save(&key(i), b"v", 0, HOUR_MS);
    }
    // Read in order: protected takes 8, then 0 and 1, used least
    // recently, go back to probation.
    for i in 0..10 {
        assert!(shard.load(&key(i), 0, HOUR_MS).is_some());
        shard.check();
    }
    assert_eq!(shard.protected_len(), 8);
    for i in 100..120 {
        shard.save(&key(i), b"new", 0, HOUR_MS);
        shard.check();
    }
    assert!(shard.load(&key(0), 0, HOUR_MS).is_none());
    assert!(shard.load(&key(1), 0, HOUR_MS).is_none());
    for i in 2..10 {
        assert!(shard.load(&key(i), 0, HOUR_MS).is_some(), "{i} evicted");
    }
    // Probation kept the newest two.
    assert!(shard.load(&key(119), 0, HOUR_MS).is_some());
    assert!(shard.load(&key(118), 0, HOUR_MS).is_some());
    assert_eq!(shard.len(), 10);
}

const HOUR_MS: u64 = 3_600_000;

#[test]
fn reading_a_protected_session_makes_it_the_last_to_go() {
    // Room for 4 entries of a 1-byte value by the byte budget, none of
    // them in probation.
    let one = charge(key(0).len(), 1);
    let mut shard = Shard::new(100, 4 * one);
    for i in 0..4 {
        shard.save(&key(i), b"v", 0, HOUR_MS);
        shard.load(&key(i), 0, HOUR_MS);
    }
    // Now 0 is the most recently used, 1 the least.
    shard.load(&key(0), 0, HOUR_MS);
    shard.check();
    assert_eq!(shard.protected_len(), 4);
    // Probation is empty: a new entry evicts protected's least recently
    // used, then the new entry itself is probation's oldest.
    shard.save(&key(10), b"v", 0, HOUR_MS);
    shard.check();
    assert!(shard.load(&key(1), 0, HOUR_MS).is_none());
    shard.save(&key(11), b"v", 0, HOUR_MS);
    shard.check();
    assert!(shard.load(&key(10), 0, HOUR_MS).is_none());
    for i in [0, 2, 3, 11] {
        assert!(shard.load(&key(i), 0, HOUR_MS).is_some(), "{i} evicted");
    }
}

/// One shard holding exactly `sessions` sessions of `value_len` bytes under
/// [`key`]s by its byte budget, and a capacity far above that.
fn byte_bound_store(sessions: usize, value_len: usize) -> MemoryStore {
    let budget = sessions * (key(0).len() + value_len + MemoryStore::ENTRY_OVERHEAD);
    let store = MemoryStore::new().with_capacity(100).with_max_bytes(budget);
    assert_eq!(store.inner.shards.len(), 1);
    store
}

#[tokio::test]
async fn the_byte_budget_evicts_the_oldest_unread_sessions() {
    let store = byte_bound_store(10, 100);
    returning_users(&store, 3).await;
    let value = [b'x'; 100];
    for i in 100..120 {
        store.save(&key(i), &value, HOUR).await.unwrap();
        assert!(store.used_bytes() <= store.max_bytes());
    }
    // The users' values are 96 bytes shorter: room for 8 of the 100-byte
    // ones next to them.
    assert_eq!(store.len(), 11);
    for i in 0..3 {
        assert!(store.load(&key(i), HOUR).await.unwrap().is_some(), "{i}");
    }
    for i in 112..120 {
        assert!(store.load(&key(i), HOUR).await.unwrap().is_some(), "{i}");
    }
    lock(&store.inner.shards[0]).check();
}

#[tokio::test]
async fn a_value_that_grows_past_the_budget_evicts_others_not_itself() {
    let store = byte_bound_store(10, 100);
    let value = [b'x'; 100];
    for i in 0..10 {
        store.save(&key(i), &value, HOUR).await.unwrap();
    }
    // Key 5 (never read, in the middle of probation) grows by three
    // values' worth: the three oldest others go.
    let grown = [b'y'; 100 + 3 * (40 + 100 + MemoryStore::ENTRY_OVERHEAD)];
    store.save(&key(5), &grown, HOUR).await.unwrap();
    assert_eq!(store.len(), 7);
    assert_eq!(store.used_bytes(), store.max_bytes());
    let kept = store.load(&key(5), HOUR).await.unwrap();
    assert_eq!(kept.as_deref(), Some(&grown[..]));
    for i in 0..3 {
        assert_eq!(store.load(&key(i), HOUR).await.unwrap(), None, "{i}");
    }
    for i in [3, 4, 6, 7, 8, 9] {
        assert!(store.load(&key(i), HOUR).await.unwrap().is_some(), "{i}");
    }
    lock(&store.inner.shards[0]).check();
}

#[tokio::test]
async fn a_value_over_the_budget_is_refused_and_changes_nothing() {
    let store = byte_bound_store(10, 100);
    for i in 0..10 {
        store.save(&key(i), b"old", HOUR).await.unwrap();
    }
    let (len, used) = (store.len(), store.used_bytes());
    let huge = vec![b'x'; store.max_bytes()];
    let refused = store.save(&key(3), &huge, HOUR).await.unwrap_err();
    assert_eq!(refused.class(), ErrorClass::Permanent);
    let message = refused.to_string();
    assert!(message.contains(&huge.len().to_string()), "{message}");
    assert!(!message.contains(&key(3)), "whole key in {message}");
    assert!(message.contains("session:0000…"), "{message}");
    let expect = Expect::Loaded {
        value: b"old",
        version: None,
    };
    let refused = store.save_if(&key(3), &huge, HOUR, expect).await;
    assert_eq!(refused.unwrap_err().class(), ErrorClass::Permanent);
    let refused = store.save_if(&key(50), &huge, HOUR, Expect::Absent).await;
    assert_eq!(refused.unwrap_err().class(), ErrorClass::Permanent);
    // Not even a zero ttl (a delete) goes through.
    let refused = store.save(&key(3), &huge, Duration::ZERO).await;
    assert_eq!(refused.unwrap_err().class(), ErrorClass::Permanent);
    assert_eq!((store.len(), store.used_bytes()), (len, used));
    for i in 0..10 {
        let value = store.load(&key(i), HOUR).await.unwrap();
        assert_eq!(value.as_deref(), Some(&b"old"[..]), "{i}");
    }
}

#[tokio::test]
async fn max_value_size_is_what_a_longest_key_can_store() {
    let store = MemoryStore::new().with_capacity(100).with_max_bytes(4_096);
    let max = store.max_value_size().expect("a limit");
    assert_eq!(max, 4_096 - 250 - MemoryStore::ENTRY_OVERHEAD);
    let longest = format!("{}{:032x}", "p".repeat(250 - 32), 7);
    assert_eq!(longest.len(), 250);
    store.save(&longest, &vec![b'x'; max], HOUR).await.unwrap();
    assert_eq!(store.used_bytes(), store.max_bytes());
    let over = store.save(&longest, &vec![b'y'; max + 1], HOUR).await;
    assert_eq!(over.unwrap_err().class(), ErrorClass::Permanent);
    // A shorter key leaves room for a little more.
    store
        .save(&key(1), &vec![b'z'; max + 1], HOUR)
        .await
        .unwrap();
    assert_eq!(store.len(), 1, "the first value was evicted for it");
}

#[test]
fn the_default_budget_refuses_a_ten_megabyte_session() {
    let store = MemoryStore::new();
    assert_eq!(store.max_bytes(), 256 << 20);
    assert_eq!(store.inner.shards.len(), 32);
    let max = store.max_value_size().expect("a limit");
    assert_eq!(max, (8 << 20) - 250 - MemoryStore::ENTRY_OVERHEAD);
    let ten_mb = vec![b'x'; 10_000_000];
    let refused = ready_now(store.save(&key(1), &ten_mb, HOUR)).unwrap_err();
    assert_eq!(refused.class(), ErrorClass::Permanent);
    assert!(store.is_empty());
    ready_now(store.save(&key(1), &vec![b'x'; max], HOUR)).unwrap();
}

#[test]
fn small_byte_budgets_have_fewer_shards() {
    let shards = |store: MemoryStore| store.inner.shards.len();
    assert_eq!(shards(MemoryStore::new().with_max_bytes(64 << 20)), 32);
    assert_eq!(shards(MemoryStore::new().with_max_bytes(5 << 20)), 4);
    assert_eq!(shards(MemoryStore::new().with_max_bytes(1 << 20)), 1);
    assert_eq!(shards(MemoryStore::new().with_max_bytes(0)), 1);
    // Shares add up to the budget.
    let store = MemoryStore::new().with_max_bytes((5 << 20) + 3);
    let total: usize = store.inner.shards.iter().map(|s| lock(s).max_bytes()).sum();
    assert_eq!(total, (5 << 20) + 3);
    assert_eq!(store.max_bytes(), total);
}

#[test]
fn a_zero_budget_refuses_every_save() {
    let store = MemoryStore::new().with_max_bytes(0);
    assert_eq!(store.max_value_size(), Some(0));
    let refused = ready_now(store.save(&key(1), b"", HOUR)).unwrap_err();
    assert_eq!(refused.class(), ErrorClass::Permanent);
    assert!(store.is_empty());
}

#[tokio::test(start_paused = true)]
async fn used_bytes_counts_key_value_and_overhead() {
    let store = one_shard_store();
    let cost = |value_len: usize| 40 + value_len + MemoryStore::ENTRY_OVERHEAD;
    store.save(&key(1), b"abc", HOUR).await.unwrap();
    assert_eq!(store.used_bytes(), cost(3));
    store.save(&key(2), b"", ms(10)).await.unwrap();
    assert_eq!(store.used_bytes(), cost(3) + cost(0));
    store.save(&key(1), b"abcdefgh", HOUR).await.unwrap();
    assert_eq!(store.used_bytes(), cost(8) + cost(0));
    store.save(&key(1), b"a", HOUR).await.unwrap();
    assert_eq!(store.used_bytes(), cost(1) + cost(0));
    advance(ms(10)).await;
    assert_eq!(store.load(&key(2), HOUR).await.unwrap(), None);
    assert_eq!(store.used_bytes(), cost(1));
    store.delete(&key(1)).await.unwrap();
    assert_eq!(store.used_bytes(), 0);
}

#[tokio::test]
async fn rebuilding_keeps_which_sessions_were_in_use() {
    let store = one_shard_store();
    returning_users(&store, 10).await;
    for i in 100..190 {
        store.save(&key(i), b"{}", HOUR).await.unwrap();
    }
    let store = store.with_max_bytes(1 << 20).with_capacity(150);
    assert_eq!(store.len(), 100);
    for i in 1_000..1_300 {
        store.save(&key(i), b"{}", HOUR).await.unwrap();
    }
    for i in 0..10 {
        assert!(store.load(&key(i), HOUR).await.unwrap().is_some(), "{i}");
    }
}

#[tokio::test]
async fn rebuilding_into_a_smaller_store_keeps_the_most_recently_used() {
    let store = one_shard_store();
    for i in 0..100 {
        store.save(&key(i), b"{}", HOUR).await.unwrap();
    }
    let store = store.with_capacity(10);
    assert_eq!(store.len(), 10);
    for i in 90..100 {
        assert!(store.load(&key(i), HOUR).await.unwrap().is_some(), "{i}");
    }
    // A value too large for the new budget is left out.
    let store = MemoryStore::new().with_capacity(10);
    store.save(&key(1), &[b'x'; 2_000], HOUR).await.unwrap();
    store.save(&key(2), b"small", HOUR).await.unwrap();
    let store = store.with_max_bytes(1_000);
    assert_eq!(store.load(&key(1), HOUR).await.unwrap(), None);
    assert!(store.load(&key(2), HOUR).await.unwrap().is_some());
}

/// A tiny PRNG (xorshift64*), for the random operations below.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) % n
    }
}

#[test]
fn random_operations_keep_the_list_and_the_counts_consistent() {
    for seed in 1..=20_u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let capacity = 1 + rng.below(40) as usize;
        let max_bytes = 200 + rng.below(4_000) as usize;
        let mut shard = Shard::new(capacity, max_bytes);
        let mut now = 0;
        let mut model: std::collections::HashMap<String, (Vec<u8>, u64)> = Default::default();
        for step in 0..3_000 {
            let k = key(rng.below(60) as usize);
            let value = vec![b'v'; rng.below(300) as usize];
            let expires_at = now + 1 + rng.below(50);
            match rng.below(8) {
                0 | 1 => {
                    if shard.fits(&k, &value) {
                        let revision = shard.save(&k, &value, now, expires_at);
                        model.insert(k, (value, revision));
                    }
                }
                2 | 3 => {
                    let loaded = shard.load(&k, now, expires_at);
                    if let Some((bytes, revision)) = &loaded {
                        let (expected, expected_revision) = &model[&k];
                        assert_eq!((bytes, revision), (expected, expected_revision));
                    }
                }
                4 => {
                    let expected = model.get(&k).map(|(v, r)| (v.clone(), *r));
                    let expect = expected.as_ref().map(|(v, r)| (&v[..], Some(*r)));
                    if shard.fits(&k, &value) {
                        let outcome = shard.save_if(&k, &value, expect, now, expires_at);
                        if let Conditional::Saved(revision) = outcome {
                            model.insert(k, (value, revision));
                        }
                    }
                }
                5 => {
                    shard.delete(&k);
                    model.remove(&k);
                }
                6 => now += rng.below(20),
                _ => {
                    shard.sweep_all(now);
                }
            }
            shard.check();
            assert!(shard.len() <= capacity, "seed {seed} step {step}");
        }
    }
}

/// The store's Unix time, in seconds, as its owner indexes read it.
fn unix_now(store: &MemoryStore) -> u64 {
    store.inner.unix_now_secs()
}

fn index_count(store: &MemoryStore) -> usize {
    lock(&store.inner.indexes).map.len()
}

#[tokio::test(start_paused = true)]
async fn an_index_lists_live_sessions_with_their_ttl_and_forgets_gone_ones() {
    let store = one_shard_store();
    let (a, b) = (key(1), key(2));
    store.save(&a, b"{}", HOUR).await.unwrap();
    store.save(&b, b"{}", ms(1500)).await.unwrap();
    let until = unix_now(&store) + 3600;
    for k in [&a, &b] {
        let evicted = store.index_add("owner:u", k, b"v", until, 10).await;
        assert_eq!(evicted.unwrap(), Vec::<String>::new());
    }
    advance(ms(1000)).await;
    let mut listed = store.index_list("owner:u").await.unwrap();
    listed.sort_by(|x, y| x.key.cmp(&y.key));
    let ttls: Vec<_> = listed.iter().map(|e| (e.key.clone(), e.ttl)).collect();
    assert_eq!(ttls, [(a.clone(), HOUR - ms(1000)), (b.clone(), ms(500))]);
    // Listing reads the time left without sliding it.
    advance(ms(500)).await;
    let listed = store.index_list("owner:u").await.unwrap();
    assert_eq!(listed.len(), 1, "the session expired on the store's clock");
    assert_eq!(
        lock(&store.inner.indexes).entries(),
        1,
        "and left the index"
    );
    store.delete(&a).await.unwrap();
    assert!(store.index_list("owner:u").await.unwrap().is_empty());
    assert_eq!(index_count(&store), 0, "an index left empty is removed");
}

#[tokio::test(start_paused = true)]
async fn an_index_expires_at_its_latest_until_on_the_stores_clock() {
    let store = one_shard_store();
    let a = key(1);
    store.save(&a, b"{}", HOUR).await.unwrap();
    let until = unix_now(&store) + 10;
    store
        .index_add("owner:u", &a, b"v", until, 10)
        .await
        .unwrap();
    advance(Duration::from_secs(9)).await;
    assert_eq!(store.index_list("owner:u").await.unwrap().len(), 1);
    advance(Duration::from_secs(1)).await;
    assert!(store.index_list("owner:u").await.unwrap().is_empty());
    assert_eq!(index_count(&store), 0, "the index itself is gone");
}

#[tokio::test(start_paused = true)]
async fn the_sweeper_drops_indexes_nobody_touches_once_their_until_passed() {
    let store = one_shard_store();
    let now = unix_now(&store);
    store
        .index_add("owner:old", &key(1), b"v", now + 5, 10)
        .await
        .unwrap();
    store
        .index_add("owner:new", &key(2), b"v", now + 3600, 10)
        .await
        .unwrap();
    store
        .index_add("owner:mixed", &key(3), b"v", now + 5, 10)
        .await
        .unwrap();
    store
        .index_add("owner:mixed", &key(4), b"v", now + 3600, 10)
        .await
        .unwrap();
    assert_eq!(index_count(&store), 3);
    tokio::time::sleep(Duration::from_secs(6) + FULL_PASS).await;
    let indexes = lock(&store.inner.indexes);
    let mut names: Vec<_> = indexes.map.keys().map(|k| k.to_string()).collect();
    names.sort();
    assert_eq!(names, ["owner:mixed", "owner:new"]);
    assert_eq!(
        indexes.entries(),
        2,
        "the passed entry of the mixed index went too"
    );
}

#[test]
fn index_calls_are_ready_and_work_without_a_runtime() {
    let store = one_shard_store();
    let now = unix_now(&store);
    let evicted = ready_now(store.index_add("owner:u", &key(1), b"v", now + 60, 0));
    assert_eq!(
        evicted.unwrap(),
        [key(1)],
        "max 0 evicts even the new entry"
    );
    assert_eq!(
        index_count(&store),
        0,
        "and the index left empty is removed"
    );
    ready_now(store.index_add("owner:u", &key(1), b"v", now + 60, 1)).unwrap();
    ready_now(store.index_remove("owner:u", &[key(1)])).unwrap();
    assert_eq!(
        index_count(&store),
        0,
        "an index emptied by index_remove is removed"
    );
    assert!(ready_now(store.index_list("owner:u")).unwrap().is_empty());
    assert!(store.owner_index());
}

#[tokio::test]
async fn rebuilding_keeps_the_owner_indexes() {
    let store = MemoryStore::new();
    store.save(&key(1), b"{}", HOUR).await.unwrap();
    let until = unix_now(&store) + 60;
    store
        .index_add("owner:u", &key(1), b"v", until, 10)
        .await
        .unwrap();
    let rebuilt = store.clone().with_capacity(1000);
    let listed = rebuilt.index_list("owner:u").await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].value, b"v");
}
