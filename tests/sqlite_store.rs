//! The SQLite store on real files (a fresh directory under the system's temp
//! directory per test, removed afterwards): the store conformance suite,
//! then what SQLite adds: the table made only by `migrate()`, WAL, sessions
//! that outlive a restart, a file locked by another connection, two servers
//! on one file, the cleanup of expired rows while requests are served, and
//! error messages without session ids.
#![cfg(feature = "sqlite")]

mod support;

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use serde_json::Value;
use sessionkit::store::sqlite::{rusqlite, SqliteStoreError};
use sessionkit::store::{Cleanup, Expect, SaveOutcome};
use sessionkit::{ErrorClass, SessionId, SessionStore, SqliteStore, StoreError};

use support::memcached::Served;
use support::temp::TempDir;
use support::{capture_logs, chain, Browser};

const TTL: Duration = Duration::from_secs(3600);

/// A store on a file of its own, which is removed when the test's last
/// clone of it is dropped.
type Scoped = Served<SqliteStore, TempDir>;

/// A migrated store on a fresh file.
async fn fresh() -> Scoped {
    let dir = TempDir::new();
    let store = SqliteStore::open(dir.db()).unwrap();
    store.migrate().await.unwrap();
    Scoped {
        store,
        kept: Arc::new(dir),
    }
}

mod conformance {
    sessionkit_conformance::store_tests!(async { crate::fresh().await });
    crate::conformance_tests!(|| async { crate::fresh().await });
}

fn new_key() -> String {
    format!("session:{}", SessionId::generate())
}

/// The [`SqliteStoreError`] a store call failed with.
fn cause(error: &StoreError) -> &SqliteStoreError {
    std::error::Error::source(error)
        .and_then(|e| e.downcast_ref::<SqliteStoreError>())
        .unwrap_or_else(|| panic!("not a SQLite store error: {error}"))
}

/// A plain connection to the file, as another program would open it.
fn plain(path: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path).unwrap()
}

/// An app server on a free port that can be stopped (its router and the
/// store in it dropped), unlike `support::serve`'s.
struct Server {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    async fn start(app: Router) -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let serve = axum::serve(listener, app).into_future();
        let task = tokio::spawn(async move { serve.await.unwrap() });
        Server { addr, task }
    }

    async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

/// `browser`'s cookies, in a browser that talks to `addr`.
fn moved(browser: &Browser, addr: SocketAddr) -> Browser {
    let mut moved = Browser::new(addr);
    moved.jar = browser.jar.clone();
    moved
}

// ---------------------------------------------------------------------------
// The table

#[tokio::test]
async fn migrate_is_idempotent_and_the_file_is_in_wal_mode() {
    let dir = TempDir::new();
    let store = SqliteStore::open(dir.db()).unwrap();
    store.migrate().await.unwrap();
    let key = new_key();
    store.save(&key, br#"{"n":1}"#, TTL).await.unwrap();
    store.migrate().await.unwrap();
    assert_eq!(
        store.load(&key, TTL).await.unwrap().as_deref(),
        Some(&br#"{"n":1}"#[..]),
        "a second migrate() keeps what is stored"
    );
    let db = plain(&dir.db());
    let mode: String = db
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let columns: Vec<(String, String, bool, bool)> = db
        .prepare("SELECT name, type, \"notnull\", pk FROM pragma_table_info('sessionkit_sessions')")
        .unwrap()
        .query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get::<_, i64>(3)? > 0))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let expected = [
        ("key", "TEXT", true, true),
        ("value", "BLOB", true, false),
        ("expires_at", "INTEGER", true, false),
        ("version", "INTEGER", true, false),
    ];
    let expected: Vec<(String, String, bool, bool)> = expected
        .iter()
        .map(|(n, t, nn, pk)| (n.to_string(), t.to_string(), *nn, *pk))
        .collect();
    assert_eq!(columns, expected);
    let index: i64 = db
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'index' \
             AND name = 'sessionkit_sessions_expires_at'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(index, 1);
    assert!(store.migration_sql().contains("CREATE TABLE IF NOT EXISTS"));
}

#[tokio::test]
async fn a_missing_table_is_a_permanent_error_that_says_to_call_migrate() {
    let dir = TempDir::new();
    let store = SqliteStore::open(dir.db()).unwrap();
    let key = new_key();
    let errors = [
        store.load(&key, TTL).await.unwrap_err(),
        store.save(&key, b"{}", TTL).await.unwrap_err(),
        store
            .save_if(&key, b"{}", TTL, Expect::Absent)
            .await
            .unwrap_err(),
        store.delete(&key).await.unwrap_err(),
        store.ping().await.unwrap_err(),
        store.delete_expired(10).await.unwrap_err(),
    ];
    for error in &errors {
        assert_eq!(error.class(), ErrorClass::Permanent, "{}", chain(error));
        assert!(
            matches!(cause(error), SqliteStoreError::MissingTable { .. }),
            "{}",
            chain(error)
        );
        assert!(chain(error).contains("migrate()"), "{}", chain(error));
    }
    // Nothing made the table behind our back.
    let tables: i64 = plain(&dir.db())
        .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
        .unwrap();
    assert_eq!(tables, 0);
    // Once migrated, the same store works, without being rebuilt.
    store.migrate().await.unwrap();
    store.save(&key, b"{}", TTL).await.unwrap();
    store.ping().await.unwrap();
}

#[tokio::test]
async fn bad_table_names_are_refused_and_a_custom_table_works() {
    let dir = TempDir::new();
    let store = SqliteStore::open(dir.db()).unwrap();
    for bad in [
        "",
        "1sessions",
        "my sessions",
        "s\"; DROP TABLE x; --",
        "sessions-2",
        "sqlite_sessions",
    ] {
        let error = store.clone().with_table(bad).unwrap_err();
        assert!(
            matches!(error, SqliteStoreError::InvalidTable { .. }),
            "{bad}: {error}"
        );
        assert_eq!(error.class(), ErrorClass::Permanent);
    }
    let admin = store.clone().with_table("admin_sessions").unwrap();
    assert_eq!(admin.table(), "admin_sessions");
    admin.migrate().await.unwrap();
    let key = new_key();
    admin.save(&key, br#"{"admin":true}"#, TTL).await.unwrap();
    assert!(admin.load(&key, TTL).await.unwrap().is_some());
    // The default table was never made, so the default store fails.
    assert!(matches!(
        cause(&store.load(&key, TTL).await.unwrap_err()),
        SqliteStoreError::MissingTable { .. }
    ));
    let names: Vec<String> = plain(&dir.db())
        .prepare("SELECT name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(names, ["admin_sessions", "admin_sessions_expires_at"]);
}

#[tokio::test]
async fn a_file_that_is_not_a_database_is_refused_with_a_permanent_error() {
    let dir = TempDir::new();
    std::fs::write(dir.db(), vec![b'x'; 8192]).unwrap();
    let error = SqliteStore::open(dir.db()).unwrap_err();
    assert_eq!(error.class(), ErrorClass::Permanent, "{error}");
    assert!(matches!(error, SqliteStoreError::Sqlite { .. }), "{error}");
}

// ---------------------------------------------------------------------------
// Restarts and shared files

#[tokio::test]
async fn sessions_outlive_a_restart_of_the_app_and_the_store() {
    let dir = TempDir::new();
    let store = SqliteStore::open(dir.db()).unwrap();
    store.migrate().await.unwrap();
    let server = Server::start(support::app::app(store)).await;
    let mut browsers = Vec::new();
    for i in 0..5 {
        let mut browser = Browser::new(server.addr);
        browser.get(&format!("/login/user{i}")).await;
        for _ in 0..=i {
            browser.get("/incr").await;
        }
        browsers.push(browser);
    }
    server.stop().await; // the router, the layer and the last store clone go

    let store = SqliteStore::open(dir.db()).unwrap();
    store.migrate().await.unwrap();
    let server = Server::start(support::app::app(store)).await;
    for (i, browser) in browsers.iter().enumerate() {
        let id = browser.jar["session"].clone();
        let mut browser = moved(browser, server.addr);
        let reply = browser.get("/get").await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.body, (i + 1).to_string(), "visitor {i}");
        assert_eq!(browser.jar["session"], id, "the same session id");
    }
    server.stop().await;
}

#[tokio::test]
async fn two_servers_on_one_file_share_their_sessions() {
    let dir = TempDir::new();
    let one = SqliteStore::open(dir.db()).unwrap();
    one.migrate().await.unwrap();
    let two = SqliteStore::open(dir.db()).unwrap();
    let first = Server::start(support::app::app(one)).await;
    let second = Server::start(support::app::app(two)).await;
    let mut a = Browser::new(first.addr);
    a.get("/login/ada").await;
    assert_eq!(a.get("/incr").await.body, "1");
    let mut b = moved(&a, second.addr);
    assert_eq!(b.get("/incr").await.body, "2", "the second server sees it");
    assert_eq!(
        a.get("/get").await.body,
        "2",
        "and the first sees its write"
    );
    first.stop().await;
    second.stop().await;
}

// ---------------------------------------------------------------------------
// A locked file

#[tokio::test]
async fn a_locked_file_gets_503_within_the_timeout_then_the_same_app_serves_again() {
    let dir = TempDir::new();
    let timeout = Duration::from_millis(300);
    let store = SqliteStore::open(dir.db())
        .unwrap()
        .with_timeout(timeout)
        .with_pool_size(1);
    store.migrate().await.unwrap();
    let server = Server::start(support::app::app(store.clone())).await;
    let mut browser = Browser::new(server.addr);
    browser.get("/login/ada").await;
    assert_eq!(browser.get("/incr").await.body, "1");

    let other = plain(&dir.db());
    other.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let started = Instant::now();
    let replies = concurrent_incr(&browser, server.addr, 3).await;
    let waited = started.elapsed();
    for reply in &replies {
        assert_eq!(reply.status, 503, "{reply:?}");
        assert_eq!(reply.header("retry-after"), "2");
    }
    // Within the timeout (with room for a slow machine), not hung.
    assert!(waited < timeout * 3 + Duration::from_secs(2), "{waited:?}");
    let error = store.save(&new_key(), b"{}", TTL).await.unwrap_err();
    assert_eq!(error.class(), ErrorClass::Transient, "{}", chain(&error));

    other.execute_batch("COMMIT").unwrap();
    // The same app and store, with its one pooled connection, serve again.
    assert_eq!(browser.get("/incr").await.body, "2");
    assert_eq!(browser.get("/get").await.body, "2");
    store.ping().await.unwrap();
    server.stop().await;
}

/// A connection that fails to open is not kept: while the file is not a
/// database every call fails (permanently: retrying the same file cannot
/// help), and once the database is back the same store serves it, with
/// no restart.
#[tokio::test]
async fn a_connection_that_failed_to_open_is_not_kept() {
    let dir = TempDir::new();
    let key = new_key();
    let store = SqliteStore::open(dir.db()).unwrap();
    store.migrate().await.unwrap();
    store.save(&key, br#"{"n":1}"#, TTL).await.unwrap();
    drop(store);
    // The database (with its WAL, which SQLite would read it through) goes
    // away, and a file that is not one takes its place.
    let files = |dir: &Path| ["", "-wal", "-shm"].map(|end| dir.join(format!("sessions.db{end}")));
    let aside = dir.path().join("aside");
    std::fs::create_dir(&aside).unwrap();
    let store = SqliteStore::open(dir.db()).unwrap();
    for (from, to) in files(dir.path()).iter().zip(files(&aside).iter()) {
        if from.exists() {
            std::fs::rename(from, to).unwrap();
        }
    }
    std::fs::write(dir.db(), vec![b'x'; 8192]).unwrap();
    for _ in 0..3 {
        let error = store.load(&key, TTL).await.unwrap_err();
        assert_eq!(error.class(), ErrorClass::Permanent, "{}", chain(&error));
        assert!(
            matches!(
                cause(&error),
                SqliteStoreError::Sqlite {
                    operation: "open",
                    ..
                }
            ),
            "{}",
            chain(&error)
        );
    }
    for (from, to) in files(&aside).iter().zip(files(dir.path()).iter()) {
        let _ = std::fs::remove_file(to);
        if from.exists() {
            std::fs::rename(from, to).unwrap();
        }
    }
    assert_eq!(
        store.load(&key, TTL).await.unwrap().as_deref(),
        Some(&br#"{"n":1}"#[..])
    );
    store.ping().await.unwrap();
}

/// `n` concurrent `/incr` requests of `browser`'s session, each from a
/// client of its own.
async fn concurrent_incr(browser: &Browser, addr: SocketAddr, n: usize) -> Vec<support::Reply> {
    let cookie = format!("session={}", browser.jar["session"]);
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let cookie = [cookie.clone()];
            tokio::spawn(async move { Browser::new(addr).get_raw("/incr", &cookie).await })
        })
        .collect();
    let mut replies = Vec::new();
    for task in tasks {
        replies.push(task.await.unwrap());
    }
    replies
}

// ---------------------------------------------------------------------------
// Cleanup

const EXPIRED: i64 = 100_000;

/// Rows of the bulk-inserted expired sessions still in the file.
fn expired_left(db: &rusqlite::Connection) -> i64 {
    db.query_row(
        "SELECT count(*) FROM sessionkit_sessions WHERE key LIKE 'expired:%'",
        [],
        |r| r.get(0),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cleanup_task_removes_expired_rows_in_batches_while_requests_are_served() {
    let dir = TempDir::new();
    let store = SqliteStore::open(dir.db()).unwrap();
    store.migrate().await.unwrap();
    let db = plain(&dir.db());
    db.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1) \
         INSERT INTO sessionkit_sessions (key, value, expires_at, version) \
         SELECT printf('expired:%032x', i), CAST('{\"n\":1}' AS BLOB), 1000 + i, 1 FROM n",
        [EXPIRED],
    )
    .unwrap();
    assert_eq!(expired_left(&db), EXPIRED);
    // Expired rows are never returned, and a load does not revive them.
    let expired_key = format!("expired:{:032x}", 7);
    assert_eq!(store.load(&expired_key, TTL).await.unwrap(), None);
    assert_eq!(store.load_versioned(&expired_key, TTL).await.unwrap(), None);
    assert_eq!(expired_left(&db), EXPIRED, "nothing deleted yet");

    let server = Server::start(support::app::app(store.clone())).await;
    let mut browser = Browser::new(server.addr);
    browser.get("/login/ada").await;
    let live_key = new_key();
    store
        .save(&live_key, br#"{"live":true}"#, TTL)
        .await
        .unwrap();

    let cleanup = store.spawn_cleanup(
        Cleanup::default()
            .with_interval(Duration::from_millis(1))
            .with_batch(1000)
            .with_pause(Duration::from_millis(5)),
    );
    let mut served = 0;
    let mut served_midway = 0;
    loop {
        let before = expired_left(&db);
        if before == 0 {
            break;
        }
        let reply = browser.get("/incr").await;
        assert_eq!(reply.status, 200, "{reply:?}");
        served += 1;
        assert_eq!(reply.body, served.to_string());
        let after = expired_left(&db);
        if 0 < after && after < before && before < EXPIRED {
            // Started after the first batch, done before the last.
            served_midway += 1;
        }
    }
    cleanup.stop();
    eprintln!("{served} requests served during the cleanup, {served_midway} of them midway");
    assert!(
        served_midway > 0,
        "requests must be served while the cleanup is midway"
    );
    assert_eq!(expired_left(&db), 0);
    // The live sessions are untouched.
    assert_eq!(browser.get("/get").await.body, served.to_string());
    assert_eq!(
        store.load(&live_key, TTL).await.unwrap().as_deref(),
        Some(&br#"{"live":true}"#[..])
    );
    let total: i64 = db
        .query_row("SELECT count(*) FROM sessionkit_sessions", [], |r| r.get(0))
        .unwrap();
    assert_eq!(total, 2, "the visitor's session and the live key");
    server.stop().await;
}

#[tokio::test]
async fn delete_expired_deletes_at_most_a_batch_and_only_expired_rows() {
    let store = fresh().await;
    let db = plain(&store.kept.db());
    db.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 25) \
         INSERT INTO sessionkit_sessions (key, value, expires_at, version) \
         SELECT printf('expired:%032x', i), x'7b7d', 1000, 1 FROM n",
        [],
    )
    .unwrap();
    let live = new_key();
    store.save(&live, b"{}", TTL).await.unwrap();
    assert_eq!(store.store.delete_expired(10).await.unwrap(), 10);
    assert_eq!(store.store.delete_expired(10).await.unwrap(), 10);
    assert_eq!(store.store.delete_expired(10).await.unwrap(), 5);
    assert_eq!(store.store.delete_expired(10).await.unwrap(), 0);
    assert!(store.load(&live, TTL).await.unwrap().is_some());
}

/// The WAL is checkpointed as requests come (SQLite's automatic checkpoint
/// every 1000 pages, about 4 MB), so it does not grow with their number:
/// every load and conditional save is a write that must reach it.
#[tokio::test]
async fn the_wal_stays_bounded_under_loads_and_conditional_saves() {
    let store = fresh().await;
    let wal = store.kept.db().with_extension("db-wal");
    let keys: Vec<String> = (0..200).map(|_| new_key()).collect();
    for key in &keys {
        assert!(matches!(
            store
                .save_if(key, &[b'x'; 200], TTL, Expect::Absent)
                .await
                .unwrap(),
            SaveOutcome::Saved { .. }
        ));
    }
    for round in 0..25 {
        for key in &keys {
            let loaded = store.load_versioned(key, TTL).await.unwrap().unwrap();
            if round % 5 == 0 {
                let expect = Expect::Loaded {
                    value: &loaded.value,
                    version: loaded.version,
                };
                let outcome = store.save_if(key, &[b'y'; 200], TTL, expect).await.unwrap();
                assert!(matches!(outcome, SaveOutcome::Saved { .. }));
            }
        }
    }
    // Never checkpointed, the WAL grows by some 14 KB a load: over 60 MB
    // after 5,000 loads.
    let size = std::fs::metadata(&wal).unwrap().len();
    assert!(size < 16_000_000, "the WAL grew to {size} bytes");
}

// ---------------------------------------------------------------------------
// Concurrency

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_of_one_session_lose_no_write() {
    let store = fresh().await;
    let server = Server::start(support::app::app(store.clone())).await;
    let mut browser = Browser::new(server.addr);
    browser.get("/untyped/set/start/0").await;
    let cookie = format!("session={}", browser.jar["session"]);
    let tasks: Vec<_> = (0..8)
        .map(|task| {
            let cookie = [cookie.clone()];
            let browser = Browser::new(server.addr);
            tokio::spawn(async move {
                for write in 0..10 {
                    let reply = browser
                        .get_raw(&format!("/untyped/set/t{task}w{write}/{write}"), &cookie)
                        .await;
                    assert_eq!(reply.status, 200, "{reply:?}");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let all: Value = serde_json::from_str(&browser.get("/untyped").await.body).unwrap();
    let all = all.as_object().unwrap();
    assert_eq!(all.len(), 1 + 8 * 10, "{all:?}");
    for task in 0..8 {
        for write in 0..10 {
            assert_eq!(all[&format!("t{task}w{write}")], write, "t{task}w{write}");
        }
    }
    server.stop().await;
}

// ---------------------------------------------------------------------------
// Error messages

#[tokio::test]
async fn error_messages_never_contain_a_session_id() {
    let dir = TempDir::new();
    let store = SqliteStore::open(dir.db())
        .unwrap()
        .with_timeout(Duration::from_millis(200))
        .with_max_value_size(16);
    let id = SessionId::generate().to_string();
    let key = format!("session:{id}");
    let mut errors = vec![store.load(&key, TTL).await.unwrap_err()]; // no table
    store.migrate().await.unwrap();
    errors.push(store.save(&key, &[b'x'; 17], TTL).await.unwrap_err());
    let other = plain(&dir.db());
    other.execute_batch("BEGIN EXCLUSIVE").unwrap();
    errors.push(store.load(&key, TTL).await.unwrap_err());
    errors.push(store.save(&key, b"{}", TTL).await.unwrap_err());
    errors.push(
        store
            .save_if(&key, b"{}", TTL, Expect::Absent)
            .await
            .unwrap_err(),
    );
    let loaded = Expect::Loaded {
        value: b"{}",
        version: Some(1),
    };
    errors.push(store.save_if(&key, b"{}", TTL, loaded).await.unwrap_err());
    errors.push(store.delete(&key).await.unwrap_err());
    for error in &errors {
        let text = format!("{} / {error:?}", chain(error));
        assert!(!text.contains(&id), "{text}");
        assert!(!text.contains(&id[..8]), "{text}");
    }

    // What the layer logs for a request that failed on the locked file.
    let server = Server::start(support::app::app(store.clone())).await;
    let cookie = [format!("session={id}")];
    let client = Browser::new(server.addr);
    let (reply, logs) = capture_logs(client.get_raw("/incr", &cookie)).await;
    assert_eq!(reply.status, 503);
    assert!(logs.contains("sqlite"), "{logs}");
    assert!(!logs.contains(&id[..8]), "{logs}");
    other.execute_batch("ROLLBACK").unwrap();
    server.stop().await;
}
