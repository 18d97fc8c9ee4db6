//! A visit counter in a memory-store session, with the layer's metrics
//! served for Prometheus on `/metrics` and a readiness probe on `/ready`.
//!
//! Run with: `cargo run --example metrics --features metrics` (env `PORT`,
//! default 3000), then use the `curl` commands it prints.

use std::time::Duration;

use axum::{http::StatusCode, routing::get, Router};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use serde::{Deserialize, Serialize};
use sessionkit::{MemoryStore, Session, SessionLayer};

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

/// Bucket bounds of the store latency histogram, in seconds: a memory
/// store answers in microseconds, a server in (tenths of) milliseconds.
const LATENCY_BUCKETS: [f64; 10] = [
    0.000_01, 0.000_1, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.05, 0.25, 1.0,
];

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt().init();
    // The recorder every `metrics` call of the process goes to, and a
    // handle that renders what it holds in Prometheus' text format.
    let prometheus = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full("sessionkit_store_duration_seconds".into()),
            &LATENCY_BUCKETS,
        )?
        .install_recorder()?;
    // Without the exporter's own HTTP listener, its upkeep is ours to run.
    let upkeep = prometheus.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(5)).await;
            upkeep.run_upkeep();
        }
    });

    let sessions = SessionLayer::new(MemoryStore::new());
    let probe = sessions.clone();
    let app = Router::new()
        .route("/incr", get(incr))
        .route("/get", get(get_n))
        .route("/clear", get(clear))
        .layer(sessions)
        .route("/metrics", get(move || async move { prometheus.render() }))
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
        );

    let (listener, base) = sessionkit_tests::listen().await?;
    println!("sessionkit metrics example listening on {base}");
    println!("  curl -b jar -c jar {base}/incr   # 1, then 2, 3, ...");
    println!("  curl -b jar -c jar {base}/clear  # session deleted");
    println!("  curl {base}/metrics              # sessionkit_* in Prometheus' format");
    println!("  curl -i {base}/ready             # 200 while the store answers");
    axum::serve(listener, app).await?;
    Ok(())
}
