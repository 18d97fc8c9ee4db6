//! The conformance suite every store passes: each function checks one point
//! of the lifecycle (the list in the README) over real HTTP against the store it is given.
//! `conformance_tests!` instantiates all of them as tests for one backend.

use std::time::{Duration, SystemTime};

use serde_json::{json, Value};
use sessionkit::SessionStore;

use sessionkit::store::{Expect, SaveOutcome};

use super::app::{app, gated, Gate};
use super::{attributes, capture_logs, serve, Browser, Counting};

const DAY: Duration = Duration::from_secs(86_400);

/// One test per conformance check, for the store `$make()` (an async closure) returns.
#[macro_export]
macro_rules! conformance_tests {
    ($make:expr) => {
        $crate::conformance_tests!(@tests $make;
            fresh_visitor_gets_a_sanic_compatible_cookie,
            reused_session_keeps_counting,
            read_only_request_writes_nothing_and_slides_the_cookie,
            route_without_session_touches_no_store,
            empty_fresh_session_is_never_stored,
            unknown_id_gets_a_new_id,
            ill_formed_cookies_never_reach_the_store,
            undecodable_data_gives_a_fresh_session,
            destroy_deletes_and_expires_the_cookie,
            session_that_becomes_empty_is_deleted,
            cycle_id_moves_the_data_to_a_new_id,
            destroy_then_write_starts_a_new_session,
            delete_cookie_carries_the_set_cookie_attributes,
            unknown_keys_survive_a_save,
            reformatted_but_equal_data_is_not_saved,
            two_sessions_are_independent,
            expiry_slides_on_reads,
            browser_session_cookie_has_no_max_age,
            untyped_session_gets_inserts_removes_and_clears,
            store_saves_only_over_what_it_expects,
            concurrent_changes_to_different_fields_are_merged,
            fifty_concurrent_requests_each_keep_their_key,
            a_session_ended_meanwhile_stays_ended,
            a_stored_value_that_is_not_an_object_is_not_overwritten,
            an_early_save_is_stored_before_the_handler_returns_and_not_again,
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

async fn setup_gated<S: SessionStore + Clone>(store: S) -> (Browser, Counting<S>, Gate) {
    let counting = Counting::new(store);
    let (router, gate) = gated(counting.clone());
    let addr = serve(router).await;
    (Browser::new(addr), counting, gate)
}

/// The value under `key`, parsed as JSON (`None`: no such key).
async fn stored<S: SessionStore>(store: &S, key: &str) -> Option<Value> {
    let bytes = store
        .load(key, Duration::from_secs(60))
        .await
        .expect("store load");
    bytes.map(|b| serde_json::from_slice(&b).expect("stored value is JSON"))
}

fn assert_id(id: &str) {
    assert_eq!(id.len(), 32, "{id:?}");
    assert!(
        id.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "{id:?}"
    );
}

fn new_id() -> String {
    sessionkit::SessionId::generate().to_string()
}

pub async fn fresh_visitor_gets_a_sanic_compatible_cookie<S: SessionStore + Clone>(store: S) {
    let (mut browser, store) = setup(store).await;
    let reply = browser.get("/incr").await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "1"));
    let id = reply.cookie_value("session");
    assert_id(&id);
    let attrs = attributes(reply.set_cookie("session"));
    assert_eq!(attrs.get("path").map(String::as_str), Some("/"));
    assert_eq!(attrs.get("max-age").map(String::as_str), Some("2592000"));
    assert!(attrs.contains_key("httponly"), "{attrs:?}");
    for absent in ["secure", "samesite", "domain"] {
        assert!(!attrs.contains_key(absent), "{absent} in {attrs:?}");
    }
    let expires = httpdate::parse_http_date(&attrs["expires"]).expect("Expires is an HTTP date");
    let want = SystemTime::now() + 30 * DAY;
    let off = want
        .duration_since(expires)
        .unwrap_or_else(|e| e.duration());
    assert!(
        off < Duration::from_secs(10),
        "Expires {:?} is {off:?} from now + 30 days",
        attrs["expires"]
    );
    let value = stored(&store.inner, &format!("session:{id}")).await;
    assert_eq!(value, Some(json!({"n": 1})));
}

pub async fn reused_session_keeps_counting<S: SessionStore + Clone>(store: S) {
    let (mut browser, store) = setup(store).await;
    let first = browser.get("/incr").await.cookie_value("session");
    for n in 2..=3 {
        let reply = browser.get("/incr").await;
        assert_eq!(reply.body, n.to_string());
        assert_eq!(reply.cookie_value("session"), first, "the id stays");
    }
    assert_eq!(store.counts.get(), (2, 3, 0), "(loads, saves, deletes)");
}

pub async fn read_only_request_writes_nothing_and_slides_the_cookie<S: SessionStore + Clone>(
    store: S,
) {
    let (mut browser, store) = setup(store).await;
    let id = browser.get("/incr").await.cookie_value("session");
    let before = store.counts.get();
    let reply = browser.get("/get").await;
    assert_eq!(reply.body, "1");
    assert_eq!(reply.cookie_value("session"), id, "cookie re-sent");
    assert_eq!(
        reply.cookie_attribute("session", "max-age").as_deref(),
        Some("2592000")
    );
    let after = store.counts.get();
    assert_eq!(
        (after.0 - before.0, after.1 - before.1, after.2 - before.2),
        (1, 0, 0)
    );
}

pub async fn route_without_session_touches_no_store<S: SessionStore + Clone>(store: S) {
    let (mut browser, store) = setup(store).await;
    browser.get("/incr").await;
    let before = store.counts.get();
    let reply = browser.get("/none").await;
    assert_eq!(reply.status, 200);
    assert!(reply.set_cookies.is_empty(), "{reply:?}");
    assert_eq!(store.counts.get(), before);
}

pub async fn empty_fresh_session_is_never_stored<S: SessionStore + Clone>(store: S) {
    let (mut browser, store) = setup(store).await;
    for path in ["/get", "/zero", "/untyped", "/cart"] {
        let reply = browser.get(path).await;
        assert_eq!(reply.status, 200, "{path}");
        assert!(reply.set_cookies.is_empty(), "{path}: {reply:?}");
    }
    assert_eq!(store.counts.get(), (0, 0, 0));
}

pub async fn unknown_id_gets_a_new_id<S: SessionStore + Clone>(store: S) {
    let (browser, store) = setup(store).await;
    let presented = new_id();
    let reply = browser
        .get_raw("/incr", &[format!("session={presented}")])
        .await;
    assert_eq!(reply.body, "1");
    let issued = reply.cookie_value("session");
    assert_id(&issued);
    assert_ne!(issued, presented, "a client never chooses its id");
    assert_eq!(
        stored(&store.inner, &format!("session:{presented}")).await,
        None
    );
    assert_eq!(store.counts.get(), (1, 1, 0));
}

pub async fn ill_formed_cookies_never_reach_the_store<S: SessionStore + Clone>(store: S) {
    let (browser, store) = setup(store).await;
    let valid = new_id();
    let bad = [
        String::new(),
        "a".repeat(4096),
        "zz69ea696434e99beff2880eb95116az".to_string(),
        valid.to_uppercase(),
        format!("\"{valid}\""),
        "../../x".to_string(),
        format!("{} {}", &valid[..16], &valid[16..]),
        format!("{valid}0"),
        valid[..31].to_string(),
    ];
    for value in &bad {
        for path in ["/get", "/incr"] {
            let reply = browser.get_raw(path, &[format!("session={value}")]).await;
            assert_eq!(reply.status, 200, "{value:?} {path}");
            if path == "/incr" {
                assert_eq!(reply.body, "1");
                assert_ne!(&reply.cookie_value("session"), value);
            }
        }
    }
    assert_eq!(store.counts.get().0, 0, "no load for an ill-formed id");
}

pub async fn undecodable_data_gives_a_fresh_session<S: SessionStore + Clone>(store: S) {
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
        let issued = reply.cookie_value("session");
        assert_ne!(issued, planted, "{payload}: a new id");
        assert!(
            logs.contains("WARN") && logs.contains("does not decode"),
            "{payload}: {logs}"
        );
    }
}

pub async fn destroy_deletes_and_expires_the_cookie<S: SessionStore + Clone>(store: S) {
    let (mut browser, store) = setup(store).await;
    let id = browser.get("/incr").await.cookie_value("session");
    let reply = browser.get("/clear").await;
    let attrs = attributes(reply.set_cookie("session"));
    assert_eq!(reply.cookie_value("session"), "");
    assert_eq!(attrs.get("max-age").map(String::as_str), Some("0"));
    let expires = httpdate::parse_http_date(&attrs["expires"]).unwrap();
    assert!(expires < SystemTime::now());
    assert_eq!(stored(&store.inner, &format!("session:{id}")).await, None);
    let reply = browser.get_raw("/get", &[format!("session={id}")]).await;
    assert_eq!(reply.body, "0", "the old id finds nothing");
}

pub async fn session_that_becomes_empty_is_deleted<S: SessionStore + Clone>(store: S) {
    let (mut browser, store) = setup(store).await;
    let id = browser.get("/incr").await.cookie_value("session");
    let reply = browser.get("/zero").await;
    assert_eq!(
        reply.cookie_attribute("session", "max-age").as_deref(),
        Some("0")
    );
    assert_eq!(stored(&store.inner, &format!("session:{id}")).await, None);
    assert!(browser.jar.is_empty());
}

pub async fn cycle_id_moves_the_data_to_a_new_id<S: SessionStore + Clone>(store: S) {
    let (mut browser, store) = setup(store).await;
    browser.get("/incr").await;
    let old = browser.get("/incr").await.cookie_value("session");
    let reply = browser.get("/login/ada").await;
    let new = reply.cookie_value("session");
    assert_eq!(reply.body, new);
    assert_id(&new);
    assert_ne!(new, old);
    assert_eq!(
        stored(&store.inner, &format!("session:{old}")).await,
        None,
        "old key deleted"
    );
    assert_eq!(
        stored(&store.inner, &format!("session:{new}")).await,
        Some(json!({"n": 2, "user": "ada"}))
    );
    assert_eq!(browser.get("/get").await.body, "2");
}

pub async fn destroy_then_write_starts_a_new_session<S: SessionStore + Clone>(store: S) {
    let (mut browser, store) = setup(store).await;
    let old = browser.get("/incr").await.cookie_value("session");
    let reply = browser.get("/destroy-then-set").await;
    let new = reply.cookie_value("session");
    assert_eq!(reply.body, new);
    assert_ne!(new, old);
    assert_eq!(stored(&store.inner, &format!("session:{old}")).await, None);
    assert_eq!(
        stored(&store.inner, &format!("session:{new}")).await,
        Some(json!({"n": 100}))
    );
}

pub async fn delete_cookie_carries_the_set_cookie_attributes<S: SessionStore + Clone>(store: S) {
    let (mut browser, _store) = setup(store).await;
    let set = attributes(browser.get("/attrs/incr").await.set_cookie("attrs"));
    let reply = browser.get("/attrs/clear").await;
    let delete = attributes(reply.set_cookie("attrs"));
    for (name, value) in [
        ("path", "/"),
        ("domain", "example.com"),
        ("secure", ""),
        ("samesite", "Strict"),
        ("httponly", ""),
    ] {
        assert_eq!(
            set.get(name).map(String::as_str),
            Some(value),
            "set-cookie {name}: {set:?}"
        );
        assert_eq!(
            delete.get(name).map(String::as_str),
            Some(value),
            "delete-cookie {name}: {delete:?}"
        );
    }
    assert_eq!(set.get("max-age").map(String::as_str), Some("120"));
    assert_eq!(delete.get("max-age").map(String::as_str), Some("0"));
}

pub async fn unknown_keys_survive_a_save<S: SessionStore + Clone>(store: S) {
    let (browser, store) = setup(store).await;
    let id = new_id();
    let key = format!("session:{id}");
    let planted = br#"{"n":1,"other":{"a":[1,2.5,null,true]},"url":"a\/b","u":"\u00e9"}"#;
    store
        .inner
        .save(&key, planted, Duration::from_secs(60))
        .await
        .unwrap();
    let reply = browser.get_raw("/incr", &[format!("session={id}")]).await;
    assert_eq!(reply.body, "2");
    assert_eq!(reply.cookie_value("session"), id);
    assert_eq!(
        stored(&store.inner, &key).await,
        Some(json!({"n": 2, "other": {"a": [1, 2.5, null, true]}, "url": "a/b", "u": "é"}))
    );
    // The untyped session sees every key, the typed one's included.
    let reply = browser
        .get_raw("/untyped", &[format!("session={id}")])
        .await;
    let seen: Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(seen["n"], 2);
    assert_eq!(seen["url"], "a/b");
}

pub async fn reformatted_but_equal_data_is_not_saved<S: SessionStore + Clone>(store: S) {
    let (browser, store) = setup(store).await;
    let id = new_id();
    let key = format!("session:{id}");
    // As sanic-session writes it: `/` escaped, non-ASCII as \u escapes, its own key order.
    let planted = br#"{"url":"a\/b","n":2,"u":"\u00e9\u20ac"}"#;
    store
        .inner
        .save(&key, planted, Duration::from_secs(60))
        .await
        .unwrap();
    let before = store.counts.get();
    let reply = browser.get_raw("/get", &[format!("session={id}")]).await;
    assert_eq!(reply.body, "2");
    let after = store.counts.get();
    assert_eq!(after.1 - before.1, 0, "no save for a read-only request");
    let raw = store
        .inner
        .load(&key, Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(raw, planted.to_vec(), "the stored bytes are untouched");
}

pub async fn two_sessions_are_independent<S: SessionStore + Clone>(store: S) {
    let (mut browser, store) = setup(store).await;
    browser.get("/incr").await;
    browser.get("/cart/add/5").await;
    let visit = browser.jar["session"].clone();
    let cart = browser.jar["cart"].clone();
    assert_ne!(visit, cart);
    let reply = browser.get("/both").await;
    assert_eq!(reply.body, "11 [5, 99]");
    assert!(reply.sets("session") && reply.sets("cart"));
    assert_eq!(
        stored(&store.inner, &format!("session:{visit}")).await,
        Some(json!({"n": 11}))
    );
    assert_eq!(
        stored(&store.inner, &format!("cart:{cart}")).await,
        Some(json!({"items": [5, 99]}))
    );
    assert_eq!(stored(&store.inner, &format!("cart:{visit}")).await, None);
    let cart_cookie = attributes(reply.set_cookie("cart"));
    assert_eq!(cart_cookie.get("max-age").map(String::as_str), Some("3600"));
    browser.get("/clear").await;
    assert_eq!(
        browser.get("/cart").await.body,
        "[5, 99]",
        "clearing one leaves the other"
    );
    assert_eq!(browser.get("/get").await.body, "0");
}

pub async fn expiry_slides_on_reads<S: SessionStore + Clone>(store: S) {
    // SHORT expires after 3 s; each read within that extends it.
    let (mut browser, store) = setup(store).await;
    let reply = browser.get("/short/incr").await;
    assert_eq!(
        reply.cookie_attribute("short", "max-age").as_deref(),
        Some("3")
    );
    let saves = store.counts.get().1;
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_millis(2000)).await;
        assert_eq!(
            browser.get("/short").await.body,
            "1",
            "a read within the expiry finds it"
        );
    }
    assert_eq!(store.counts.get().1, saves, "reads did not write");
    tokio::time::sleep(Duration::from_millis(4500)).await;
    let reply = browser.get("/short").await;
    assert_eq!(reply.body, "0", "expired after 3 s without a visit");
}

pub async fn browser_session_cookie_has_no_max_age<S: SessionStore + Clone>(store: S) {
    let (mut browser, _store) = setup(store).await;
    let reply = browser.get("/browser/incr").await;
    let attrs = attributes(reply.set_cookie("bs"));
    assert!(
        !attrs.contains_key("max-age") && !attrs.contains_key("expires"),
        "{attrs:?}"
    );
    assert_eq!(browser.get("/browser/incr").await.body, "2");
}

pub async fn untyped_session_gets_inserts_removes_and_clears<S: SessionStore + Clone>(store: S) {
    let (mut browser, store) = setup(store).await;
    browser.get("/untyped/set/a/1").await;
    browser.get("/untyped/set/b/x").await;
    let reply = browser
        .get(r#"/untyped/set/c/%7B%22d%22:%5Btrue,null,1.5%5D%7D"#)
        .await;
    let id = reply.cookie_value("session");
    let want = json!({"a": 1, "b": "x", "c": {"d": [true, null, 1.5]}});
    assert_eq!(serde_json::from_str::<Value>(&reply.body).unwrap(), want);
    assert_eq!(
        stored(&store.inner, &format!("session:{id}")).await,
        Some(want)
    );
    // The typed session on the same cookie keeps the untyped keys.
    assert_eq!(browser.get("/incr").await.body, "1");
    let reply = browser.get("/untyped/remove/a").await;
    assert_eq!(
        serde_json::from_str::<Value>(&reply.body).unwrap(),
        json!({"b": "x", "c": {"d": [true, null, 1.5]}, "n": 1})
    );
    let reply = browser.get("/untyped/clear").await;
    assert_eq!(
        reply.cookie_attribute("session", "max-age").as_deref(),
        Some("0")
    );
    assert_eq!(stored(&store.inner, &format!("session:{id}")).await, None);
}

/// The store's side of compare-and-set, called directly: a create only where
/// nothing is, an update only over what was loaded, and the answers that
/// tell the layer what to merge with or that the session is gone.
pub async fn store_saves_only_over_what_it_expects<S: SessionStore + Clone>(store: S) {
    assert!(store.compare_and_set());
    let ttl = Duration::from_secs(60);
    let key = format!("session:{}", new_id());
    let saved = |o: &SaveOutcome| matches!(o, SaveOutcome::Saved { .. });

    let created = store
        .save_if(&key, br#"{"n":1}"#, ttl, Expect::Absent)
        .await;
    assert!(saved(&created.unwrap()), "a free key is created");
    let again = store
        .save_if(&key, br#"{"n":9}"#, ttl, Expect::Absent)
        .await;
    assert_eq!(again.unwrap(), SaveOutcome::Exists, "a taken key is not");

    let loaded = store.load_versioned(&key, ttl).await.unwrap().unwrap();
    assert_eq!(loaded.value, br#"{"n":1}"#);
    let expect = Expect::Loaded {
        value: &loaded.value,
        version: loaded.version,
    };
    let updated = store.save_if(&key, br#"{"n":2}"#, ttl, expect).await;
    assert!(saved(&updated.unwrap()), "an update over what was loaded");
    // The same expectation again is stale now: nothing written, and the
    // answer is what the key holds.
    let stale = store
        .save_if(&key, br#"{"n":3}"#, ttl, expect)
        .await
        .unwrap();
    let SaveOutcome::Changed(current) = stale else {
        panic!("a stale update must be refused: {stale:?}")
    };
    assert_eq!(current.value, br#"{"n":2}"#);
    assert_eq!(store.load(&key, ttl).await.unwrap().unwrap(), br#"{"n":2}"#);
    // Its version works for the next update; the value is stored as given.
    let fresh = Expect::Loaded {
        value: &current.value,
        version: current.version,
    };
    let merged = store.save_if(&key, br#"{"n":4,"m":1}"#, ttl, fresh).await;
    assert!(saved(&merged.unwrap()));
    assert_eq!(
        store.load(&key, ttl).await.unwrap().unwrap(),
        br#"{"n":4,"m":1}"#
    );

    store.delete(&key).await.unwrap();
    let gone = store.save_if(&key, br#"{"n":5}"#, ttl, fresh).await;
    assert_eq!(
        gone.unwrap(),
        SaveOutcome::Gone,
        "a deleted key is not recreated"
    );
    assert_eq!(store.load(&key, ttl).await.unwrap(), None);
}

/// Two requests load one session; one changes `a`, the other `b`; both save.
pub async fn concurrent_changes_to_different_fields_are_merged<S: SessionStore + Clone>(store: S) {
    let (mut browser, store, _gate) = setup_gated(store).await;
    browser.get("/pair/init").await;
    let id = browser.jar["pair"].clone();
    let cookie = [format!("pair={id}")];
    let (a, b) = tokio::join!(
        browser.get_raw("/pair/race/a/5", &cookie),
        browser.get_raw("/pair/race/b/7", &cookie),
    );
    // Each saw only its own change...
    assert_eq!((a.status, a.body.as_str()), (200, "5 1"));
    assert_eq!((b.status, b.body.as_str()), (200, "1 7"));
    // ...and the store has both.
    assert_eq!(
        stored(&store.inner, &format!("pair:{id}")).await,
        Some(json!({"a": 5, "b": 7}))
    );
    assert_eq!(browser.get("/pair").await.body, "5 7");
    assert_eq!(a.cookie_value("pair"), id);
    assert_eq!(b.cookie_value("pair"), id);
}

/// 50 concurrent requests of one session, each setting its own key.
pub async fn fifty_concurrent_requests_each_keep_their_key<S: SessionStore + Clone>(store: S) {
    let (mut browser, store, _gate) = setup_gated(store).await;
    browser.get("/untyped/set/start/1").await;
    let id = browser.jar["session"].clone();
    let cookie = [format!("session={id}")];
    let requests = (0..50).map(|i| {
        let path = format!("/untyped/slow/k{i}/v{i}");
        let (browser, cookie) = (&browser, &cookie);
        async move { browser.get_raw(&path, cookie).await }
    });
    let (replies, logs) = capture_logs(join_all(requests)).await;
    for reply in replies {
        assert_eq!(reply.status, 200, "{reply:?}\n{logs}");
    }
    let value = stored(&store.inner, &format!("session:{id}"))
        .await
        .unwrap();
    let object = value.as_object().unwrap();
    let missing: Vec<String> = (0..50)
        .map(|i| format!("k{i}"))
        .filter(|k| !object.contains_key(k))
        .collect();
    assert!(missing.is_empty(), "lost: {missing:?}");
    assert_eq!(object.len(), 51, "{value}");
}

/// Runs every future concurrently on this task and collects their outputs.
async fn join_all<F: std::future::Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    use std::task::Poll;
    let mut pending: Vec<_> = futures.map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = pending.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut waiting = false;
        for (future, output) in pending.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(value) => *output = Some(value),
                    Poll::Pending => waiting = true,
                }
            }
        }
        if waiting {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().map(Option::unwrap).collect()
}

/// A request that loaded the session before a logout must not save it back
/// under the old id when it finishes.
pub async fn a_session_ended_meanwhile_stays_ended<S: SessionStore + Clone>(store: S) {
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
            assert_eq!(stored(&store.inner, &key).await, None);
            gate.pass().await; // let it finish
        });
        held
    })
    .await;
    assert_eq!(held.status, 200, "{held:?}");
    assert_eq!(stored(&store.inner, &key).await, None, "not recreated");
    assert_eq!(
        held.cookie_attribute("session", "max-age").as_deref(),
        Some("0"),
        "its cookie is expired: {held:?}"
    );
    assert!(
        logs.contains("INFO") && logs.contains("ended by another request"),
        "{logs}"
    );
    assert!(!logs.contains(&id), "the id is not logged: {logs}");
    let reply = browser.get_raw("/untyped", &cookie).await;
    assert_eq!(reply.body, "{}", "the stolen cookie finds nothing");
}

/// Another writer stored something that is not a JSON object while a
/// request held the session: that request's save is not merged into it and
/// does not overwrite it.
pub async fn a_stored_value_that_is_not_an_object_is_not_overwritten<S: SessionStore + Clone>(
    store: S,
) {
    let (mut browser, store, gate) = setup_gated(store).await;
    browser.get("/untyped/set/user/ada").await;
    let id = browser.jar["session"].clone();
    let key = format!("session:{id}");
    let cookie = [format!("session={id}")];
    let held = browser.get_raw("/hold/cart/full", &cookie);
    let (held, ()) = tokio::join!(held, async {
        gate.pass().await;
        store.inner.save(&key, b"[1,2]", DAY).await.unwrap();
        gate.pass().await;
    });
    assert!(held.status >= 500, "the store error policy: {held:?}");
    let raw = store.inner.load(&key, DAY).await.unwrap();
    assert_eq!(raw.as_deref(), Some(&b"[1,2]"[..]), "left as it was");
}

/// `Session::save` writes before the handler goes on, and the layer does
/// not write the same data again after the handler.
pub async fn an_early_save_is_stored_before_the_handler_returns_and_not_again<
    S: SessionStore + Clone,
>(
    store: S,
) {
    let (mut browser, store, gate) = setup_gated(store).await;
    let id = browser.get("/incr").await.cookie_value("session");
    let key = format!("session:{id}");
    let saves = store.counts.get().1;
    let cookie = [format!("session={id}")];
    let early = browser.get_raw("/early", &cookie);
    let (reply, ()) = tokio::join!(early, async {
        gate.pass().await; // save() has returned; the handler waits
        assert_eq!(stored(&store.inner, &key).await, Some(json!({"n": 2})));
        gate.pass().await;
    });
    assert_eq!((reply.status, reply.body.as_str()), (200, "saved 2"));
    assert_eq!(reply.cookie_value("session"), id);
    assert_eq!(store.counts.get().1, saves + 1, "written once");
    assert_eq!(browser.get("/get").await.body, "2");
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
