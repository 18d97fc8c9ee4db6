//! The session lifecycle through [`SessionLayer`](sessionkit::SessionLayer)
//! over the store, checked with requests sent in-process to an axum
//! [`Router`](axum::Router) (`tower::ServiceExt::oneshot`, no sockets).
//!
//! Each check takes a fresh store, serves an app of typed sessions with
//! several configs and an untyped session from it, sends requests with a
//! cookie jar, and looks at the responses and at what the store holds
//! (under the app's prefixes `session:`, `cart:`, `attrs:`, `short:`,
//! `pair:` and `bs:`). Some checks also count the store calls the layer
//! makes. It answers `Ok(())` or the [`Failure`] that says which rule broke.
//!
//! The checks of concurrent requests (merged changes, a session ended
//! meanwhile, a value that is not a JSON object) need compare-and-set: on a
//! store whose [`compare_and_set`](SessionStore::compare_and_set) is
//! `false`, two concurrent writes of a session are last-writer-wins by
//! design, so those checks pass at once and print why they were skipped.
//!
//! [`expiry_slides_on_reads`] waits about nine seconds of real time: its
//! session expires after three.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::{json, Value};
use sessionkit::{SessionId, SessionStore};

use crate::check::{ensure, ensure_eq, skipped, Cx, Failure};
use futures_util::future::join_all;

mod app;
mod client;

use client::{attributes, Harness};

const DAY: Duration = Duration::from_secs(86_400);

/// The time to live of values a check plants or reads itself.
const TTL: Duration = Duration::from_secs(60);

/// A JSON value that a failure shows as JSON text.
#[derive(PartialEq)]
struct Json(Value);

impl fmt::Debug for Json {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// `Some(Json(value))`.
fn some(value: Value) -> Option<Json> {
    Some(Json(value))
}

/// The value under `key`, parsed as JSON (`None`: nothing stored).
async fn stored<S: SessionStore>(
    cx: Cx,
    store: &Arc<S>,
    key: &str,
) -> Result<Option<Json>, Failure> {
    let bytes = cx.call("load", || store.load(key, TTL)).await?;
    bytes
        .map(|b| {
            serde_json::from_slice(&b).map(Json).map_err(|e| {
                cx.fail(format!(
                    "the layer stored a value under {key:?} that is not JSON ({e}): {:?}",
                    String::from_utf8_lossy(&b)
                ))
            })
        })
        .transpose()
}

/// Stores `value` under `key` as another writer would.
async fn plant<S: SessionStore>(
    cx: Cx,
    store: &Arc<S>,
    key: &str,
    value: &[u8],
) -> Result<(), Failure> {
    cx.call("save", || store.save(key, value, TTL)).await
}

/// Fails unless `id` is a session id: 32 lowercase hex characters.
fn ensure_id(cx: Cx, id: &str) -> Result<(), Failure> {
    ensure!(
        cx,
        id.len() == 32
            && id
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "a session cookie must hold a session id (32 lowercase hex characters); it held {id:?}"
    );
    Ok(())
}

fn new_id() -> String {
    SessionId::generate().to_string()
}

/// Whether the store claims compare-and-set; if not, says the check is
/// skipped.
fn claims_compare_and_set<S: SessionStore>(cx: Cx, store: &S) -> bool {
    let claimed = store.compare_and_set();
    if !claimed {
        skipped(
            cx,
            "the store does not claim compare-and-set (compare_and_set() is false), so \
             concurrent writes of one session are last-writer-wins",
        );
    }
    claimed
}

/// A fresh visitor that stores something gets a session cookie (a new id;
/// `Path=/`, `Max-Age` and `Expires` of the 30-day default expiry,
/// `HttpOnly`, nothing else), and the session is stored under `prefix + id`.
pub async fn fresh_visitor_gets_a_cookie_and_a_stored_session<S: SessionStore>(
    store: S,
) -> Result<(), Failure> {
    let cx = Cx("fresh_visitor_gets_a_cookie_and_a_stored_session");
    let mut h = Harness::new(cx, store);
    let reply = h.client.get("/incr").await?;
    ensure_eq!(
        cx,
        (reply.status, reply.body.as_str()),
        (200, "1"),
        "a fresh visitor's first request must see a fresh session"
    );
    let id = reply.cookie_value("session")?;
    ensure_id(cx, &id)?;
    let attrs = attributes(reply.set_cookie("session")?);
    ensure_eq!(
        cx,
        attrs.get("path").map(String::as_str),
        Some("/"),
        "the cookie's Path: {attrs:?}"
    );
    ensure_eq!(
        cx,
        attrs.get("max-age").map(String::as_str),
        Some("2592000"),
        "the cookie's Max-Age is the expiry: {attrs:?}"
    );
    ensure!(
        cx,
        attrs.contains_key("httponly"),
        "the cookie must be HttpOnly: {attrs:?}"
    );
    for absent in ["secure", "samesite", "domain"] {
        ensure!(
            cx,
            !attrs.contains_key(absent),
            "the default config sets no {absent}: {attrs:?}"
        );
    }
    let Some(expires) = attrs.get("expires") else {
        return Err(cx.fail(format!("the cookie must have Expires: {attrs:?}")));
    };
    let expires = httpdate::parse_http_date(expires).map_err(|e| {
        cx.fail(format!(
            "the cookie's Expires {expires:?} is not an HTTP date: {e}"
        ))
    })?;
    let want = SystemTime::now() + 30 * DAY;
    let off = want
        .duration_since(expires)
        .unwrap_or_else(|e| e.duration());
    ensure!(
        cx,
        off < Duration::from_secs(10),
        "the cookie's Expires must be 30 days from now; it is {off:?} off"
    );
    ensure_eq!(
        cx,
        stored(cx, &h.store, &format!("session:{id}")).await?,
        some(json!({"n": 1})),
        "the session must be stored under its prefix and id"
    );
    Ok(())
}

/// A returning visitor's session is loaded and saved again under the same
/// id: one load and one save per request.
pub async fn reused_session_keeps_counting<S: SessionStore>(store: S) -> Result<(), Failure> {
    let cx = Cx("reused_session_keeps_counting");
    let mut h = Harness::counting(cx, store);
    let first = h.client.get("/incr").await?.cookie_value("session")?;
    for n in 2..=3 {
        let reply = h.client.get("/incr").await?;
        ensure_eq!(
            cx,
            reply.body,
            n.to_string(),
            "the count goes on from what was stored"
        );
        ensure_eq!(cx, reply.cookie_value("session")?, first, "the id stays");
    }
    ensure_eq!(
        cx,
        h.counts(),
        (2, 3, 0),
        "store calls (loads, saves, deletes) of a new session and two returning visits"
    );
    Ok(())
}

/// A request that only reads the session makes one load and no write, and
/// the cookie is sent again with the full expiry.
pub async fn read_only_request_writes_nothing_and_slides_the_cookie<S: SessionStore>(
    store: S,
) -> Result<(), Failure> {
    let cx = Cx("read_only_request_writes_nothing_and_slides_the_cookie");
    let mut h = Harness::counting(cx, store);
    let id = h.client.get("/incr").await?.cookie_value("session")?;
    let before = h.counts();
    let reply = h.client.get("/get").await?;
    ensure_eq!(cx, reply.body, "1", "a read finds what was stored");
    ensure_eq!(
        cx,
        reply.cookie_value("session")?,
        id,
        "the cookie is sent again"
    );
    ensure_eq!(
        cx,
        reply.cookie_attribute("session", "max-age")?.as_deref(),
        Some("2592000"),
        "the cookie sent again has the full expiry"
    );
    let after = h.counts();
    ensure_eq!(
        cx,
        (after.0 - before.0, after.1 - before.1, after.2 - before.2),
        (1, 0, 0),
        "a read-only request makes one load and writes nothing (loads, saves, deletes)"
    );
    Ok(())
}

/// A route that does not extract a session makes no store call and sets
/// no cookie, even with a session cookie in the request.
pub async fn route_without_session_touches_no_store<S: SessionStore>(
    store: S,
) -> Result<(), Failure> {
    let cx = Cx("route_without_session_touches_no_store");
    let mut h = Harness::counting(cx, store);
    h.client.get("/incr").await?;
    let before = h.counts();
    let reply = h.client.get("/none").await?;
    ensure_eq!(cx, reply.status, 200, "GET /none");
    ensure!(
        cx,
        reply.set_cookies.is_empty(),
        "a route without a session sets no cookie: {reply:?}"
    );
    ensure_eq!(
        cx,
        h.counts(),
        before,
        "a route without a session makes no store call"
    );
    Ok(())
}

/// A fresh session the handler leaves empty is never stored and gets no
/// cookie, typed or untyped.
pub async fn empty_fresh_session_is_never_stored<S: SessionStore>(store: S) -> Result<(), Failure> {
    let cx = Cx("empty_fresh_session_is_never_stored");
    let mut h = Harness::counting(cx, store);
    for path in ["/get", "/zero", "/untyped", "/cart"] {
        let reply = h.client.get(path).await?;
        ensure_eq!(cx, reply.status, 200, "GET {path}");
        ensure!(
            cx,
            reply.set_cookies.is_empty(),
            "an empty fresh session sets no cookie: GET {path}: {reply:?}"
        );
    }
    ensure_eq!(
        cx,
        h.counts(),
        (0, 0, 0),
        "an empty fresh session makes no store call"
    );
    Ok(())
}

/// A cookie with an id the store does not know gives a fresh session under
/// a new id: a client never chooses its id.
pub async fn unknown_id_gets_a_new_id<S: SessionStore>(store: S) -> Result<(), Failure> {
    let cx = Cx("unknown_id_gets_a_new_id");
    let h = Harness::counting(cx, store);
    let presented = new_id();
    let reply = h
        .client
        .get_raw("/incr", &[format!("session={presented}")])
        .await?;
    ensure_eq!(cx, reply.body, "1", "an unknown id gives a fresh session");
    let issued = reply.cookie_value("session")?;
    ensure_id(cx, &issued)?;
    ensure!(
        cx,
        issued != presented,
        "a client never chooses its id: the unknown id {presented} was kept"
    );
    ensure_eq!(
        cx,
        stored(cx, &h.store, &format!("session:{presented}")).await?,
        None,
        "nothing is stored under the unknown id"
    );
    ensure_eq!(
        cx,
        h.counts(),
        (1, 1, 0),
        "store calls (loads, saves, deletes)"
    );
    Ok(())
}

/// A cookie value that is not a well-formed id (empty, too long, upper
/// case, quoted, a path, with a space) never reaches the store.
pub async fn ill_formed_cookies_never_reach_the_store<S: SessionStore>(
    store: S,
) -> Result<(), Failure> {
    let cx = Cx("ill_formed_cookies_never_reach_the_store");
    let h = Harness::counting(cx, store);
    let valid = new_id();
    let bad = [
        String::new(),
        "a".repeat(4096),
        "zz69ea696434e99beff2880eb95116az".to_owned(),
        valid.to_uppercase(),
        format!("\"{valid}\""),
        "../../x".to_owned(),
        format!("{} {}", &valid[..16], &valid[16..]),
        format!("{valid}0"),
        valid[..31].to_owned(),
    ];
    for value in &bad {
        for path in ["/get", "/incr"] {
            let reply = h
                .client
                .get_raw(path, &[format!("session={value}")])
                .await?;
            ensure_eq!(
                cx,
                reply.status,
                200,
                "GET {path} with cookie value {value:?}"
            );
            if path == "/incr" {
                ensure_eq!(
                    cx,
                    reply.body,
                    "1",
                    "an ill-formed id gives a fresh session"
                );
                ensure!(
                    cx,
                    &reply.cookie_value("session")? != value,
                    "an ill-formed id is never kept: {value:?}"
                );
            }
        }
    }
    ensure_eq!(cx, h.counts().0, 0, "no load for an ill-formed id");
    Ok(())
}

/// Stored data that does not decode as the session type (not JSON, not an
/// object, cut short) gives a fresh session under a new id, not an error.
/// An object with a field of the wrong type keeps its session and id, that
/// field reset (the derive's rebuild field by field).
pub async fn undecodable_data_gives_a_fresh_session<S: SessionStore>(
    store: S,
) -> Result<(), Failure> {
    let cx = Cx("undecodable_data_gives_a_fresh_session");
    let h = Harness::new(cx, store);
    for payload in [
        &b"not json"[..],
        b"[1,2]",
        b"\"str\"",
        b"123",
        b"null",
        b"{\"n\":1",
    ] {
        let planted = new_id();
        plant(cx, &h.store, &format!("session:{planted}"), payload).await?;
        let reply = h
            .client
            .get_raw("/incr", &[format!("session={planted}")])
            .await?;
        let payload = String::from_utf8_lossy(payload);
        ensure_eq!(
            cx,
            (reply.status, reply.body.as_str()),
            (200, "1"),
            "stored data {payload:?} gives a fresh session"
        );
        let issued = reply.cookie_value("session")?;
        ensure!(
            cx,
            issued != planted,
            "stored data {payload:?} gives a fresh session under a new id"
        );
    }
    let planted = new_id();
    let payload = br#"{"n":"not a number","user":"ada"}"#;
    plant(cx, &h.store, &format!("session:{planted}"), payload).await?;
    let reply = h
        .client
        .get_raw("/incr", &[format!("session={planted}")])
        .await?;
    ensure_eq!(
        cx,
        (reply.status, reply.body.as_str()),
        (200, "1"),
        "a field of the wrong type is reset"
    );
    ensure_eq!(
        cx,
        reply.cookie_value("session")?,
        planted,
        "a field of the wrong type keeps the session's id"
    );
    ensure_eq!(
        cx,
        stored(cx, &h.store, &format!("session:{planted}")).await?,
        some(json!({"n": 1, "user": "ada"})),
        "the other fields are kept"
    );
    Ok(())
}

/// `destroy()` deletes the stored session and expires the cookie; the old
/// id then finds nothing.
pub async fn destroy_deletes_and_expires_the_cookie<S: SessionStore>(
    store: S,
) -> Result<(), Failure> {
    let cx = Cx("destroy_deletes_and_expires_the_cookie");
    let mut h = Harness::new(cx, store);
    let id = h.client.get("/incr").await?.cookie_value("session")?;
    let reply = h.client.get("/clear").await?;
    let attrs = attributes(reply.set_cookie("session")?);
    ensure_eq!(
        cx,
        reply.cookie_value("session")?,
        "",
        "the delete-cookie has no value"
    );
    ensure_eq!(
        cx,
        attrs.get("max-age").map(String::as_str),
        Some("0"),
        "the delete-cookie expires at once"
    );
    let expires = attrs
        .get("expires")
        .and_then(|e| httpdate::parse_http_date(e).ok())
        .ok_or_else(|| {
            cx.fail(format!(
                "the delete-cookie must have an Expires date: {attrs:?}"
            ))
        })?;
    ensure!(
        cx,
        expires < SystemTime::now(),
        "the delete-cookie's Expires is in the past: {attrs:?}"
    );
    ensure_eq!(
        cx,
        stored(cx, &h.store, &format!("session:{id}")).await?,
        None,
        "a destroyed session is deleted from the store"
    );
    let reply = h.client.get_raw("/get", &[format!("session={id}")]).await?;
    ensure_eq!(cx, reply.body, "0", "the old id finds nothing");
    Ok(())
}

/// A session whose data became empty (`T::default()`) is deleted and its
/// cookie expired.
pub async fn session_that_becomes_empty_is_deleted<S: SessionStore>(
    store: S,
) -> Result<(), Failure> {
    let cx = Cx("session_that_becomes_empty_is_deleted");
    let mut h = Harness::new(cx, store);
    let id = h.client.get("/incr").await?.cookie_value("session")?;
    let reply = h.client.get("/zero").await?;
    ensure_eq!(
        cx,
        reply.cookie_attribute("session", "max-age")?.as_deref(),
        Some("0"),
        "the cookie of a session that became empty is expired"
    );
    ensure_eq!(
        cx,
        stored(cx, &h.store, &format!("session:{id}")).await?,
        None,
        "a session that became empty is deleted from the store"
    );
    ensure!(
        cx,
        h.client.jar.is_empty(),
        "no cookie is left: {:?}",
        h.client.jar
    );
    Ok(())
}

/// `cycle_id()` stores the data under a new id and deletes the old key.
pub async fn cycle_id_moves_the_data_to_a_new_id<S: SessionStore>(store: S) -> Result<(), Failure> {
    let cx = Cx("cycle_id_moves_the_data_to_a_new_id");
    let mut h = Harness::new(cx, store);
    h.client.get("/incr").await?;
    let old = h.client.get("/incr").await?.cookie_value("session")?;
    let reply = h.client.get("/login/ada").await?;
    let new = reply.cookie_value("session")?;
    ensure_eq!(cx, reply.body, new, "the handler sees the new id");
    ensure_id(cx, &new)?;
    ensure!(cx, new != old, "cycle_id gives a new id");
    ensure_eq!(
        cx,
        stored(cx, &h.store, &format!("session:{old}")).await?,
        None,
        "cycle_id deletes the old key"
    );
    ensure_eq!(
        cx,
        stored(cx, &h.store, &format!("session:{new}")).await?,
        some(json!({"n": 2, "user": "ada"})),
        "cycle_id stores the data under the new id"
    );
    ensure_eq!(
        cx,
        h.client.get("/get").await?.body,
        "2",
        "the new id finds the data"
    );
    Ok(())
}

/// Data written after `destroy()` starts a new session under a new id; the
/// old one is deleted.
pub async fn destroy_then_write_starts_a_new_session<S: SessionStore>(
    store: S,
) -> Result<(), Failure> {
    let cx = Cx("destroy_then_write_starts_a_new_session");
    let mut h = Harness::new(cx, store);
    let old = h.client.get("/incr").await?.cookie_value("session")?;
    let reply = h.client.get("/destroy-then-set").await?;
    let new = reply.cookie_value("session")?;
    ensure_eq!(cx, reply.body, new, "the handler sees the new id");
    ensure!(cx, new != old, "a new session after destroy has a new id");
    ensure_eq!(
        cx,
        stored(cx, &h.store, &format!("session:{old}")).await?,
        None,
        "the destroyed session is deleted"
    );
    ensure_eq!(
        cx,
        stored(cx, &h.store, &format!("session:{new}")).await?,
        some(json!({"n": 100})),
        "what was written after destroy is stored under the new id"
    );
    Ok(())
}

/// The delete-cookie carries the set-cookie's Path, Domain, Secure,
/// SameSite and HttpOnly, so that a browser really removes the cookie.
pub async fn delete_cookie_carries_the_set_cookie_attributes<S: SessionStore>(
    store: S,
) -> Result<(), Failure> {
    let cx = Cx("delete_cookie_carries_the_set_cookie_attributes");
    let mut h = Harness::new(cx, store);
    let set = attributes(h.client.get("/attrs/incr").await?.set_cookie("attrs")?);
    let reply = h.client.get("/attrs/clear").await?;
    let delete = attributes(reply.set_cookie("attrs")?);
    for (name, value) in [
        ("path", "/"),
        ("domain", "example.com"),
        ("secure", ""),
        ("samesite", "Strict"),
        ("httponly", ""),
    ] {
        ensure_eq!(
            cx,
            set.get(name).map(String::as_str),
            Some(value),
            "set-cookie {name}: {set:?}"
        );
        ensure_eq!(
            cx,
            delete.get(name).map(String::as_str),
            Some(value),
            "delete-cookie {name}: {delete:?}"
        );
    }
    ensure_eq!(
        cx,
        set.get("max-age").map(String::as_str),
        Some("120"),
        "set-cookie max-age"
    );
    ensure_eq!(
        cx,
        delete.get("max-age").map(String::as_str),
        Some("0"),
        "delete-cookie max-age"
    );
    Ok(())
}

/// Keys of the stored object that the session type does not declare (and
/// escapes another writer used) survive a save; the untyped session sees
/// every key.
pub async fn unknown_keys_survive_a_save<S: SessionStore>(store: S) -> Result<(), Failure> {
    let cx = Cx("unknown_keys_survive_a_save");
    let h = Harness::new(cx, store);
    let id = new_id();
    let key = format!("session:{id}");
    let planted = br#"{"n":1,"other":{"a":[1,2.5,null,true]},"url":"a\/b","u":"\u00e9"}"#;
    plant(cx, &h.store, &key, planted).await?;
    let reply = h
        .client
        .get_raw("/incr", &[format!("session={id}")])
        .await?;
    ensure_eq!(cx, reply.body, "2", "the stored session is loaded");
    ensure_eq!(cx, reply.cookie_value("session")?, id, "the id stays");
    ensure_eq!(
        cx,
        stored(cx, &h.store, &key).await?,
        some(json!({"n": 2, "other": {"a": [1, 2.5, null, true]}, "url": "a/b", "u": "é"})),
        "keys the session type does not declare survive a save"
    );
    let reply = h
        .client
        .get_raw("/untyped", &[format!("session={id}")])
        .await?;
    let seen: Value = serde_json::from_str(&reply.body)
        .map_err(|e| cx.fail(format!("GET /untyped answered {:?}: {e}", reply.body)))?;
    ensure_eq!(
        cx,
        seen["n"],
        2,
        "the untyped session sees the typed session's keys"
    );
    ensure_eq!(cx, seen["url"], "a/b", "the untyped session sees every key");
    Ok(())
}

/// Data stored in another formatting (escaped `/`, `\u` escapes, another
/// key order) that decodes to the same session is not written back by a
/// read-only request: the stored bytes stay as they were.
pub async fn reformatted_but_equal_data_is_not_saved<S: SessionStore>(
    store: S,
) -> Result<(), Failure> {
    let cx = Cx("reformatted_but_equal_data_is_not_saved");
    let h = Harness::counting(cx, store);
    let id = new_id();
    let key = format!("session:{id}");
    let planted = br#"{"url":"a\/b","n":2,"u":"\u00e9\u20ac"}"#;
    plant(cx, &h.store, &key, planted).await?;
    let before = h.counts();
    let reply = h.client.get_raw("/get", &[format!("session={id}")]).await?;
    ensure_eq!(cx, reply.body, "2", "the stored session is loaded");
    ensure_eq!(
        cx,
        h.counts().1 - before.1,
        0,
        "no save for a read-only request"
    );
    let raw = cx.call("load", || h.store.load(&key, TTL)).await?;
    ensure!(
        cx,
        raw.as_deref() == Some(&planted[..]),
        "the stored bytes are untouched: {:?}",
        raw.map(|r| String::from_utf8_lossy(&r).into_owned())
    );
    Ok(())
}

/// Two session types in one request are stored independently, each under
/// its own prefix, cookie and expiry; clearing one leaves the other.
pub async fn two_sessions_are_independent<S: SessionStore>(store: S) -> Result<(), Failure> {
    let cx = Cx("two_sessions_are_independent");
    let mut h = Harness::new(cx, store);
    h.client.get("/incr").await?;
    h.client.get("/cart/add/5").await?;
    let (Some(visit), Some(cart)) = (
        h.client.jar.get("session").cloned(),
        h.client.jar.get("cart").cloned(),
    ) else {
        return Err(cx.fail(format!("both sessions set a cookie: {:?}", h.client.jar)));
    };
    ensure!(cx, visit != cart, "two sessions have two ids");
    let reply = h.client.get("/both").await?;
    ensure_eq!(
        cx,
        reply.body,
        "11 [5, 99]",
        "a request with both sessions sees both"
    );
    ensure!(
        cx,
        reply.sets("session") && reply.sets("cart"),
        "both cookies are sent: {reply:?}"
    );
    ensure_eq!(
        cx,
        stored(cx, &h.store, &format!("session:{visit}")).await?,
        some(json!({"n": 11})),
        "the default session under its prefix"
    );
    ensure_eq!(
        cx,
        stored(cx, &h.store, &format!("cart:{cart}")).await?,
        some(json!({"items": [5, 99]})),
        "the cart under its prefix"
    );
    ensure_eq!(
        cx,
        stored(cx, &h.store, &format!("cart:{visit}")).await?,
        None,
        "nothing under the other session's id"
    );
    ensure_eq!(
        cx,
        reply.cookie_attribute("cart", "max-age")?.as_deref(),
        Some("3600"),
        "the cart cookie has the cart's expiry"
    );
    h.client.get("/clear").await?;
    ensure_eq!(
        cx,
        h.client.get("/cart").await?.body,
        "[5, 99]",
        "clearing one leaves the other"
    );
    ensure_eq!(
        cx,
        h.client.get("/get").await?.body,
        "0",
        "the cleared one is gone"
    );
    Ok(())
}

/// A session that expires after 3 seconds lives on while it is read every
/// 2 seconds, without a write, and is gone 4.5 seconds after the last read.
pub async fn expiry_slides_on_reads<S: SessionStore>(store: S) -> Result<(), Failure> {
    let cx = Cx("expiry_slides_on_reads");
    let mut h = Harness::counting(cx, store);
    let reply = h.client.get("/short/incr").await?;
    ensure_eq!(
        cx,
        reply.cookie_attribute("short", "max-age")?.as_deref(),
        Some("3"),
        "the short session's cookie"
    );
    let saves = h.counts().1;
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_millis(2000)).await;
        ensure_eq!(
            cx,
            h.client.get("/short").await?.body,
            "1",
            "a read within the expiry of the last one finds the session (the store's load must \
             slide the expiry)"
        );
    }
    ensure_eq!(cx, h.counts().1, saves, "reads do not write");
    tokio::time::sleep(Duration::from_millis(4500)).await;
    ensure_eq!(
        cx,
        h.client.get("/short").await?.body,
        "0",
        "the session is gone once its expiry passed without a read"
    );
    Ok(())
}

/// A session with `sessioncookie: true` gets a cookie without `Max-Age`
/// or `Expires`, and is stored all the same.
pub async fn browser_session_cookie_has_no_max_age<S: SessionStore>(
    store: S,
) -> Result<(), Failure> {
    let cx = Cx("browser_session_cookie_has_no_max_age");
    let mut h = Harness::new(cx, store);
    let reply = h.client.get("/browser/incr").await?;
    let attrs = attributes(reply.set_cookie("bs")?);
    ensure!(
        cx,
        !attrs.contains_key("max-age") && !attrs.contains_key("expires"),
        "a browser-session cookie has neither Max-Age nor Expires: {attrs:?}"
    );
    ensure_eq!(
        cx,
        h.client.get("/browser/incr").await?.body,
        "2",
        "the session is stored"
    );
    Ok(())
}

/// The untyped session inserts any JSON value, removes and clears keys,
/// and shares its object with a typed session on the same cookie.
pub async fn untyped_session_gets_inserts_removes_and_clears<S: SessionStore>(
    store: S,
) -> Result<(), Failure> {
    let cx = Cx("untyped_session_gets_inserts_removes_and_clears");
    let mut h = Harness::new(cx, store);
    h.client.get("/untyped/set/a/1").await?;
    h.client.get("/untyped/set/b/x").await?;
    let reply = h
        .client
        .get("/untyped/set/c/%7B%22d%22:%5Btrue,null,1.5%5D%7D")
        .await?;
    let id = reply.cookie_value("session")?;
    let want = json!({"a": 1, "b": "x", "c": {"d": [true, null, 1.5]}});
    let seen: Value = serde_json::from_str(&reply.body).map_err(|e| {
        cx.fail(format!(
            "the untyped session answered {:?}: {e}",
            reply.body
        ))
    })?;
    ensure_eq!(
        cx,
        Json(seen),
        Json(want.clone()),
        "the untyped session holds what was inserted"
    );
    ensure_eq!(
        cx,
        stored(cx, &h.store, &format!("session:{id}")).await?,
        some(want),
        "the untyped session is stored"
    );
    ensure_eq!(
        cx,
        h.client.get("/incr").await?.body,
        "1",
        "a typed session on the same cookie"
    );
    let reply = h.client.get("/untyped/remove/a").await?;
    let seen: Value = serde_json::from_str(&reply.body).map_err(|e| {
        cx.fail(format!(
            "the untyped session answered {:?}: {e}",
            reply.body
        ))
    })?;
    ensure_eq!(
        cx,
        Json(seen),
        Json(json!({"b": "x", "c": {"d": [true, null, 1.5]}, "n": 1})),
        "the typed session kept the untyped keys, and remove took one out"
    );
    let reply = h.client.get("/untyped/clear").await?;
    ensure_eq!(
        cx,
        reply.cookie_attribute("session", "max-age")?.as_deref(),
        Some("0"),
        "a cleared session's cookie is expired"
    );
    ensure_eq!(
        cx,
        stored(cx, &h.store, &format!("session:{id}")).await?,
        None,
        "a cleared session is deleted"
    );
    Ok(())
}

/// Two requests load one session; one changes `a`, the other `b`; both
/// save, and the store ends up with both changes.
pub async fn concurrent_changes_to_different_fields_are_merged<S: SessionStore>(
    store: S,
) -> Result<(), Failure> {
    let cx = Cx("concurrent_changes_to_different_fields_are_merged");
    if !claims_compare_and_set(cx, &store) {
        return Ok(());
    }
    let mut h = Harness::new(cx, store);
    h.client.get("/pair/init").await?;
    let id = h
        .client
        .jar
        .get("pair")
        .cloned()
        .ok_or_else(|| cx.fail("GET /pair/init set no cookie"))?;
    let cookie = [format!("pair={id}")];
    let (a, b) = tokio::join!(
        h.client.get_raw("/pair/race/a/5", &cookie),
        h.client.get_raw("/pair/race/b/7", &cookie),
    );
    let (a, b) = (a?, b?);
    ensure_eq!(
        cx,
        (a.status, a.body.as_str()),
        (200, "5 1"),
        "the request that changed a saw only its change"
    );
    ensure_eq!(
        cx,
        (b.status, b.body.as_str()),
        (200, "1 7"),
        "the request that changed b saw only its change"
    );
    ensure_eq!(
        cx,
        stored(cx, &h.store, &format!("pair:{id}")).await?,
        some(json!({"a": 5, "b": 7})),
        "the store has both changes"
    );
    ensure_eq!(
        cx,
        h.client.get("/pair").await?.body,
        "5 7",
        "a later request sees both"
    );
    ensure_eq!(cx, a.cookie_value("pair")?, id, "the id stays");
    ensure_eq!(cx, b.cookie_value("pair")?, id, "the id stays");
    Ok(())
}

/// 50 concurrent requests of one session, each setting its own key: every
/// one succeeds and every key is stored.
pub async fn fifty_concurrent_requests_each_keep_their_key<S: SessionStore>(
    store: S,
) -> Result<(), Failure> {
    let cx = Cx("fifty_concurrent_requests_each_keep_their_key");
    if !claims_compare_and_set(cx, &store) {
        return Ok(());
    }
    let mut h = Harness::new(cx, store);
    h.client.get("/untyped/set/start/1").await?;
    let id = h
        .client
        .jar
        .get("session")
        .cloned()
        .ok_or_else(|| cx.fail("GET /untyped/set/start/1 set no cookie"))?;
    let cookie = [format!("session={id}")];
    let requests = (0..50).map(|i| {
        let path = format!("/untyped/slow/k{i}/v{i}");
        let (client, cookie) = (&h.client, &cookie);
        async move { client.get_raw(&path, cookie).await }
    });
    for reply in join_all(requests).await {
        let reply = reply?;
        ensure_eq!(
            cx,
            reply.status,
            200,
            "each of 50 concurrent requests succeeds: {reply:?}"
        );
    }
    let value = stored(cx, &h.store, &format!("session:{id}")).await?;
    let Some(object) = value.as_ref().and_then(|v| v.0.as_object()) else {
        return Err(cx.fail(format!(
            "the session must be stored as an object: {value:?}"
        )));
    };
    let missing: Vec<String> = (0..50)
        .map(|i| format!("k{i}"))
        .filter(|k| !object.contains_key(k))
        .collect();
    ensure!(
        cx,
        missing.is_empty(),
        "no concurrent request's key is lost; lost: {missing:?}"
    );
    ensure_eq!(cx, object.len(), 51, "the stored keys: {value:?}");
    Ok(())
}

/// A request that loaded the session before a logout does not save it back
/// under the old id when it finishes: its cookie is expired, and the old
/// id finds nothing.
pub async fn a_session_ended_meanwhile_stays_ended<S: SessionStore>(
    store: S,
) -> Result<(), Failure> {
    let cx = Cx("a_session_ended_meanwhile_stays_ended");
    if !claims_compare_and_set(cx, &store) {
        return Ok(());
    }
    let mut h = Harness::new(cx, store);
    h.client.get("/untyped/set/user/ada").await?;
    let id = h
        .client
        .jar
        .get("session")
        .cloned()
        .ok_or_else(|| cx.fail("GET /untyped/set/user/ada set no cookie"))?;
    let key = format!("session:{id}");
    let cookie = [format!("session={id}")];
    let (held, logout) = tokio::join!(h.client.get_raw("/hold/cart/full", &cookie), async {
        h.gate.pass(cx).await?; // the held request has loaded the session
        let logout = h.client.get_raw("/untyped/clear", &cookie).await?;
        ensure_eq!(cx, logout.status, 200, "the logout");
        ensure_eq!(
            cx,
            stored(cx, &h.store, &key).await?,
            None,
            "the logout deleted the session"
        );
        h.gate.pass(cx).await // let it finish
    });
    logout?;
    let held = held?;
    ensure_eq!(
        cx,
        held.status,
        200,
        "the request that held the session: {held:?}"
    );
    ensure_eq!(
        cx,
        stored(cx, &h.store, &key).await?,
        None,
        "a session ended while a request held it is not recreated by that request"
    );
    ensure_eq!(
        cx,
        held.cookie_attribute("session", "max-age")?.as_deref(),
        Some("0"),
        "the cookie of a session ended meanwhile is expired: {held:?}"
    );
    let reply = h.client.get_raw("/untyped", &cookie).await?;
    ensure_eq!(
        cx,
        reply.body,
        "{}",
        "the ended session's cookie finds nothing"
    );
    Ok(())
}

/// Another writer stored something that is not a JSON object while a
/// request held the session: that request's save is neither merged into it
/// nor written over it, and the request gets the error response.
pub async fn a_stored_value_that_is_not_an_object_is_not_overwritten<S: SessionStore>(
    store: S,
) -> Result<(), Failure> {
    let cx = Cx("a_stored_value_that_is_not_an_object_is_not_overwritten");
    if !claims_compare_and_set(cx, &store) {
        return Ok(());
    }
    let mut h = Harness::new(cx, store);
    h.client.get("/untyped/set/user/ada").await?;
    let id = h
        .client
        .jar
        .get("session")
        .cloned()
        .ok_or_else(|| cx.fail("GET /untyped/set/user/ada set no cookie"))?;
    let key = format!("session:{id}");
    let cookie = [format!("session={id}")];
    let (held, other) = tokio::join!(h.client.get_raw("/hold/cart/full", &cookie), async {
        h.gate.pass(cx).await?;
        cx.call("save", || h.store.save(&key, b"[1,2]", DAY))
            .await?;
        h.gate.pass(cx).await
    });
    other?;
    let held = held?;
    ensure!(
        cx,
        held.status >= 500,
        "the request gets the store error policy: {held:?}"
    );
    let raw = cx.call("load", || h.store.load(&key, DAY)).await?;
    ensure!(
        cx,
        raw.as_deref() == Some(&b"[1,2]"[..]),
        "the value that is not an object is left as it was: {:?}",
        raw.map(|r| String::from_utf8_lossy(&r).into_owned())
    );
    Ok(())
}

/// `Session::save` writes before the handler goes on, and the layer does
/// not write the same data again after the handler.
pub async fn an_early_save_is_stored_before_the_handler_returns_and_not_again<S: SessionStore>(
    store: S,
) -> Result<(), Failure> {
    let cx = Cx("an_early_save_is_stored_before_the_handler_returns_and_not_again");
    let mut h = Harness::counting(cx, store);
    let id = h.client.get("/incr").await?.cookie_value("session")?;
    let key = format!("session:{id}");
    let saves = h.counts().1;
    let cookie = [format!("session={id}")];
    let (reply, check) = tokio::join!(h.client.get_raw("/early", &cookie), async {
        h.gate.pass(cx).await?; // save() has returned; the handler waits
        ensure_eq!(
            cx,
            stored(cx, &h.store, &key).await?,
            some(json!({"n": 2})),
            "an early save is stored before the handler returns"
        );
        h.gate.pass(cx).await
    });
    check?;
    let reply = reply?;
    ensure_eq!(
        cx,
        (reply.status, reply.body.as_str()),
        (200, "saved 2"),
        "the early save succeeded"
    );
    ensure_eq!(cx, reply.cookie_value("session")?, id, "the id stays");
    ensure_eq!(cx, h.counts().1, saves + 1, "the data is written once");
    ensure_eq!(
        cx,
        h.client.get("/get").await?.body,
        "2",
        "a later request finds it"
    );
    Ok(())
}
