//! Off the happy path, over real HTTP on the memory store: the status of
//! each class of error with the old data kept, the size limit, data that
//! could not be read back, a handler's 5xx, shared caches, configs that
//! break a rule, stored objects with very many keys, and session ids kept
//! out of logs.

mod support;

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sessionkit::__private::Settings;
use sessionkit::store::{Expect, SaveOutcome, StoreFuture, Stored};
use sessionkit::{
    session_config, ErrorClass, MemoryStore, Session, SessionConfig, SessionLayer, SessionStore,
    StoreError, UntypedSession,
};

use support::{capture_logs, serve, Browser};

const TTL: Duration = Duration::from_secs(3600);

session_config! {
    /// The session every route here uses.
    pub HARD { cookie_name: "hard", prefix: "hard:", session_name: "hard" }
    /// A second cookie, for the start-up override checks.
    ALT { cookie_name: "alt", prefix: "alt:", session_name: "alt" }
}

#[derive(Session, Serialize, Deserialize, Default, Debug)]
#[session(config = HARD)]
#[serde(default)]
struct Data {
    ratio: f64,
    note: String,
}

/// What [`Faulty`] does to the next writes.
const OK: u8 = 0;
const TRANSIENT: u8 = 1;
const PERMANENT: u8 = 2;

/// The memory store, whose writes fail with a transient or permanent
/// error when told to (a server that went away, one that refuses).
#[derive(Clone)]
struct Faulty {
    inner: MemoryStore,
    mode: Arc<AtomicU8>,
}

impl Faulty {
    fn fault(&self) -> Option<StoreError> {
        match self.mode.load(Ordering::SeqCst) {
            TRANSIENT => Some(StoreError::new("connection reset by peer")),
            PERMANENT => Some(StoreError::new("the server refused the command").permanent()),
            _ => None,
        }
    }
}

impl SessionStore for Faulty {
    fn load<'a>(&'a self, key: &'a str, ttl: Duration) -> StoreFuture<'a, Option<Vec<u8>>> {
        self.inner.load(key, ttl)
    }
    fn save<'a>(&'a self, key: &'a str, value: &'a [u8], ttl: Duration) -> StoreFuture<'a, ()> {
        match self.fault() {
            Some(e) => StoreFuture::ready(Err(e)),
            None => self.inner.save(key, value, ttl),
        }
    }
    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
        match self.fault() {
            Some(e) => StoreFuture::ready(Err(e)),
            None => self.inner.delete(key),
        }
    }
    fn load_versioned<'a>(
        &'a self,
        key: &'a str,
        ttl: Duration,
    ) -> StoreFuture<'a, Option<Stored>> {
        self.inner.load_versioned(key, ttl)
    }
    fn save_if<'a>(
        &'a self,
        key: &'a str,
        value: &'a [u8],
        ttl: Duration,
        expect: Expect<'a>,
    ) -> StoreFuture<'a, SaveOutcome> {
        match self.fault() {
            Some(e) => StoreFuture::ready(Err(e)),
            None => self.inner.save_if(key, value, ttl, expect),
        }
    }
    fn compare_and_set(&self) -> bool {
        true
    }
    fn max_value_size(&self) -> Option<usize> {
        self.inner.max_value_size()
    }
}

async fn set_note(mut s: Session<Data>, Path(note): Path<String>) -> String {
    s.note = note;
    s.note.clone()
}

async fn get_note(s: Session<Data>) -> String {
    format!("{}|{}", s.note, s.ratio)
}

async fn set_ratio(mut s: Session<Data>, Path(ratio): Path<String>) -> String {
    s.ratio = match ratio.as_str() {
        "nan" => f64::NAN,
        "inf" => f64::INFINITY,
        r => r.parse().unwrap(),
    };
    "set".into()
}

/// Writes a note of `len` bytes.
async fn big(mut s: Session<Data>, Path(len): Path<usize>) -> &'static str {
    s.note = "x".repeat(len);
    "big"
}

/// Nests `levels` arrays under the key `deep`.
async fn deep(mut s: UntypedSession<HardConfig>, Path(levels): Path<usize>) -> &'static str {
    let nested = (1..levels).fold(json!([]), |inner, _| json!([inner]));
    s.as_map_mut().insert("deep".into(), nested);
    "deep"
}

/// Changes the session, then fails.
async fn fail_after_change(mut s: Session<Data>) -> impl IntoResponse {
    s.note = "half-done".into();
    (StatusCode::INTERNAL_SERVER_ERROR, "handler failed")
}

/// Logs out, then fails.
async fn fail_after_logout(mut s: Session<Data>) -> impl IntoResponse {
    s.destroy();
    (StatusCode::BAD_GATEWAY, "upstream failed")
}

/// Logs out, with a public cache policy.
async fn logout(mut s: Session<Data>) -> impl IntoResponse {
    s.destroy();
    ([(header::CACHE_CONTROL, "public, max-age=600")], "bye")
}

/// Reads the session and answers with the caching headers of `kind`.
async fn cached(s: Session<Data>, Path(kind): Path<String>) -> impl IntoResponse {
    let _ = &s.note;
    let cache_control = match kind.as_str() {
        "public" => Some("public, max-age=600"),
        "no-store" => Some("no-store"),
        "private" => Some("private, max-age=60"),
        "none" => None,
        other => panic!("unknown kind {other}"),
    };
    let mut response = "cached".into_response();
    if let Some(value) = cache_control {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, value.parse().unwrap());
    }
    if kind == "public" {
        response
            .headers_mut()
            .insert(header::VARY, "Accept-Encoding".parse().unwrap());
    }
    response
}

/// A session type whose config has the cookie name `alt`.
struct AltConfig;
impl sessionkit::ConfigSource for AltConfig {
    const CONFIG: SessionConfig = ALT;
}

/// Uses the untyped session of the same config.
pub struct HardConfig;
impl sessionkit::ConfigSource for HardConfig {
    const CONFIG: SessionConfig = HARD;
}

fn app() -> Router {
    Router::new()
        .route("/note/{note}", get(set_note))
        .route("/note", get(get_note))
        .route("/ratio/{ratio}", get(set_ratio))
        .route("/big/{len}", get(big))
        .route("/deep/{levels}", get(deep))
        .route("/fail-after-change", get(fail_after_change))
        .route("/fail-after-logout", get(fail_after_logout))
        .route("/cached/{kind}", get(cached))
        .route("/logout", get(logout))
        .route("/none", get(|| async { "no session" }))
}

fn faulty() -> (Faulty, Arc<AtomicU8>) {
    let mode = Arc::new(AtomicU8::new(OK));
    let store = Faulty {
        inner: MemoryStore::new(),
        mode: Arc::clone(&mode),
    };
    (store, mode)
}

/// A browser logged in with note `before`, on `layer`.
async fn logged_in(layer: SessionLayer) -> Browser {
    let mut browser = Browser::new(serve(app().layer(layer)).await);
    assert_eq!(browser.get("/note/before").await.status, 200);
    browser
}

// ---------------------------------------------------------------------------
// Error classes

#[tokio::test]
async fn a_transient_store_error_is_503_with_retry_after_and_keeps_the_old_data() {
    let (store, mode) = faulty();
    let mut browser = logged_in(SessionLayer::new(store)).await;
    mode.store(TRANSIENT, Ordering::SeqCst);
    let reply = browser.get("/note/after").await;
    assert_eq!(reply.status, 503);
    assert_eq!(reply.header("retry-after"), "2");
    assert_eq!(reply.body, "session store unavailable, please retry\n");
    assert!(reply.set_cookies.is_empty(), "{:?}", reply.set_cookies);
    mode.store(OK, Ordering::SeqCst);
    assert_eq!(browser.get("/note").await.body, "before|0");
}

#[tokio::test]
async fn a_permanent_store_error_is_500_without_retry_after_and_keeps_the_old_data() {
    let (store, mode) = faulty();
    let mut browser = logged_in(SessionLayer::new(store)).await;
    mode.store(PERMANENT, Ordering::SeqCst);
    let reply = browser.get("/note/after").await;
    assert_eq!(reply.status, 500);
    assert_eq!(reply.header("retry-after"), "");
    assert_eq!(reply.body, "session error\n");
    mode.store(OK, Ordering::SeqCst);
    assert_eq!(browser.get("/note").await.body, "before|0");
}

#[tokio::test]
async fn the_error_handler_sees_the_class() {
    let (store, mode) = faulty();
    let layer = SessionLayer::new(store).with_error_handler(|error| {
        let class = match error.class() {
            ErrorClass::Transient => "transient",
            ErrorClass::Permanent => "permanent",
        };
        (StatusCode::IM_A_TEAPOT, class).into_response()
    });
    let mut browser = logged_in(layer).await;
    for (mode_now, class) in [(TRANSIENT, "transient"), (PERMANENT, "permanent")] {
        mode.store(mode_now, Ordering::SeqCst);
        let reply = browser.get("/note/after").await;
        assert_eq!((reply.status, reply.body.as_str()), (418, class));
    }
}

// ---------------------------------------------------------------------------
// Size limit

/// Encoded size of a `Data` whose note has `len` bytes.
fn encoded_len(len: usize) -> usize {
    serde_json::to_vec(&Data {
        ratio: 0.0,
        note: "x".repeat(len),
    })
    .unwrap()
    .len()
}

#[tokio::test]
async fn a_session_over_the_layer_limit_is_500_and_nothing_is_written() {
    let store = MemoryStore::new();
    let layer = SessionLayer::new(store.clone()).with_max_size(1000);
    let mut browser = logged_in(layer).await;
    let key = format!("hard:{}", browser.jar["hard"]);
    let before = store.load(&key, TTL).await.unwrap();

    let fits = 1000 - encoded_len(0);
    assert_eq!(encoded_len(fits), 1000);
    assert_eq!(browser.get(&format!("/big/{fits}")).await.status, 200);
    assert_eq!(store.load(&key, TTL).await.unwrap().unwrap().len(), 1000);

    assert_eq!(browser.get("/note/before").await.status, 200);
    let reply = browser.get(&format!("/big/{}", fits + 1)).await;
    assert_eq!(reply.status, 500);
    assert_eq!(store.load(&key, TTL).await.unwrap(), before);
    assert_eq!(browser.get("/note").await.body, "before|0");
}

#[tokio::test]
async fn a_new_session_over_the_default_limit_is_never_stored() {
    let store = MemoryStore::new();
    let mut browser = Browser::new(serve(app().layer(SessionLayer::new(store.clone()))).await);
    let reply = browser
        .get(&format!("/big/{}", SessionLayer::DEFAULT_MAX_SIZE))
        .await;
    assert_eq!(reply.status, 500);
    assert!(reply.set_cookies.is_empty());
    assert_eq!(store.len(), 0);
}

/// A store with a limit of its own below the layer's.
#[derive(Clone)]
struct Small(MemoryStore);

impl SessionStore for Small {
    fn load<'a>(&'a self, key: &'a str, ttl: Duration) -> StoreFuture<'a, Option<Vec<u8>>> {
        self.0.load(key, ttl)
    }
    fn save<'a>(&'a self, key: &'a str, value: &'a [u8], ttl: Duration) -> StoreFuture<'a, ()> {
        assert!(value.len() <= 500, "the layer sent {} bytes", value.len());
        self.0.save(key, value, ttl)
    }
    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
        self.0.delete(key)
    }
    fn max_value_size(&self) -> Option<usize> {
        Some(500)
    }
}

#[tokio::test]
async fn the_store_limit_wins_when_it_is_smaller() {
    let layer = SessionLayer::new(Small(MemoryStore::new())).with_max_size(10_000);
    let mut browser = logged_in(layer).await;
    assert_eq!(browser.get("/big/600").await.status, 500);
    assert_eq!(browser.get("/big/400").await.status, 200);
}

// ---------------------------------------------------------------------------
// Data that could not be read back

#[tokio::test]
async fn a_float_that_is_not_finite_is_an_encode_error_and_the_old_data_stays() {
    let mut browser = logged_in(SessionLayer::new(MemoryStore::new())).await;
    assert_eq!(browser.get("/ratio/0.25").await.status, 200);
    for bad in ["nan", "inf"] {
        let reply = browser.get(&format!("/ratio/{bad}")).await;
        assert_eq!(reply.status, 500, "{bad}");
        assert!(reply.set_cookies.is_empty());
        // Still logged in, with what was there.
        assert_eq!(browser.get("/note").await.body, "before|0.25");
    }
}

#[tokio::test]
async fn nesting_deeper_than_the_decoder_reads_is_an_encode_error() {
    let store = MemoryStore::new();
    let mut browser = logged_in(SessionLayer::new(store.clone())).await;
    // The session object is one level, so 126 more fit in 127.
    assert_eq!(browser.get("/deep/126").await.status, 200);
    assert_eq!(browser.get("/note").await.status, 200);
    let key = format!("hard:{}", browser.jar["hard"]);
    let kept = store.load(&key, TTL).await.unwrap();
    let reply = browser.get("/deep/127").await;
    assert_eq!(reply.status, 500);
    assert_eq!(store.load(&key, TTL).await.unwrap(), kept);
    assert_eq!(browser.get("/note").await.body, "before|0");
}

// ---------------------------------------------------------------------------
// A handler's 5xx

#[tokio::test]
async fn a_5xx_response_saves_nothing_by_default() {
    let mut browser = logged_in(SessionLayer::new(MemoryStore::new())).await;
    let reply = browser.get("/fail-after-change").await;
    assert_eq!(reply.status, 500);
    assert!(reply.set_cookies.is_empty(), "{:?}", reply.set_cookies);
    assert_eq!(browser.get("/note").await.body, "before|0");

    let reply = browser.get("/fail-after-logout").await;
    assert_eq!(reply.status, 502);
    assert!(reply.set_cookies.is_empty(), "{:?}", reply.set_cookies);
    assert_eq!(browser.get("/note").await.body, "before|0");
}

#[tokio::test]
async fn a_new_visitor_whose_handler_fails_gets_no_session() {
    let store = MemoryStore::new();
    let mut browser = Browser::new(serve(app().layer(SessionLayer::new(store.clone()))).await);
    let reply = browser.get("/fail-after-change").await;
    assert_eq!(reply.status, 500);
    assert!(reply.set_cookies.is_empty());
    assert_eq!(store.len(), 0);
}

#[tokio::test]
async fn save_on_server_error_saves_on_5xx_again() {
    let layer = SessionLayer::new(MemoryStore::new()).save_on_server_error(true);
    let mut browser = logged_in(layer).await;
    assert_eq!(browser.get("/fail-after-change").await.status, 500);
    assert_eq!(browser.get("/note").await.body, "half-done|0");
    assert_eq!(browser.get("/fail-after-logout").await.status, 502);
    assert!(!browser.jar.contains_key("hard"));
}

// ---------------------------------------------------------------------------
// Shared caches

#[tokio::test]
async fn a_response_that_used_a_session_varies_with_cookie() {
    let mut browser = logged_in(SessionLayer::new(MemoryStore::new())).await;
    assert_eq!(browser.get("/note").await.header("vary"), "Cookie");
    // Kept next to what the handler said.
    let reply = browser.get("/cached/public").await;
    assert_eq!(reply.header("vary"), "Accept-Encoding, Cookie");
    // Also on a 5xx, which saves nothing.
    assert_eq!(
        browser.get("/fail-after-change").await.header("vary"),
        "Cookie"
    );
    // Not on a route that never extracted a session.
    assert_eq!(browser.get("/none").await.header("vary"), "");
}

#[tokio::test]
async fn a_response_that_sets_a_session_cookie_is_never_stored_by_a_shared_cache() {
    let mut browser = logged_in(SessionLayer::new(MemoryStore::new())).await;
    let cases = [
        ("none", "private"),
        // An explicit `public` is replaced; the rest is kept.
        ("public", "private, max-age=600"),
        ("no-store", "no-store"),
        ("private", "private, max-age=60"),
    ];
    for (kind, expected) in cases {
        let reply = browser.get(&format!("/cached/{kind}")).await;
        assert!(reply.sets("hard"), "{kind}: {:?}", reply.set_cookies);
        assert_eq!(reply.header("cache-control"), expected, "{kind}");
    }
    // A logout's expiring cookie too.
    let reply = browser.get("/logout").await;
    assert_eq!(
        reply.cookie_attribute("hard", "max-age").as_deref(),
        Some("0")
    );
    assert_eq!(reply.header("cache-control"), "private, max-age=600");
}

#[tokio::test]
async fn a_response_without_a_session_cookie_keeps_its_cache_control() {
    // A new visitor whose session stays empty gets no cookie: the handler's
    // caching stands.
    let browser = Browser::new(serve(app().layer(SessionLayer::new(MemoryStore::new()))).await);
    let reply = browser.get_raw("/cached/public", &[]).await;
    assert!(reply.set_cookies.is_empty());
    assert_eq!(reply.header("cache-control"), "public, max-age=600");
    assert_eq!(reply.header("vary"), "Accept-Encoding, Cookie");
}

// ---------------------------------------------------------------------------
// Configs

#[test]
fn with_config_refuses_a_config_that_breaks_a_rule() {
    // Built past the macro: `samesite: none` without `secure`.
    let config = SessionConfig::__checked(Settings {
        cookie_name: "alt",
        expiry_secs: 3600,
        samesite: Some(sessionkit::SameSite::None),
        prefix: "alt:",
        session_name: "alt",
        ..Settings::DEFAULT
    });
    let error = SessionLayer::new(MemoryStore::new())
        .with_config::<sessionkit::Untyped<AltConfig>>(config)
        .expect_err("refused");
    let fields: Vec<_> = error.violations().map(|(field, _)| field).collect();
    assert_eq!(fields, [sessionkit::config::Field::Samesite], "{error}");
    assert!(error.to_string().contains("secure"), "{error}");
}

#[test]
#[should_panic(expected = "visible ASCII")]
fn the_hidden_constructor_refuses_what_would_break_the_cookie_header() {
    let _ = SessionConfig::__checked(Settings {
        cookie_name: "alt",
        domain: Some("example.com\r\nSet-Cookie: admin=1"),
        expiry_secs: 3600,
        prefix: "alt:",
        session_name: "alt",
        ..Settings::DEFAULT
    });
}

// ---------------------------------------------------------------------------
// Stored objects with very many keys

#[tokio::test]
async fn a_stored_object_with_100000_unknown_keys_loads_changes_and_keeps_them() {
    let store = MemoryStore::new();
    let layer = SessionLayer::new(store.clone()).with_max_size(10 << 20);
    let mut browser = logged_in(layer).await;
    let key = format!("hard:{}", browser.jar["hard"]);
    let mut object = serde_json::Map::new();
    object.insert("note".into(), json!("many"));
    for i in 0..100_000 {
        object.insert(format!("k{i}"), json!(i));
    }
    store
        .save(&key, &serde_json::to_vec(&object).unwrap(), TTL)
        .await
        .unwrap();
    // With a scan per kept key this takes minutes; linear, well under a second.
    assert_eq!(browser.get("/note").await.body, "many|0");
    assert_eq!(browser.get("/note/changed").await.status, 200);
    let stored: Value =
        serde_json::from_slice(&store.load(&key, TTL).await.unwrap().unwrap()).unwrap();
    let stored = stored.as_object().unwrap();
    assert_eq!(stored.len(), 100_002);
    assert_eq!(stored["note"], "changed");
    assert_eq!(stored["k99999"], 99999);
}

// ---------------------------------------------------------------------------
// Ids kept out of logs

#[tokio::test]
async fn error_log_lines_never_show_a_session_id() {
    let (id, logs) = capture_logs(async {
        let (store, mode) = faulty();
        let mut browser = logged_in(SessionLayer::new(store)).await;
        let id = browser.jar["hard"].clone();
        mode.store(TRANSIENT, Ordering::SeqCst);
        assert_eq!(browser.get("/note/after").await.status, 503);
        mode.store(PERMANENT, Ordering::SeqCst);
        assert_eq!(browser.get("/note/after").await.status, 500);
        mode.store(OK, Ordering::SeqCst);
        assert_eq!(browser.get("/ratio/nan").await.status, 500);
        assert_eq!(browser.get("/big/70000").await.status, 500);
        id
    })
    .await;
    assert!(logs.contains("session error"), "{logs}");
    assert!(logs.contains("class=\"transient\""), "{logs}");
    assert!(logs.contains("class=\"permanent\""), "{logs}");
    assert!(!logs.contains(&id), "{logs}");
    assert!(!logs.contains(&id[..16]), "{logs}");
}
