use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::time::advance;

use super::shard::{Conditional, Entry, Shard};
use super::sweeper::FULL_PASS;
use super::{lock, MemoryStore};
use crate::store::{SessionStore, StoreError, StoreFuture};

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
    assert_eq!(size_of::<Entry>(), 32);
    assert_eq!(size_of::<Box<str>>(), 16);
}

#[test]
fn a_full_sweep_reports_the_bytes_it_freed() {
    let mut shard = Shard::new(1_000, 1);
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
    assert_eq!(shard.len(), 10);
    assert!(shrank && table_after < table_before, "table not shrunk");
    // Each removed entry: its key (40 bytes), its value (10) and 32 of
    // allocation overhead; each table slot given up: 66.
    assert_eq!(
        freed,
        100 * (40 + 10 + 32) + (table_before - table_after) * 66
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
async fn memory_is_given_back_once_after_many_sessions_expired() {
    let store = MemoryStore::new().with_capacity(100_000);
    for i in 0..20_000 {
        store.save(&key(i), b"{}", ms(500)).await.unwrap();
    }
    tokio::time::sleep(FULL_PASS * 3).await;
    assert_eq!(store.len(), 0);
    assert_eq!(
        releases(&store),
        1,
        "given back once, then nothing more to give"
    );
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
    let mut shard = Shard::new(100, 1);
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
