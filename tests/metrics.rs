//! The layer's metrics (the `metrics` feature): real requests through the
//! layer on a memory store (and, with the `memcache` feature, a real
//! memcached), counted by `metrics-util`'s debugging recorder, which this
//! test's thread alone uses; and the example's `/metrics`, scraped over
//! HTTP.
//!
//! The memory gauges count every memory store of the process, so only one
//! test of this binary makes memory stores.
#![cfg(feature = "metrics")]

mod support;

use std::collections::BTreeMap;

use axum::extract::State;
use axum::routing::get;
use axum::Router;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use serde::{Deserialize, Serialize};
use sessionkit::{session_config, MemoryStore, Session, SessionId, SessionLayer, SessionStore};

use support::{serve, Browser};

session_config! { VISIT { cookie_name: "visit", prefix: "visit:", session_name: "visit" } }

#[derive(Session, Serialize, Deserialize, Default)]
#[session(config = VISIT)]
struct Visit {
    n: u64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pad: String,
}

const TTL: std::time::Duration = std::time::Duration::from_secs(3600);

async fn incr(mut visit: Session<Visit>) -> String {
    visit.n += 1;
    visit.n.to_string()
}

async fn read(visit: Session<Visit>) -> String {
    visit.n.to_string()
}

/// A session too large for a memcached started with `-I 1k`.
async fn big(mut visit: Session<Visit>) -> &'static str {
    visit.pad = "x".repeat(2000);
    "big"
}

async fn clear(mut visit: Session<Visit>) -> &'static str {
    visit.destroy();
    "cleared"
}

/// Another writer changes the session while this request holds it, so its
/// save conflicts, merges and is tried again.
async fn race<S: SessionStore + Clone>(
    State(store): State<S>,
    mut visit: Session<Visit>,
) -> String {
    let key = format!("visit:{}", visit.id());
    store
        .save(&key, br#"{"n":100,"other":1}"#, TTL)
        .await
        .unwrap();
    visit.n += 1;
    visit.n.to_string()
}

fn app<S: SessionStore + Clone>(store: S) -> Router {
    Router::new()
        .route("/incr", get(incr))
        .route("/get", get(read))
        .route("/clear", get(clear))
        .route("/big", get(big))
        .route("/race", get(race::<S>))
        .with_state(store.clone())
        .layer(SessionLayer::new(store))
}

/// Every metric recorded, as `name{label=value,...}` (labels sorted):
/// counters and gauges by value, histograms by how many values they got.
fn metrics(snapshotter: &Snapshotter) -> BTreeMap<String, f64> {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let key = key.key();
            let mut labels: Vec<String> = key
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            labels.sort();
            let name = format!("{}{{{}}}", key.name(), labels.join(","));
            let value = match value {
                DebugValue::Counter(n) => n as f64,
                DebugValue::Gauge(g) => g.0,
                DebugValue::Histogram(values) => {
                    assert!(values.iter().all(|v| v.0 >= 0.0), "{name}: {values:?}");
                    values.len() as f64
                }
            };
            (name, value)
        })
        .collect()
}

#[tokio::test]
async fn requests_are_counted_exactly_by_session_and_store() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    // A current-thread runtime: the server, the client and the store all
    // run on this thread, and so record here.
    let _local = metrics::set_default_local_recorder(&recorder);

    let store = MemoryStore::new();
    let addr = serve(app(store.clone())).await;
    let mut browser = Browser::new(addr);

    // New: no load (no cookie), one save.
    assert_eq!(browser.get("/incr").await.body, "1");
    // Hit and save; hit only.
    assert_eq!(browser.get("/incr").await.body, "2");
    assert_eq!(browser.get("/get").await.body, "2");
    // Hit; the save conflicts, merges, and is tried again.
    assert_eq!(browser.get("/race").await.body, "3");
    // A value planted under another id that does not decode as `Visit`
    // (not an object: an object would be rebuilt field by field).
    let planted = SessionId::generate();
    store
        .save(&format!("visit:{planted}"), br#"["many"]"#, TTL)
        .await
        .unwrap();
    let cookie = vec![format!("visit={planted}")];
    assert_eq!(browser.get_raw("/get", &cookie).await.body, "0");
    // An id the store does not know.
    let unknown = vec![format!("visit={}", SessionId::generate())];
    assert_eq!(browser.get_raw("/get", &unknown).await.body, "0");
    // Hit, then deleted.
    assert_eq!(browser.get("/clear").await.body, "cleared");

    // Left: the planted value.
    assert_eq!(store.len(), 1);
    let labels = "session=visit,store=memory";
    let want = BTreeMap::from([
        (
            format!("sessionkit_loads_total{{outcome=hit,{labels}}}"),
            4.0,
        ),
        (
            format!("sessionkit_loads_total{{outcome=miss,{labels}}}"),
            1.0,
        ),
        (
            format!("sessionkit_loads_total{{outcome=undecodable,{labels}}}"),
            1.0,
        ),
        (format!("sessionkit_saves_total{{{labels}}}"), 3.0),
        (format!("sessionkit_merges_total{{{labels}}}"), 1.0),
        (
            format!("sessionkit_conflict_retries_total{{{labels}}}"),
            1.0,
        ),
        (format!("sessionkit_deletes_total{{{labels}}}"), 1.0),
        (
            format!("sessionkit_store_duration_seconds{{operation=load,{labels}}}"),
            6.0,
        ),
        (
            format!("sessionkit_store_duration_seconds{{operation=save,{labels}}}"),
            4.0,
        ),
        (
            format!("sessionkit_store_duration_seconds{{operation=delete,{labels}}}"),
            1.0,
        ),
        ("sessionkit_memory_sessions{store=memory}".to_string(), 1.0),
        (
            "sessionkit_memory_bytes{store=memory}".to_string(),
            store.used_bytes() as f64,
        ),
    ]);
    assert_eq!(metrics(&snapshotter), want);

    // The gauges sum every memory store of the process, and a dropped
    // store takes its sessions off.
    let other = MemoryStore::new();
    other.save("visit:other", b"{}", TTL).await.unwrap();
    let gauges = |metrics: BTreeMap<String, f64>| -> Vec<(String, f64)> {
        metrics
            .into_iter()
            .filter(|(name, _)| name.starts_with("sessionkit_memory_"))
            .collect()
    };
    let bytes = store.used_bytes() + other.used_bytes();
    assert_eq!(
        gauges(metrics(&snapshotter)),
        [
            (
                "sessionkit_memory_bytes{store=memory}".to_string(),
                bytes as f64
            ),
            ("sessionkit_memory_sessions{store=memory}".to_string(), 2.0),
        ]
    );
    // (`store` is still held by the server.)
    let gone = MemoryStore::new();
    gone.save("visit:gone", b"{}", TTL).await.unwrap();
    drop(gone);
    assert_eq!(
        gauges(metrics(&snapshotter)),
        [
            (
                "sessionkit_memory_bytes{store=memory}".to_string(),
                bytes as f64
            ),
            ("sessionkit_memory_sessions{store=memory}".to_string(), 2.0),
        ]
    );
}

#[cfg(feature = "memcache")]
mod memcache {
    use sessionkit::MemcacheStore;

    use super::support::memcached::Memcached;
    use super::*;

    /// Store errors by class: a server that refuses a value too large for
    /// it (permanent), then no server at all (transient).
    #[tokio::test]
    async fn store_errors_are_counted_by_operation_and_class() {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        let _local = metrics::set_default_local_recorder(&recorder);

        let mut memcached = Memcached::start_with(&["-I", "1k", "-o", "slab_chunk_max=512"]);
        let store = MemcacheStore::new([memcached.addr()])
            .unwrap()
            .with_timeout(std::time::Duration::from_millis(500));
        let addr = serve(app(store.clone())).await;
        let mut browser = Browser::new(addr);
        assert_eq!(browser.get("/incr").await.status, 200);

        // Over memcached's 1 KiB item limit, under the store's own: refused.
        assert_eq!(browser.get("/big").await.status, 500);

        memcached.stop();
        assert_eq!(browser.get("/get").await.status, 503);

        let labels = "session=visit,store=memcache";
        let want = BTreeMap::from([
            (
                format!("sessionkit_loads_total{{outcome=hit,{labels}}}"),
                1.0,
            ),
            (format!("sessionkit_saves_total{{{labels}}}"), 1.0),
            (
                format!("sessionkit_store_errors_total{{class=permanent,operation=save,{labels}}}"),
                1.0,
            ),
            (
                format!("sessionkit_store_errors_total{{class=transient,operation=load,{labels}}}"),
                1.0,
            ),
            (
                format!("sessionkit_store_duration_seconds{{operation=load,{labels}}}"),
                2.0,
            ),
            (
                format!("sessionkit_store_duration_seconds{{operation=save,{labels}}}"),
                2.0,
            ),
        ]);
        assert_eq!(metrics(&snapshotter), want);
    }
}

/// `examples/metrics.rs`: requests, then `/metrics` in Prometheus' text
/// format, with the exact counts.
#[tokio::test]
async fn the_example_serves_the_metrics_for_prometheus() {
    let mut example = support::example::Example::start("metrics", &[], &[]);
    let port = example.port;
    let first = example.printed(1).await;
    assert!(
        first.contains(&format!("http://127.0.0.1:{port}")),
        "{first}"
    );
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut browser = Browser::new(addr);
    assert_eq!(browser.get("/incr").await.body, "1\n");
    assert_eq!(browser.get("/incr").await.body, "2\n");
    assert_eq!(browser.get("/get").await.body, "2\n");
    assert_eq!(browser.get("/clear").await.body, "cleared\n");
    assert_eq!(Browser::new(addr).get("/ready").await.status, 200);

    let reply = Browser::new(addr).get("/metrics").await;
    assert_eq!(reply.status, 200);
    let lines: BTreeMap<&str, &str> = reply
        .body
        .lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .filter_map(|line| line.rsplit_once(' '))
        .collect();
    let labels = r#"session="session",store="memory""#;
    for (metric, value) in [
        (
            format!(r#"sessionkit_loads_total{{{labels},outcome="hit"}}"#),
            "3",
        ),
        (format!("sessionkit_saves_total{{{labels}}}"), "2"),
        (format!("sessionkit_deletes_total{{{labels}}}"), "1"),
        (
            format!(r#"sessionkit_store_duration_seconds_count{{{labels},operation="load"}}"#),
            "3",
        ),
        (
            format!(r#"sessionkit_store_duration_seconds_count{{{labels},operation="save"}}"#),
            "2",
        ),
        (
            format!(r#"sessionkit_store_duration_seconds_count{{{labels},operation="delete"}}"#),
            "1",
        ),
        (
            r#"sessionkit_memory_sessions{store="memory"}"#.to_string(),
            "0",
        ),
        (
            r#"sessionkit_memory_bytes{store="memory"}"#.to_string(),
            "0",
        ),
    ] {
        assert_eq!(
            lines.get(metric.as_str()).copied(),
            Some(value),
            "{metric} in:\n{}",
            reply.body
        );
    }
    // Buckets, as the example configures them.
    assert!(
        lines.contains_key(
            format!(r#"sessionkit_store_duration_seconds_bucket{{{labels},operation="load",le="0.001"}}"#)
                .as_str()
        ),
        "{}",
        reply.body
    );
    // No session id in any label: no run of 32 hex digits anywhere.
    assert!(
        reply
            .body
            .split(|c: char| !c.is_ascii_hexdigit())
            .all(|run| run.len() < 32),
        "{}",
        reply.body
    );
}
