//! Readiness: `SessionStore::ping` and `SessionLayer::ping` against the
//! memory store, real `redis-server`, `memcached` and PostgreSQL processes
//! and a SQLite file, while the servers run, after they are stopped (or
//! frozen, or the file locked), and once they are back.

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use sessionkit::store::memory::MemoryStore;
use sessionkit::{ErrorClass, SessionLayer, SessionStore, StoreError};

use support::{serve, Browser};

/// Every test is bounded: a ping that hangs fails the test instead.
const TEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The store timeout the tests give the server-backed stores.
const STORE_TIMEOUT: Duration = Duration::from_millis(500);

/// How long past the store's timeout a failing ping may take before the
/// test calls it a hang (scheduling on a loaded machine, not speed).
const SLACK: Duration = Duration::from_secs(5);

/// An app whose `/ready` answers 200 when the layer's store answers a
/// ping, 503 otherwise.
fn ready_app(sessions: SessionLayer) -> Router {
    let probe = sessions.clone();
    Router::new()
        .route(
            "/ready",
            get(move || {
                let ping = probe.ping();
                async move {
                    match ping.await {
                        Ok(()) => StatusCode::OK,
                        Err(_) => StatusCode::SERVICE_UNAVAILABLE,
                    }
                }
            }),
        )
        .layer(sessions)
}

/// Pings `store` once: the result and how long it took.
async fn ping(store: &dyn SessionStore) -> (Result<(), StoreError>, Duration) {
    let started = Instant::now();
    let result = tokio::time::timeout(STORE_TIMEOUT + SLACK, store.ping())
        .await
        .expect("a ping is bounded by the store's timeout");
    (result, started.elapsed())
}

/// A failed ping: transient, and over within the store's timeout (plus
/// scheduling slack).
async fn assert_down(store: &dyn SessionStore) -> StoreError {
    let (result, took) = ping(store).await;
    let error = result.expect_err("the server is down");
    eprintln!("down after {took:?}: {}", support::chain(&error));
    assert_eq!(error.class(), ErrorClass::Transient, "{error:?}");
    error
}

/// Pings until the store answers again (a reconnecting client, a pool
/// dropping a dead connection); panics after 30 seconds.
async fn until_up(store: &dyn SessionStore) -> Duration {
    let started = Instant::now();
    loop {
        if ping(store).await.0.is_ok() {
            return started.elapsed();
        }
        assert!(started.elapsed() < Duration::from_secs(30), "no recovery");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn ready(addr: SocketAddr) -> u16 {
    Browser::new(addr).get("/ready").await.status
}

#[tokio::test]
async fn the_memory_store_is_always_reachable() {
    let store = MemoryStore::new();
    let (result, _) = ping(&store).await;
    assert!(result.is_ok());
    let addr = serve(ready_app(SessionLayer::new(store))).await;
    assert_eq!(ready(addr).await, 200);
}

/// A store of another crate that does not override `ping` is reported
/// reachable.
#[tokio::test]
async fn a_store_that_cannot_tell_is_reported_reachable() {
    let store = support::Counting::new(MemoryStore::new());
    assert!(store.ping().await.is_ok());
}

#[cfg(feature = "redis")]
mod redis {
    use sessionkit::RedisStore;

    use super::support::servers::RedisServer;
    use super::*;

    #[tokio::test]
    async fn ping_follows_the_server_down_and_back() {
        tokio::time::timeout(TEST_TIMEOUT, async {
            let mut redis = RedisServer::start();
            let store = RedisStore::from_url(&redis.url())
                .await
                .unwrap()
                .with_timeout(STORE_TIMEOUT);
            let addr = serve(ready_app(SessionLayer::new(store.clone()))).await;
            assert!(ping(&store).await.0.is_ok());
            assert_eq!(ready(addr).await, 200);

            redis.server.stop();
            let error = assert_down(&store).await;
            assert!(
                support::chain(&error).contains("PING"),
                "{}",
                support::chain(&error)
            );
            assert_eq!(ready(addr).await, 503);

            redis.server.restart();
            eprintln!("back after {:?}", until_up(&store).await);
            assert_eq!(ready(addr).await, 200);
        })
        .await
        .expect("never a hang");
    }

    /// A frozen server accepts the connection but never answers: the
    /// ping times out.
    #[tokio::test]
    async fn a_frozen_server_times_out() {
        tokio::time::timeout(TEST_TIMEOUT, async {
            let redis = RedisServer::start();
            let store = RedisStore::from_url(&redis.url())
                .await
                .unwrap()
                .with_timeout(STORE_TIMEOUT);
            assert!(ping(&store).await.0.is_ok());
            redis.server.pause();
            let error = assert_down(&store).await;
            redis.server.resume();
            let text = support::chain(&error);
            assert!(text.contains("PING"), "{text}");
            until_up(&store).await;
        })
        .await
        .expect("never a hang");
    }
}

#[cfg(feature = "memcache")]
mod memcache {
    use sessionkit::MemcacheStore;

    use super::support::memcached::Memcached;
    use super::*;

    #[tokio::test]
    async fn ping_names_the_server_that_is_down_and_recovers() {
        tokio::time::timeout(TEST_TIMEOUT, async {
            let first = Memcached::start();
            let mut second = Memcached::start();
            let store = MemcacheStore::new([first.addr(), second.addr()])
                .unwrap()
                .with_timeout(STORE_TIMEOUT);
            let addr = serve(ready_app(SessionLayer::new(store.clone()))).await;
            assert!(ping(&store).await.0.is_ok());
            assert_eq!(ready(addr).await, 200);

            second.stop();
            // Stopped, its pooled connection is dead and a new one is
            // refused: the error names the server either way.
            for _ in 0..2 {
                let error = assert_down(&store).await;
                let text = support::chain(&error);
                assert!(text.contains(&second.addr()), "{text}");
                assert!(!text.contains(&first.addr()), "{text}");
            }
            assert_eq!(ready(addr).await, 503);

            second.restart();
            eprintln!("back after {:?}", until_up(&store).await);
            assert_eq!(ready(addr).await, 200);
        })
        .await
        .expect("never a hang");
    }

    /// A frozen server accepts connections but never answers: the ping
    /// times out, naming it.
    #[tokio::test]
    async fn a_frozen_server_times_out_and_is_named() {
        tokio::time::timeout(TEST_TIMEOUT, async {
            let first = Memcached::start();
            let store = MemcacheStore::new([first.addr()])
                .unwrap()
                .with_timeout(STORE_TIMEOUT);
            assert!(ping(&store).await.0.is_ok());
            first.pause();
            let error = assert_down(&store).await;
            first.resume();
            let text = support::chain(&error);
            assert!(
                text.contains(&format!("`version` on {}", first.addr())),
                "{text}"
            );
            assert!(text.contains("no answer within 500ms"), "{text}");
            until_up(&store).await;
        })
        .await
        .expect("never a hang");
    }
}

#[cfg(feature = "postgres")]
mod postgres {
    use sessionkit::PostgresStore;

    use super::support::postgres::Postgres;
    use super::*;

    #[tokio::test]
    async fn ping_follows_the_server_down_and_back() {
        tokio::time::timeout(TEST_TIMEOUT, async {
            let mut server = Postgres::start_new();
            let store = PostgresStore::new(&server.url())
                .unwrap()
                .with_timeout(STORE_TIMEOUT);
            let addr = serve(ready_app(SessionLayer::new(store.clone()))).await;
            assert!(ping(&store).await.0.is_ok());
            assert_eq!(ready(addr).await, 200);

            server.stop();
            // Its pooled connection was ended, and a new one is refused.
            for _ in 0..2 {
                assert_down(&store).await;
            }
            assert_eq!(ready(addr).await, 503);

            server.start();
            eprintln!("back after {:?}", until_up(&store).await);
            assert_eq!(ready(addr).await, 200);
        })
        .await
        .expect("never a hang");
    }

    /// A frozen server accepts connections but never answers: the ping
    /// times out, and the connection it waited on is not reused.
    #[tokio::test]
    async fn a_frozen_server_times_out() {
        tokio::time::timeout(TEST_TIMEOUT, async {
            let server = Postgres::start_new();
            let store = PostgresStore::new(&server.url())
                .unwrap()
                .with_timeout(STORE_TIMEOUT)
                .with_pool_size(1);
            assert!(ping(&store).await.0.is_ok());
            server.pause();
            let error = assert_down(&store).await;
            server.resume();
            let text = support::chain(&error);
            assert!(
                text.contains("`ping` got no answer from PostgreSQL within 500ms"),
                "{text}"
            );
            until_up(&store).await;
        })
        .await
        .expect("never a hang");
    }
}

#[cfg(feature = "sqlite")]
mod sqlite {
    use sessionkit::store::sqlite::rusqlite;
    use sessionkit::SqliteStore;

    use super::support::temp::TempDir;
    use super::*;

    /// Another connection holding the file's write lock makes the ping
    /// fail as a load would (transient, within the timeout); once it lets
    /// go, the same store answers again.
    #[tokio::test]
    async fn ping_follows_a_locked_file_and_a_missing_table() {
        tokio::time::timeout(TEST_TIMEOUT, async {
            let dir = TempDir::new();
            let store = SqliteStore::open(dir.db())
                .unwrap()
                .with_timeout(STORE_TIMEOUT);
            let addr = serve(ready_app(SessionLayer::new(store.clone()))).await;
            let (result, _) = ping(&store).await;
            let error = result.expect_err("no table yet");
            assert_eq!(error.class(), ErrorClass::Permanent);
            assert!(support::chain(&error).contains("migrate()"));
            assert_eq!(ready(addr).await, 503);
            store.migrate().await.unwrap();
            assert!(ping(&store).await.0.is_ok());
            assert_eq!(ready(addr).await, 200);

            let other = rusqlite::Connection::open(dir.db()).unwrap();
            other.execute_batch("BEGIN EXCLUSIVE").unwrap();
            assert_down(&store).await;
            assert_eq!(ready(addr).await, 503);
            other.execute_batch("ROLLBACK").unwrap();
            eprintln!("back after {:?}", until_up(&store).await);
            assert_eq!(ready(addr).await, 200);
        })
        .await
        .expect("never a hang");
    }
}
