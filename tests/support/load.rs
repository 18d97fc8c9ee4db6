//! A steady load of logged-in visitors over real HTTP, and what they got:
//! for the tests that take a store's server away (or move its data) while
//! requests keep coming.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::Browser;

/// Logged-in visitors making requests at the same time.
pub const CLIENTS: usize = 4;

/// How long the load runs, in all.
pub const LOAD: Duration = Duration::from_secs(15);

/// The pause between two requests of one visitor, and the most requests one
/// makes: the load is bounded by both its length and its count.
const PAUSE: Duration = Duration::from_millis(20);
const MAX_REQUESTS: usize = 1000;

/// One request of the load.
#[derive(Debug)]
pub struct Outcome {
    /// When it was sent and when its answer came, from the load's start.
    pub sent: Duration,
    pub answered: Duration,
    pub status: u16,
    pub retry_after: String,
}

/// `CLIENTS` visitors of the app at `addr`, each logged in as `user<i>`
/// with a count of 1.
pub async fn log_in(addr: SocketAddr) -> Vec<Browser> {
    let mut browsers = Vec::new();
    for i in 0..CLIENTS {
        let mut browser = Browser::new(addr);
        assert_eq!(browser.get(&format!("/login/user{i}")).await.status, 200);
        assert_eq!(browser.get("/incr").await.body, "1");
        browsers.push(browser);
    }
    browsers
}

/// The load: every visitor calls `/incr` with its cookie, over and over,
/// until `LOAD` has passed or it made `MAX_REQUESTS`. `during` runs once
/// the load has run for `after` (it may block: it runs in place, on a
/// multi-threaded runtime). Returns the visitors, every request's outcome
/// in the order they were sent, and when `during` started.
pub async fn run(
    browsers: Vec<Browser>,
    after: Duration,
    during: impl FnOnce(),
) -> (Vec<Browser>, Vec<Outcome>, Duration) {
    let start = Instant::now();
    let visitors: Vec<_> = browsers
        .into_iter()
        .map(|browser| tokio::spawn(visit(browser, start)))
        .collect();
    tokio::time::sleep(after).await;
    let at = start.elapsed();
    tokio::task::block_in_place(during);
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
    (browsers, outcomes, at)
}

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

/// Checks that no request took `bound` or longer, and that every failed one
/// is a 503 with `Retry-After`; prints, under `label`, how many failed and
/// over which window, from the fault at `fault`. Returns the failed ones.
pub fn check_failures<'a>(
    label: &str,
    outcomes: &'a [Outcome],
    fault: Duration,
    bound: Duration,
) -> Vec<&'a Outcome> {
    let slowest = outcomes.iter().map(|o| o.answered - o.sent).max().unwrap();
    assert!(slowest < bound, "{label}: a request took {slowest:?}");
    let failed: Vec<&Outcome> = outcomes.iter().filter(|o| o.status != 200).collect();
    for outcome in &failed {
        assert_eq!(outcome.status, 503, "{label}: {outcome:?}");
        assert_eq!(outcome.retry_after, "2", "{label}: {outcome:?}");
    }
    match (failed.first(), failed.last()) {
        (Some(first), Some(last)) => {
            assert!(
                first.answered >= fault,
                "{label}: failed before the fault: {first:?}"
            );
            let recovered = outcomes
                .iter()
                .find(|o| o.status == 200 && o.sent > last.sent)
                .expect("a request succeeds after the last failure");
            let after = outcomes.iter().filter(|o| o.sent > last.answered).count();
            eprintln!(
                "{label}: {} requests, {} failed (all 503 with Retry-After), slowest \
                 {slowest:.2?}; fault at {fault:.2?}; requests failed from {:.2?} (sent) to \
                 {:.2?} (answered): a window of {:.2?}; the first success sent after the \
                 last failure was sent answered at {:.2?}, {:.2?} after the fault; {after} \
                 requests sent after the last failure was answered, none failed",
                outcomes.len(),
                failed.len(),
                first.sent,
                last.answered,
                last.answered - first.sent,
                recovered.answered,
                recovered.answered - fault,
            );
        }
        _ => eprintln!(
            "{label}: {} requests, none failed, slowest {slowest:.2?}; fault at {fault:.2?}",
            outcomes.len()
        ),
    }
    failed
}

/// Checks that every visitor's session is still there, with its user.
pub async fn check_sessions(browsers: &mut [Browser]) {
    for (i, browser) in browsers.iter_mut().enumerate() {
        let reply = browser.get("/untyped").await;
        assert_eq!(reply.status, 200, "{reply:?}");
        let object: Value = serde_json::from_str(&reply.body).unwrap();
        assert_eq!(object["user"], format!("user{i}"), "{object}");
        assert!(object["n"].as_i64().unwrap() >= 1, "{object}");
    }
}
