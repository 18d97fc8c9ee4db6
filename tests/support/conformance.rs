//! The conformance suite every store passes: each function checks one point
//! of the lifecycle (DESIGN §4) over real HTTP against the store it is given.
//! `conformance_tests!` instantiates all of them as tests for one backend.

use std::time::{Duration, SystemTime};

use serde_json::{json, Value};
use sessionkit::SessionStore;

use super::app::app;
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
