//! The memcached store against real `memcached` processes (started per test
//! on free loopback ports by `support::memcached`): the store conformance
//! suite (the `sessionkit-conformance` checks, and the rest in
//! `support::conformance`) on one server and on three, then what memcached adds: ketama, acknowledged
//! writes, value sizes, long expiries, safe keys, sanic-session's format,
//! outages, the class of each error, error messages without session ids,
//! and the round trips each kind of request costs.
//!
//! A few tests talk to a rogue server instead (`rogue::Rogue`, a loopback
//! listener answering what no memcached would) to show what the store does
//! with a faulty or hostile peer; the store itself is never mocked.
#![cfg(feature = "memcache")]

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::routing::get;
use axum::Router;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sessionkit::store::memcache::MemcacheStoreError;
use sessionkit::store::{Expect, SaveOutcome};
use sessionkit::{
    session_config, ErrorClass, MemcacheStore, Session, SessionId, SessionLayer, SessionStore,
    StoreError,
};

use support::memcached::{Memcached, Served};
use support::{capture_logs, serve, Browser};

const DAY: u64 = 86_400;
const TTL: Duration = Duration::from_secs(3600);

/// A store over `servers`, which stop when the test's last clone of it is dropped.
fn served(servers: Vec<Memcached>) -> Served<MemcacheStore> {
    let store = MemcacheStore::new(servers.iter().map(Memcached::addr)).unwrap();
    Served {
        store,
        kept: Arc::new(servers),
    }
}

/// A store over `n` fresh servers.
fn fresh(n: usize) -> Served<MemcacheStore> {
    served((0..n).map(|_| Memcached::start()).collect())
}

mod one {
    sessionkit_conformance::store_tests!(async { crate::fresh(1) });
    crate::conformance_tests!(|| async { crate::fresh(1) });
}

mod three {
    sessionkit_conformance::store_tests!(async { crate::fresh(3) });
    crate::conformance_tests!(|| async { crate::fresh(3) });
}

fn new_id() -> String {
    SessionId::generate().to_string()
}

/// The [`MemcacheStoreError`] a store call failed with.
fn cause(error: &StoreError) -> &MemcacheStoreError {
    std::error::Error::source(error)
        .and_then(|e| e.downcast_ref::<MemcacheStoreError>())
        .unwrap_or_else(|| panic!("not a memcached error: {error}"))
}

/// The counters that show which commands reached a server.
fn counters(server: &Memcached) -> BTreeMap<&'static str, u64> {
    let stats = server.stats();
    [
        "cmd_get",
        "get_hits",
        "cmd_touch",
        "touch_hits",
        "cmd_set",
        "cas_hits",
        "cas_misses",
        "cas_badval",
        "delete_hits",
        "delete_misses",
        "total_connections",
    ]
    .into_iter()
    .map(|name| (name, stats[name].parse().unwrap()))
    .collect()
}

/// `after - before`, without the zeros.
fn delta(
    before: &BTreeMap<&'static str, u64>,
    after: &BTreeMap<&'static str, u64>,
) -> BTreeMap<&'static str, u64> {
    after
        .iter()
        .map(|(&name, &n)| (name, n - before[name]))
        .filter(|&(_, n)| n > 0)
        .collect()
}

// ---------------------------------------------------------------------------
// Several servers

#[test]
fn adding_a_fourth_server_moves_about_a_quarter_of_the_keys() {
    let three = ["10.0.0.1:11211", "10.0.0.2:11211", "10.0.0.3:11211"];
    let four = [three[0], three[1], three[2], "10.0.0.4:11211"];
    let before = MemcacheStore::new(three).unwrap();
    let after = MemcacheStore::new(four).unwrap();
    let reordered = MemcacheStore::new([three[2], three[0], three[1]]).unwrap();
    let keys: Vec<String> = (0..10_000)
        .map(|_| format!("session:{}", new_id()))
        .collect();
    let mut moved = 0;
    for key in &keys {
        let server = before.server_for(key);
        assert_eq!(before.server_for(key), server, "same key, same server");
        assert_eq!(
            reordered.server_for(key),
            server,
            "the order does not matter"
        );
        if after.server_for(key) != server {
            assert_eq!(
                after.server_for(key),
                four[3],
                "keys only move to the new server"
            );
            moved += 1;
        }
    }
    let share = moved as f64 / keys.len() as f64;
    eprintln!(
        "adding a 4th server to 3 moved {:.1} % of 10,000 keys",
        share * 100.0
    );
    assert!((0.20..=0.30).contains(&share), "moved {share}");
}

#[tokio::test]
async fn each_session_is_on_the_server_ketama_names_and_only_there() {
    let store = fresh(3);
    let addr = serve(support::app::app(store.clone())).await;
    let mut per_server = BTreeMap::new();
    for _ in 0..30 {
        let mut browser = Browser::new(addr);
        assert_eq!(browser.get("/incr").await.body, "1");
        let key = format!("session:{}", browser.jar["session"]);
        let holders: Vec<String> = store
            .kept
            .iter()
            .filter(|s| s.get(&key).is_some())
            .map(Memcached::addr)
            .collect();
        assert_eq!(holders, [store.store.server_for(&key)], "{key}");
        *per_server.entry(holders[0].clone()).or_insert(0) += 1;
    }
    assert_eq!(per_server.len(), 3, "{per_server:?}");
}

#[tokio::test]
async fn with_one_of_three_servers_down_the_others_keep_working() {
    let mut servers: Vec<Memcached> = (0..3).map(|_| Memcached::start()).collect();
    let store = MemcacheStore::new(servers.iter().map(Memcached::addr)).unwrap();
    let addr = serve(support::app::app(store.clone())).await;
    let mut browsers = Vec::new();
    for _ in 0..30 {
        let mut browser = Browser::new(addr);
        assert_eq!(browser.get("/incr").await.body, "1");
        let server = store
            .server_for(&format!("session:{}", browser.jar["session"]))
            .to_string();
        browsers.push((server, browser));
    }
    let down = servers[1].addr();
    servers[1].stop();
    let (mut on_down, mut on_up) = (0, 0);
    for (server, browser) in &mut browsers {
        let reply = tokio::time::timeout(Duration::from_secs(10), browser.get("/incr"))
            .await
            .expect("no request hangs");
        if *server == down {
            assert_eq!(reply.status, 503, "{reply:?}");
            on_down += 1;
        } else {
            assert_eq!((reply.status, reply.body.as_str()), (200, "2"));
            on_up += 1;
        }
    }
    assert!(on_down > 0 && on_up > 0, "{on_down} {on_up}");
    servers[1].restart();
    for (server, browser) in &mut browsers {
        let reply = browser.get("/incr").await;
        // The restarted server is empty: its visitors start again.
        let want = if *server == down { "1" } else { "3" };
        assert_eq!((reply.status, reply.body.as_str()), (200, want));
    }
}

// ---------------------------------------------------------------------------
// Acknowledged writes

/// memcached's item size limit: `-I 1k` alone is refused, a smaller slab
/// chunk makes it accepted.
const SMALL_ITEMS: [&str; 4] = ["-I", "1k", "-o", "slab_chunk_max=512"];

#[tokio::test]
async fn a_session_over_the_item_size_limit_is_a_500_and_a_log_line() {
    let server = Memcached::start_with(&SMALL_ITEMS);
    let store = MemcacheStore::new([server.addr()]).unwrap();
    let addr = serve(support::app::app(store.clone())).await;
    let mut browser = Browser::new(addr);
    let big = "x".repeat(2048);
    let (reply, logs) = capture_logs(browser.get(&format!("/untyped/set/big/{big}"))).await;
    // Refused for its size: retrying cannot help.
    assert_eq!(reply.status, 500, "{reply:?}");
    assert!(!reply.sets("session"), "no cookie for a session not stored");
    assert!(
        logs.contains("ERROR") && logs.contains("SERVER_ERROR object too large for cache"),
        "{logs}"
    );
    assert_eq!(server.stat("store_too_large"), 1);
    assert_eq!(server.stat("curr_items"), 0, "nothing stored");

    // A session that grows past the limit: the write is refused and
    // reported, and the old value stays (a refused `cas` keeps it, unlike a
    // refused `set`).
    assert_eq!(browser.get("/untyped/set/small/1").await.status, 200);
    let key = format!("session:{}", browser.jar["session"]);
    assert!(server.get(&key).is_some());
    let (reply, logs) = capture_logs(browser.get(&format!("/untyped/set/big/{big}"))).await;
    assert_eq!(reply.status, 500, "{reply:?}");
    assert!(logs.contains("object too large"), "{logs}");
    assert_eq!(server.get(&key), Some((0, br#"{"small":1}"#.to_vec())));
    // Still logged in, with what was stored before.
    let reply = browser.get("/untyped").await;
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (200, r#"{"small":1}"#),
        "{reply:?}"
    );

    // The same through the store: the refusal is the error's source.
    let error = store.save(&key, big.as_bytes(), TTL).await.unwrap_err();
    match cause(&error) {
        MemcacheStoreError::Refused { command, reply, .. } => {
            assert_eq!(
                (*command, reply.as_str()),
                ("replace", "SERVER_ERROR object too large for cache")
            )
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(server.get(&key), Some((0, br#"{"small":1}"#.to_vec())));
    // The connection is still usable afterwards (or was replaced).
    store.save(&key, b"{\"n\":1}", TTL).await.unwrap();
    assert_eq!(
        store.load(&key, TTL).await.unwrap().as_deref(),
        Some(&b"{\"n\":1}"[..])
    );
}

#[tokio::test]
async fn store_calls_wait_for_the_answer() {
    let server = Memcached::start();
    let store = MemcacheStore::new([server.addr()]).unwrap();
    let key = format!("session:{}", new_id());
    assert_eq!(store.load(&key, TTL).await.unwrap(), None);
    store.delete(&key).await.unwrap(); // NOT_FOUND is fine
    store.save(&key, b"{\"n\":1}", TTL).await.unwrap();
    // Acknowledged: another connection sees it at once.
    assert_eq!(server.get(&key), Some((0, b"{\"n\":1}".to_vec())));
    store.delete(&key).await.unwrap();
    assert_eq!(server.get(&key), None);
    let stats = server.stats();
    assert_eq!(
        (&stats["delete_hits"][..], &stats["delete_misses"][..]),
        ("1", "1")
    );
}

// ---------------------------------------------------------------------------
// Expiry

session_config! {
    /// 31 days: over memcached's 30-day limit for a relative exptime.
    pub LONG {
        cookie_name: "long",
        prefix: "long:",
        expiry: 31 days,
    }
}

#[derive(Session, Serialize, Deserialize, Default, Debug)]
#[session(config = LONG)]
struct Long {
    n: i64,
}

async fn long_incr(mut long: Session<Long>) -> String {
    long.n += 1;
    long.n.to_string()
}

async fn long_get(long: Session<Long>) -> String {
    long.n.to_string()
}

#[tokio::test]
async fn expiries_over_30_days_are_sent_as_unix_times() {
    let server = Memcached::start();
    let store = MemcacheStore::new([server.addr()]).unwrap();
    let app = support::app::router()
        .route("/long/incr", get(long_incr))
        .route("/long", get(long_get))
        .layer(SessionLayer::new(store));
    let mut browser = Browser::new(serve(app).await);
    let close_to = |ttl: Option<i64>, days: u64| {
        let ttl = ttl.expect("the item exists") as u64;
        assert!(
            (days * DAY - 5..=days * DAY + 2).contains(&ttl),
            "{ttl} s left, want {days} days"
        );
    };

    assert_eq!(browser.get("/long/incr").await.body, "1");
    let key = format!("long:{}", browser.jar["long"]);
    close_to(server.ttl(&key), 31);
    // A read slides it with the same conversion.
    assert_eq!(browser.get("/long").await.body, "1");
    close_to(server.ttl(&key), 31);

    // 30 days, sanic-session's default: just over the limit once the store
    // adds its second for memcached's clock, so also a Unix time.
    assert_eq!(browser.get("/incr").await.body, "1");
    close_to(
        server.ttl(&format!("session:{}", browser.jar["session"])),
        30,
    );
    // Well under the limit: relative.
    assert_eq!(browser.get("/cart/add/1").await.body, "[1]");
    let cart = server
        .ttl(&format!("cart:{}", browser.jar["cart"]))
        .unwrap();
    assert!((3595..=3602).contains(&cart), "{cart}");
}

// ---------------------------------------------------------------------------
// Keys

#[tokio::test]
async fn hostile_cookies_never_reach_memcached() {
    let server = Memcached::start();
    let store = MemcacheStore::new([server.addr()]).unwrap();
    let addr = serve(support::app::app(store.clone())).await;
    let browser = Browser::new(addr);
    let id = new_id();
    let cookies = [
        format!("{} {}", &id[..16], &id[16..]),
        format!("{id} noreply"),
        format!("{id}\tflush_all"),
        format!("{id}\\r\\nflush_all"),
        format!("{id}%0d%0aflush_all"),
        format!("{id}%0D%0Adelete session:{id}"),
        format!("session:{id}"),
        "a".repeat(300),
        "0".repeat(300),
        format!("{id}{}", "f".repeat(268)),
        "get session:x\\r\\n".to_string(),
    ];
    let before = counters(&server);
    for cookie in &cookies {
        for path in ["/get", "/untyped", "/cart"] {
            let reply = browser
                .get_raw(path, &[format!("session={cookie}; cart={cookie}")])
                .await;
            assert_eq!(reply.status, 200, "{cookie:?} {path}");
            assert!(reply.set_cookies.is_empty(), "{cookie:?} {path}: {reply:?}");
        }
    }
    // One more connection: the `stats` that reads the counters.
    let after = counters(&server);
    assert_eq!(
        delta(&before, &after),
        BTreeMap::from([("total_connections", 1)])
    );

    // The store refuses such keys itself, before any I/O.
    for key in [
        format!("session:{id} noreply"),
        format!("session:{id}\r\nflush_all"),
        format!("session:{}", "a".repeat(300)),
        "session:é".to_string(),
    ] {
        let error = store.load(&key, TTL).await.unwrap_err();
        assert!(
            matches!(cause(&error), MemcacheStoreError::InvalidKey { .. }),
            "{error}"
        );
        let error = store.save(&key, b"{}", TTL).await.unwrap_err();
        assert!(
            matches!(cause(&error), MemcacheStoreError::InvalidKey { .. }),
            "{error}"
        );
        let error = store.delete(&key).await.unwrap_err();
        assert!(
            matches!(cause(&error), MemcacheStoreError::InvalidKey { .. }),
            "{error}"
        );
    }
    let last = counters(&server);
    assert_eq!(
        delta(&after, &last),
        BTreeMap::from([("total_connections", 1)])
    );

    // And the server answers normally.
    assert!(server.version().starts_with("VERSION 1."));
    let mut browser = Browser::new(addr);
    assert_eq!(browser.get("/incr").await.body, "1");
    assert_eq!(browser.get("/incr").await.body, "2");
}

// ---------------------------------------------------------------------------
// sanic-session's format

#[tokio::test]
async fn sanic_session_values_are_read_and_written_alike() {
    let server = Memcached::start();
    let store = MemcacheStore::new([server.addr()]).unwrap();
    let browser = Browser::new(serve(support::app::app(store)).await);
    // What sanic-session writes: flags 0, Python's json.dumps compacted,
    // with `/` and non-ASCII escaped.
    let id = new_id();
    let key = format!("session:{id}");
    let sanic = br#"{"n":2,"url":"a\/b","u":"\u00e9\u20ac"}"#;
    server.set(&key, 0, 3600, sanic);
    let cookie = [format!("session={id}")];

    let reply = browser.get_raw("/get", &cookie).await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "2"), "typed");
    assert_eq!(reply.cookie_value("session"), id, "the id is kept");
    let reply = browser.get_raw("/untyped", &cookie).await;
    let want = json!({"n": 2, "url": "a/b", "u": "é€"});
    assert_eq!(
        serde_json::from_str::<Value>(&reply.body).unwrap(),
        want,
        "untyped"
    );
    assert_eq!(
        server.get(&key),
        Some((0, sanic.to_vec())),
        "reads write nothing"
    );

    // What sessionkit writes back: flags 0, a compact JSON object that
    // Python's json.loads reads as the same object.
    assert_eq!(browser.get_raw("/incr", &cookie).await.body, "3");
    let (flags, raw) = server.get(&key).unwrap();
    assert_eq!(flags, 0);
    let text = std::str::from_utf8(&raw).unwrap();
    assert!(
        text.starts_with('{') && !text.contains(": ") && !text.contains(", "),
        "{text}"
    );
    assert_eq!(
        serde_json::from_str::<Value>(text).unwrap(),
        json!({"n": 3, "url": "a/b", "u": "é€"})
    );
}

// ---------------------------------------------------------------------------
// Outages

#[tokio::test]
async fn a_stopped_server_gives_503_and_a_restarted_one_serves_again() {
    let mut server = Memcached::start();
    let store = MemcacheStore::new([server.addr()]).unwrap();
    let mut browser = Browser::new(serve(support::app::app(store)).await);
    assert_eq!(browser.get("/incr").await.body, "1");
    assert_eq!(browser.get("/incr").await.body, "2");

    server.stop();
    for path in ["/incr", "/get", "/clear"] {
        let started = Instant::now();
        let (reply, logs) =
            tokio::time::timeout(Duration::from_secs(10), capture_logs(browser.get(path)))
                .await
                .expect("no request hangs");
        assert_eq!(reply.status, 503, "{path}: {reply:?}");
        assert!(
            started.elapsed() <= MemcacheStore::DEFAULT_TIMEOUT + Duration::from_millis(500),
            "{path} took {:?}",
            started.elapsed()
        );
        assert!(
            logs.contains("ERROR") && logs.contains("memcached"),
            "{logs}"
        );
    }

    // Same port, same app, same store: it works again (the restarted
    // server is empty, so the visitor starts over).
    server.restart();
    let reply = browser.get("/incr").await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "1"));
    assert_eq!(browser.get("/incr").await.body, "2");
}

#[tokio::test]
async fn a_stuck_server_times_out_and_its_connection_is_not_reused() {
    let server = Memcached::start();
    let timeout = Duration::from_millis(300);
    let store = MemcacheStore::new([server.addr()])
        .unwrap()
        .with_timeout(timeout)
        .with_pool_size(1);
    let mut browser = Browser::new(serve(support::app::app(store.clone())).await);
    assert_eq!(browser.get("/incr").await.body, "1");

    // The pooled connection's `gat` gets no answer in time.
    server.pause();
    let started = Instant::now();
    let reply = tokio::time::timeout(Duration::from_secs(10), browser.get("/get"))
        .await
        .expect("no request hangs");
    assert_eq!(reply.status, 503);
    assert!(started.elapsed() < timeout + Duration::from_millis(700));
    // A new connection (the kernel still accepts) gets no `version` answer either.
    let key = format!("session:{}", new_id());
    let error = tokio::time::timeout(Duration::from_secs(10), store.save(&key, b"{}", TTL))
        .await
        .expect("no call hangs")
        .unwrap_err();
    assert!(
        matches!(cause(&error), MemcacheStoreError::Timeout { .. }),
        "{error}"
    );
    server.resume();

    // memcached now answers the late `gat` on the abandoned connection;
    // nobody reads it: the next requests get their own answers on a new
    // connection.
    let before = settled_connections(&server);
    assert_eq!(browser.get("/incr").await.body, "2");
    assert_eq!(browser.get("/get").await.body, "2");
    assert_eq!(browser.get("/clear").await.body, "cleared");
    assert_eq!(browser.get("/get").await.body, "0");
    // The `stats` call itself, and one new connection for the store.
    assert_eq!(server.stat("total_connections") - before, 2);
}

/// `total_connections` once memcached, just resumed, has accepted what the
/// kernel queued for it while it was stopped (the timed-out client's
/// connection): read until a read adds only itself.
fn settled_connections(server: &Memcached) -> u64 {
    let mut last = server.stat("total_connections");
    for _ in 0..50 {
        std::thread::sleep(Duration::from_millis(20));
        let now = server.stat("total_connections");
        if now - last == 1 {
            return now;
        }
        last = now;
    }
    panic!("memcached's connection count never settled (last {last})");
}

// ---------------------------------------------------------------------------
// Round trips

/// What a request is, its path, and the counters it should move.
type Step = (&'static str, &'static str, &'static [(&'static str, u64)]);

#[tokio::test]
async fn round_trips_per_request_type() {
    let server = Memcached::start();
    let store = MemcacheStore::new([server.addr()]).unwrap();
    let mut browser = Browser::new(serve(support::app::app(store)).await);
    let mut table = Vec::new();
    let steps: [Step; 7] = [
        // `cmd_set` counts every storage command: the new visitor's `add`,
        // and the `cas` of a loaded session (also counted in `cas_hits`).
        ("new visitor (write)", "/incr", &[("cmd_set", 1)]),
        ("read-only", "/get", &[("cmd_touch", 1), ("touch_hits", 1)]),
        (
            "read-write",
            "/incr",
            &[
                ("cmd_touch", 1),
                ("touch_hits", 1),
                ("cmd_set", 1),
                ("cas_hits", 1),
            ],
        ),
        (
            "cycle_id + write",
            "/login/ada",
            &[
                ("cmd_touch", 1),
                ("touch_hits", 1),
                ("cmd_set", 1),
                ("delete_hits", 1),
            ],
        ),
        (
            "destroy",
            "/clear",
            &[("cmd_touch", 1), ("touch_hits", 1), ("delete_hits", 1)],
        ),
        ("no session extracted", "/none", &[]),
        ("new visitor, read-only", "/get", &[]),
    ];
    // The store's connections: open after every step that used the store.
    // (memcached's own connection count would also count a stray connection
    // of another test's store to a port it just gave up.)
    let mut kept: Option<BTreeSet<String>> = None;
    for (what, path, want) in steps {
        let before = counters(&server);
        let reply = browser.get(path).await;
        assert_eq!(reply.status, 200, "{what}");
        let mut got = delta(&before, &counters(&server));
        got.remove("total_connections");
        if !got.is_empty() {
            let open = server.client_addresses();
            kept = Some(match kept {
                None => open,
                Some(kept) => kept.intersection(&open).cloned().collect(),
            });
        }
        let want: BTreeMap<&str, u64> = want.iter().copied().collect();
        assert_eq!(got, want, "{what} ({path})");
        let trips = got.get("cmd_touch").unwrap_or(&0)
            + got.get("cmd_set").unwrap_or(&0)
            + got.get("delete_hits").unwrap_or(&0)
            + got.get("delete_misses").unwrap_or(&0);
        table.push(format!(
            "{what:<24} {path:<11} {trips} round trip(s): {got:?}"
        ));
    }
    let kept = kept.expect("the store was used");
    assert_eq!(
        kept.len(),
        1,
        "one pooled connection for all of them: {kept:?}"
    );
    eprintln!("{}", table.join("\n"));
}

#[tokio::test]
async fn example_style_router_works() {
    // The README's and the example's shape: a store from a comma-separated list.
    let servers = [Memcached::start(), Memcached::start()];
    let list = format!("{},{}", servers[0].addr(), servers[1].addr());
    let store = MemcacheStore::new(list.split(',')).unwrap();
    let app: Router = support::app::router().layer(SessionLayer::new(store));
    let mut browser = Browser::new(serve(app).await);
    for n in 1..=3 {
        assert_eq!(browser.get("/incr").await.body, n.to_string());
    }
}

#[tokio::test]
async fn a_commit_finishes_after_the_client_hangs_up() {
    let server = Memcached::start();
    let store = MemcacheStore::new([server.addr()])
        .unwrap()
        .with_timeout(Duration::from_secs(5));
    support::conformance::a_commit_finishes_after_the_client_hangs_up(
        store,
        || server.pause(),
        || server.resume(),
    )
    .await;
}

// ---------------------------------------------------------------------------
// Value sizes

#[tokio::test]
async fn a_save_the_server_refuses_for_its_size_leaves_the_stored_session() {
    // The store's limit (about 1 MiB) is over this server's (1 KiB items):
    // the value is sent, and refused.
    let server = Memcached::start_with(&SMALL_ITEMS);
    let store = MemcacheStore::new([server.addr()]).unwrap();
    let key = format!("session:{}", new_id());
    store.save(&key, br#"{"user":7}"#, TTL).await.unwrap();
    let big = format!(r#"{{"big":"{}"}}"#, "x".repeat(2000));
    let error = store.save(&key, big.as_bytes(), TTL).await.unwrap_err();
    let chain = support::chain(&error);
    assert!(chain.contains("object too large"), "{chain}");
    assert_eq!(error.class(), ErrorClass::Permanent);
    // Not logged out: the session is as it was.
    assert_eq!(
        store.load(&key, TTL).await.unwrap().as_deref(),
        Some(&br#"{"user":7}"#[..])
    );
    assert_eq!(server.get(&key), Some((0, br#"{"user":7}"#.to_vec())));

    // A key that holds nothing stays empty, and a value that fits is saved.
    let free = format!("session:{}", new_id());
    let error = store.save(&free, big.as_bytes(), TTL).await.unwrap_err();
    assert_eq!(error.class(), ErrorClass::Permanent);
    assert_eq!(store.load(&free, TTL).await.unwrap(), None);
    store.save(&key, br#"{"user":8}"#, TTL).await.unwrap();
    store.save(&free, br#"{"user":9}"#, TTL).await.unwrap();
    assert_eq!(server.get(&key), Some((0, br#"{"user":8}"#.to_vec())));
    assert_eq!(server.get(&free), Some((0, br#"{"user":9}"#.to_vec())));
}

#[tokio::test]
async fn a_value_over_the_store_limit_is_refused_before_any_io() {
    let server = Memcached::start();
    let store = MemcacheStore::new([server.addr()])
        .unwrap()
        .with_max_value_size(1000);
    assert_eq!(store.max_value_size(), 1000);
    // What the layer reads to refuse a larger session itself.
    assert_eq!(SessionStore::max_value_size(&store), Some(1000));
    let key = format!("session:{}", new_id());
    let small = vec![b'a'; 1000];
    store.save(&key, &small, TTL).await.unwrap();
    let stored = store.load_versioned(&key, TTL).await.unwrap().unwrap();

    let big = vec![b'b'; 1001];
    let before = counters(&server);
    let loaded = Expect::Loaded {
        value: &stored.value,
        version: stored.version,
    };
    let errors = [
        store.save(&key, &big, TTL).await.unwrap_err(),
        store.save_if(&key, &big, TTL, loaded).await.unwrap_err(),
        store
            .save_if(&key, &big, TTL, Expect::Absent)
            .await
            .unwrap_err(),
    ];
    for error in &errors {
        assert!(
            matches!(
                cause(error),
                MemcacheStoreError::ValueTooLarge {
                    size: 1001,
                    max: 1000
                }
            ),
            "{error}"
        );
        assert_eq!(error.class(), ErrorClass::Permanent);
        assert_eq!(
            support::chain(&error),
            "memcached: the session is 1001 bytes encoded, over the limit of 1000 bytes; nothing was sent"
        );
    }
    // Nothing reached the server: only the `stats` connection that reads
    // the counters.
    assert_eq!(
        delta(&before, &counters(&server)),
        BTreeMap::from([("total_connections", 1)])
    );
    assert_eq!(store.load(&key, TTL).await.unwrap(), Some(small));
}

#[tokio::test]
async fn the_default_limit_fits_a_default_memcached_under_the_longest_key() {
    let server = Memcached::start();
    let store = MemcacheStore::new([server.addr()]).unwrap();
    let max = MemcacheStore::DEFAULT_MAX_VALUE_SIZE;
    assert_eq!(store.max_value_size(), max);
    let key = format!("{}{}", "p".repeat(250 - 32), new_id());
    assert_eq!(key.len(), 250);
    let value = vec![b'v'; max];
    store.save(&key, &value, TTL).await.unwrap();
    assert_eq!(store.load(&key, TTL).await.unwrap(), Some(value.clone()));
    let stored = store.load_versioned(&key, TTL).await.unwrap().unwrap();
    let outcome = store.save_if(
        &key,
        &value,
        TTL,
        Expect::Loaded {
            value: &stored.value,
            version: stored.version,
        },
    );
    assert_eq!(outcome.await.unwrap(), SaveOutcome::Saved { version: None });
    let error = store
        .save(&key, &vec![b'v'; max + 1], TTL)
        .await
        .unwrap_err();
    assert!(
        matches!(cause(&error), MemcacheStoreError::ValueTooLarge { .. }),
        "{error}"
    );
}

#[tokio::test]
async fn a_stored_value_over_the_store_limit_is_not_read() {
    let server = Memcached::start();
    let key = format!("session:{}", new_id());
    server.set(&key, 0, 3600, &vec![b'x'; 5000]);
    let store = MemcacheStore::new([server.addr()])
        .unwrap()
        .with_max_value_size(1000)
        .with_pool_size(1);
    let before = server.stat("total_connections");
    for _ in 0..2 {
        let error = store.load(&key, TTL).await.unwrap_err();
        assert!(
            matches!(cause(&error), MemcacheStoreError::Protocol { .. }),
            "{error}"
        );
        let chain = support::chain(&error);
        assert!(
            chain.contains(
                "a value of 5000 bytes announced, over the store's maximum value size of 1000"
            ),
            "{chain}"
        );
        assert_eq!(error.class(), ErrorClass::Permanent);
    }
    // Each error closed its connection (the value is still unread on it):
    // two connections, and the `stat` one.
    assert_eq!(server.stat("total_connections") - before, 3);
    let other = format!("session:{}", new_id());
    store.save(&other, b"{}", TTL).await.unwrap();
    assert_eq!(
        store.load(&other, TTL).await.unwrap().as_deref(),
        Some(&b"{}"[..])
    );
}

// ---------------------------------------------------------------------------
// Error classes

#[tokio::test]
async fn store_errors_are_transient_or_permanent() {
    // Down: transient, for every call, on a pooled connection or a new one.
    let mut server = Memcached::start();
    let store = MemcacheStore::new([server.addr()]).unwrap();
    let key = format!("session:{}", new_id());
    store.save(&key, b"{}", TTL).await.unwrap();
    server.stop();
    for _ in 0..2 {
        let errors = [
            store.load(&key, TTL).await.unwrap_err(),
            store.save(&key, b"{}", TTL).await.unwrap_err(),
            store.delete(&key).await.unwrap_err(),
            store
                .save_if(&key, b"{}", TTL, Expect::Absent)
                .await
                .unwrap_err(),
        ];
        for error in errors {
            assert!(
                matches!(
                    cause(&error),
                    MemcacheStoreError::Connect { .. } | MemcacheStoreError::Io { .. }
                ),
                "{error}"
            );
            assert_eq!(error.class(), ErrorClass::Transient, "{error}");
        }
    }

    // Refused for its size, or by the store's own limit: permanent.
    let small = Memcached::start_with(&SMALL_ITEMS);
    let store = MemcacheStore::new([small.addr()]).unwrap();
    let error = store.save(&key, &[b'x'; 2000], TTL).await.unwrap_err();
    assert!(
        matches!(cause(&error), MemcacheStoreError::Refused { .. }),
        "{error}"
    );
    assert_eq!(error.class(), ErrorClass::Permanent);
    let error = store
        .clone()
        .with_max_value_size(10)
        .save(&key, &[b'x'; 11], TTL)
        .await
        .unwrap_err();
    assert_eq!(error.class(), ErrorClass::Permanent);
    // A key memcached cannot carry: permanent.
    let error = store.load("session:a b", TTL).await.unwrap_err();
    assert_eq!(error.class(), ErrorClass::Permanent);

    // What a server says of itself: out of memory is transient, a client
    // error permanent.
    for (reply, class) in [
        (
            "SERVER_ERROR out of memory storing object",
            ErrorClass::Transient,
        ),
        (
            "CLIENT_ERROR bad command line format",
            ErrorClass::Permanent,
        ),
    ] {
        let rogue = rogue::Rogue::start(move |line| match line {
            "version" => rogue::Reply::line("VERSION 1.6.18"),
            _ => rogue::Reply::line(reply),
        })
        .await;
        let store = MemcacheStore::new([rogue.addr.as_str()]).unwrap();
        let error = store.load(&key, TTL).await.unwrap_err();
        assert!(
            matches!(cause(&error), MemcacheStoreError::Refused { .. }),
            "{error}"
        );
        assert_eq!(error.class(), class, "{error}");
    }
}

// ---------------------------------------------------------------------------
// A rogue server

/// A server that speaks just enough memcached to be connected to, then
/// answers what no memcached would.
mod rogue {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    use tokio::net::TcpListener;

    /// What the server sends for a command line.
    pub enum Reply {
        /// These bytes.
        Bytes(Vec<u8>),
        /// Bytes without a newline, until the client hangs up.
        Endless,
    }

    impl Reply {
        /// `line` and `\r\n`.
        pub fn line(line: &str) -> Reply {
            Reply::Bytes(format!("{line}\r\n").into_bytes())
        }
    }

    /// A rogue server on a loopback port, for as long as the test's runtime.
    pub struct Rogue {
        /// `127.0.0.1:port`.
        pub addr: String,
        connections: Arc<AtomicUsize>,
    }

    impl Rogue {
        /// Answers each command line (without `\r\n`) with `answer(line)`.
        pub async fn start(answer: impl Fn(&str) -> Reply + Send + Sync + 'static) -> Rogue {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap().to_string();
            let connections = Arc::new(AtomicUsize::new(0));
            let counted = connections.clone();
            let answer = Arc::new(answer);
            tokio::spawn(async move {
                while let Ok((stream, _)) = listener.accept().await {
                    counted.fetch_add(1, Ordering::SeqCst);
                    let answer = answer.clone();
                    tokio::spawn(async move {
                        let (read, mut write) = stream.into_split();
                        let mut lines = BufReader::new(read).lines();
                        while let Ok(Some(line)) = lines.next_line().await {
                            match answer(line.trim_end_matches('\r')) {
                                Reply::Bytes(bytes) => {
                                    if write.write_all(&bytes).await.is_err() {
                                        return;
                                    }
                                }
                                Reply::Endless => {
                                    let chunk = vec![b'A'; 64 * 1024];
                                    while write.write_all(&chunk).await.is_ok() {}
                                    return;
                                }
                            }
                        }
                    });
                }
            });
            Rogue { addr, connections }
        }

        /// How many connections it accepted.
        pub fn connections(&self) -> usize {
            self.connections.load(Ordering::SeqCst)
        }
    }

    /// The key of a retrieval command line: its last word.
    pub fn key(line: &str) -> &str {
        line.rsplit(' ').next().unwrap_or("")
    }
}

use rogue::{Reply, Rogue};

/// A rogue server that answers `version` like memcached 1.6.18 and every
/// other command with `answer(line)`.
async fn rogue_memcached(answer: impl Fn(&str) -> Reply + Send + Sync + 'static) -> Rogue {
    Rogue::start(move |line| match line {
        "version" => Reply::line("VERSION 1.6.18"),
        _ => answer(line),
    })
    .await
}

#[tokio::test]
async fn a_value_line_announcing_a_terabyte_is_a_clean_error() {
    // With a CAS unique (as `gats` answers) and without (as `gat` does).
    let rogue = rogue_memcached(|line| {
        Reply::line(&format!("VALUE {} 0 1099511627776 1", rogue::key(line)))
    })
    .await;
    let store = MemcacheStore::new([rogue.addr.as_str()])
        .unwrap()
        .with_pool_size(1);
    let key = format!("session:{}", new_id());
    let errors = [
        store.load(&key, TTL).await.unwrap_err(),
        store.load_versioned(&key, TTL).await.unwrap_err(),
    ];
    for error in &errors {
        let MemcacheStoreError::Protocol { detail, .. } = cause(error) else {
            panic!("{error}");
        };
        assert!(
            detail.starts_with(
                "a value of 1099511627776 bytes announced, over the store's maximum value size of 1047552: "
            ),
            "{detail}"
        );
        assert_eq!(error.class(), ErrorClass::Permanent);
    }
    // Neither connection went back to the pool.
    assert_eq!(rogue.connections(), 2);

    let rogue =
        rogue_memcached(|line| Reply::line(&format!("VALUE {} 0 1099511627776", rogue::key(line))))
            .await;
    let store = MemcacheStore::new([rogue.addr.as_str()]).unwrap();
    let error = store.load(&key, TTL).await.unwrap_err();
    let chain = support::chain(&error);
    assert!(chain.contains("1099511627776 bytes announced"), "{chain}");
}

#[tokio::test]
async fn an_answer_line_without_an_end_is_cut_at_1024_bytes() {
    let key = format!("session:{}", new_id());
    // In answer to a command, and to the `version` that opens a connection.
    let endless_value = rogue_memcached(|_| Reply::Endless).await;
    let endless_version = Rogue::start(|_| Reply::Endless).await;
    for rogue in [endless_value, endless_version] {
        let store = MemcacheStore::new([rogue.addr.as_str()])
            .unwrap()
            .with_timeout(Duration::from_secs(5));
        let started = Instant::now();
        let error = store.load(&key, TTL).await.unwrap_err();
        assert!(
            matches!(cause(&error), MemcacheStoreError::Protocol { .. }),
            "{error}"
        );
        let chain = support::chain(&error);
        assert!(
            chain.contains("an answer line is over 1024 bytes"),
            "{chain}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(error.class(), ErrorClass::Permanent);
    }
}

// ---------------------------------------------------------------------------
// No session id in error messages

/// Every message of `error`'s source chain, `Display` and `Debug`.
fn chain_text(error: &StoreError) -> String {
    let mut text = format!("{error} {error:?}");
    let mut source = std::error::Error::source(error);
    while let Some(error) = source {
        text.push_str(&format!(" | {error} {error:?}"));
        source = error.source();
    }
    text
}

/// A rogue server's answer, given the key asked for and another visitor's
/// id.
type Answer = fn(&str, &str) -> String;

#[tokio::test]
async fn errors_never_show_a_session_id() {
    let id = new_id();
    let key = format!("session:{id}");
    let other = new_id();
    let answers: [(Answer, &str); 6] = [
        // A value for another visitor's session.
        (
            |_, other| format!("VALUE session:{other} 0 2\r\n{{}}\r\nEND\r\n"),
            "a value for another key",
        ),
        // Header lines that are not memcached's, quoting the key.
        (
            |key, _| format!("VALUE {key} 0 5 x y\r\n"),
            "unexpected answer",
        ),
        (
            |key, _| format!("VALUE {key} 0 1099511627776\r\n"),
            "1099511627776 bytes",
        ),
        (|key, _| format!("{key}\r\n"), "unexpected answer"),
        // Refusals quoting it.
        (
            |key, _| format!("SERVER_ERROR cannot read {key}\r\n"),
            "SERVER_ERROR cannot read session:",
        ),
        (
            |key, _| format!("CLIENT_ERROR bad key {key}\r\n"),
            "CLIENT_ERROR bad key session:",
        ),
    ];
    for (answer, want) in answers {
        let theirs = other.clone();
        let rogue = rogue_memcached(move |line| {
            Reply::Bytes(answer(rogue::key(line), &theirs).into_bytes())
        })
        .await;
        let store = MemcacheStore::new([rogue.addr.as_str()]).unwrap();
        for error in [
            store.load(&key, TTL).await.unwrap_err(),
            store.load_versioned(&key, TTL).await.unwrap_err(),
        ] {
            let text = chain_text(&error);
            assert!(text.contains(want), "{text}");
            for secret in [&id, &other] {
                assert!(!text.contains(secret.as_str()), "{text}");
                // `redact_key` shows 4 characters of an id.
                assert!(!text.contains(&secret[..6]), "{text}");
            }
        }

        // Nor in the layer's log line.
        let addr = serve(support::app::app(store)).await;
        let cookie = [format!("session={id}")];
        let (reply, logs) = capture_logs(Browser::new(addr).get_raw("/get", &cookie)).await;
        assert_eq!(reply.status / 100, 5, "{reply:?}");
        assert!(logs.contains("session"), "{logs}");
        assert!(
            !logs.contains(&id[..6]) && !logs.contains(&other[..6]),
            "{logs}"
        );
    }

    // Nor a key the store refuses to send.
    let server = Memcached::start();
    let store = MemcacheStore::new([server.addr()]).unwrap();
    for bad in [format!("{key} noreply"), format!("{key}\r\nflush_all")] {
        let error = store.load(&bad, TTL).await.unwrap_err();
        let text = chain_text(&error);
        assert!(text.contains("invalid memcached key \"session:"), "{text}");
        assert!(!text.contains(&id[..6]), "{text}");
    }
}

/// memcached keeps no owner index: the store says so, and each index call
/// fails with a permanent error that says why, sending nothing.
#[tokio::test]
async fn owner_index_calls_are_refused() {
    let store = fresh(1);
    assert!(!store.owner_index());
    let key = format!("session:{}", new_id());
    let errors = [
        store
            .index_add("session:owner:u", &key, b"v", 4_000_000_000, 10)
            .await
            .unwrap_err(),
        store
            .index_remove("session:owner:u", std::slice::from_ref(&key))
            .await
            .unwrap_err(),
        store.index_list("session:owner:u").await.unwrap_err(),
    ];
    for error in errors {
        assert_eq!(error.class(), ErrorClass::Permanent, "{error}");
        assert_eq!(error.to_string(), "this store keeps no owner index");
    }
    let stats = counters(&store.kept[0]);
    assert_eq!(stats.get("cmd_get"), Some(&0), "{stats:?}");
    assert_eq!(stats.get("cmd_set"), Some(&0), "{stats:?}");
}
