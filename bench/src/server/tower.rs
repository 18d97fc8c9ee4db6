//! The tower-sessions modes: 0.15 with its `MemoryStore`, 0.14 with
//! tower-sessions-redis-store 0.16 (the newest pair that builds together).
//!
//! The session holds `n` under the key `"n"`. Expiry is
//! `Expiry::OnInactivity(expiry)`, tower-sessions' sliding expiry, and every
//! other setting is tower-sessions' default except `Secure` (off, as in
//! sessionkit's default config, since the bench speaks plain HTTP). With
//! `always_save` off (its default) a read-only request neither writes the
//! store nor re-sends the cookie.

use std::time::Duration;

use axum::{http::StatusCode, routing::get, Router};

/// The same handlers for both tower-sessions versions (their `Session`
/// types are distinct).
macro_rules! handlers {
    ($krate:ident) => {
        pub(super) async fn incr(session: $krate::Session) -> Result<String, StatusCode> {
            let n: u64 = session
                .get("n")
                .await
                .map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?
                .unwrap_or(0)
                + 1;
            session
                .insert("n", n)
                .await
                .map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?;
            Ok(n.to_string())
        }

        pub(super) async fn read(session: $krate::Session) -> Result<String, StatusCode> {
            let n: u64 = session
                .get("n")
                .await
                .map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?
                .unwrap_or(0);
            Ok(n.to_string())
        }

        pub(super) fn expiry(d: Duration) -> $krate::Expiry {
            let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
            $krate::Expiry::OnInactivity($krate::cookie::time::Duration::seconds(secs))
        }
    };
}

mod v015 {
    use super::*;
    handlers!(tower_sessions);
}

mod v014 {
    use super::*;
    use tower_sessions_014 as tower_sessions;
    handlers!(tower_sessions);
}

pub(super) fn memory(expiry: Duration) -> Router {
    let layer = tower_sessions::SessionManagerLayer::new(tower_sessions::MemoryStore::default())
        .with_secure(false)
        .with_expiry(v015::expiry(expiry));
    Router::new()
        .route("/incr", get(v015::incr))
        .route("/get", get(v015::read))
        .route("/plain", get(super::bare::read))
        .layer(layer)
}

pub(super) async fn redis(
    expiry: Duration,
    url: &str,
    pool_size: usize,
) -> Result<Router, Box<dyn std::error::Error>> {
    use tower_sessions_redis_store::fred::prelude::{ClientLike, Config, Pool};
    let pool = Pool::new(Config::from_url(url)?, None, None, None, pool_size)?;
    pool.init()
        .await
        .map_err(|e| format!("cannot connect to Redis at {url}: {e}"))?;
    let store = tower_sessions_redis_store::RedisStore::new(pool);
    let layer = tower_sessions_014::SessionManagerLayer::new(store)
        .with_secure(false)
        .with_expiry(v014::expiry(expiry));
    Ok(Router::new()
        .route("/incr", get(v014::incr))
        .route("/get", get(v014::read))
        .route("/plain", get(super::bare::read))
        .layer(layer))
}
