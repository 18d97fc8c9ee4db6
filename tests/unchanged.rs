//! A session nothing touched is not encoded, neither to check its load nor
//! after the handler, when its type cannot change behind a shared
//! reference; a type that can (a `Cell` field) is still encoded, so a
//! change made through `&T` is saved. What a load leaves unchecked is
//! checked at the first change: unknown keys are kept and a stored
//! object that is not our own encoding is not rewritten by a read. Over
//! real HTTP on the memory store.

mod support;

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::routing::get;
use axum::Router;
use serde::{Deserialize, Serialize, Serializer};
use sessionkit::{MemoryStore, Session, SessionData, SessionLayer, SessionStore};

use support::{serve, Browser};

/// How many times `Counted::n` was serialized.
static ENCODED: AtomicUsize = AtomicUsize::new(0);

fn counted<S: Serializer>(n: &u64, serializer: S) -> Result<S::Ok, S::Error> {
    ENCODED.fetch_add(1, Ordering::SeqCst);
    serializer.serialize_u64(*n)
}

/// Plain data: every field's type is one the runtime knows to be frozen.
/// Only one test uses it, since its counter is the whole process's: the
/// tests run at once.
#[derive(Session, Serialize, Deserialize, Default, Debug)]
struct Counted {
    #[serde(serialize_with = "counted")]
    n: u64,
    name: Option<String>,
}

/// The same plain data, for the other tests.
#[derive(Session, Serialize, Deserialize, Default, Debug)]
struct Plain {
    n: u64,
    name: Option<String>,
}

/// A field that changes behind `&self`.
#[derive(Session, Serialize, Deserialize, Default, Debug)]
struct Cells {
    n: Cell<u64>,
}

async fn add(mut s: Session<Counted>) -> String {
    s.n += 1;
    s.n.to_string()
}

async fn read(s: Session<Counted>) -> String {
    s.n.to_string()
}

async fn add_plain(mut s: Session<Plain>) -> String {
    s.n += 1;
    s.n.to_string()
}

async fn read_plain(s: Session<Plain>) -> String {
    s.n.to_string()
}

/// Changes the session through a shared reference only.
async fn bump(s: Session<Cells>) -> String {
    let n = s.n.get() + 1;
    s.n.set(n);
    n.to_string()
}

#[test]
fn which_types_the_derive_finds_frozen() {
    assert!(<Counted as SessionData>::__frozen());
    assert!(<Plain as SessionData>::__frozen());
    assert!(!<Cells as SessionData>::__frozen());
}

#[tokio::test]
async fn a_read_encodes_nothing_and_a_write_checks_the_load_then_encodes() {
    let app = Router::new()
        .route("/add", get(add))
        .route("/read", get(read))
        .layer(SessionLayer::new(MemoryStore::new()));
    let mut browser = Browser::new(serve(app).await);
    assert_eq!(browser.get("/add").await.body, "1");

    // A handler that only reads: the session is never encoded, neither
    // to check the load (left for a change that does not come) nor after.
    let before = ENCODED.load(Ordering::SeqCst);
    let reply = browser.get("/read").await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "1"));
    assert!(!reply.set_cookies.is_empty(), "the cookie is still re-sent");
    assert_eq!(ENCODED.load(Ordering::SeqCst) - before, 0, "read-only");

    // A handler that borrows the session mutably: the load is checked at
    // that moment, and the session encoded after the handler (then also
    // `T::default()`, to see whether it became empty).
    let before = ENCODED.load(Ordering::SeqCst);
    assert_eq!(browser.get("/add").await.body, "2");
    assert!(ENCODED.load(Ordering::SeqCst) - before > 2, "read + write");
    assert_eq!(browser.get("/read").await.body, "2");
}

#[tokio::test]
async fn a_change_through_a_shared_reference_is_saved() {
    let store = MemoryStore::new();
    let app = Router::new()
        .route("/bump", get(bump))
        .layer(SessionLayer::new(store.clone()));
    let mut browser = Browser::new(serve(app).await);
    for expected in ["1", "2", "3"] {
        assert_eq!(browser.get("/bump").await.body, expected);
    }
    let id = browser.get("/bump").await.cookie_value("session");
    let stored = store
        .load(&format!("session:{id}"), std::time::Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored, br#"{"n":4}"#);
}

/// The app over `store`, and a stored session planted under a fresh id.
async fn planted(store: &MemoryStore, json: &str) -> (Browser, String, String) {
    let id = sessionkit::SessionId::generate().to_string();
    let key = format!("session:{id}");
    store
        .save(&key, json.as_bytes(), std::time::Duration::from_secs(60))
        .await
        .unwrap();
    let app = Router::new()
        .route("/add", get(add_plain))
        .route("/read", get(read_plain))
        .layer(SessionLayer::new(store.clone()));
    let browser = Browser::new(serve(app).await);
    (browser, id, key)
}

async fn stored(store: &MemoryStore, key: &str) -> String {
    let bytes = store
        .load(key, std::time::Duration::from_secs(60))
        .await
        .unwrap()
        .expect("stored");
    String::from_utf8(bytes).unwrap()
}

/// Another writer's object: spaced, in its own key order, with a key the
/// type does not declare. A read leaves it as it is; a write keeps the key.
#[tokio::test]
async fn what_the_load_left_unchecked_is_checked_at_the_first_change() {
    let store = MemoryStore::new();
    let theirs = r#"{ "x": [5], "n": 1 }"#;
    let (browser, id, key) = planted(&store, theirs).await;
    let cookie = [format!("session={id}")];

    let reply = browser.get_raw("/read", &cookie).await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "1"));
    assert_eq!(
        stored(&store, &key).await,
        theirs,
        "a read rewrites nothing"
    );

    let reply = browser.get_raw("/add", &cookie).await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "2"));
    let saved: serde_json::Value = serde_json::from_str(&stored(&store, &key).await).unwrap();
    assert_eq!(saved, serde_json::json!({ "n": 2, "name": null, "x": [5] }));
}

/// A meta that another writer moved from the front is still read at the
/// load: its own expiry sets the cookie's `Max-Age` on a read.
#[tokio::test]
async fn a_meta_anywhere_in_the_object_is_read_at_the_load() {
    let store = MemoryStore::new();
    let theirs = r#"{"n":1,"__sessionkit":{"expiry":120}}"#;
    let (browser, id, key) = planted(&store, theirs).await;
    let reply = browser.get_raw("/read", &[format!("session={id}")]).await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "1"));
    let set = reply
        .set_cookies
        .iter()
        .find(|c| c.starts_with("session="))
        .expect("the cookie re-sent");
    assert_eq!(
        support::attributes(set).get("max-age").map(String::as_str),
        Some("120"),
        "{set}"
    );
    assert!(stored(&store, &key).await.contains("__sessionkit"));
}
