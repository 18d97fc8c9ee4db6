//! Once 100,000 sessions of the memory store expire, the process's resident
//! memory comes back to where it started: the sweeper removes them,
//! and glibc, which would keep the freed blocks for reuse, is asked to give
//! them back. A test binary of its own, so that the process holds nothing
//! else; only with glibc, the one allocator the store asks.

#![cfg(all(target_os = "linux", target_env = "gnu"))]

use std::time::{Duration, Instant};

use sessionkit::{MemoryStore, SessionStore};

const SESSIONS: usize = 100_000;
const TTL: Duration = Duration::from_secs(2);
/// The sweeper visits every shard once in this time.
const FULL_PASS: Duration = Duration::from_secs(4);

/// VmRSS of this process, KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find_map(|l| l.strip_prefix("VmRSS:"));
    let kib = line.and_then(|l| l.trim().strip_suffix("kB"));
    kib.and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmRSS in /proc/self/status:\n{status}"))
}

#[test]
fn memory_comes_back_after_sessions_expire() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let store = MemoryStore::new();
    let start = rss_kib();

    // On the worker, where a server's requests save them.
    let saver = store.clone();
    let saving = runtime.spawn(async move {
        for i in 0..SESSIONS {
            let key = format!("session:{i:032x}");
            saver
                .save(&key, br#"{"user":12345,"n":1}"#, TTL)
                .await
                .unwrap();
        }
    });
    runtime.block_on(saving).unwrap();
    let full = rss_kib();
    assert!(
        full >= start + 8 * 1024,
        "VmRSS {start} -> {full} KiB with {SESSIONS} sessions: too little to tell"
    );

    // Only the sweeper, on the runtime's worker, removes them.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !store.is_empty() {
        assert!(
            Instant::now() < deadline,
            "{} sessions left after 30 s",
            store.len()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The memory is given back at the end of a pass, on a blocking thread;
    // on a busy machine that may take a few passes, so wait for it, bounded.
    // The slack: code first run after the start reading, and what glibc's
    // `malloc_trim` does not touch, the free top of a thread's arena (some
    // 1 MB here). Without the trim, about 10 MB stay.
    let bound = start + start / 10 + 2048;
    let deadline = Instant::now() + 5 * FULL_PASS;
    std::thread::sleep(FULL_PASS + Duration::from_millis(500));
    let mut after = rss_kib();
    while after > bound && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(250));
        after = rss_kib();
    }
    assert!(
        after <= bound,
        "VmRSS {start} KiB at start, {full} KiB with {SESSIONS} sessions, \
         {after} KiB after they expired: the freed memory was not given back"
    );
}
