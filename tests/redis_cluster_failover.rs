//! The Redis store on a Redis Cluster whose layout changes under a steady
//! load of logged-in requests over HTTP (`support::load`), against real
//! servers: a master killed and its replica promoted (the same app answers
//! 503 with `Retry-After` meanwhile, never a 500 or a hang, then serves the
//! replicated sessions), and the slots of the sessions moved to other
//! masters (no request fails).
//!
//! What the visitors got is printed (run with `--nocapture` to see it).
#![cfg(feature = "redis")]

mod support;

use std::time::Duration;

use sessionkit::RedisStore;

use support::app::app;
use support::cluster::{key_slot, layout, master_of, move_slot, ReplicatedCluster};
use support::servers::RedisCluster;
use support::{load, serve, Browser};

/// Every test is bounded: a request that hangs fails the test instead.
const TEST_TIMEOUT: Duration = Duration::from_secs(60);

/// When, in the load, the layout changes.
const FAULT_AT: Duration = Duration::from_secs(3);

/// The slot of the session of `browser`.
fn session_slot(port: u16, browser: &Browser) -> u16 {
    key_slot(port, &format!("session:{}", browser.jar["session"]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_master_gives_503s_until_its_replica_takes_over() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let mut cluster = ReplicatedCluster::start(3);
        let store = RedisStore::from_cluster_nodes(cluster.urls())
            .await
            .unwrap();
        let timeout = store.timeout();
        let addr = serve(app(store)).await;
        let browsers = load::log_in(addr).await;
        let ask = cluster.nodes[0].port();
        cluster.wait_replicated(ask);

        // The master of the first visitor's session goes.
        let slot = session_slot(ask, &browsers[0]);
        let victim = master_of(ask, slot);
        let survivor = cluster
            .nodes
            .iter()
            .map(|n| n.port())
            .find(|&p| p != victim.port)
            .unwrap();
        let (mut browsers, outcomes, killed) = load::run(browsers, FAULT_AT, || {
            cluster.node(victim.port).kill();
        })
        .await;

        // Each store call is under the timeout, and a /incr makes at most
        // three (GETEX, EVALSHA, and EVAL when the promoted replica does not
        // have the script yet): a request slower than that, and a margin, hung.
        let bound = timeout * 3 + Duration::from_secs(1);
        let failed = load::check_failures("cluster failover", &outcomes, killed, bound);
        assert!(
            !failed.is_empty(),
            "no request failed: the master was not in use"
        );

        // The replica took over the slot; nothing was restarted.
        let now = master_of(survivor, slot);
        assert_ne!(now.port, victim.port, "{:?}", layout(survivor));
        load::check_sessions(&mut browsers).await;
    })
    .await
    .expect("never a hang");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn moving_the_sessions_slots_fails_no_request() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let cluster = RedisCluster::start(3);
        let store = RedisStore::from_cluster_nodes(cluster.urls())
            .await
            .unwrap();
        let timeout = store.timeout();
        let addr = serve(app(store)).await;
        let browsers = load::log_in(addr).await;
        let masters = cluster.ports();
        let ask = masters[0];

        // Every visitor's slot, each to another master, a step at a time.
        let mut moves: Vec<(u16, _, _)> = Vec::new();
        for browser in &browsers {
            let slot = session_slot(ask, browser);
            if moves.iter().any(|(s, _, _)| *s == slot) {
                continue;
            }
            let from = master_of(ask, slot);
            let to_port = *masters.iter().find(|&&p| p != from.port).unwrap();
            let to = layout(ask).into_iter().find(|n| n.port == to_port).unwrap();
            moves.push((slot, from, to));
        }
        let (mut browsers, outcomes, moved) = load::run(browsers, FAULT_AT, || {
            let started = std::time::Instant::now();
            for (slot, from, to) in &moves {
                move_slot(&masters, *slot, from, to, Duration::from_millis(300));
            }
            eprintln!(
                "resharding: {} slots moved in {:.2?}",
                moves.len(),
                started.elapsed()
            );
        })
        .await;

        let bound = timeout * 3 + Duration::from_secs(1);
        let failed = load::check_failures("resharding", &outcomes, moved, bound);
        assert!(failed.is_empty(), "{failed:?}");
        for (slot, _, to) in &moves {
            assert_eq!(master_of(ask, *slot).port, to.port);
        }
        load::check_sessions(&mut browsers).await;
    })
    .await
    .expect("never a hang");
}
