//! The Redis store through Redis Sentinel, against real servers (a master,
//! its replica and three Sentinels from `support::sentinel`): the master is
//! killed, or frozen, under a steady load of logged-in requests over HTTP
//! (`support::load`), and the same app, never restarted, answers 503 with
//! `Retry-After` (never a 500, never a hang) until the Sentinels have
//! promoted the replica, then serves the sessions that were replicated
//! before the master went.
//!
//! The window during which requests failed is printed (run with
//! `--nocapture` to see it).
#![cfg(feature = "redis")]

mod support;

use std::time::Duration;

use sessionkit::store::redis::client::ErrorKind;
use sessionkit::RedisStore;

use support::app::app;
use support::load;
use support::sentinel::{SentinelSetup, MASTER_NAME};
use support::serve;

/// Every test is bounded: a request that hangs fails the test instead.
const TEST_TIMEOUT: Duration = Duration::from_secs(60);

/// When, in the load, the master goes.
const FAULT_AT: Duration = Duration::from_secs(3);

/// How the master goes.
#[derive(Clone, Copy, Debug)]
enum Fault {
    /// SIGKILL: its connections are closed at once.
    Kill,
    /// SIGSTOP: its connections stay open and nothing answers, as when it
    /// is cut off; the store's timeout is all that ends a call.
    Freeze,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_master_gives_503s_then_the_same_app_serves_the_replicated_sessions() {
    failover_under_load(Fault::Kill).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_frozen_master_gives_503s_then_the_same_app_serves_the_replicated_sessions() {
    failover_under_load(Fault::Freeze).await;
}

/// Logs in visitors, has them make requests for a while, takes the master
/// away (`fault`) after `FAULT_AT`, and checks and prints what the visitors
/// got.
async fn failover_under_load(fault: Fault) {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let mut setup = SentinelSetup::start();
        let old_master = setup.master.port();
        assert_eq!(setup.master_port(), old_master);

        // Refused when the name or the addresses are wrong.
        let error = RedisStore::from_sentinel(setup.sentinel_urls(), "nothing")
            .await
            .unwrap_err();
        assert_eq!(
            error.kind(),
            ErrorKind::MasterNameNotFoundBySentinel,
            "{error}"
        );
        let error = RedisStore::from_sentinel([setup.master.url()], MASTER_NAME)
            .await
            .unwrap_err();
        assert!(
            error.to_string().contains("not point to a sentinel"),
            "{error}"
        );

        let store = RedisStore::from_sentinel(setup.sentinel_urls(), MASTER_NAME)
            .await
            .unwrap();
        let timeout = store.timeout();
        let addr = serve(app(store)).await;

        // Logged in, with a count, and replicated.
        let browsers = load::log_in(addr).await;
        setup.wait_replicated();

        // The load, and the master taken away in its midst.
        let (mut browsers, outcomes, faulted) = load::run(browsers, FAULT_AT, || match fault {
            Fault::Kill => setup.master.server.kill(),
            Fault::Freeze => setup.master.server.pause(),
        })
        .await;

        // A /incr makes at most three store calls (GETEX, EVALSHA, and EVAL
        // when the new master does not have the script yet), each under the
        // store's timeout: a request slower than that, and a margin, hung.
        let bound = timeout * 3 + Duration::from_secs(1);
        let failed = load::check_failures(&format!("{fault:?}"), &outcomes, faulted, bound);
        assert!(
            !failed.is_empty(),
            "no request failed: the master was not in use"
        );

        // The Sentinels promoted the replica, and the store found it.
        assert_eq!(setup.master_port(), setup.replica.port());

        // Every session written before the fault is there, with its user.
        load::check_sessions(&mut browsers).await;
    })
    .await
    .expect("never a hang");
}

/// The store through Sentinel keeps owner indexes as the others do: the
/// conformance checks of the index, on the master the Sentinels name.
#[tokio::test]
async fn the_sentinel_store_keeps_owner_indexes() {
    use sessionkit_conformance::contract;
    tokio::time::timeout(TEST_TIMEOUT, async {
        let setup = SentinelSetup::start();
        let store = || async {
            RedisStore::from_sentinel(setup.sentinel_urls(), MASTER_NAME)
                .await
                .unwrap()
        };
        assert!(sessionkit::SessionStore::owner_index(&store().await));
        contract::index_add_then_list_gives_values_and_ttls(store().await)
            .await
            .unwrap();
        contract::index_add_replaces_an_entry(store().await)
            .await
            .unwrap();
        contract::index_remove_removes_entries(store().await)
            .await
            .unwrap();
        contract::index_over_max_evicts_the_earliest_until(store().await)
            .await
            .unwrap();
    })
    .await
    .expect("never a hang");
}
