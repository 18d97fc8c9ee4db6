//! The sessionkit modes: one `#[derive(Session)]` counter, five stores.
//!
//! A session's expiry is part of its compiled-in config (`session_config!`)
//! and sessionkit offers no run-time override of it, so `--expiry` picks one
//! of a few counter types compiled here, one per supported expiry.

use axum::{routing::get, Router};
use serde::{Deserialize, Serialize};
use sessionkit::{session_config, Session, SessionData, SessionLayer, SessionStore};

use super::contention;

/// The counter every sessionkit mode keeps, whatever its expiry.
trait Counter: SessionData {
    fn n(&self) -> u64;
    fn set_n(&mut self, n: u64);
}

async fn incr<T: Counter>(mut session: Session<T>) -> String {
    let n = session.n() + 1;
    session.set_n(n);
    n.to_string()
}

async fn read<T: Counter>(session: Session<T>) -> String {
    session.n().to_string()
}

/// The counter's routes, without a session layer.
fn counter_routes<T: Counter>() -> Router {
    Router::new()
        .route("/incr", get(incr::<T>))
        .route("/get", get(read::<T>))
        .route("/plain", get(super::bare::read))
}

/// What is built for the counter type of one expiry (see `with_expiry`).
trait WithCounter {
    type Output;
    fn with<T: Counter>(self) -> Self::Output;
}

/// The routes behind `Router::layer(SessionLayer)`, as the README shows.
struct Layered<S> {
    store: S,
    contention: bool,
}

impl<S: SessionStore> WithCounter for Layered<S> {
    type Output = Router;
    fn with<T: Counter>(self) -> Router {
        counter_router::<T>(self.store, self.contention)
    }
}

/// The routes alone, for a layer applied around the whole router.
struct Routes;

impl WithCounter for Routes {
    type Output = Router;
    fn with<T: Counter>(self) -> Router {
        counter_routes::<T>()
    }
}

fn counter_router<T: Counter>(store: impl SessionStore, contention: bool) -> Router {
    let routes = counter_routes::<T>();
    if !contention {
        return routes.layer(SessionLayer::new(store));
    }
    // Only for the contention workload: the counting wrapper and the extra
    // route would otherwise be part of what the other workloads measure.
    let (store, counts) = contention::counted(store);
    let routes = routes
        .merge(contention::routes())
        .layer(SessionLayer::new(store));
    contention::with_report(routes, counts)
}

/// One config (sanic-session's defaults but the expiry) and one counter
/// type per supported expiry, and `with_expiry` to pick one.
macro_rules! counters {
    ($($secs:tt => $config:ident, $ty:ident;)*) => {
        $(
            session_config! {
                /// sanic-session's defaults, with this expiry.
                $config { expiry: $secs }
            }

            /// `{ n: u64 }` with this expiry.
            #[derive(sessionkit::Session, Serialize, Deserialize, Default)]
            #[session(config = $config)]
            #[serde(default)]
            struct $ty {
                n: u64,
            }

            impl Counter for $ty {
                fn n(&self) -> u64 {
                    self.n
                }
                fn set_n(&mut self, n: u64) {
                    self.n = n;
                }
            }
        )*

        /// Builds `what` for the counter type of `expiry` seconds.
        fn with_expiry<W: WithCounter>(expiry: u64, what: W) -> Result<W::Output, String> {
            match expiry {
                $($secs => Ok(what.with::<$ty>()),)*
                other => Err(format!(
                    "`--expiry {other}`: sessionkit modes support only {} (the expiry is compiled into the session type)",
                    [$(stringify!($secs)),*].join(", ")
                )),
            }
        }
    };
}

/// Builds the router for `expiry` seconds over `store`, behind
/// `Router::layer`, with the contention workload's routes if `contention`.
fn router_with_expiry(
    expiry: u64,
    store: impl SessionStore,
    contention: bool,
) -> Result<Router, String> {
    with_expiry(expiry, Layered { store, contention })
}

counters! {
    2 => EXPIRY_2S, Counter2s;
    5 => EXPIRY_5S, Counter5s;
    10 => EXPIRY_10S, Counter10s;
    30 => EXPIRY_30S, Counter30s;
    60 => EXPIRY_1M, Counter1m;
    300 => EXPIRY_5M, Counter5m;
    3600 => EXPIRY_1H, Counter1h;
    86400 => EXPIRY_1D, Counter1d;
    2592000 => EXPIRY_30D, Counter30d;
}

/// Also serves `GET /len`, the number of sessions the store holds (expired
/// ones not yet reclaimed included), outside the session layer: the memory
/// measurement reads it to tell reclaimed sessions from memory the
/// allocator kept.
pub(super) fn memory(expiry: u64, contention: bool) -> Result<Router, String> {
    let store = sessionkit::MemoryStore::new();
    let len = len_route(&store);
    Ok(router_with_expiry(expiry, store, contention)?.route("/len", len))
}

/// `sessionkit-memory-around`: the memory mode's routes (and `GET /len`)
/// without a layer, and the layer to apply around the whole router.
pub(super) fn memory_around(expiry: u64) -> Result<(Router, SessionLayer), String> {
    let store = sessionkit::MemoryStore::new();
    let routes = with_expiry(expiry, Routes)?.route("/len", len_route(&store));
    Ok((routes, SessionLayer::new(store)))
}

/// `GET /len`: the number of sessions `store` holds.
fn len_route(store: &sessionkit::MemoryStore) -> axum::routing::MethodRouter {
    let probe = store.clone();
    get(move || {
        let n = probe.len();
        async move { n.to_string() }
    })
}

#[cfg(feature = "redis")]
pub(super) async fn redis(
    expiry: u64,
    url: &str,
    contention: bool,
) -> Result<Router, Box<dyn std::error::Error>> {
    let store = sessionkit::RedisStore::from_url(url)
        .await
        .map_err(|e| format!("cannot connect to Redis at {url}: {e}"))?;
    Ok(router_with_expiry(expiry, store, contention)?)
}

#[cfg(not(feature = "redis"))]
pub(super) async fn redis(
    _expiry: u64,
    _url: &str,
    _contention: bool,
) -> Result<Router, Box<dyn std::error::Error>> {
    Err("mode `sessionkit-redis` needs the bench built with `--features redis`".into())
}

#[cfg(feature = "memcache")]
pub(super) fn memcache(
    expiry: u64,
    servers: &str,
    contention: bool,
) -> Result<Router, Box<dyn std::error::Error>> {
    let store = sessionkit::MemcacheStore::new(servers.split(','))?;
    Ok(router_with_expiry(expiry, store, contention)?)
}

#[cfg(not(feature = "memcache"))]
pub(super) fn memcache(
    _expiry: u64,
    _servers: &str,
    _contention: bool,
) -> Result<Router, Box<dyn std::error::Error>> {
    Err("mode `sessionkit-memcache` needs the bench built with `--features memcache`".into())
}

#[cfg(feature = "postgres")]
pub(super) async fn postgres(
    expiry: u64,
    url: &str,
    contention: bool,
) -> Result<Router, Box<dyn std::error::Error>> {
    let store = sessionkit::PostgresStore::new(url)?;
    store.migrate().await?;
    Ok(router_with_expiry(expiry, store, contention)?)
}

#[cfg(not(feature = "postgres"))]
pub(super) async fn postgres(
    _expiry: u64,
    _url: &str,
    _contention: bool,
) -> Result<Router, Box<dyn std::error::Error>> {
    Err("mode `sessionkit-postgres` needs the bench built with `--features postgres`".into())
}

#[cfg(feature = "sqlite")]
pub(super) async fn sqlite(
    expiry: u64,
    file: &str,
    contention: bool,
) -> Result<Router, Box<dyn std::error::Error>> {
    for suffix in ["", "-wal", "-shm"] {
        match std::fs::remove_file(format!("{file}{suffix}")) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
            _ => {}
        }
    }
    let store = sessionkit::SqliteStore::open(file)?;
    store.migrate().await?;
    Ok(router_with_expiry(expiry, store, contention)?)
}

#[cfg(not(feature = "sqlite"))]
pub(super) async fn sqlite(
    _expiry: u64,
    _file: &str,
    _contention: bool,
) -> Result<Router, Box<dyn std::error::Error>> {
    Err("mode `sessionkit-sqlite` needs the bench built with `--features sqlite`".into())
}
