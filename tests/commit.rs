//! How the layer commits a request's sessions, over real HTTP on the memory
//! store: saves before deletes, cookies of what was saved even when
//! another save fails, a commit that outlives a client who hung up, early
//! saves, and a store without compare-and-set.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::routing::get;
use axum::Router;
use serde_json::json;
use sessionkit::store::{Expect, SaveOutcome, StoreFuture, Stored};
use sessionkit::{MemoryStore, Session, SessionLayer, SessionStore, StoreError};

use support::app::{self, gated, Cart, Visit};
use support::{serve, Browser};

const TTL: Duration = Duration::from_secs(3600);

/// The JSON under `key` (`None`: nothing stored).
async fn stored<S: SessionStore>(store: &S, key: &str) -> Option<serde_json::Value> {
    let bytes = store.load(key, TTL).await.expect("store load");
    bytes.map(|b| serde_json::from_slice(&b).expect("stored value is JSON"))
}

/// The memory store, with compare-and-set, whose writes of keys starting
/// with `failing` fail.
#[derive(Clone)]
struct FailsFor {
    inner: MemoryStore,
    failing: &'static str,
}

impl SessionStore for FailsFor {
    fn load<'a>(&'a self, key: &'a str, ttl: Duration) -> StoreFuture<'a, Option<Vec<u8>>> {
        self.inner.load(key, ttl)
    }
    fn save<'a>(&'a self, key: &'a str, value: &'a [u8], ttl: Duration) -> StoreFuture<'a, ()> {
        self.inner.save(key, value, ttl)
    }
    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
        self.inner.delete(key)
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
        if key.starts_with(self.failing) {
            return StoreFuture::ready(Err(StoreError::new("injected save failure")));
        }
        self.inner.save_if(key, value, ttl, expect)
    }
    fn compare_and_set(&self) -> bool {
        true
    }
}

async fn login_and_fill_cart(mut v: Session<Visit>, mut c: Session<Cart>) -> String {
    v.cycle_id();
    v.user = Some("ada".into());
    c.items.push(2);
    v.id().to_string()
}

/// The first session of a request is saved (under a new id), the second
/// fails: the old key of the first is not deleted, and the error response
/// carries the first one's new cookie, so the user stays logged in and the
/// data is reachable.
#[tokio::test]
async fn a_failed_save_deletes_nothing_and_keeps_the_cookies_of_saved_sessions() {
    let store = FailsFor {
        inner: MemoryStore::new(),
        failing: "nothing:",
    };
    let router = app::router().route("/login-and-cart", get(login_and_fill_cart));
    let addr = serve(router.clone().layer(SessionLayer::new(store.clone()))).await;
    let mut browser = Browser::new(addr);
    let old = browser.get("/incr").await.cookie_value("session");
    let cart = browser.get("/cart/add/1").await.cookie_value("cart");

    // The same store, now failing every write of a cart.
    let failing = FailsFor {
        inner: store.inner.clone(),
        failing: "cart:",
    };
    let addr = serve(router.layer(SessionLayer::new(failing))).await;
    let jar = browser.jar;
    let mut browser = Browser::new(addr);
    browser.jar = jar;
    let reply = browser.get("/login-and-cart").await;
    assert_eq!(reply.status, 503, "{reply:?}");
    let new = reply.cookie_value("session");
    assert_ne!(new, old);
    assert!(
        !reply.sets("cart"),
        "the failed session's cookie: {reply:?}"
    );
    assert_eq!(
        stored(&store.inner, &format!("session:{new}")).await,
        Some(json!({"n": 1, "user": "ada"})),
        "the first session is saved under its new id"
    );
    assert_eq!(
        stored(&store.inner, &format!("session:{old}")).await,
        Some(json!({"n": 1})),
        "and its old key is not deleted before every save succeeded"
    );
    assert_eq!(
        stored(&store.inner, &format!("cart:{cart}")).await,
        Some(json!({"items": [1]})),
        "the failed one is as it was"
    );
    assert_eq!(browser.get("/get").await.body, "1", "still logged in");
}

/// The memory store behind a delay: every call waits `delay` before it does
/// its work, like a slow server.
#[derive(Clone)]
struct Slow {
    inner: MemoryStore,
    delay: Duration,
}

impl Slow {
    fn later<'a, T: Send + 'a>(
        &'a self,
        work: impl FnOnce() -> StoreFuture<'a, T> + Send + 'a,
    ) -> StoreFuture<'a, T> {
        StoreFuture::new(async move {
            tokio::time::sleep(self.delay).await;
            work().await
        })
    }
}

impl SessionStore for Slow {
    fn load<'a>(&'a self, key: &'a str, ttl: Duration) -> StoreFuture<'a, Option<Vec<u8>>> {
        self.inner.load(key, ttl)
    }
    fn save<'a>(&'a self, key: &'a str, value: &'a [u8], ttl: Duration) -> StoreFuture<'a, ()> {
        self.later(move || self.inner.save(key, value, ttl))
    }
    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
        self.later(move || self.inner.delete(key))
    }
}

/// A logout whose delete is under way when the client hangs up still
/// deletes the session.
#[tokio::test]
async fn a_commit_finishes_when_the_client_hangs_up() {
    let store = Slow {
        inner: MemoryStore::new(),
        delay: Duration::from_millis(300),
    };
    let addr = serve(app::app(store.clone())).await;
    let mut browser = Browser::new(addr);
    let id = browser.get("/incr").await.cookie_value("session");
    let key = format!("session:{id}");
    let hung_up = browser
        .get_impatiently("/clear", "session", Duration::from_millis(100))
        .await;
    assert!(hung_up.is_err(), "the client gave up: {hung_up:?}");
    assert!(
        stored(&store.inner, &key).await.is_some(),
        "not yet deleted"
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        stored(&store.inner, &key).await,
        None,
        "the delete finished without the client"
    );
}

/// What the early-saving handler's `save()` returned.
#[derive(Clone, Default)]
struct Said(Arc<Mutex<Vec<String>>>);

async fn save_early(State(said): State<Said>, mut v: Session<Visit>) -> &'static str {
    v.n += 1;
    let result = match v.save().await {
        Ok(()) => "saved".to_string(),
        Err(error) => support::chain(&error),
    };
    said.0.lock().unwrap().push(result);
    "done"
}

/// `Session::save` hands the store's error to the handler.
#[tokio::test]
async fn an_early_save_returns_the_store_error_to_the_handler() {
    let store = FailsFor {
        inner: MemoryStore::new(),
        failing: "session:",
    };
    let said = Said::default();
    let early = Router::new()
        .route("/early", get(save_early))
        .with_state(said.clone());
    let router = app::router().merge(early);
    let addr = serve(router.layer(SessionLayer::new(store))).await;
    let reply = Browser::new(addr).get("/early").await;
    assert_eq!(
        said.0.lock().unwrap().as_slice(),
        ["session store error for `session`: injected save failure"]
    );
    // The layer tries again after the handler, and fails again.
    assert_eq!(reply.status, 503);
}

/// A store with only `load`, `save` and `delete`.
#[derive(Clone)]
struct Plain(MemoryStore);

impl SessionStore for Plain {
    fn load<'a>(&'a self, key: &'a str, ttl: Duration) -> StoreFuture<'a, Option<Vec<u8>>> {
        self.0.load(key, ttl)
    }
    fn save<'a>(&'a self, key: &'a str, value: &'a [u8], ttl: Duration) -> StoreFuture<'a, ()> {
        self.0.save(key, value, ttl)
    }
    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
        self.0.delete(key)
    }
}

/// Without compare-and-set everything works, and two concurrent writes of
/// one session are last-writer-wins, as documented: this is what the
/// conformance suite's merge test shows every real store does better.
#[tokio::test]
async fn a_store_without_compare_and_set_works_and_the_last_writer_wins() {
    let store = Plain(MemoryStore::new());
    assert!(!store.compare_and_set());
    let (router, _gate) = gated(store.clone());
    let mut browser = Browser::new(serve(router).await);
    assert_eq!(browser.get("/incr").await.body, "1");
    assert_eq!(browser.get("/incr").await.body, "2");
    browser.get("/pair/init").await;
    let id = browser.jar["pair"].clone();
    let cookie = [format!("pair={id}")];
    let (a, b) = tokio::join!(
        browser.get_raw("/pair/race/a/5", &cookie),
        browser.get_raw("/pair/race/b/7", &cookie),
    );
    assert_eq!((a.status, b.status), (200, 200));
    let value = stored(&store.0, &format!("pair:{id}")).await.unwrap();
    assert!(
        value == json!({"a": 5, "b": 1}) || value == json!({"a": 1, "b": 7}),
        "one change is lost: {value}"
    );
    assert_eq!(browser.get("/clear").await.status, 200);
    assert!(!browser.jar.contains_key("session"));
}
