//! A visit counter in a typed session kept in Redis or Redis Cluster.
//!
//! Run with: `cargo run --example redis --features redis`
//!
//! Environment:
//! * `REDIS_URL` — the server (default `redis://127.0.0.1:6379`);
//! * `REDIS_CLUSTER` — a comma-separated `host:port` list of cluster nodes;
//!   when set, the cluster store is used and `REDIS_URL` is ignored;
//! * `PORT` — the HTTP port (default 3000).

use axum::{routing::get, Router};
use serde::{Deserialize, Serialize};
use sessionkit::{RedisStore, Session, SessionLayer};

/// The visitor's session, with sanic-session's default cookie (`session`)
/// and key prefix (`session:`).
#[derive(Session, Serialize, Deserialize, Default)]
struct Visit {
    n: u64,
}

async fn incr(mut visit: Session<Visit>) -> String {
    visit.n += 1;
    format!("{}\n", visit.n)
}

async fn get_n(visit: Session<Visit>) -> String {
    format!("{}\n", visit.n)
}

async fn clear(mut visit: Session<Visit>) -> &'static str {
    visit.destroy();
    "cleared\n"
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Session warnings (undecodable data) and errors (Redis down) are logged here.
    tracing_subscriber::fmt().init();
    let (listener, base) = sessionkit_tests::listen().await?;
    let (store, using) = match std::env::var("REDIS_CLUSTER") {
        Ok(nodes) => {
            let nodes: Vec<String> = nodes
                .split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(|n| format!("redis://{n}"))
                .collect();
            let using = format!("Redis Cluster at {}", nodes.join(", "));
            (RedisStore::from_cluster_nodes(nodes).await?, using)
        }
        Err(_) => {
            let url =
                std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
            let using = format!("Redis at {url}");
            (RedisStore::from_url(&url).await?, using)
        }
    };
    let app = Router::new()
        .route("/incr", get(incr))
        .route("/get", get(get_n))
        .route("/clear", get(clear))
        .layer(SessionLayer::new(store));
    println!("sessionkit redis example listening on {base}, sessions in {using}");
    println!("try it (the cookie jar keeps your session):");
    println!("  curl -b jar -c jar {base}/incr   # 1, then 2, 3, ...");
    println!("  curl -b jar -c jar {base}/get    # the count, unchanged");
    println!("  curl -b jar -c jar {base}/clear  # session deleted, cookie expired");
    println!("  redis-cli --scan --pattern 'session:*'  # the keys, as sanic-session writes them");
    axum::serve(listener, app).await?;
    Ok(())
}
