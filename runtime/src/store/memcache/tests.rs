//! Unit tests that need no server: keys, exptimes, server lists, the ring.
//! The commands are tested against real memcached servers in the
//! repository's `tests/memcache_store.rs`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::ring::Ring;
use super::{check_key, exptime, MemcacheStore, MemcacheStoreError};

const DAY: u64 = 86_400;

#[test]
fn exptime_is_relative_up_to_30_days_and_absolute_beyond() {
    let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    // One second more than asked: memcached's clock ticks once a second.
    assert_eq!(exptime(Duration::from_secs(3), now), 4);
    assert_eq!(exptime(Duration::from_millis(2500), now), 4);
    assert_eq!(exptime(Duration::ZERO, now), 1, "never 0 (never expires)");
    assert_eq!(exptime(Duration::from_secs(30 * DAY - 1), now), 2_592_000);
    // 30 days exactly (sanic-session's default) is one second too many to
    // stay relative.
    assert_eq!(
        exptime(Duration::from_secs(30 * DAY), now),
        1_800_000_000 + 2_592_001
    );
    assert_eq!(
        exptime(Duration::from_secs(31 * DAY), now),
        1_800_000_000 + 31 * DAY as u32 + 1
    );
    let late = UNIX_EPOCH + Duration::from_secs(i32::MAX as u64);
    assert_eq!(
        exptime(Duration::from_secs(400 * DAY), late),
        i32::MAX as u32
    );
    assert!(exptime(Duration::from_secs(31 * DAY), SystemTime::now()) > 1_700_000_000);
}

#[test]
fn keys_are_printable_ascii_without_spaces_up_to_250_bytes() {
    check_key("session:9ca69ea696434e99beff2880eb95116a").unwrap();
    check_key(&"k".repeat(250)).unwrap();
    for bad in [
        String::new(),
        "k".repeat(251),
        "session:a b".into(),
        "session:a\tb".into(),
        "a\r\nflush_all".into(),
        "a\0".into(),
        "a\x7f".into(),
        "sessión:1".into(),
    ] {
        match check_key(&bad) {
            Err(MemcacheStoreError::InvalidKey { key, .. }) => {
                assert!(
                    !key.contains('\r') && !key.contains('\n') && key.len() < 100,
                    "{key}"
                )
            }
            other => panic!("{bad:?}: {other:?}"),
        }
    }
}

#[test]
fn server_lists_are_checked() {
    let store =
        MemcacheStore::new([" 127.0.0.1:11211", "cache.internal:11212", "[::1]:11211"]).unwrap();
    assert_eq!(
        store.servers().collect::<Vec<_>>(),
        ["127.0.0.1:11211", "cache.internal:11212", "[::1]:11211"]
    );
    let addr: std::net::SocketAddr = "[::1]:11211".parse().unwrap();
    assert_eq!(
        MemcacheStore::new([addr]).unwrap().servers().next(),
        Some("[::1]:11211")
    );
    for bad in [
        &[][..],
        &["127.0.0.1"],
        &["127.0.0.1:0"],
        &["127.0.0.1:99999"],
        &[":11211"],
        &["::1:11211"],
        &["a b:1"],
        &["h:1", "h:1"],
    ] {
        let error = MemcacheStore::new(bad.iter()).unwrap_err();
        assert!(
            matches!(error, MemcacheStoreError::InvalidServer { .. }),
            "{bad:?}: {error}"
        );
    }
}

#[test]
fn builder_settings() {
    let store = MemcacheStore::new(["127.0.0.1:11211"]).unwrap();
    assert_eq!(store.timeout(), MemcacheStore::DEFAULT_TIMEOUT);
    assert!(MemcacheStore::DEFAULT_TIMEOUT <= Duration::from_secs(2));
    assert_eq!(store.pool_size(), MemcacheStore::DEFAULT_POOL_SIZE);
    let store = store
        .with_timeout(Duration::from_millis(10))
        .with_pool_size(0);
    assert_eq!(
        (store.timeout(), store.pool_size()),
        (Duration::from_millis(10), 1)
    );
    let shown = format!("{store:?}");
    assert!(shown.contains("127.0.0.1:11211"), "{shown}");
}

#[test]
fn ring_is_deterministic_and_balanced() {
    let servers = ["10.0.0.1:11211", "10.0.0.2:11211", "10.0.0.3:11211"];
    let ring = Ring::new(&servers);
    let again = Ring::new(&servers);
    let mut counts = [0usize; 3];
    for i in 0..30_000 {
        let key = format!("session:{i:032x}");
        let at = ring.server_for(key.as_bytes());
        assert_eq!(at, again.server_for(key.as_bytes()));
        counts[at] += 1;
    }
    for count in counts {
        assert!((7_000..13_000).contains(&count), "{counts:?}");
    }
    assert_eq!(Ring::new(&["only:1"]).server_for(b"x"), 0);
}
