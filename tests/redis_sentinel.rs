//! The Redis store through Redis Sentinel, against real servers (a master,
//! its replica and three Sentinels from `support::sentinel`): the master is
//! killed, or frozen, under a steady load of logged-in requests over HTTP, and the same
//! app, never restarted, answers 503 with `Retry-After` (never a 500, never
//! a hang) until the Sentinels have promoted the replica, then serves the
//! sessions that were replicated before the master went.
//!
//! The window during which requests failed is printed (run with
//! `--nocapture` to see it).
#![cfg(feature = "redis")]

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::Value;
use sessionkit::store::redis::client::ErrorKind;
use sessionkit::RedisStore;

use support::app::app;
use support::sentinel::{SentinelSetup, MASTER_NAME};
use support::{serve, Browser};

/// Every test is bounded: a request that hangs fails the test instead.
const TEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Logged-in visitors making requests at the same time.
const CLIENTS: usize = 4;

/// How long the load runs, in all, and when in it the master goes.
const LOAD: Duration = Duration::from_secs(15);
const KILL_AT: Duration = Duration::from_secs(3);

/// The pause between two requests of one visitor, and the most requests one
/// makes: the load is bounded by both its length and its count.
const PAUSE: Duration = Duration::from_millis(20);
const MAX_REQUESTS: usize = 1000;

/// One request of the load.
#[derive(Debug)]
struct Outcome {
    /// When it was sent and when its answer came, from the load's start.
    sent: Duration,
    answered: Duration,
    status: u16,
    retry_after: String,
}

/// `/incr` with `browser`'s cookie, over and over, from `start` until
/// `LOAD` has passed or `MAX_REQUESTS` were made.
async fn visit(mut browser: Browser, start: Instant) -> (Browser, Vec<Outcome>) {
    let mut outcomes = Vec::new();
    while start.elapsed() < LOAD && outcomes.len() < MAX_REQUESTS {
        let sent = start.elapsed();
        let reply = browser.get("/incr").await;
        outcomes.push(Outcome {
            sent,
            answered: start.elapsed(),
            status: reply.status,
            retry_after: reply.header("retry-after"),
        });
        tokio::time::sleep(PAUSE).await;
    }
    (browser, outcomes)
}

/// The session's whole object, read with `browser`'s cookie.
async fn session(browser: &mut Browser) -> Value {
    let reply = browser.get("/untyped").await;
    assert_eq!(reply.status, 200, "{reply:?}");
    serde_json::from_str(&reply.body).unwrap()
}

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

/// Logs in `CLIENTS` visitors, has them make requests for `LOAD`, takes the
/// master away (`fault`) after `KILL_AT`, and checks and prints what the
/// visitors got.
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
        let addr: SocketAddr = serve(app(store)).await;

        // Logged in, with a count, and replicated.
        let mut browsers = Vec::new();
        for i in 0..CLIENTS {
            let mut browser = Browser::new(addr);
            assert_eq!(browser.get(&format!("/login/user{i}")).await.status, 200);
            assert_eq!(browser.get("/incr").await.body, "1");
            browsers.push(browser);
        }
        setup.wait_replicated();

        // The load, and the master taken away in its midst.
        let start = Instant::now();
        let visitors: Vec<_> = browsers
            .into_iter()
            .map(|browser| tokio::spawn(visit(browser, start)))
            .collect();
        tokio::time::sleep(KILL_AT).await;
        let faulted = start.elapsed();
        match fault {
            Fault::Kill => setup.master.server.kill(),
            Fault::Freeze => setup.master.server.pause(),
        }
        let mut browsers = Vec::new();
        let mut outcomes = Vec::new();
        for visitor in visitors {
            let (browser, mine) = visitor.await.unwrap();
            assert_eq!(
                mine.last().map(|o| o.status),
                Some(200),
                "the last request of each visitor succeeds: {mine:?}"
            );
            browsers.push(browser);
            outcomes.extend(mine);
        }
        outcomes.sort_by_key(|o| o.sent);

        // A /incr makes at most three store calls (GETEX, EVALSHA, and EVAL
        // when the new master does not have the script yet), each under the
        // store's timeout: a request slower than that, and a margin, hung.
        let bound = timeout * 3 + Duration::from_secs(1);
        let slowest = outcomes.iter().map(|o| o.answered - o.sent).max().unwrap();
        assert!(slowest < bound, "a request took {slowest:?}");
        let failed: Vec<&Outcome> = outcomes.iter().filter(|o| o.status != 200).collect();
        for outcome in &failed {
            assert_eq!(outcome.status, 503, "{outcome:?}");
            assert_eq!(outcome.retry_after, "2", "{outcome:?}");
        }
        let (first, last) = match (failed.first(), failed.last()) {
            (Some(first), Some(last)) => (first, last),
            _ => panic!("no request failed: the master was not in use"),
        };
        assert!(
            first.answered >= faulted,
            "failed before the master went: {first:?}"
        );
        let recovered = outcomes
            .iter()
            .find(|o| o.status == 200 && o.sent > last.sent)
            .expect("a request succeeds after the last failure");
        let after = outcomes.iter().filter(|o| o.sent > last.answered).count();
        eprintln!(
            "{fault:?}: {} requests, {} failed (all 503 with Retry-After), slowest {slowest:.2?}; \
             master taken away at {faulted:.2?}; requests failed from {:.2?} (sent) to {:.2?} \
             (answered): a window of {:.2?}; first success after it answered at {:.2?}, \
             {:.2?} after the fault; {after} requests after it",
            outcomes.len(),
            failed.len(),
            first.sent,
            last.answered,
            last.answered - first.sent,
            recovered.answered,
            recovered.answered - faulted,
        );

        // The Sentinels promoted the replica, and the store found it.
        assert_eq!(setup.master_port(), setup.replica.port());

        // Every session written before the fault is there, with its user.
        for (i, browser) in browsers.iter_mut().enumerate() {
            let object = session(browser).await;
            assert_eq!(object["user"], format!("user{i}"), "{object}");
            assert!(object["n"].as_i64().unwrap() >= 1, "{object}");
        }
    })
    .await
    .expect("never a hang");
}
