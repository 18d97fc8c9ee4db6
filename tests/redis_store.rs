//! The Redis store against real `redis-server` processes: the store
//! conformance suite (the `sessionkit-conformance` checks, and the rest in
//! `support::conformance`) on one server (through a `ConnectionManager` and through
//! a connection getter) and on a 3-master cluster, plus what is specific to
//! Redis: the sanic-session format, round trips per request, outage and
//! recovery, the value size limit, data planted from outside, the class of
//! each error, and error messages without session ids.
//!
//! The servers are started by `support::servers` on free loopback ports and
//! are gone when this test binary exits.
#![cfg(feature = "redis")]

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sessionkit::store::redis::client::aio::{
    ConnectionLike, ConnectionManager, ConnectionManagerConfig, MultiplexedConnection,
};
use sessionkit::store::redis::client::cluster::ClusterClient;
use sessionkit::store::redis::client::{cmd, Client};
use sessionkit::store::redis::RedisStoreError;
use sessionkit::store::Expect;
use sessionkit::{ErrorClass, RedisStore, SessionId, SessionStore, StoreError};

use support::app::app;
use support::example::Example;
use support::servers::{redis_args, redis_cli, redis_ready, RedisCluster, RedisServer, Server};
use support::{capture_logs, serve, Browser, Reply};

/// One server for every test that does not stop it or count its commands.
static SINGLE: LazyLock<RedisServer> = LazyLock::new(RedisServer::start);
/// One 3-master cluster for every cluster test.
static CLUSTER: LazyLock<RedisCluster> = LazyLock::new(|| RedisCluster::start(3));

/// Every test is bounded: a store call that hangs fails the test instead.
const TEST_TIMEOUT: Duration = Duration::from_secs(60);

const THIRTY_DAYS: i64 = 2_592_000;

const TTL: Duration = Duration::from_secs(3600);

/// A store over a `ConnectionManager` to `url`.
async fn managed(url: &str) -> RedisStore {
    let client = Client::open(url).unwrap();
    RedisStore::new(ConnectionManager::new(client).await.unwrap())
}

/// A store that opens a connection for each call, as a user's pool would hand one out.
fn with_getter(url: &str) -> RedisStore {
    let client = Client::open(url).unwrap();
    RedisStore::from_getter(move || {
        let client = client.clone();
        async move { client.get_multiplexed_async_connection().await }
    })
}

/// A plain connection for commands the test sends itself.
async fn raw(url: &str) -> MultiplexedConnection {
    Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

async fn get(raw: &mut MultiplexedConnection, key: &str) -> Option<Vec<u8>> {
    cmd("GET").arg(key).query_async(raw).await.unwrap()
}

async fn ttl(raw: &mut MultiplexedConnection, key: &str) -> i64 {
    cmd("TTL").arg(key).query_async(raw).await.unwrap()
}

fn assert_ttl_is_expiry(ttl: i64) {
    assert!(
        (THIRTY_DAYS - 5..=THIRTY_DAYS).contains(&ttl),
        "TTL {ttl}, want the session's expiry {THIRTY_DAYS}"
    );
}

fn new_id() -> String {
    SessionId::generate().to_string()
}

mod single {
    use super::*;
    sessionkit_conformance::store_tests!(async { managed(&SINGLE.url()).await });
    crate::conformance_tests!(|| async { managed(&SINGLE.url()).await });
}

mod getter {
    use super::*;
    sessionkit_conformance::store_tests!(async { with_getter(&SINGLE.url()) });
    crate::conformance_tests!(|| async { with_getter(&SINGLE.url()) });
}

mod cluster {
    use super::*;
    async fn store() -> RedisStore {
        RedisStore::from_cluster_nodes(CLUSTER.urls())
            .await
            .unwrap()
    }
    sessionkit_conformance::store_tests!(store());
    crate::conformance_tests!(store);
}

#[tokio::test]
async fn cluster_spreads_sessions_over_every_master() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let store = RedisStore::from_cluster_nodes(CLUSTER.urls())
            .await
            .unwrap();
        let addr = serve(app(store)).await;
        let mut ids = BTreeSet::new();
        for _ in 0..30 {
            let reply = Browser::new(addr).get("/incr").await;
            assert_eq!((reply.status, reply.body.as_str()), (200, "1"));
            ids.insert(reply.cookie_value("session"));
        }
        let mut found = BTreeSet::new();
        for port in CLUSTER.ports() {
            let dbsize: u64 = redis_cli(port, &["dbsize"]).trim().parse().unwrap();
            assert!(dbsize > 0, "node {port} is empty");
            // SCAN on a cluster node lists the keys of that node only.
            let keys = redis_cli(port, &["--scan", "--pattern", "session:*"]);
            let here: Vec<&str> = keys
                .lines()
                .filter_map(|k| k.strip_prefix("session:"))
                .filter(|id| ids.contains(*id))
                .collect();
            eprintln!(
                "node {port}: DBSIZE {dbsize}, {} of the 30 sessions",
                here.len()
            );
            assert!(
                !here.is_empty(),
                "node {port} holds none of the 30 sessions"
            );
            for id in here {
                assert!(found.insert(id.to_string()), "{id} on two nodes");
            }
        }
        assert_eq!(found, ids, "every session is on exactly one master");
    })
    .await
    .expect("never a hang");
}

#[tokio::test]
async fn reads_and_writes_the_sanic_session_format() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let mut raw = raw(&SINGLE.url()).await;
        let addr = serve(app(managed(&SINGLE.url()).await)).await;
        let browser = Browser::new(addr);
        let id = new_id();
        let key = format!("session:{id}");
        let cookie = [format!("session={id}")];

        // Exactly what sanic-session writes: `/` escaped, non-ASCII as \u
        // escapes, with `SETEX key expiry value`.
        let sanic = br#"{"n":2,"url":"a\/b","u":"\u00e9\u20ac"}"#;
        let _: () = cmd("SETEX")
            .arg(&key)
            .arg(100)
            .arg(&sanic[..])
            .query_async(&mut raw)
            .await
            .unwrap();

        // Through a typed session: read, no write, expiry slid to the session's.
        let reply = browser.get_raw("/get", &cookie).await;
        assert_eq!((reply.status, reply.body.as_str()), (200, "2"));
        assert_eq!(
            reply.cookie_value("session"),
            id,
            "the sanic session is adopted as is"
        );
        assert_eq!(
            get(&mut raw, &key).await.as_deref(),
            Some(&sanic[..]),
            "not rewritten"
        );
        assert_ttl_is_expiry(ttl(&mut raw, &key).await);

        // Through the untyped session: every key, decoded.
        let reply = browser.get_raw("/untyped", &cookie).await;
        assert_eq!(reply.status, 200);
        assert_eq!(
            serde_json::from_str::<Value>(&reply.body).unwrap(),
            json!({"n": 2, "url": "a/b", "u": "é€"})
        );

        // Written back by sessionkit: a plain JSON parser reads the same
        // object (the keys the typed session does not know included), with
        // TTL = expiry.
        let reply = browser.get_raw("/incr", &cookie).await;
        assert_eq!((reply.status, reply.body.as_str()), (200, "3"));
        let written = get(&mut raw, &key).await.expect("saved");
        let parsed: Value = serde_json::from_slice(&written).expect("a JSON document");
        assert_eq!(parsed, json!({"n": 3, "url": "a/b", "u": "é€"}));
        assert!(
            !written.iter().any(u8::is_ascii_whitespace),
            "compact JSON: {written:?}"
        );
        assert_ttl_is_expiry(ttl(&mut raw, &key).await);

        // A session sessionkit creates is stored the way sanic-session stores one.
        let mut fresh = Browser::new(addr);
        let id = fresh.get("/incr").await.cookie_value("session");
        let key = format!("session:{id}");
        assert_eq!(
            get(&mut raw, &key).await.as_deref(),
            Some(&br#"{"n":1}"#[..])
        );
        assert_ttl_is_expiry(ttl(&mut raw, &key).await);
    })
    .await
    .expect("never a hang");
}

#[tokio::test]
async fn garbage_set_from_outside_gives_a_fresh_session() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let mut raw = raw(&SINGLE.url()).await;
        let addr = serve(app(managed(&SINGLE.url()).await)).await;
        let browser = Browser::new(addr);
        for payload in ["not json", "[1,2]", "\"str\"", "123", "null", ""] {
            let planted = new_id();
            let key = format!("session:{planted}");
            let _: () = cmd("SET")
                .arg(&key)
                .arg(payload)
                .arg("EX")
                .arg(60)
                .query_async(&mut raw)
                .await
                .unwrap();
            let cookie = [format!("session={planted}")];

            let reply = browser.get_raw("/get", &cookie).await;
            assert_eq!(
                (reply.status, reply.body.as_str()),
                (200, "0"),
                "{payload:?}"
            );
            assert!(
                reply.set_cookies.is_empty(),
                "{payload:?}: nothing to store"
            );

            let (reply, logs) = capture_logs(browser.get_raw("/incr", &cookie)).await;
            assert_eq!(
                (reply.status, reply.body.as_str()),
                (200, "1"),
                "{payload:?}"
            );
            let issued = reply.cookie_value("session");
            assert_ne!(issued, planted, "{payload:?}: a new id");
            assert!(logs.contains("WARN"), "{payload:?}: a warning: {logs}");
            assert_eq!(
                get(&mut raw, &format!("session:{issued}")).await.as_deref(),
                Some(&br#"{"n":1}"#[..])
            );
        }
    })
    .await
    .expect("never a hang");
}

#[tokio::test]
async fn key_of_another_redis_type_is_a_permanent_store_error() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let mut raw = raw(&SINGLE.url()).await;
        let store = managed(&SINGLE.url()).await;
        let addr = serve(app(store.clone())).await;
        let id = new_id();
        let key = format!("session:{id}");
        let _: () = cmd("HSET")
            .arg(&key)
            .arg("n")
            .arg(1)
            .query_async(&mut raw)
            .await
            .unwrap();
        let _: () = cmd("EXPIRE")
            .arg(&key)
            .arg(60)
            .query_async(&mut raw)
            .await
            .unwrap();
        let (reply, logs) =
            capture_logs(Browser::new(addr).get_raw("/get", &[format!("session={id}")])).await;
        // Retrying cannot help: 500, not 503.
        assert_eq!(reply.status, 500);
        assert!(
            logs.contains("GETEX failed") && logs.contains("WRONGTYPE"),
            "{logs}"
        );

        // A list under a session key, then a save through the store: the
        // compare-and-set script reads it and fails with WRONGTYPE.
        let id = new_id();
        let key = format!("session:{id}");
        let _: () = cmd("RPUSH")
            .arg(&key)
            .arg("a")
            .query_async(&mut raw)
            .await
            .unwrap();
        let loaded = Expect::Loaded {
            value: br#"{"n":1}"#,
            version: None,
        };
        let errors = [
            store
                .save_if(&key, br#"{"n":2}"#, TTL, loaded)
                .await
                .unwrap_err(),
            store.load(&key, TTL).await.unwrap_err(),
        ];
        for error in errors {
            let chain = support::chain(&error);
            assert!(chain.contains("WRONGTYPE"), "{chain}");
            assert_eq!(error.class(), ErrorClass::Permanent, "{error}");
        }
        let kind: String = cmd("TYPE").arg(&key).query_async(&mut raw).await.unwrap();
        assert_eq!(kind, "list", "untouched");
    })
    .await
    .expect("never a hang");
}

/// `INFO commandstats` as command → calls, without the commands the test
/// itself sends to read and reset them.
async fn commandstats(raw: &mut MultiplexedConnection) -> BTreeMap<String, u64> {
    let info: String = cmd("INFO")
        .arg("commandstats")
        .query_async(raw)
        .await
        .unwrap();
    info.lines()
        .filter_map(|line| {
            let (name, rest) = line.strip_prefix("cmdstat_")?.split_once(':')?;
            let calls = rest
                .strip_prefix("calls=")?
                .split(',')
                .next()?
                .parse()
                .ok()?;
            Some((name.to_string(), calls))
        })
        .filter(|(name, _)| name != "info" && !name.starts_with("config|"))
        .collect()
}

/// The commands Redis executed while `browser` made one request.
async fn request_commands(
    raw: &mut MultiplexedConnection,
    browser: &mut Browser,
    path: &str,
) -> (Reply, BTreeMap<String, u64>) {
    let _: () = cmd("CONFIG")
        .arg("RESETSTAT")
        .query_async(raw)
        .await
        .unwrap();
    let reply = browser.get(path).await;
    (reply, commandstats(raw).await)
}

/// Commands and how many times each ran.
type Commands<'a> = &'a [(&'a str, u64)];

/// A request (what, path) and the commands it should cost.
type Step<'a> = (&'a str, &'a str, Vec<(&'a str, u64)>);

fn commands(list: Commands<'_>) -> BTreeMap<String, u64> {
    list.iter().map(|(c, n)| (c.to_string(), *n)).collect()
}

#[tokio::test]
async fn one_round_trip_per_store_call() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        // Its own server: the shared one counts the other tests' commands too.
        let redis = RedisServer::start();
        let mut raw = raw(&redis.url()).await;
        let addr = serve(app(managed(&redis.url()).await)).await;
        let mut browser = Browser::new(addr);
        // A loaded session is saved by one EVALSHA; the `get` and `set`
        // beside it are the script's own, run inside Redis in that one round
        // trip. A Redis that does not have the script cached (new, or after
        // SCRIPT FLUSH) answers NOSCRIPT, and the call is repeated as EVAL.
        let script = [("evalsha", 1), ("get", 1), ("set", 1)];
        let uncached = [("evalsha", 1), ("eval", 1), ("get", 1), ("set", 1)];
        let with = |first: &[(&'static str, u64)], rest: &[(&'static str, u64)]| {
            first.iter().chain(rest).copied().collect::<Vec<_>>()
        };
        let steps: Vec<Step<'_>> = vec![
            ("new visitor", "/incr", vec![("set", 1)]),
            ("read-only", "/get", vec![("getex", 1)]),
            (
                "read-write, script not cached",
                "/incr",
                with(&[("getex", 1)], &uncached),
            ),
            ("read-write", "/incr", with(&[("getex", 1)], &script)),
            (
                "cycle_id",
                "/login/ada",
                vec![("getex", 1), ("set", 1), ("del", 1)],
            ),
            ("became empty", "/zero", vec![("getex", 1), ("del", 1)]),
            ("new visitor", "/incr", vec![("set", 1)]),
            (
                "after SCRIPT FLUSH",
                "/incr",
                with(&[("getex", 1)], &uncached),
            ),
            ("read-write", "/incr", with(&[("getex", 1)], &script)),
            ("destroy", "/clear", vec![("getex", 1), ("del", 1)]),
            ("no session used", "/none", vec![]),
            ("no cookie, read-only", "/get", vec![]),
            ("ill-formed cookie", "/get", vec![]),
        ];
        for (what, path, want) in steps {
            if what == "ill-formed cookie" {
                browser.jar.insert("session".into(), "not-an-id".into());
            }
            if what == "after SCRIPT FLUSH" {
                let _: () = cmd("SCRIPT")
                    .arg("FLUSH")
                    .query_async(&mut raw)
                    .await
                    .unwrap();
            }
            let (reply, got) = request_commands(&mut raw, &mut browser, path).await;
            assert_eq!(reply.status, 200, "{what}");
            eprintln!("{what:<30} GET {path:<11} -> {got:?}");
            assert_eq!(got, commands(&want), "{what}: GET {path}");
        }
    })
    .await
    .expect("never a hang");
}

#[tokio::test]
async fn value_over_the_limit_is_refused_before_any_write() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let redis = RedisServer::start();
        let mut raw = raw(&redis.url()).await;
        let store = managed(&redis.url()).await.with_max_value_size(1024);
        assert_eq!(store.max_value_size(), 1024);
        // What the layer reads to refuse a larger session itself.
        assert_eq!(SessionStore::max_value_size(&store), Some(1024));
        let addr = serve(app(store.clone())).await;
        let mut browser = Browser::new(addr);
        let id = browser.get("/incr").await.cookie_value("session");
        let key = format!("session:{id}");
        let big = "x".repeat(2000);

        // An existing session grows too large: 500 (retrying cannot help),
        // the stored one untouched.
        let _: () = cmd("CONFIG")
            .arg("RESETSTAT")
            .query_async(&mut raw)
            .await
            .unwrap();
        let (reply, logs) = capture_logs(browser.get(&format!("/untyped/set/big/{big}"))).await;
        assert_eq!(reply.status, 500);
        assert!(logs.contains("over the limit of 1024"), "{logs}");
        assert_eq!(
            commandstats(&mut raw).await,
            commands(&[("getex", 1)]),
            "no write sent"
        );
        assert_eq!(
            get(&mut raw, &key).await.as_deref(),
            Some(&br#"{"n":1}"#[..])
        );

        // A new visitor's first session is too large: 500, no cookie, nothing stored.
        let (reply, _) =
            capture_logs(Browser::new(addr).get(&format!("/untyped/set/big/{big}"))).await;
        assert_eq!(reply.status, 500);
        assert!(!reply.sets("session"), "{reply:?}");
        let dbsize: u64 = cmd("DBSIZE").query_async(&mut raw).await.unwrap();
        assert_eq!(dbsize, 1, "only the first session is stored");

        // Just under the limit is fine.
        let reply = browser
            .get(&format!("/untyped/set/big/{}", "x".repeat(900)))
            .await;
        assert_eq!(reply.status, 200);

        // The store refuses by itself too, before any I/O, permanently.
        let _: () = cmd("CONFIG")
            .arg("RESETSTAT")
            .query_async(&mut raw)
            .await
            .unwrap();
        let errors = [
            store.save(&key, big.as_bytes(), TTL).await.unwrap_err(),
            store
                .save_if(&key, big.as_bytes(), TTL, Expect::Absent)
                .await
                .unwrap_err(),
        ];
        for error in errors {
            let cause =
                std::error::Error::source(&error).and_then(|e| e.downcast_ref::<RedisStoreError>());
            assert!(
                matches!(
                    cause,
                    Some(RedisStoreError::ValueTooLarge {
                        size: 2000,
                        max: 1024
                    })
                ),
                "{error}"
            );
            assert_eq!(error.class(), ErrorClass::Permanent);
        }
        assert_eq!(commandstats(&mut raw).await, commands(&[]), "nothing sent");
    })
    .await
    .expect("never a hang");
}

/// Polls `path` with a fresh browser until it answers 200; returns how long that took.
async fn until_ok(addr: SocketAddr, path: &str) -> Duration {
    let started = Instant::now();
    loop {
        let reply = Browser::new(addr).get(path).await;
        if reply.status == 200 {
            return started.elapsed();
        }
        assert_eq!(reply.status, 503, "{reply:?}");
        assert!(started.elapsed() < Duration::from_secs(30), "no recovery");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn outage_gives_503_and_the_same_app_recovers() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        // Its own server, since the test stops it.
        let mut redis = RedisServer::start();
        let managed = RedisStore::from_url(&redis.url())
            .await
            .unwrap()
            .with_timeout(Duration::from_millis(500));
        assert_eq!(managed.timeout(), Duration::from_millis(500));
        let managed = serve(app(managed)).await;
        let getter = serve(app(
            with_getter(&redis.url()).with_timeout(Duration::from_millis(500))
        ))
        .await;
        let mut browsers = [Browser::new(managed), Browser::new(getter)];
        for browser in &mut browsers {
            assert_eq!(browser.get("/incr").await.body, "1");
        }

        // Frozen: the connection stays open and nothing answers: the timeout.
        redis.server.pause();
        for browser in &mut browsers {
            let started = Instant::now();
            let (reply, logs) = capture_logs(browser.get("/get")).await;
            eprintln!("paused: 503 after {:?}", started.elapsed());
            assert_eq!(reply.status, 503, "{reply:?}");
            assert!(reply.set_cookies.is_empty(), "{reply:?}");
            assert!(logs.contains("GETEX got no answer within 500ms"), "{logs}");
        }
        redis.server.resume();
        for browser in &mut browsers {
            assert_eq!(
                browser.get("/incr").await.body,
                "2",
                "answers again once resumed"
            );
        }

        // Down: killed like a crash.
        redis.server.kill();
        let failures = [
            // The manager reports the dropped connection, then times out
            // waiting for its reconnection.
            &[
                "session store error for `session`: Redis: GETEX failed",
                "no answer within 500ms",
            ][..],
            // The getter cannot connect.
            &["session store error for `session`: Redis: could not get a connection for GETEX"],
        ];
        for ((browser, addr), failures) in browsers.iter_mut().zip([managed, getter]).zip(failures)
        {
            for path in ["/get", "/incr"] {
                let started = Instant::now();
                let (reply, logs) = capture_logs(browser.get(path)).await;
                eprintln!("down: {path} 503 after {:?}", started.elapsed());
                assert_eq!(reply.status, 503, "{path}: {reply:?}");
                assert!(logs.contains("ERROR"), "{logs}");
                assert!(failures.iter().any(|f| logs.contains(f)), "{logs}");
            }
            // A new visitor's write fails too: never a 200 that dropped it.
            let reply = Browser::new(addr).get("/incr").await;
            assert_eq!(reply.status, 503, "{reply:?}");
            assert!(reply.set_cookies.is_empty(), "{reply:?}");
            // Routes without a session do not notice.
            assert_eq!(Browser::new(addr).get("/none").await.status, 200);
        }

        // Back on the same port: the same apps recover by themselves.
        redis.server.restart();
        for (browser, addr) in browsers.iter_mut().zip([managed, getter]) {
            let took = until_ok(addr, "/incr").await;
            eprintln!("recovered after {took:?}");
            // The restarted server has no data (no persistence): a fresh session.
            let reply = browser.get("/incr").await;
            assert_eq!((reply.status, reply.body.as_str()), (200, "1"));
            assert_eq!(browser.get("/incr").await.body, "2");
        }
    })
    .await
    .expect("never a hang");
}

/// Runs the example with `env` and drives it over HTTP, checking the
/// stored key through `conn`.
async fn example_serves(env: (&str, String), mut conn: impl ConnectionLike) {
    let mut example = Example::start(
        "redis",
        &["REDIS_URL", "REDIS_CLUSTER"],
        &[(env.0, env.1.as_str())],
    );
    let port = example.port;
    let first = example.printed(1).await;
    assert!(
        first.contains(&format!("http://127.0.0.1:{port}")),
        "{first}"
    );
    let want = if env.0 == "REDIS_CLUSTER" {
        "Redis Cluster"
    } else {
        "Redis at"
    };
    assert!(first.contains(want), "{first}");

    let mut browser = Browser::new(SocketAddr::from(([127, 0, 0, 1], port)));
    assert_eq!(browser.get("/get").await.body, "0\n");
    assert_eq!(browser.get("/incr").await.body, "1\n");
    assert_eq!(browser.get("/incr").await.body, "2\n");
    assert_eq!(browser.get("/get").await.body, "2\n");
    let key = format!("session:{}", browser.jar["session"]);
    let stored: Option<String> = cmd("GET").arg(&key).query_async(&mut conn).await.unwrap();
    assert_eq!(stored.as_deref(), Some(r#"{"n":2}"#));
    assert_eq!(browser.get("/clear").await.body, "cleared\n");
    assert!(browser.jar.is_empty(), "cookie expired");
    let stored: Option<String> = cmd("GET").arg(&key).query_async(&mut conn).await.unwrap();
    assert_eq!(stored, None);
    drop(example);
}

#[tokio::test]
async fn example_serves_from_redis_url() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let conn = raw(&SINGLE.url()).await;
        example_serves(("REDIS_URL", SINGLE.url()), conn).await;
    })
    .await
    .expect("never a hang");
}

#[tokio::test]
async fn example_serves_from_redis_cluster() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let nodes: Vec<String> = CLUSTER
            .ports()
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        let client = ClusterClient::new(CLUSTER.urls()).unwrap();
        let conn = client.get_async_connection().await.unwrap();
        example_serves(("REDIS_CLUSTER", nodes.join(",")), conn).await;
    })
    .await
    .expect("never a hang");
}

#[tokio::test]
async fn a_commit_finishes_after_the_client_hangs_up() {
    // Its own server: pausing the shared one would stall the other tests.
    let redis = RedisServer::start();
    // Patient enough to outlast the pause.
    let config = ConnectionManagerConfig::new().set_response_timeout(Some(Duration::from_secs(5)));
    let client = Client::open(redis.url()).unwrap();
    let manager = ConnectionManager::new_with_config(client, config)
        .await
        .unwrap();
    let store = RedisStore::new(manager).with_timeout(Duration::from_secs(5));
    support::conformance::a_commit_finishes_after_the_client_hangs_up(
        store,
        || redis.server.pause(),
        || redis.server.resume(),
    )
    .await;
}

// ---------------------------------------------------------------------------
// Error classes

/// A redis-server on a free loopback port with `extra` arguments.
fn redis_with(extra: &'static [&'static str]) -> Server {
    Server::start(
        "redis-server",
        1,
        move |ports, dir| {
            let mut args = redis_args(ports[0], dir);
            args.extend(extra.iter().map(|a| a.to_string()));
            args
        },
        redis_ready,
    )
}

/// The [`RedisStoreError`] a store call failed with.
fn redis_cause(error: &StoreError) -> &RedisStoreError {
    std::error::Error::source(error)
        .and_then(|e| e.downcast_ref::<RedisStoreError>())
        .unwrap_or_else(|| panic!("not a Redis store error: {error}"))
}

#[tokio::test]
async fn a_killed_server_gives_transient_errors() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let mut redis = RedisServer::start();
        let timeout = Duration::from_millis(500);
        let stores = [
            managed(&redis.url()).await.with_timeout(timeout),
            with_getter(&redis.url()).with_timeout(timeout),
        ];
        let key = format!("session:{}", new_id());
        for store in &stores {
            store.save(&key, b"{}", TTL).await.unwrap();
        }
        redis.server.kill();
        for store in &stores {
            for _ in 0..2 {
                let errors = [
                    store.load(&key, TTL).await.unwrap_err(),
                    store.save(&key, b"{}", TTL).await.unwrap_err(),
                    store.delete(&key).await.unwrap_err(),
                ];
                for error in errors {
                    eprintln!("down: {error}");
                    assert_eq!(error.class(), ErrorClass::Transient, "{error}");
                }
            }
        }
    })
    .await
    .expect("never a hang");
}

#[tokio::test]
async fn a_busy_or_read_only_server_gives_transient_errors() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let key = format!("session:{}", new_id());

        // BUSY: a script runs longer than busy-reply-threshold.
        let redis = redis_with(&["--busy-reply-threshold", "100"]);
        let url = format!("redis://127.0.0.1:{}", redis.port());
        let store = managed(&url).await;
        store.save(&key, b"{}", TTL).await.unwrap();
        let mut looping = raw(&url).await;
        let script = tokio::spawn(async move {
            let _: Result<(), _> = cmd("EVAL")
                .arg("while true do end")
                .arg(0)
                .query_async(&mut looping)
                .await;
        });
        let started = Instant::now();
        let error = loop {
            tokio::time::sleep(Duration::from_millis(50)).await;
            match store.load(&key, TTL).await {
                Err(error) if support::chain(&error).contains("BUSY") => break error,
                other => assert!(
                    started.elapsed() < Duration::from_secs(10),
                    "never busy: {other:?}"
                ),
            }
        };
        assert_eq!(error.class(), ErrorClass::Transient, "{error}");
        redis_cli(redis.port(), &["SCRIPT", "KILL"]);
        script.await.unwrap();
        assert_eq!(
            store.load(&key, TTL).await.unwrap().as_deref(),
            Some(&b"{}"[..])
        );

        // READONLY: a replica (of a master that is not there) refuses writes.
        let replica = redis_with(&["--replicaof", "127.0.0.1", "1"]);
        let store = managed(&format!("redis://127.0.0.1:{}", replica.port())).await;
        let error = store.save(&key, b"{}", TTL).await.unwrap_err();
        let chain = support::chain(&error);
        assert!(chain.contains("ReadOnly"), "{chain}");
        assert_eq!(error.class(), ErrorClass::Transient, "{error}");
    })
    .await
    .expect("never a hang");
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

#[tokio::test]
async fn error_messages_never_show_a_session_id() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        // Redis quotes the arguments of a command it does not know, as
        // a Redis older than 6.2 does for GETEX.
        let redis = redis_with(&["--rename-command", "GETEX", ""]);
        let url = format!("redis://127.0.0.1:{}", redis.port());
        let id = new_id();
        let key = format!("session:{id}");
        let mut raw = raw(&url).await;
        let echoed: Result<(), _> = cmd("GETEX").arg(&key).query_async(&mut raw).await;
        let echoed = echoed.unwrap_err().to_string();
        assert!(echoed.contains(&id), "Redis quotes the key: {echoed}");

        for store in [managed(&url).await, with_getter(&url)] {
            let error = store.load(&key, TTL).await.unwrap_err();
            let text = chain_text(&error);
            assert!(text.contains("unknown command"), "{text}");
            assert!(text.contains("session:"), "{text}");
            // `redact_key` shows 4 characters of an id.
            assert!(!text.contains(&id[..6]), "{text}");
            assert_eq!(error.class(), ErrorClass::Permanent);
            assert!(matches!(
                redis_cause(&error),
                RedisStoreError::Command {
                    command: "GETEX",
                    ..
                }
            ));

            // Nor in the layer's log line.
            let addr = serve(app(store)).await;
            let cookie = [format!("session={id}")];
            let (reply, logs) = capture_logs(Browser::new(addr).get_raw("/get", &cookie)).await;
            assert_eq!(reply.status, 500, "{reply:?}");
            assert!(logs.contains("unknown command"), "{logs}");
            assert!(!logs.contains(&id[..6]), "{logs}");
        }

        // An error without an id keeps the `redis` crate's error as its source.
        let store = managed(&url).await;
        let _: () = cmd("RPUSH")
            .arg(&key)
            .arg("a")
            .query_async(&mut raw)
            .await
            .unwrap();
        let loaded = Expect::Loaded {
            value: b"{}",
            version: None,
        };
        let error = store.save_if(&key, b"{}", TTL, loaded).await.unwrap_err();
        let inner = std::error::Error::source(redis_cause(&error));
        assert!(
            inner.is_some_and(|e| e.is::<sessionkit::store::redis::client::RedisError>()),
            "{error}"
        );
    })
    .await
    .expect("never a hang");
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// An owner index is one hash: field the session key, value `<until>
/// <value>`; it expires at its latest until (kept so by `index_add` and
/// `index_remove`), an entry whose session is gone leaves it at the next
/// list, and an index left empty is deleted. The scripts work again after
/// `SCRIPT FLUSH` (sent as `EVAL` on `NOSCRIPT`).
#[tokio::test]
async fn an_owner_index_is_one_hash_that_expires_at_its_latest_until() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let redis = RedisServer::start();
        let mut raw = raw(&redis.url()).await;
        let store = managed(&redis.url()).await;
        let index = format!("session:owner:user-{}", new_id());
        let (a, b) = (
            format!("session:{}", new_id()),
            format!("session:{}", new_id()),
        );
        for key in [&a, &b] {
            store.save(key, b"{}", TTL).await.unwrap();
        }
        let now = unix_now();
        let evicted = store
            .index_add(&index, &a, b"ua 1\r\n", now + 300, 10)
            .await
            .unwrap();
        assert!(evicted.is_empty());
        let kind: String = cmd("TYPE").arg(&index).query_async(&mut raw).await.unwrap();
        assert_eq!(kind, "hash");
        let field: Vec<u8> = cmd("HGET")
            .arg(&index)
            .arg(&a)
            .query_async(&mut raw)
            .await
            .unwrap();
        assert_eq!(field, format!("{} ua 1\r\n", now + 300).into_bytes());
        let within = |ttl: i64, want: u64| {
            let want = i64::try_from(want).unwrap();
            assert!((want - 3..=want).contains(&ttl), "TTL {ttl}, want {want}");
        };
        within(ttl(&mut raw, &index).await, 300);

        // A later until moves the expiry out; an earlier one leaves it.
        store
            .index_add(&index, &b, b"v", now + 600, 10)
            .await
            .unwrap();
        within(ttl(&mut raw, &index).await, 600);
        let _: () = cmd("SCRIPT")
            .arg("FLUSH")
            .query_async(&mut raw)
            .await
            .unwrap();
        store
            .index_add(&index, &a, b"v", now + 100, 10)
            .await
            .unwrap();
        within(ttl(&mut raw, &index).await, 600);

        // Removing the latest entry brings the expiry back to the next.
        store
            .index_remove(&index, std::slice::from_ref(&b))
            .await
            .unwrap();
        within(ttl(&mut raw, &index).await, 100);

        // A session gone leaves the index at the next list; the index,
        // left empty, is deleted.
        store.delete(&a).await.unwrap();
        assert!(store.index_list(&index).await.unwrap().is_empty());
        let exists: i64 = cmd("EXISTS")
            .arg(&index)
            .query_async(&mut raw)
            .await
            .unwrap();
        assert_eq!(exists, 0, "an index left empty is deleted");

        // Several entries, one gone: HLEN drops by one.
        for key in [&a, &b] {
            store.save(key, b"{}", TTL).await.unwrap();
            store
                .index_add(&index, key, b"v", now + 600, 10)
                .await
                .unwrap();
        }
        store.delete(&b).await.unwrap();
        assert_eq!(store.index_list(&index).await.unwrap().len(), 1);
        let hlen: i64 = cmd("HLEN").arg(&index).query_async(&mut raw).await.unwrap();
        assert_eq!(hlen, 1);
        store
            .index_remove(&index, std::slice::from_ref(&a))
            .await
            .unwrap();
        let exists: i64 = cmd("EXISTS")
            .arg(&index)
            .query_async(&mut raw)
            .await
            .unwrap();
        assert_eq!(exists, 0, "an index emptied by index_remove is deleted");
    })
    .await
    .expect("never a hang");
}

/// A session key stored without an expiry (not by this store) is listed
/// as alive, with the time left to its until.
#[tokio::test]
async fn a_session_key_without_expiry_is_listed_until_its_until() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let mut raw = raw(&SINGLE.url()).await;
        let store = managed(&SINGLE.url()).await;
        let index = format!("session:owner:user-{}", new_id());
        let key = format!("session:{}", new_id());
        let _: () = cmd("SET")
            .arg(&key)
            .arg("{}")
            .query_async(&mut raw)
            .await
            .unwrap();
        store
            .index_add(&index, &key, b"v", unix_now() + 120, 10)
            .await
            .unwrap();
        let listed = store.index_list(&index).await.unwrap();
        assert_eq!(listed.len(), 1);
        let ttl = listed[0].ttl;
        assert!(
            ttl <= Duration::from_secs(120) && ttl >= Duration::from_secs(115),
            "{ttl:?}"
        );
        store.delete(&key).await.unwrap();
    })
    .await
    .expect("never a hang");
}

/// An index key holding another type is a permanent error, like a
/// session key of another type.
#[tokio::test]
async fn an_index_key_of_another_type_is_a_permanent_error() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let mut raw = raw(&SINGLE.url()).await;
        let store = managed(&SINGLE.url()).await;
        let index = format!("session:owner:user-{}", new_id());
        let _: () = cmd("SET")
            .arg(&index)
            .arg("not a hash")
            .query_async(&mut raw)
            .await
            .unwrap();
        let key = format!("session:{}", new_id());
        let added = store
            .index_add(&index, &key, b"v", unix_now() + 60, 10)
            .await;
        let listed = store.index_list(&index).await;
        for error in [added.unwrap_err(), listed.unwrap_err()] {
            assert_eq!(error.class(), ErrorClass::Permanent, "{error:?}");
            assert!(matches!(
                redis_cause(&error),
                RedisStoreError::Command { .. }
            ));
        }
        let _: () = cmd("DEL").arg(&index).query_async(&mut raw).await.unwrap();
    })
    .await
    .expect("never a hang");
}
