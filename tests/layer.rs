//! The layer over real HTTP: hostile cookies, duplicate cookies, a failing
//! store, a missing layer, double extraction, a session that escapes its
//! request, run-time config overrides, partitioned cookies and concurrent
//! requests.

mod support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{from_fn, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::{Deserialize, Serialize};
use sessionkit::config::Field;
use sessionkit::store::StoreFuture;
use sessionkit::{
    session_config, MemoryStore, Session, SessionConfig, SessionLayer, SessionRejection,
    SessionStore, StoreError,
};

use support::app::{self, Visit};
use support::embed;
use support::{attributes, capture_logs, serve, Browser, Counting, Reply};

const TTL: Duration = Duration::from_secs(3600);

session_config! {
    /// A session whose `session_name` differs from its cookie name, to see
    /// which one the error log names.
    pub SHOP {
        cookie_name: "shop",
        prefix: "shop:",
        session_name: "shop_session",
    }
}

/// A session type with a custom config.
#[derive(Session, Serialize, Deserialize, Default, Debug)]
#[session(config = SHOP)]
struct Shop {
    n: i64,
}

// ---------------------------------------------------------------------------
// Helpers

fn new_id() -> String {
    sessionkit::SessionId::generate().to_string()
}

fn is_id(s: &str) -> bool {
    s.len() == 32
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn key(id: &str) -> String {
    format!("session:{id}")
}

/// Puts `json` under `key` in `store`, as another instance would have.
async fn plant<S: SessionStore>(store: &S, key: &str, json: &str) {
    store.save(key, json.as_bytes(), TTL).await.expect("plant");
}

/// The JSON under `key` (`None`: nothing stored).
async fn stored<S: SessionStore>(store: &S, key: &str) -> Option<serde_json::Value> {
    let bytes = store.load(key, TTL).await.expect("store load");
    bytes.map(|b| serde_json::from_slice(&b).expect("stored value is JSON"))
}

/// A response with its headers, for what [`Reply`] does not keep.
struct FullReply {
    status: u16,
    content_type: Option<String>,
    set_cookies: Vec<String>,
    vary: Vec<String>,
    body: String,
}

async fn get_full(addr: std::net::SocketAddr, path: &str, cookie: Option<&str>) -> FullReply {
    let mut request = reqwest::Client::new().get(format!("http://{addr}{path}"));
    if let Some(cookie) = cookie {
        request = request.header(reqwest::header::COOKIE, cookie);
    }
    let response = request.send().await.expect("request failed");
    let header = |name| {
        response
            .headers()
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    let content_type = header(reqwest::header::CONTENT_TYPE).into_iter().next();
    let set_cookies = header(reqwest::header::SET_COOKIE);
    let vary = header(reqwest::header::VARY);
    let status = response.status().as_u16();
    let body = response.text().await.unwrap();
    FullReply {
        status,
        content_type,
        set_cookies,
        vary,
        body,
    }
}

/// The `Cookie` header a browser with this jar sends.
fn cookie_header(browser: &Browser) -> String {
    browser
        .jar
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Whether one log line has all of `parts`.
fn logged(logs: &str, parts: &[&str]) -> bool {
    logs.lines()
        .any(|line| parts.iter().all(|p| line.contains(p)))
}

// ---------------------------------------------------------------------------
// A store that fails on demand

/// Which operations fail; flip them at any time, the store recovers at once.
#[derive(Clone, Default)]
struct Faults {
    load: Arc<AtomicBool>,
    save: Arc<AtomicBool>,
    delete: Arc<AtomicBool>,
}

impl Faults {
    fn set(&self, load: bool, save: bool, delete: bool) {
        self.load.store(load, Ordering::SeqCst);
        self.save.store(save, Ordering::SeqCst);
        self.delete.store(delete, Ordering::SeqCst);
    }
}

/// A real [`MemoryStore`] whose operations fail while their fault is set.
#[derive(Clone)]
struct FailingStore {
    inner: MemoryStore,
    faults: Faults,
}

impl FailingStore {
    fn new() -> Self {
        FailingStore {
            inner: MemoryStore::new(),
            faults: Faults::default(),
        }
    }
}

/// A failure that is ready at once, like the memory store's answers.
fn failed<'a, T: Send + 'a>(what: &'static str) -> StoreFuture<'a, T> {
    StoreFuture::ready(Err(StoreError::new(what)))
}

impl SessionStore for FailingStore {
    fn load<'a>(&'a self, key: &'a str, ttl: Duration) -> StoreFuture<'a, Option<Vec<u8>>> {
        if self.faults.load.load(Ordering::SeqCst) {
            return failed("injected load failure");
        }
        self.inner.load(key, ttl)
    }
    fn save<'a>(&'a self, key: &'a str, value: &'a [u8], ttl: Duration) -> StoreFuture<'a, ()> {
        if self.faults.save.load(Ordering::SeqCst) {
            return failed("injected save failure");
        }
        self.inner.save(key, value, ttl)
    }
    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
        if self.faults.delete.load(Ordering::SeqCst) {
            return failed("injected delete failure");
        }
        self.inner.delete(key)
    }
}

/// How many times the counted handlers ran.
#[derive(Clone, Default)]
struct Calls(Arc<AtomicUsize>);

impl Calls {
    fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

async fn counted_incr(State(calls): State<Calls>, mut v: Session<Visit>) -> String {
    calls.0.fetch_add(1, Ordering::SeqCst);
    v.n += 1;
    v.n.to_string()
}

async fn counted_shop(State(calls): State<Calls>, mut s: Session<Shop>) -> String {
    calls.0.fetch_add(1, Ordering::SeqCst);
    s.n += 1;
    s.n.to_string()
}

/// The test app plus `/counted` and `/shop`, whose handlers count their runs.
fn counted_router(calls: &Calls) -> Router {
    app::router().merge(
        Router::new()
            .route("/counted", get(counted_incr))
            .route("/shop", get(counted_shop))
            .with_state(calls.clone()),
    )
}

// ---------------------------------------------------------------------------
// 1. Ill-formed cookies

/// Ill-formed `Cookie` header contents for the default session, built
/// around `valid` (a well-formed id the store holds data for).
fn bad_cookies(valid: &str) -> Vec<(&'static str, String)> {
    vec![
        ("empty value", "session=".to_string()),
        ("4 KB value", format!("session={}", valid.repeat(128))),
        ("non-hex", format!("session={}zz", &valid[..30])),
        ("upper-case", format!("session={}", valid.to_uppercase())),
        ("quoted", format!("session=\"{valid}\"")),
        ("path traversal", "session=../../x".to_string()),
        (
            "space inside",
            format!("session={} {}", &valid[..16], &valid[16..]),
        ),
        ("space then junk", format!("session={valid} junk")),
        ("name only, no `=`", "session".to_string()),
        ("double `=`", "session==abc".to_string()),
        ("double `=` before an id", format!("session=={valid}")),
        ("id followed by junk", format!("session={valid}junk")),
    ]
}

/// Sends `cookie_headers` to `/incr` and checks it got a fresh session.
async fn assert_fresh(browser: &Browser, what: &str, cookie_headers: &[String], valid: &str) {
    let reply = browser.get_raw("/incr", cookie_headers).await;
    assert_eq!(reply.status, 200, "{what}: {reply:?}");
    assert_eq!(
        reply.body, "1",
        "{what}: the planted session (n = 41) was used or a stale one"
    );
    let new = reply.cookie_value("session");
    assert!(is_id(&new), "{what}: new cookie {new:?} is not an id");
    assert_ne!(
        new, valid,
        "{what}: the id embedded in the bad value was adopted"
    );
    for header in cookie_headers {
        assert!(
            !header.contains(&format!("={new}")),
            "{what}: the new id {new} came from the request"
        );
    }
}

#[tokio::test]
async fn each_ill_formed_cookie_gives_a_fresh_session_without_asking_the_store() {
    let store = Counting::new(MemoryStore::new());
    let browser = Browser::new(serve(app::app(store.clone())).await);
    let valid = new_id();
    plant(&store.inner, &key(&valid), r#"{"n":41}"#).await;

    for (what, header) in bad_cookies(&valid) {
        assert_fresh(&browser, what, &[header], &valid).await;
        assert_eq!(store.counts.get().0, 0, "{what}: the store was asked");
    }
    // Control: the planted session is reachable with the well-formed id, so
    // the fresh sessions above were not for want of data.
    let reply = browser.get_raw("/get", &[format!("session={valid}")]).await;
    assert_eq!(reply.body, "41");
    assert_eq!(store.counts.get().0, 1);
}

#[tokio::test]
async fn ill_formed_cookies_combined_give_a_fresh_session_without_asking_the_store() {
    let store = Counting::new(MemoryStore::new());
    let browser = Browser::new(serve(app::app(store.clone())).await);
    let valid = new_id();
    plant(&store.inner, &key(&valid), r#"{"n":41}"#).await;
    let bad: Vec<String> = bad_cookies(&valid).into_iter().map(|(_, h)| h).collect();

    // All in one `Cookie` header, with an unrelated cookie mixed in.
    let mut one = bad.clone();
    one.insert(3, "other=1".to_string());
    assert_fresh(&browser, "all in one header", &[one.join("; ")], &valid).await;
    // Each in its own `Cookie` header.
    assert_fresh(&browser, "one header each", &bad, &valid).await;
    // Pairs, in both orders.
    for a in &bad {
        for b in &bad {
            let pair = format!("{a}; {b}");
            assert_fresh(&browser, &pair, std::slice::from_ref(&pair), &valid).await;
        }
    }
    assert_eq!(store.counts.get().0, 0, "the store was asked");
}

/// `;` separates cookies, so `session=<id>;junk` is the cookie
/// `session=<id>` followed by a nameless pair: the id is well-formed and is
/// looked up, the junk is ignored. An id the store does not know still never
/// becomes the session's id.
#[tokio::test]
async fn id_then_semicolon_junk_is_the_id_and_an_ignored_pair() {
    let store = Counting::new(MemoryStore::new());
    let browser = Browser::new(serve(app::app(store.clone())).await);

    let unknown = new_id();
    let reply = browser
        .get_raw("/incr", &[format!("session={unknown};junk")])
        .await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "1"));
    let new = reply.cookie_value("session");
    assert!(is_id(&new) && new != unknown, "{new} vs {unknown}");

    let known = new_id();
    plant(&store.inner, &key(&known), r#"{"n":41}"#).await;
    let reply = browser
        .get_raw("/get", &[format!("session={known};junk")])
        .await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "41"));
    assert_eq!(reply.cookie_value("session"), known);
}

// ---------------------------------------------------------------------------
// 2. Several `session` cookies in one request

async fn two_sessions() -> (Browser, Counting<MemoryStore>, String, String) {
    let store = Counting::new(MemoryStore::new());
    let browser = Browser::new(serve(app::app(store.clone())).await);
    let (first, second) = (new_id(), new_id());
    plant(&store.inner, &key(&first), r#"{"n":1}"#).await;
    plant(&store.inner, &key(&second), r#"{"n":2}"#).await;
    (browser, store, first, second)
}

#[tokio::test]
async fn two_well_formed_session_cookies_the_first_wins() {
    let (browser, store, one, two) = two_sessions().await;
    for round in 0..10 {
        let reply = browser
            .get_raw("/get", &[format!("session={one}; session={two}")])
            .await;
        assert_eq!(
            (reply.status, reply.body.as_str()),
            (200, "1"),
            "round {round}"
        );
        assert_eq!(reply.cookie_value("session"), one);
        // The order decides, not the ids.
        let reply = browser
            .get_raw("/get", &[format!("session={two}; session={one}")])
            .await;
        assert_eq!(
            (reply.status, reply.body.as_str()),
            (200, "2"),
            "round {round}"
        );
        assert_eq!(reply.cookie_value("session"), two);
    }
    assert_eq!(
        store.counts.get(),
        (20, 0, 0),
        "one load per request, no writes"
    );
}

#[tokio::test]
async fn an_ill_formed_first_session_cookie_is_skipped_for_a_well_formed_second() {
    let (browser, store, one, two) = two_sessions().await;
    let skipped = [
        String::new(),
        one.to_uppercase(),
        format!("\"{one}\""),
        format!("{one}junk"),
        "../../x".to_string(),
    ];
    for round in 0..5 {
        for bad in &skipped {
            let reply = browser
                .get_raw("/get", &[format!("session={bad}; session={two}")])
                .await;
            assert_eq!(
                (reply.status, reply.body.as_str()),
                (200, "2"),
                "round {round}, first {bad:?}"
            );
            assert_eq!(reply.cookie_value("session"), two);
        }
    }
    assert_eq!(
        store.counts.get().0,
        5 * skipped.len(),
        "only the good id is loaded"
    );
}

#[tokio::test]
async fn session_cookies_in_two_cookie_headers_the_first_header_wins() {
    let (browser, _store, one, two) = two_sessions().await;
    for round in 0..10 {
        let reply = browser
            .get_raw(
                "/get",
                &[format!("session={one}"), format!("session={two}")],
            )
            .await;
        assert_eq!(
            (reply.status, reply.body.as_str()),
            (200, "1"),
            "round {round}"
        );
        let reply = browser
            .get_raw(
                "/get",
                &[format!("session={two}"), format!("session={one}")],
            )
            .await;
        assert_eq!(
            (reply.status, reply.body.as_str()),
            (200, "2"),
            "round {round}"
        );
        // An ill-formed one in the first header is skipped across headers.
        let reply = browser
            .get_raw(
                "/get",
                &[
                    format!("a=1; session={}", one.to_uppercase()),
                    format!("b=2; session={two}; session={one}"),
                ],
            )
            .await;
        assert_eq!(
            (reply.status, reply.body.as_str()),
            (200, "2"),
            "round {round}"
        );
    }
}

// ---------------------------------------------------------------------------
// 3. A failing store

#[tokio::test]
async fn failing_load_is_a_503_with_a_plain_reason_and_the_handler_does_not_run() {
    let store = FailingStore::new();
    let calls = Calls::default();
    let addr = serve(counted_router(&calls).layer(SessionLayer::new(store.clone()))).await;
    let mut browser = Browser::new(addr);
    assert_eq!(browser.get("/counted").await.body, "1");
    assert_eq!(calls.get(), 1);
    let cookie = cookie_header(&browser);

    store.faults.set(true, false, false);
    let (reply, logs) = capture_logs(get_full(addr, "/counted", Some(&cookie))).await;
    assert_eq!(reply.status, 503, "{}", reply.body);
    let content_type = reply.content_type.unwrap_or_default();
    assert!(content_type.starts_with("text/plain"), "{content_type:?}");
    let body = reply.body.trim();
    assert!(
        !body.is_empty() && body.len() < 100 && !body.contains('\n'),
        "not a short reason: {body:?}"
    );
    assert!(
        !body.contains("injected"),
        "the store's message leaked to the client: {body:?}"
    );
    assert_eq!(calls.get(), 1, "the handler ran without its session");
    assert!(reply.set_cookies.is_empty(), "{:?}", reply.set_cookies);
    // The answer depends on the cookie, like any response of a request
    // that asked for its session.
    assert_eq!(reply.vary, ["Cookie"]);
    assert!(
        logged(
            &logs,
            &["ERROR", "session=\"session\"", "injected load failure"]
        ),
        "no error log naming the session:\n{logs}"
    );

    // Recovery, same browser, same server.
    store.faults.set(false, false, false);
    let reply = browser.get("/counted").await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "2"));
    assert_eq!(calls.get(), 2);
}

#[tokio::test]
async fn failing_load_log_names_a_custom_session_name() {
    let store = FailingStore::new();
    let calls = Calls::default();
    let addr = serve(counted_router(&calls).layer(SessionLayer::new(store.clone()))).await;
    let mut browser = Browser::new(addr);
    assert_eq!(browser.get("/shop").await.body, "1");
    let cookie = cookie_header(&browser);
    assert!(cookie.starts_with("shop="), "{cookie}");

    store.faults.set(true, false, false);
    let (reply, logs) = capture_logs(get_full(addr, "/shop", Some(&cookie))).await;
    assert_eq!(reply.status, 503);
    assert_eq!(calls.get(), 1);
    assert!(
        logged(&logs, &["ERROR", "session=\"shop_session\""]),
        "no error log naming `shop_session`:\n{logs}"
    );

    store.faults.set(false, false, false);
    assert_eq!(browser.get("/shop").await.body, "2");
}

#[tokio::test]
async fn failing_save_of_a_fresh_session_is_a_503_with_nothing_stored_and_no_cookie() {
    let store = FailingStore::new();
    let calls = Calls::default();
    let addr = serve(counted_router(&calls).layer(SessionLayer::new(store.clone()))).await;

    store.faults.set(false, true, false);
    let (reply, logs) = capture_logs(get_full(addr, "/counted", None)).await;
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert!(
        reply
            .content_type
            .unwrap_or_default()
            .starts_with("text/plain"),
        "not plain text"
    );
    assert!(reply.set_cookies.is_empty(), "{:?}", reply.set_cookies);
    assert!(store.inner.is_empty(), "something was stored");
    assert!(
        logged(
            &logs,
            &["ERROR", "session=\"session\"", "injected save failure"]
        ),
        "no error log naming the session:\n{logs}"
    );

    store.faults.set(false, false, false);
    let mut browser = Browser::new(addr);
    let reply = browser.get("/counted").await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "1"));
    assert!(reply.sets("session"));
    assert_eq!(store.inner.len(), 1);
}

#[tokio::test]
async fn failing_save_of_a_changed_session_is_a_503_and_keeps_the_old_data() {
    let store = FailingStore::new();
    let calls = Calls::default();
    let addr = serve(counted_router(&calls).layer(SessionLayer::new(store.clone()))).await;
    let mut browser = Browser::new(addr);
    assert_eq!(browser.get("/counted").await.body, "1");
    let id = browser.jar["session"].clone();

    store.faults.set(false, true, false);
    let reply = browser.get("/counted").await;
    assert_eq!(reply.status, 503);
    assert_eq!(
        stored(&store.inner, &key(&id)).await,
        Some(serde_json::json!({"n": 1}))
    );

    store.faults.set(false, false, false);
    assert_eq!(browser.get("/counted").await.body, "2");
}

#[tokio::test]
async fn failing_delete_on_clear_is_a_503_and_the_data_stays() {
    let store = FailingStore::new();
    let calls = Calls::default();
    let addr = serve(counted_router(&calls).layer(SessionLayer::new(store.clone()))).await;
    let mut browser = Browser::new(addr);
    assert_eq!(browser.get("/counted").await.body, "1");
    let id = browser.jar["session"].clone();
    let cookie = cookie_header(&browser);

    store.faults.set(false, false, true);
    let (reply, logs) = capture_logs(get_full(addr, "/clear", Some(&cookie))).await;
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert!(
        reply.set_cookies.is_empty(),
        "the cookie was expired although the data stays: {:?}",
        reply.set_cookies
    );
    assert_eq!(
        stored(&store.inner, &key(&id)).await,
        Some(serde_json::json!({"n": 1}))
    );
    assert!(
        logged(
            &logs,
            &["ERROR", "session=\"session\"", "injected delete failure"]
        ),
        "no error log naming the session:\n{logs}"
    );

    store.faults.set(false, false, false);
    assert_eq!(browser.get("/get").await.body, "1");
    let reply = browser.get("/clear").await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "cleared"));
    assert_eq!(stored(&store.inner, &key(&id)).await, None);
}

#[tokio::test]
async fn a_failing_store_never_stops_the_server() {
    let store = FailingStore::new();
    let calls = Calls::default();
    let addr = serve(counted_router(&calls).layer(SessionLayer::new(store.clone()))).await;
    let mut browser = Browser::new(addr);
    for round in 0..3 {
        store.faults.set(true, true, true);
        // No cookie on round 0: only the save can fail.
        assert_eq!(browser.get("/counted").await.status, 503, "round {round}");
        // Round 0 has nothing stored, so `/clear` needs no store call.
        let clear = if round == 0 { 200 } else { 503 };
        assert_eq!(browser.get("/clear").await.status, clear, "round {round}");
        assert_eq!(browser.get("/none").await.status, 200, "round {round}");
        store.faults.set(false, false, false);
        let reply = browser.get("/counted").await;
        assert_eq!(reply.status, 200, "round {round}");
        assert_eq!(reply.body, (round + 1).to_string());
    }
}

#[tokio::test]
async fn custom_error_handler_sets_the_response_and_the_error_is_still_logged() {
    let store = FailingStore::new();
    let calls = Calls::default();
    let layer = SessionLayer::new(store.clone()).with_error_handler(|error| {
        assert!(
            matches!(error, sessionkit::Error::Store { .. }),
            "{error:?}"
        );
        (StatusCode::INTERNAL_SERVER_ERROR, "custom").into_response()
    });
    let addr = serve(counted_router(&calls).layer(layer)).await;
    let mut browser = Browser::new(addr);
    assert_eq!(browser.get("/counted").await.body, "1");
    let cookie = cookie_header(&browser);

    store.faults.set(true, false, false);
    let (reply, logs) = capture_logs(get_full(addr, "/counted", Some(&cookie))).await;
    assert_eq!((reply.status, reply.body.as_str()), (500, "custom"));
    assert_eq!(calls.get(), 1);
    assert!(
        logged(
            &logs,
            &["ERROR", "session=\"session\"", "injected load failure"]
        ),
        "{logs}"
    );

    store.faults.set(false, true, false);
    let (reply, logs) = capture_logs(get_full(addr, "/counted", None)).await;
    assert_eq!((reply.status, reply.body.as_str()), (500, "custom"));
    assert!(
        logged(
            &logs,
            &["ERROR", "session=\"session\"", "injected save failure"]
        ),
        "{logs}"
    );

    store.faults.set(false, false, false);
    assert_eq!(browser.get("/counted").await.body, "2");
}

// ---------------------------------------------------------------------------
// 4. No layer

#[tokio::test]
async fn session_without_the_layer_is_a_500_that_names_the_fix() {
    let addr = serve(app::router()).await;
    let reply = Browser::new(addr).get_raw("/incr", &[]).await;
    assert_eq!(reply.status, 500);
    assert!(
        reply.body.contains("SessionLayer") && reply.body.contains("forgot"),
        "{}",
        reply.body
    );
    // Routes without a session are unaffected.
    assert_eq!(Browser::new(addr).get_raw("/none", &[]).await.status, 200);
}

#[test]
fn missing_layer_rejection_displays_the_fix() {
    let text = SessionRejection::MissingLayer.to_string();
    assert!(
        text.contains("SessionLayer") && text.contains("forgot"),
        "{text}"
    );
    assert!(text.contains(".layer("), "{text}");
}

// ---------------------------------------------------------------------------
// 5. Extracting a session twice

async fn twice(mut a: Session<Visit>, mut b: Session<Visit>) -> String {
    a.n += 100;
    b.n += 100;
    format!("{} {}", a.n, b.n)
}

#[tokio::test]
async fn extracting_the_same_session_twice_at_once_is_a_logged_500_and_saves_nothing() {
    let store = Counting::new(MemoryStore::new());
    let router = app::router().route("/twice", get(twice));
    let addr = serve(router.layer(SessionLayer::new(store.clone()))).await;
    let mut browser = Browser::new(addr);

    // A fresh visitor.
    let (reply, logs) = capture_logs(browser.get("/twice")).await;
    assert_eq!(reply.status, 500, "{}", reply.body);
    assert!(
        !reply.body.contains("100"),
        "the handler ran: {}",
        reply.body
    );
    assert!(
        logged(&logs, &["ERROR", "session=\"session\"", "extracted twice"]),
        "{logs}"
    );
    assert_eq!(store.counts.get().1, 0, "saved");
    assert!(store.inner.is_empty());

    // A stored session.
    assert_eq!(browser.get("/incr").await.body, "1");
    let saves = store.counts.get().1;
    let (reply, logs) = capture_logs(browser.get("/twice")).await;
    assert_eq!(reply.status, 500, "{}", reply.body);
    assert!(logged(&logs, &["ERROR", "extracted twice"]), "{logs}");
    assert_eq!(store.counts.get().1, saves, "saved");
    assert_eq!(browser.get("/get").await.body, "1");
}

async fn bump_in_middleware(mut v: Session<Visit>, request: Request, next: Next) -> Response {
    v.n += 1;
    drop(v);
    next.run(request).await
}

async fn bump_in_handler(mut v: Session<Visit>) -> String {
    v.n += 1;
    v.n.to_string()
}

#[tokio::test]
async fn a_middleware_and_then_the_handler_both_change_the_session_with_one_save() {
    let store = Counting::new(MemoryStore::new());
    let router = Router::new()
        .route("/incr", get(bump_in_handler))
        .layer(from_fn(bump_in_middleware))
        .layer(SessionLayer::new(store.clone()));
    let mut browser = Browser::new(serve(router).await);

    let reply = browser.get("/incr").await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "2"));
    assert_eq!(store.counts.get(), (0, 1, 0), "(loads, saves, deletes)");
    let id = browser.jar["session"].clone();
    assert_eq!(
        stored(&store.inner, &key(&id)).await,
        Some(serde_json::json!({"n": 2}))
    );

    let reply = browser.get("/incr").await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "4"));
    assert_eq!(store.counts.get(), (1, 2, 0), "(loads, saves, deletes)");
    assert_eq!(reply.cookie_value("session"), id);
}

// ---------------------------------------------------------------------------
// 6. A session that outlives its request

/// The task the handler spawned, and what lets it finish.
#[derive(Clone, Default)]
struct Escaped {
    task: Arc<Mutex<Option<tokio::task::JoinHandle<()>>>>,
    release: Arc<tokio::sync::Notify>,
}

async fn hold_in_task(State(escaped): State<Escaped>, mut v: Session<Visit>) -> &'static str {
    v.n += 1;
    let release = escaped.release.clone();
    let task = tokio::spawn(async move {
        release.notified().await;
        v.n += 1;
        drop(v);
    });
    *escaped.task.lock().unwrap() = Some(task);
    "spawned"
}

#[tokio::test]
async fn a_session_moved_into_a_task_is_not_saved_and_warns_without_a_panic() {
    let store = Counting::new(MemoryStore::new());
    let escaped = Escaped::default();
    let router = app::router().merge(
        Router::new()
            .route("/escape", get(hold_in_task))
            .with_state(escaped.clone()),
    );
    let addr = serve(router.layer(SessionLayer::new(store.clone()))).await;
    let mut browser = Browser::new(addr);

    let (reply, logs) = capture_logs(browser.get("/escape")).await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "spawned"));
    assert!(
        logged(&logs, &["WARN", "session=\"session\"", "still held"]),
        "no warning:\n{logs}"
    );
    assert_eq!(store.counts.get().1, 0, "saved");

    // Let the task drop the session after the response went out.
    escaped.release.notify_one();
    let task = escaped.task.lock().unwrap().take().expect("task spawned");
    let outcome = task.await;
    assert!(
        outcome.is_ok(),
        "dropping the session after the response panicked: {outcome:?}"
    );
    assert_eq!(store.counts.get().1, 0, "saved late");
    assert!(store.inner.is_empty());

    // The server still serves.
    assert_eq!(browser.get("/incr").await.body, "1");
}

// ---------------------------------------------------------------------------
// 7. Run-time config override

#[tokio::test]
async fn with_config_overrides_domain_and_secure_on_set_and_delete_cookies() {
    let config = SessionConfig::DEFAULT
        .with_domain(Some("example.com"))
        .with_secure(true);
    let layer = SessionLayer::new(MemoryStore::new())
        .with_config::<app::Visit>(config)
        .unwrap();
    let mut browser = Browser::new(serve(app::router().layer(layer)).await);

    let reply = browser.get("/incr").await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "1"));
    let set = attributes(reply.set_cookie("session"));
    assert_eq!(
        set.get("domain").map(String::as_str),
        Some("example.com"),
        "{set:?}"
    );
    assert!(set.contains_key("secure"), "{set:?}");

    let reply = browser.get("/clear").await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "cleared"));
    let delete = attributes(reply.set_cookie("session"));
    assert_eq!(
        delete.get("max-age").map(String::as_str),
        Some("0"),
        "{delete:?}"
    );
    assert_eq!(
        delete.get("domain").map(String::as_str),
        Some("example.com"),
        "{delete:?}"
    );
    assert!(delete.contains_key("secure"), "{delete:?}");
    assert_eq!(delete.get("path"), set.get("path"));

    // Other session types keep their compiled-in config.
    let reply = browser.get("/cart/add/1").await;
    let cart = attributes(reply.set_cookie("cart"));
    assert!(
        !cart.contains_key("domain") && !cart.contains_key("secure"),
        "{cart:?}"
    );
}

/// An expiry set at start-up is the cookie's `Max-Age` and the store's time
/// to live: the session is gone once it passed.
#[tokio::test]
async fn with_config_overrides_the_expiry_of_the_cookie_and_the_store() {
    let config = SessionConfig::DEFAULT.with_expiry(Duration::from_secs(2));
    let layer = SessionLayer::new(MemoryStore::new())
        .with_config::<app::Visit>(config)
        .unwrap();
    let mut browser = Browser::new(serve(app::router().layer(layer)).await);

    let reply = browser.get("/incr").await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "1"));
    let set = attributes(reply.set_cookie("session"));
    assert_eq!(set.get("max-age").map(String::as_str), Some("2"), "{set:?}");
    assert_eq!(browser.get("/incr").await.body, "2");

    // Past the two seconds, the store has let the session go, although the
    // cookie is sent again (as a browser that ignored Max-Age would).
    tokio::time::sleep(Duration::from_millis(3100)).await;
    assert_eq!(browser.get("/get").await.body, "0");
}

/// An override names its session type, and must keep that type's cookie
/// name: an override for a cookie no session type uses would otherwise be
/// ignored without a word.
#[test]
fn with_config_refuses_a_cookie_name_its_session_type_does_not_use() {
    let error = SessionLayer::new(MemoryStore::new())
        .with_config::<app::Visit>(app::CART)
        .expect_err("the cart's config accepted for the visit session");
    let violations: Vec<_> = error.violations().collect();
    assert_eq!(violations.len(), 1, "{error}");
    assert_eq!(violations[0].0, Field::CookieName);
    assert!(
        violations[0].1.contains("\"cart\"") && violations[0].1.contains("Visit"),
        "{error}"
    );
    // Its own cookie name is accepted.
    assert!(SessionLayer::new(MemoryStore::new())
        .with_config::<app::Cart>(app::CART)
        .is_ok());
}

#[test]
fn with_config_refuses_a_config_set_at_start_up_with_every_violation_at_once() {
    session_config! { HOST { cookie_name: "__Host-id", secure: true } }
    // Three violations of two options: an invalid domain, a domain on a
    // `__Host-` cookie, a `__Host-` cookie without `Secure`.
    struct Host;
    impl sessionkit::ConfigSource for Host {
        const CONFIG: SessionConfig = HOST;
    }
    let config = HOST.with_domain(Some("bad domain")).with_secure(false);
    let error = SessionLayer::new(MemoryStore::new())
        .with_config::<sessionkit::Untyped<Host>>(config)
        .expect_err("refused");
    let fields: Vec<Field> = error.violations().map(|(field, _)| field).collect();
    assert_eq!(fields, [Field::Domain, Field::CookieName, Field::Domain]);
    let text = error.to_string();
    for part in [
        "`domain` \"bad domain\" is not a valid host name",
        "starting with `__Host-` requires `secure: true`",
        "starting with `__Host-` must not have a `domain`",
    ] {
        assert!(text.contains(part), "{part} not in {text}");
    }
}

// ---------------------------------------------------------------------------
// 8. Partitioned cookies (CHIPS)

/// The attributes of the `Set-Cookie` for `name` on the answer to `path`.
async fn cookie_on(browser: &mut Browser, path: &str, name: &str) -> BTreeMap<String, String> {
    let reply = browser.get(path).await;
    assert_eq!(reply.status, 200, "{path}: {reply:?}");
    attributes(reply.set_cookie(name))
}

/// `Partitioned` is on the cookie a login sets and on the delete-cookie of
/// the logout (a browser drops a partitioned cookie only for a
/// delete-cookie that is partitioned too), and on no cookie of a config
/// without it.
#[tokio::test]
async fn a_partitioned_session_is_partitioned_on_login_and_on_logout() {
    let mut browser = Browser::new(serve(embed::app()).await);
    let set = cookie_on(&mut browser, "/login/ada", "__Host-embed").await;
    for attribute in ["partitioned", "secure", "path"] {
        assert!(set.contains_key(attribute), "{attribute}: {set:?}");
    }
    assert!(!set.contains_key("domain"), "{set:?}");
    assert_eq!(set.get("samesite").map(String::as_str), Some("None"));
    assert_eq!(browser.get("/count").await.body, embed::page(1).0);

    let delete = cookie_on(&mut browser, "/logout", "__Host-embed").await;
    assert_eq!(delete.get("max-age").map(String::as_str), Some("0"));
    assert!(
        delete.contains_key("partitioned") && delete.contains_key("secure"),
        "{delete:?}"
    );
    assert!(browser.jar.is_empty(), "{:?}", browser.jar);

    // The same app's session without `partitioned`.
    let set = cookie_on(&mut browser, "/third-party/count", "__Host-third").await;
    assert!(!set.contains_key("partitioned"), "{set:?}");

    // The default config: neither on login nor on logout.
    let mut browser = Browser::new(serve(app::app(MemoryStore::new())).await);
    let set = cookie_on(&mut browser, "/login/ada", "session").await;
    let delete = cookie_on(&mut browser, "/clear", "session").await;
    assert_eq!(delete.get("max-age").map(String::as_str), Some("0"));
    for cookie in [set, delete] {
        assert!(!cookie.contains_key("partitioned"), "{cookie:?}");
    }
}

/// `with_partitioned` at start-up, with `with_secure`, partitions one
/// session type's cookies and leaves the others' alone.
#[tokio::test]
async fn with_config_partitions_a_session_at_start_up() {
    let config = SessionConfig::DEFAULT
        .with_secure(true)
        .with_partitioned(true);
    let layer = SessionLayer::new(MemoryStore::new())
        .with_config::<app::Visit>(config)
        .unwrap();
    let mut browser = Browser::new(serve(app::router().layer(layer)).await);
    let set = cookie_on(&mut browser, "/login/ada", "session").await;
    let delete = cookie_on(&mut browser, "/clear", "session").await;
    assert_eq!(delete.get("max-age").map(String::as_str), Some("0"));
    for cookie in [set, delete] {
        assert!(
            cookie.contains_key("partitioned") && cookie.contains_key("secure"),
            "{cookie:?}"
        );
    }
    let cart = cookie_on(&mut browser, "/cart/add/1", "cart").await;
    assert!(!cart.contains_key("partitioned"), "{cart:?}");
}

#[test]
fn with_config_refuses_partitioned_without_secure() {
    let config = embed::EMBED.with_secure(false);
    let error = SessionLayer::new(MemoryStore::new())
        .with_config::<embed::Embedded>(config)
        .expect_err("a partitioned cookie without Secure accepted");
    let violations: Vec<(Field, &str)> = error.violations().collect();
    assert_eq!(
        violations,
        [
            (
                Field::Samesite,
                "`samesite: \"none\"` requires `secure: true`; browsers reject SameSite=None cookies without Secure"
            ),
            (
                Field::Partitioned,
                "`partitioned: true` requires `secure: true`; browsers reject Partitioned cookies without Secure"
            ),
            (
                Field::CookieName,
                "a `cookie_name` starting with `__Host-` requires `secure: true`"
            ),
        ]
    );
    // Turning it off instead leaves the other two.
    let error = SessionLayer::new(MemoryStore::new())
        .with_config::<embed::Embedded>(embed::EMBED.with_secure(false).with_partitioned(false))
        .expect_err("refused");
    assert!(error
        .violations()
        .all(|(field, _)| field != Field::Partitioned));
}

// ---------------------------------------------------------------------------
// Rejections are data; optional sessions

/// Answers a failed load its own way, from the rejection it was handed.
async fn own_answer(session: Result<Session<Visit>, SessionRejection>) -> String {
    match session {
        Ok(v) => format!("n={}", v.n),
        Err(SessionRejection::Failed(failure)) => {
            format!("no session ({:?})", failure.error().class())
        }
        Err(other) => format!("other: {other}"),
    }
}

/// The visitor's stored session, if there is one.
async fn optional(session: Option<Session<Visit>>) -> String {
    match session {
        Some(v) => format!("n={}", v.n),
        None => "none".to_owned(),
    }
}

/// A layer whose error handler counts its calls.
fn counting_handler(store: FailingStore, calls: &Calls) -> SessionLayer {
    let calls = calls.clone();
    SessionLayer::new(store).with_error_handler(move |error| {
        calls.0.fetch_add(1, Ordering::SeqCst);
        sessionkit::default_error_response(error)
    })
}

/// A handler that takes the rejection and answers it itself gets no log
/// line and no call of the error handler: only turning a rejection into a
/// response applies the layer's error policy.
#[tokio::test]
async fn a_rejection_the_handler_answers_itself_applies_no_error_policy() {
    let store = FailingStore::new();
    let handled = Calls::default();
    let router = app::router()
        .route("/own", get(own_answer))
        .layer(counting_handler(store.clone(), &handled));
    let addr = serve(router).await;
    let mut browser = Browser::new(addr);
    assert_eq!(browser.get("/incr").await.body, "1");
    let cookie = cookie_header(&browser);

    store.faults.set(true, false, false);
    let (reply, logs) = capture_logs(get_full(addr, "/own", Some(&cookie))).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, "no session (Transient)");
    assert_eq!(handled.get(), 0, "the error handler ran");
    assert!(!logged(&logs, &["session error"]), "logged:\n{logs}");

    // The same failure, left to the layer: logged once, answered once.
    let (reply, logs) = capture_logs(get_full(addr, "/get", Some(&cookie))).await;
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert_eq!(handled.get(), 1);
    assert_eq!(logs.matches("session error").count(), 1, "{logs}");
}

#[tokio::test]
async fn an_optional_session_is_the_visitors_stored_one_or_none() {
    let store = FailingStore::new();
    let handled = Calls::default();
    let router = app::router()
        .route("/optional", get(optional))
        .layer(counting_handler(store.clone(), &handled));
    let addr = serve(router).await;
    let mut browser = Browser::new(addr);

    // No session yet: none, and none is started.
    let reply = browser.get("/optional").await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "none"));
    assert!(reply.set_cookies.is_empty(), "{:?}", reply.set_cookies);
    assert!(store.inner.is_empty());
    // An id the store does not know: none, and no new cookie.
    let reply = browser
        .get_raw("/optional", &[format!("session={}", new_id())])
        .await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "none"));
    assert!(reply.set_cookies.is_empty(), "{:?}", reply.set_cookies);

    // A stored session: there, and its cookie slides as usual.
    assert_eq!(browser.get("/incr").await.body, "1");
    let reply = browser.get("/optional").await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "n=1"));
    assert!(!reply.set_cookies.is_empty());

    // A failed load is still the layer's error response.
    store.faults.set(true, false, false);
    let reply = browser.get("/optional").await;
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert_eq!(handled.get(), 1);
}

// ---------------------------------------------------------------------------
// 9. Concurrency smoke test

/// Twenty concurrent increments of one session all succeed. The documented
/// minimum is last writer wins, so the final count is anywhere from 1 to 20:
/// this is a smoke test (no error, no panic), not a no-lost-update check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_on_one_session_all_succeed() {
    let store = Counting::new(MemoryStore::new());
    let browser = Arc::new(Browser::new(serve(app::app(store.clone())).await));
    let id = new_id();
    plant(&store.inner, &key(&id), r#"{"n":0}"#).await;
    let cookie = format!("session={id}");

    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (browser, cookie) = (browser.clone(), cookie.clone());
            tokio::spawn(async move { browser.get_raw("/incr", &[cookie]).await })
        })
        .collect();
    for task in tasks {
        let reply: Reply = task.await.expect("request task panicked");
        assert_eq!(reply.status, 200, "{reply:?}");
        let n: i64 = reply.body.parse().unwrap();
        assert!((1..=20).contains(&n), "{n}");
        assert_eq!(reply.cookie_value("session"), id);
    }
    let reply = browser.get_raw("/get", &[cookie]).await;
    assert_eq!(reply.status, 200);
    let n: i64 = reply.body.parse().unwrap();
    assert!((1..=20).contains(&n), "final count {n}");
}

// ---------------------------------------------------------------------------
// The layer around the whole router

async fn around_incr(mut visit: Session<Visit>) -> String {
    visit.n += 1;
    visit.n.to_string()
}

async fn around_plain() -> &'static str {
    "plain"
}

/// `SessionLayer::new(store).layer(router)`, served through
/// `into_make_service`, instead of `Router::layer`: sessions are created,
/// loaded and saved the same over real HTTP; a route that extracts none,
/// and a path no route matches, get no cookie and no `Vary`.
#[tokio::test]
async fn the_layer_applied_around_the_whole_router_serves_sessions() {
    use tower_layer::Layer;

    let store = MemoryStore::new();
    let routes = Router::new()
        .route("/incr", get(around_incr))
        .route("/plain", get(around_plain));
    let service = SessionLayer::new(store.clone()).layer(routes);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let make = axum::ServiceExt::<Request>::into_make_service(service);
        axum::serve(listener, make).await.unwrap()
    });

    let mut browser = Browser::new(addr);
    let first = browser.get("/incr").await;
    assert_eq!((first.status, first.body.as_str()), (200, "1"));
    let id = first.cookie_value("session");
    assert!(is_id(&id), "{first:?}");
    let second = browser.get("/incr").await;
    assert_eq!((second.status, second.body.as_str()), (200, "2"));
    assert_eq!(second.cookie_value("session"), id, "the same session");
    assert_eq!(
        stored(&store, &key(&id)).await,
        Some(serde_json::json!({ "n": 2 }))
    );

    for path in ["/plain", "/nowhere"] {
        let reply = browser.get(path).await;
        assert!(reply.set_cookies.is_empty(), "{path}: {reply:?}");
        assert!(!reply.headers.contains_key("vary"), "{path}: {reply:?}");
    }
    assert_eq!(browser.get("/nowhere").await.status, 404);
    assert_eq!(store.len(), 1);
}
