//! A session nothing touched is not encoded again after the handler, when
//! its type cannot change behind a shared reference; a type that can (a
//! `Cell` field) is still encoded, so a change made through `&T` is saved.
//! Over real HTTP on the memory store.

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
#[derive(Session, Serialize, Deserialize, Default, Debug)]
struct Counted {
    #[serde(serialize_with = "counted")]
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

/// Changes the session through a shared reference only.
async fn bump(s: Session<Cells>) -> String {
    let n = s.n.get() + 1;
    s.n.set(n);
    n.to_string()
}

#[test]
fn which_types_the_derive_finds_frozen() {
    assert!(<Counted as SessionData>::__frozen());
    assert!(!<Cells as SessionData>::__frozen());
}

#[tokio::test]
async fn a_read_encodes_only_to_check_the_load_and_a_write_encodes_again() {
    let app = Router::new()
        .route("/add", get(add))
        .route("/read", get(read))
        .layer(SessionLayer::new(MemoryStore::new()));
    let mut browser = Browser::new(serve(app).await);
    assert_eq!(browser.get("/add").await.body, "1");

    // A load checks that what is stored is our own encoding (one
    // serialization); the handler that only reads adds none.
    let before = ENCODED.load(Ordering::SeqCst);
    let reply = browser.get("/read").await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "1"));
    assert!(!reply.set_cookies.is_empty(), "the cookie is still re-sent");
    assert_eq!(ENCODED.load(Ordering::SeqCst) - before, 1, "read-only");

    // A handler that borrows the session mutably gets it encoded again
    // (then also `T::default()`, to see whether it became empty).
    let before = ENCODED.load(Ordering::SeqCst);
    assert_eq!(browser.get("/add").await.body, "2");
    assert!(ENCODED.load(Ordering::SeqCst) - before > 1, "read + write");
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
