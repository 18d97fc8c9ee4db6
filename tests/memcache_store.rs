//! The memcached store against real `memcached` processes (started per test
//! on free loopback ports by `support::memcached`): the conformance suite on
//! one server and on three, then what memcached adds: ketama, acknowledged
//! writes, long expiries, safe keys, sanic-session's format, outages, and
//! the round trips each kind of request costs.
#![cfg(feature = "memcache")]

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::routing::get;
use axum::Router;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sessionkit::store::memcache::MemcacheStoreError;
use sessionkit::{
    session_config, MemcacheStore, Session, SessionId, SessionLayer, SessionStore, StoreError,
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
        servers: Arc::new(servers),
    }
}

/// A store over `n` fresh servers.
fn fresh(n: usize) -> Served<MemcacheStore> {
    served((0..n).map(|_| Memcached::start()).collect())
}

mod one {
    crate::conformance_tests!(|| async { crate::fresh(1) });
}

mod three {
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
            .servers
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
async fn a_session_over_the_item_size_limit_is_a_503_and_a_log_line() {
    let server = Memcached::start_with(&SMALL_ITEMS);
    let store = MemcacheStore::new([server.addr()]).unwrap();
    let addr = serve(support::app::app(store.clone())).await;
    let mut browser = Browser::new(addr);
    let big = "x".repeat(2048);
    let (reply, logs) = capture_logs(browser.get(&format!("/untyped/set/big/{big}"))).await;
    assert_eq!(reply.status, 503, "{reply:?}");
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
    assert_eq!(reply.status, 503, "{reply:?}");
    assert!(logs.contains("object too large"), "{logs}");
    assert_eq!(server.get(&key), Some((0, br#"{"small":1}"#.to_vec())));

    // The same through the store: the refusal is the error's source.
    let error = store.save(&key, big.as_bytes(), TTL).await.unwrap_err();
    match cause(&error) {
        MemcacheStoreError::Refused { command, reply, .. } => {
            assert_eq!(
                (*command, reply.as_str()),
                ("set", "SERVER_ERROR object too large for cache")
            )
        }
        other => panic!("{other:?}"),
    }
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
    let mut connections = 0;
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
    for (what, path, want) in steps {
        let before = counters(&server);
        let reply = browser.get(path).await;
        assert_eq!(reply.status, 200, "{what}");
        let mut got = delta(&before, &counters(&server));
        // One for the `stats` call; more would be the store's.
        connections += got.remove("total_connections").unwrap_or(0) - 1;
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
    assert_eq!(connections, 1, "one pooled connection for all of them");
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
