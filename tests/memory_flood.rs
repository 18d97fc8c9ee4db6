//! The memory store through the layer over real HTTP: a flood of new
//! visitors does not log out the visitors who came back, and a session over
//! the store's byte budget is refused while the stored one stays.

mod support;

use axum::extract::Path;
use axum::routing::get;
use axum::Router;
use serde::{Deserialize, Serialize};
use sessionkit::{MemoryStore, Session, SessionLayer, SessionStore};

use support::{serve, Browser};

/// The default session (cookie `session`).
#[derive(Session, Serialize, Deserialize, Default, Debug)]
#[serde(default)]
struct Account {
    user: Option<String>,
    visits: u64,
    note: String,
}

/// Logs in: a new id, as a real login does.
async fn login(mut account: Session<Account>, Path(user): Path<String>) -> &'static str {
    account.cycle_id();
    account.user = Some(user);
    "ok"
}

async fn whoami(account: Session<Account>) -> String {
    account.user.clone().unwrap_or_else(|| "nobody".into())
}

/// What a visitor without a cookie gets: a new session, stored.
async fn visit(mut account: Session<Account>) -> String {
    account.visits += 1;
    account.visits.to_string()
}

async fn write_note(mut account: Session<Account>, Path(len): Path<usize>) -> &'static str {
    account.note = "n".repeat(len);
    "noted"
}

async fn note_len(account: Session<Account>) -> String {
    account.note.len().to_string()
}

fn app(store: MemoryStore) -> Router {
    Router::new()
        .route("/login/{user}", get(login))
        .route("/whoami", get(whoami))
        .route("/visit", get(visit))
        .route("/note/{len}", get(write_note))
        .route("/note", get(note_len))
        .layer(SessionLayer::new(store))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn visitors_who_came_back_keep_their_sessions_through_a_flood() {
    let store = MemoryStore::new().with_capacity(1_000);
    let addr = serve(app(store.clone())).await;
    let mut users: Vec<Browser> = (0..100).map(|_| Browser::new(addr)).collect();
    for (i, user) in users.iter_mut().enumerate() {
        let reply = user.get(&format!("/login/user{i}")).await;
        assert_eq!((reply.status, reply.body.as_str()), (200, "ok"));
    }
    // Each comes back once.
    for (i, user) in users.iter_mut().enumerate() {
        assert_eq!(user.get("/whoami").await.body, format!("user{i}"));
    }

    // Twice the capacity in requests without a cookie, each storing a new
    // session.
    let flood = Browser::new(addr);
    for _ in 0..2_000 {
        let reply = flood.get_raw("/visit", &[]).await;
        assert_eq!((reply.status, reply.body.as_str()), (200, "1"));
        assert!(reply.sets("session"), "{reply:?}");
    }
    assert_eq!(store.len(), 1_000, "the flood filled the store");

    let mut logged_out = Vec::new();
    for (i, user) in users.iter_mut().enumerate() {
        if user.get("/whoami").await.body != format!("user{i}") {
            logged_out.push(i);
        }
    }
    assert!(logged_out.is_empty(), "users logged out: {logged_out:?}");
}

#[tokio::test]
async fn a_session_over_the_byte_budget_is_refused_and_the_stored_one_stays() {
    let store = MemoryStore::new()
        .with_capacity(100)
        .with_max_bytes(8 * 1024);
    let limit = store.max_value_size().expect("the store has a limit");
    assert!(limit < 8 * 1024);
    let addr = serve(app(store.clone())).await;
    let mut browser = Browser::new(addr);
    assert_eq!(browser.get("/note/100").await.body, "noted");

    // The note alone is as long as the limit: the session is longer.
    let reply = browser.get(&format!("/note/{limit}")).await;
    assert_eq!(reply.status, 500, "{reply:?}");
    assert_eq!(browser.get("/note").await.body, "100");

    // Well under the limit (the JSON around the note is some 40 bytes).
    let fits = limit - 100;
    assert_eq!(browser.get(&format!("/note/{fits}")).await.body, "noted");
    assert_eq!(browser.get("/note").await.body, fits.to_string());
    assert!(store.used_bytes() <= store.max_bytes());
}
