//! A visit counter in a typed session kept in memcached, on one server or
//! several.
//!
//! Run with: cargo run --example memcache --features memcache
//!
//! Env `MEMCACHED_SERVERS`: comma-separated `host:port` (default
//! `127.0.0.1:11211`); env `PORT`: the port to listen on (default 3000).
//! Start a server first, e.g. `memcached -l 127.0.0.1 -p 11211 -U 0`.

use axum::{routing::get, Router};
use serde::{Deserialize, Serialize};
use sessionkit::{MemcacheStore, Session, SessionLayer};

/// The visitor's session, with sanic-session's default cookie (`session`)
/// and key prefix (`session:`).
#[derive(Session, Serialize, Deserialize, Default)]
struct Visit {
    n: u64,
}

async fn incr(mut visit: Session<Visit>) -> String {
    visit.n += 1; // saved (acknowledged by memcached) after the handler returns
    format!("{}\n", visit.n)
}

async fn get_n(visit: Session<Visit>) -> String {
    format!("{}\n", visit.n)
}

async fn clear(mut visit: Session<Visit>) -> &'static str {
    visit.destroy();
    "cleared\n"
}

fn invalid(message: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidInput, message)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    // Store errors (a server down, a refused write) are logged here, and
    // the request gets a 503.
    tracing_subscriber::fmt().init();
    let (listener, base) = sessionkit_tests::listen().await?;
    let servers =
        std::env::var("MEMCACHED_SERVERS").unwrap_or_else(|_| "127.0.0.1:11211".to_string());
    let store = MemcacheStore::new(servers.split(','))
        .map_err(|e| invalid(format!("MEMCACHED_SERVERS={servers:?}: {e}")))?;
    let app = Router::new()
        .route("/incr", get(incr))
        .route("/get", get(get_n))
        .route("/clear", get(clear))
        .layer(SessionLayer::new(store));
    println!("sessionkit memcache example listening on {base}, sessions in {servers}");
    println!("try it (the cookie jar keeps your session):");
    println!("  curl -b jar -c jar {base}/incr    # 1, then 2, 3, ...");
    println!("  curl -b jar -c jar {base}/get     # the count, unchanged (the expiry slides)");
    println!("  curl -b jar -c jar {base}/clear   # session deleted, cookie expired");
    axum::serve(listener, app).await
}
