//! Log out everywhere: sessions with owners, listed and ended together,
//! over real HTTP, on the memory store, a real redis-server and a real
//! 3-master Redis Cluster; memcached refuses owners at start-up.

mod support;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::extract::Path;
use axum::routing::get;
use axum::Router;
use serde::{Deserialize, Serialize};
use sessionkit::{session_config, Error, MemoryStore, Owners, Session, SessionLayer, SessionStore};

use support::{serve, Browser, Counting};

session_config! {
    /// The login session: an hour idle, owned by the user who logged in.
    LOGIN {
        cookie_name: "login",
        prefix: "login:",
        expiry: 1 hour,
    }
}

#[derive(Session, Serialize, Deserialize, Default)]
#[session(config = LOGIN)]
struct Login {
    user: Option<String>,
    n: u64,
}

fn routes() -> Router {
    Router::new()
        .route(
            "/login/{user}",
            get(
                |Path(user): Path<String>, mut login: Session<Login>| async move {
                    login.cycle_id();
                    login.set_owner(user.clone()).unwrap();
                    login.user = Some(user);
                },
            ),
        )
        .route(
            "/me",
            get(|login: Session<Login>| async move { login.user.clone().unwrap_or_default() }),
        )
        .route(
            "/sessions",
            get(|login: Session<Login>, owners: Owners| async move {
                let owner = login.owner().expect("logged in").to_owned();
                let sessions = owners.list::<Login>(&owner).await.unwrap();
                let now = SystemTime::now();
                for s in &sessions {
                    assert!(s.id_hint.ends_with('…') && s.id_hint.chars().count() == 5);
                    assert!(s.created <= now && s.created <= s.last_seen);
                    assert!(s.last_seen <= now && s.expires > now);
                }
                let mut hints: Vec<String> = sessions.into_iter().map(|s| s.id_hint).collect();
                hints.sort();
                hints.join(",")
            }),
        )
        .route(
            "/logout-others",
            get(|login: Session<Login>, owners: Owners| async move {
                owners.revoke_others(&login).await.unwrap().to_string()
            }),
        )
        .route(
            "/logout-everywhere/{user}",
            get(|Path(user): Path<String>, owners: Owners| async move {
                owners.revoke_all::<Login>(&user).await.unwrap().to_string()
            }),
        )
        .route(
            "/logout",
            get(|mut login: Session<Login>| async move { login.destroy() }),
        )
        .route(
            "/bump",
            get(|mut login: Session<Login>| async move {
                login.n += 1;
                login.n.to_string()
            }),
        )
        .route(
            "/slow-write",
            get(|mut login: Session<Login>| async move {
                tokio::time::sleep(Duration::from_millis(600)).await;
                login.n += 1;
            }),
        )
}

/// Logs a new browser in as `user`.
async fn device(addr: std::net::SocketAddr, user: &str) -> Browser {
    let mut browser = Browser::new(addr);
    let reply = browser.get(&format!("/login/{user}")).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(browser.get("/me").await.body, user);
    browser
}

/// Whether `browser` is still logged in (its cookie loads its session).
async fn logged_in(browser: &mut Browser) -> bool {
    !browser.get("/me").await.body.is_empty()
}

/// The whole story on one store: three devices of one user and one of
/// another; log out other devices; log out everywhere from another
/// request and from outside any request; a request in flight during a
/// revoke cannot save its session back; a logout takes the session out of
/// its index, and an index left empty is gone.
async fn log_out_everywhere<S: SessionStore + Clone>(
    store: S,
    index_exists: impl Fn(&str) -> Option<bool>,
) {
    let layer = SessionLayer::new(store.clone()).with_owners().unwrap();
    let addr = serve(routes().layer(layer.clone())).await;

    let mut a = device(addr, "ada").await;
    let mut b = device(addr, "ada").await;
    let mut c = device(addr, "ada").await;
    let mut d = device(addr, "bob").await;

    let listed = a.get("/sessions").await.body;
    assert_eq!(listed.split(',').count(), 3, "{listed}");
    for browser in [&a, &b, &c] {
        let hint = format!("{}…", &browser.jar["login"][..4]);
        assert!(listed.contains(&hint), "{hint} in {listed}");
    }
    assert_eq!(d.get("/sessions").await.body.split(',').count(), 1);

    // Log out other devices.
    assert_eq!(a.get("/logout-others").await.body, "2");
    assert!(logged_in(&mut a).await);
    assert!(!logged_in(&mut b).await);
    assert!(!logged_in(&mut c).await);
    assert!(logged_in(&mut d).await, "another owner's session stays");
    assert_eq!(a.get("/sessions").await.body.split(',').count(), 1);

    // Log out everywhere, from another user's request (an admin).
    let mut b = device(addr, "ada").await;
    assert_eq!(d.get("/logout-everywhere/ada").await.body, "2");
    assert!(!logged_in(&mut a).await);
    assert!(!logged_in(&mut b).await);
    assert!(logged_in(&mut d).await);

    // From outside any request, with a request of the session in flight:
    // it loaded before the revoke and saves after it, and finds it gone.
    let mut c = device(addr, "ada").await;
    let cookie = format!("login={}", c.jar["login"]);
    let in_flight = {
        let c = Browser::new(addr);
        tokio::spawn(async move { c.get_raw("/slow-write", &[cookie]).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let owners = layer.owners().unwrap();
    assert_eq!(owners.revoke_all::<Login>("ada").await.unwrap(), 1);
    let late = in_flight.await.unwrap();
    assert_eq!(
        late.cookie_attribute("login", "max-age").as_deref(),
        Some("0"),
        "the request in flight does not save the revoked session back: {late:?}"
    );
    assert!(!logged_in(&mut c).await);
    assert!(owners.list::<Login>("ada").await.unwrap().is_empty());
    assert_ne!(
        index_exists("login:owner:ada"),
        Some(true),
        "an empty index is removed"
    );

    // A logout takes the session out of its index.
    assert_ne!(index_exists("login:owner:bob"), Some(false));
    d.get("/logout").await;
    assert!(owners.list::<Login>("bob").await.unwrap().is_empty());
    assert_ne!(index_exists("login:owner:bob"), Some(true));
}

#[tokio::test]
async fn memory_log_out_everywhere() {
    let store = Arc::new(MemoryStore::new());
    log_out_everywhere(store, |_| None).await;
}

/// Saving an owned session whose owner and id stay as they were writes
/// nothing to its index: no round trip more than without an owner. A
/// login writes the index once; a new id, twice (the new key in, the old
/// one out).
#[tokio::test]
async fn an_owned_session_saves_without_touching_its_index() {
    let store = Counting::new(MemoryStore::new());
    let counts = Arc::clone(&store.counts);
    let layer = SessionLayer::new(store).with_owners().unwrap();
    let addr = serve(routes().layer(layer)).await;
    let writes = || {
        counts
            .index_writes
            .load(std::sync::atomic::Ordering::SeqCst)
    };
    let saves = || counts.get().1;

    let mut browser = device(addr, "ada").await;
    assert_eq!(writes(), 1, "the login enters the session in the index");
    let before = saves();
    for n in 1..=3 {
        assert_eq!(browser.get("/bump").await.body, n.to_string());
    }
    assert_eq!(saves(), before + 3, "each change is saved");
    assert_eq!(writes(), 1, "and the index is not touched");

    // Logging in again: a new id for the same owner.
    browser.get("/login/ada").await;
    assert_eq!(writes(), 3);
}

/// One owner's index keeps at most 100 sessions: the 101st login ends one
/// of the others, and every listed session still loads.
#[tokio::test]
async fn an_owner_keeps_at_most_a_hundred_sessions() {
    let layer = SessionLayer::new(MemoryStore::new()).with_owners().unwrap();
    let addr = serve(routes().layer(layer.clone())).await;
    let mut devices = Vec::new();
    for _ in 0..101 {
        let mut browser = Browser::new(addr);
        browser.get("/login/many").await;
        devices.push(browser);
    }
    let listed = layer.owners().unwrap().list::<Login>("many").await.unwrap();
    assert_eq!(listed.len(), 100);
    let mut out = 0;
    for browser in &mut devices {
        if !logged_in(browser).await {
            out += 1;
        }
    }
    assert_eq!(out, 1, "exactly one session was ended to make room");
}

/// Owners need a layer that keeps owner indexes: a session cannot be given
/// one otherwise, and the handle is refused.
#[tokio::test]
async fn owners_need_with_owners() {
    let layer = SessionLayer::new(MemoryStore::new());
    let error = layer.owners().unwrap_err();
    assert!(matches!(error, Error::Owner { .. }), "{error:?}");
    assert!(error.to_string().contains("with_owners"), "{error}");

    let app = Router::new()
        .route(
            "/login",
            get(|mut login: Session<Login>| async move {
                match login.set_owner("ada") {
                    Ok(()) => "owned".to_string(),
                    Err(error) => error.to_string(),
                }
            }),
        )
        .route(
            "/bad-owner",
            get(|mut login: Session<Login>| async move {
                login.set_owner("a b").unwrap_err().to_string()
            }),
        );
    let plain = serve(app.clone().layer(layer)).await;
    let body = Browser::new(plain).get("/login").await.body;
    assert!(body.contains("with_owners"), "{body}");

    let owned =
        serve(app.layer(SessionLayer::new(MemoryStore::new()).with_owners().unwrap())).await;
    assert_eq!(Browser::new(owned).get("/login").await.body, "owned");
    let body = Browser::new(owned).get("/bad-owner").await.body;
    assert!(body.contains("visible ASCII"), "{body}");
}

#[cfg(feature = "redis")]
mod redis {
    use sessionkit::RedisStore;

    use super::support::servers::{RedisCluster, RedisServer};
    use super::*;

    #[tokio::test]
    async fn redis_log_out_everywhere() {
        let redis = RedisServer::start();
        let store = RedisStore::from_url(&redis.url()).await.unwrap();
        let exists = |key: &str| Some(redis.cli(&["EXISTS", key]).trim() == "1");
        log_out_everywhere(store, exists).await;
    }

    /// On a cluster the index is one key (one hash slot) and the sessions
    /// are spread over the others.
    #[tokio::test]
    async fn redis_cluster_log_out_everywhere() {
        let cluster = RedisCluster::start(3);
        let store = RedisStore::from_cluster_nodes(cluster.urls())
            .await
            .unwrap();
        let port = cluster.ports()[0];
        let exists = |key: &str| {
            Some(super::support::servers::redis_cli(port, &["-c", "EXISTS", key]).trim() == "1")
        };
        log_out_everywhere(store, exists).await;
    }
}

#[cfg(feature = "memcache")]
mod memcache {
    use sessionkit::MemcacheStore;

    use super::support::memcached::Memcached;
    use super::*;

    /// memcached cannot list what it holds: a layer over it refuses owners
    /// at start-up, saying so.
    #[tokio::test]
    async fn memcached_refuses_owners_at_start_up() {
        let server = Memcached::start();
        let store = MemcacheStore::new([server.addr()]).unwrap();
        let error = SessionLayer::new(store).with_owners().unwrap_err();
        let text = error.to_string();
        assert!(
            text.contains("memcache") && text.contains("owner index"),
            "{text}"
        );
    }
}
