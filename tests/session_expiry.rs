//! A session's own expiry (`set_expiry`, "remember me") and an absolute
//! `max_lifetime`, over real HTTP against a real clock, on the memory store,
//! Redis and memcached (real servers started by the tests).

mod support;

use std::time::{Duration, Instant};

use axum::extract::Path;
use axum::routing::get;
use axum::Router;
use serde::{Deserialize, Serialize};
use sessionkit::{session_config, MemoryStore, Session, SessionLayer, SessionStore};

use support::{serve, Browser};

session_config! {
    /// Ends 3 seconds after it was created, however often it is used.
    LIFE {
        cookie_name: "life",
        prefix: "life:",
        expiry: 3 seconds,
        max_lifetime: 3 seconds,
    }
    /// A browser-session cookie that expires after 2 idle seconds, unless
    /// the visitor asks to be remembered.
    REMEMBER {
        cookie_name: "rem",
        prefix: "rem:",
        expiry: 2 seconds,
        sessioncookie: true,
    }
}

#[derive(Session, Serialize, Deserialize, Default)]
#[session(config = LIFE)]
struct Life {
    n: u64,
}

#[derive(Session, Serialize, Deserialize, Default)]
#[session(config = REMEMBER)]
struct Login {
    user: Option<String>,
}

fn app(store: impl SessionStore) -> Router {
    Router::new()
        .route(
            "/life",
            get(|mut life: Session<Life>| async move {
                life.n += 1;
                life.n.to_string()
            }),
        )
        .route(
            "/life/cycle",
            get(|mut life: Session<Life>| async move {
                life.cycle_id();
                life.n += 1;
                life.n.to_string()
            }),
        )
        .route(
            "/life/peek",
            get(|life: Option<Session<Life>>| async move {
                life.map_or("none".to_string(), |life| life.n.to_string())
            }),
        )
        .route(
            "/login/{remember_secs}",
            get(
                |Path(remember_secs): Path<u64>, mut login: Session<Login>| async move {
                    login.cycle_id();
                    login.user = Some("ada".into());
                    if remember_secs > 0 {
                        login
                            .set_expiry(Duration::from_secs(remember_secs))
                            .unwrap();
                    }
                },
            ),
        )
        .route(
            "/me",
            get(|login: Session<Login>| async move {
                let expiry = login.expiry().map_or(0, |e| e.as_secs());
                format!("{}|{expiry}", login.user.clone().unwrap_or_default())
            }),
        )
        .route(
            "/forget",
            get(|mut login: Session<Login>| async move { login.clear_expiry() }),
        )
        .route(
            "/too-long",
            get(|mut login: Session<Login>| async move {
                let error = login
                    .set_expiry(Duration::from_secs(401 * 86_400))
                    .unwrap_err();
                format!("{}|{:?}", error, login.expiry())
            }),
        )
        .layer(SessionLayer::new(store))
}

/// Whether the store holds `key`.
async fn held(store: &impl SessionStore, key: &str) -> bool {
    store
        .load(key, Duration::from_secs(60))
        .await
        .unwrap()
        .is_some()
}

/// Sleeps until `elapsed` after `start`.
async fn until(start: Instant, elapsed: Duration) {
    tokio::time::sleep(elapsed.saturating_sub(start.elapsed())).await;
}

/// A session used every 300 ms, so its 3-second idle expiry never runs out,
/// and given a new id on the way, still ends 3 seconds after it was created;
/// meanwhile its cookie's `Max-Age` counts down to that end.
async fn max_lifetime_ends_a_busy_session<S: SessionStore + Clone>(store: S) {
    let addr = serve(app(store.clone())).await;
    let mut browser = Browser::new(addr);
    assert_eq!(browser.get("/life").await.body, "1");
    // Its creation time is stamped, in whole seconds, before this answer.
    let created = Instant::now();
    let first_id = browser.jar["life"].clone();
    let mut n = 1;
    while created.elapsed() < Duration::from_millis(1400) {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let sent = created.elapsed();
        let path = if n == 2 { "/life/cycle" } else { "/life" };
        let reply = browser.get(path).await;
        n += 1;
        assert_eq!(reply.body, n.to_string(), "still the same session");
        let max_age: u64 = reply
            .cookie_attribute("life", "max-age")
            .expect("a Max-Age")
            .parse()
            .unwrap();
        // A second after creation, less than the 3-second expiry is left.
        let bound = if sent >= Duration::from_secs(1) { 2 } else { 3 };
        assert!(
            max_age <= bound,
            "Max-Age={max_age} {sent:?} after creation"
        );
    }
    let last_id = browser.jar["life"].clone();
    assert_ne!(last_id, first_id, "cycle_id gave a new id");
    assert!(held(&store, &format!("life:{last_id}")).await);

    until(created, Duration::from_millis(3300)).await;
    // Last used about 1.5 s ago: within the idle expiry, past the lifetime.
    let reply = browser.get("/life/peek").await;
    assert_eq!(reply.body, "none", "an ended session is not loaded");
    assert_eq!(
        reply.cookie_attribute("life", "max-age").as_deref(),
        Some("0"),
        "and its cookie is expired"
    );
    assert!(
        !held(&store, &format!("life:{last_id}")).await,
        "and its data deleted"
    );

    // Presented again, the ended id starts over, under a new id.
    browser.jar.insert("life".into(), last_id.clone());
    assert_eq!(browser.get("/life").await.body, "1");
    assert_ne!(browser.jar["life"], last_id);
}

/// Without "remember me" the cookie is a browser-session cookie and the
/// session ends 2 idle seconds after its last use. With it, the cookie has
/// the session's own `Max-Age`, the store keeps the session that long even
/// after requests that only read it (each of which slides the store's
/// expiry to the config's first), and both last across requests and a new
/// id until the session goes back to the config's expiry.
async fn remember_me<S: SessionStore + Clone>(store: S, ttl: impl Fn(&str) -> Option<i64>) {
    let addr = serve(app(store.clone())).await;

    let mut forgetful = Browser::new(addr);
    let login = forgetful.get("/login/0").await;
    assert_eq!(login.cookie_attribute("rem", "max-age"), None);
    assert_eq!(forgetful.get("/me").await.body, "ada|0");
    // Past 2 idle seconds, by more than memcached's one-second clock.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert_eq!(
        forgetful.get("/me").await.body,
        "|0",
        "expired after 2 idle seconds"
    );

    let mut remembered = Browser::new(addr);
    let login = remembered.get("/login/8").await;
    assert_eq!(
        login.cookie_attribute("rem", "max-age").as_deref(),
        Some("8")
    );
    let key = format!("rem:{}", remembered.jar["rem"]);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let read = remembered.get("/me").await;
    assert_eq!(read.body, "ada|8");
    assert_eq!(
        read.cookie_attribute("rem", "max-age").as_deref(),
        Some("8")
    );
    if let Some(left) = ttl(&key) {
        assert!(left > 2, "the store's expiry after a read is {left} s");
    }
    // Idle for longer than the config's 2 seconds.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let read = remembered.get("/me").await;
    assert_eq!(read.body, "ada|8", "remembered past the config's expiry");

    let forgot = remembered.get("/forget").await;
    assert_eq!(forgot.cookie_attribute("rem", "max-age"), None);
    assert_eq!(remembered.get("/me").await.body, "ada|0");
    if let Some(left) = ttl(&key) {
        // memcached counts in whole seconds of its own clock: up to one more.
        assert!(
            left <= 3,
            "the store's expiry after clear_expiry is {left} s"
        );
    }

    let refused = remembered.get("/too-long").await.body;
    assert!(
        refused.contains("`expiry`") && refused.ends_with("|None"),
        "{refused}"
    );
}

#[tokio::test]
async fn memory_max_lifetime_ends_a_busy_session() {
    max_lifetime_ends_a_busy_session(MemoryStore::new()).await;
}

#[tokio::test]
async fn memory_remember_me() {
    remember_me(MemoryStore::new(), |_| None).await;
}

#[cfg(feature = "redis")]
mod redis {
    use sessionkit::RedisStore;

    use super::support::servers::RedisServer;
    use super::*;

    async fn store(redis: &RedisServer) -> RedisStore {
        RedisStore::from_url(&redis.url()).await.unwrap()
    }

    #[tokio::test]
    async fn redis_max_lifetime_ends_a_busy_session() {
        let redis = RedisServer::start();
        max_lifetime_ends_a_busy_session(store(&redis).await).await;
    }

    #[tokio::test]
    async fn redis_remember_me() {
        let redis = RedisServer::start();
        let ttl = |key: &str| Some(redis.cli(&["TTL", key]).trim().parse().unwrap());
        remember_me(store(&redis).await, ttl).await;
    }
}

#[cfg(feature = "memcache")]
mod memcache {
    use sessionkit::MemcacheStore;

    use super::support::memcached::Memcached;
    use super::*;

    #[tokio::test]
    async fn memcached_max_lifetime_ends_a_busy_session() {
        let server = Memcached::start();
        let store = MemcacheStore::new([server.addr()]).unwrap();
        max_lifetime_ends_a_busy_session(store).await;
    }

    #[tokio::test]
    async fn memcached_remember_me() {
        let server = Memcached::start();
        let store = MemcacheStore::new([server.addr()]).unwrap();
        remember_me(store, |key| server.ttl(key)).await;
    }
}
