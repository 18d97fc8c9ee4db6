//! The part of the store conformance suite that the `sessionkit-conformance`
//! crate does not cover, over real HTTP against the store it is given: the
//! log lines the layer writes (captured from `tracing`), that the stores
//! this repository ships claim compare-and-set (the crate skips its
//! compare-and-set checks for a store that does not), and a client that
//! hangs up mid-commit. Each store's test file runs the crate's checks with
//! `sessionkit_conformance::store_tests!` and these with
//! `conformance_tests!`.

use std::time::Duration;

use sessionkit::SessionStore;

use super::app::{app, gated};
use super::{capture_logs, serve, Browser, Counting};

/// One test per check of this file (the hang-up check aside: it needs a
/// server to pause), for the store `$make()` (an async closure) returns.
#[macro_export]
macro_rules! conformance_tests {
    ($make:expr) => {
        $crate::conformance_tests!(@tests $make;
            store_claims_compare_and_set,
            undecodable_data_is_logged_as_a_warning,
            a_session_ended_meanwhile_is_logged_without_its_id,
        );
    };
    (@tests $make:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                let store = ($make)().await;
                $crate::support::conformance::$name(store).await;
            }
        )*
    };
}

async fn setup<S: SessionStore + Clone>(store: S) -> (Browser, Counting<S>) {
    let counting = Counting::new(store);
    let addr = serve(app(counting.clone())).await;
    (Browser::new(addr), counting)
}

async fn setup_gated<S: SessionStore + Clone>(
    store: S,
) -> (Browser, Counting<S>, super::app::Gate) {
    let counting = Counting::new(store);
    let (router, gate) = gated(counting.clone());
    let addr = serve(router).await;
    (Browser::new(addr), counting, gate)
}

/// The value under `key`, parsed as JSON (`None`: no such key).
async fn stored<S: SessionStore>(store: &S, key: &str) -> Option<serde_json::Value> {
    let bytes = store
        .load(key, Duration::from_secs(60))
        .await
        .expect("store load");
    bytes.map(|b| serde_json::from_slice(&b).expect("stored value is JSON"))
}

fn new_id() -> String {
    sessionkit::SessionId::generate().to_string()
}

/// Every store of this repository saves with compare-and-set, so none of
/// the crate's compare-and-set checks is skipped for it.
pub async fn store_claims_compare_and_set<S: SessionStore>(store: S) {
    assert!(store.compare_and_set());
}

/// Stored data that does not decode gives a fresh session (the crate
/// checks that) and a warning in the log.
pub async fn undecodable_data_is_logged_as_a_warning<S: SessionStore + Clone>(store: S) {
    let (browser, store) = setup(store).await;
    for payload in [
        &b"not json"[..],
        b"[1,2]",
        b"\"str\"",
        b"123",
        b"null",
        b"{\"n\":\"not a number\"}",
        b"{\"n\":1",
    ] {
        let planted = new_id();
        store
            .inner
            .save(
                &format!("session:{planted}"),
                payload,
                Duration::from_secs(60),
            )
            .await
            .unwrap();
        let (reply, logs) =
            capture_logs(browser.get_raw("/incr", &[format!("session={planted}")])).await;
        let payload = String::from_utf8_lossy(payload);
        assert_eq!((reply.status, reply.body.as_str()), (200, "1"), "{payload}");
        assert!(
            logs.contains("WARN") && logs.contains("does not decode"),
            "{payload}: {logs}"
        );
    }
}

/// A request that loaded the session before a logout does not save it
/// back (the crate checks that), and says so in an info line that does not
/// show the session id.
pub async fn a_session_ended_meanwhile_is_logged_without_its_id<S: SessionStore + Clone>(store: S) {
    let (mut browser, store, gate) = setup_gated(store).await;
    browser.get("/untyped/set/user/ada").await;
    let id = browser.jar["session"].clone();
    let key = format!("session:{id}");
    let cookie = [format!("session={id}")];
    let held = browser.get_raw("/hold/cart/full", &cookie);
    let (held, logs) = capture_logs(async {
        let (held, ()) = tokio::join!(held, async {
            gate.pass().await; // the held request has loaded the session
            let logout = browser.get_raw("/untyped/clear", &cookie).await;
            assert_eq!(logout.status, 200);
            gate.pass().await; // let it finish
        });
        held
    })
    .await;
    assert_eq!(held.status, 200, "{held:?}");
    assert_eq!(stored(&store.inner, &key).await, None, "not recreated");
    assert!(
        logs.contains("INFO") && logs.contains("ended by another request"),
        "{logs}"
    );
    assert!(!logs.contains(&id), "the id is not logged: {logs}");
}

/// A commit that has started finishes when the client hangs up: `pause`
/// freezes the store's server after the load, the handler logs in (a new
/// id: a save under it, then the delete of the old key), the client gives
/// up while the save waits, then `resume` lets the server answer. The old
/// key must still be deleted: its delete had not been sent when the client
/// left. Not part of `conformance_tests!`: it needs a server of its own to
/// pause, and a store whose timeout outlasts the client's 300 ms.
pub async fn a_commit_finishes_after_the_client_hangs_up<S: SessionStore + Clone>(
    store: S,
    pause: impl FnOnce(),
    resume: impl FnOnce(),
) {
    let (mut browser, store, gate) = setup_gated(store).await;
    let old = browser.get("/incr").await.cookie_value("session");
    let old_key = format!("session:{old}");
    let login = browser.get_impatiently("/login-held", "session", Duration::from_millis(300));
    let (hung_up, ()) = tokio::join!(login, async {
        gate.pass().await; // loaded
        pause();
        gate.pass().await; // logs in; the save waits for the server
    });
    assert!(hung_up.is_err(), "the client gave up: {hung_up:?}");
    resume();
    for _ in 0..100 {
        if stored(&store.inner, &old_key).await.is_none() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the old key was never deleted: the commit stopped when the client hung up");
}
