//! The app the lifecycle checks send their requests to: typed sessions with
//! several configs and an untyped one, over one store, and handlers that
//! wait at a gate so that a check can order concurrent requests.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::routing::get;
use axum::Router;
use serde::{Deserialize, Serialize};
use sessionkit::{session_config, Session, SessionLayer, SessionStore, UntypedSession};
use tokio::sync::Barrier;

use crate::check::{Cx, Failure};

/// How long a check waits at the gate for the other party.
const GATE_TIMEOUT: Duration = Duration::from_secs(20);

session_config! {
    /// A second session with its own cookie, prefix and expiry.
    CART {
        cookie_name: "cart",
        prefix: "cart:",
        expiry: 1 hour,
        session_name: "cart",
    }
    /// Every attribute set, to compare set- and delete-cookies.
    ATTRS {
        cookie_name: "attrs",
        domain: "example.com",
        expiry: 120,
        httponly: true,
        secure: true,
        samesite: "strict",
        prefix: "attrs:",
        session_name: "attrs",
    }
    /// Expires quickly, to check sliding expiry against a real clock.
    SHORT {
        cookie_name: "short",
        prefix: "short:",
        expiry: 3,
    }
    /// Two fields that concurrent requests change.
    PAIR {
        cookie_name: "pair",
        prefix: "pair:",
        session_name: "pair",
    }
    /// A browser-session cookie.
    BROWSER {
        cookie_name: "bs",
        prefix: "bs:",
        sessioncookie: true,
    }
}

/// The default session (cookie `session`, prefix `session:`). `serde(default)`
/// lets it read objects other writers (the untyped session) left without `n`.
#[derive(Session, Serialize, Deserialize, Default, Debug)]
#[serde(default)]
struct Visit {
    n: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    user: Option<String>,
}

#[derive(Session, Serialize, Deserialize, Default, Debug)]
#[session(config = CART)]
struct Cart {
    items: Vec<u64>,
}

#[derive(Session, Serialize, Deserialize, Default, Debug)]
#[session(config = ATTRS)]
struct Attrs {
    n: i64,
}

#[derive(Session, Serialize, Deserialize, Default, Debug)]
#[session(config = SHORT)]
struct Short {
    n: i64,
}

#[derive(Session, Serialize, Deserialize, Default, Debug)]
#[session(config = BROWSER)]
struct Browser {
    n: i64,
}

#[derive(Session, Serialize, Deserialize, Default, Debug)]
#[session(config = PAIR)]
struct Pair {
    a: i64,
    b: i64,
}

async fn incr(mut v: Session<Visit>) -> String {
    v.n += 1;
    v.n.to_string()
}

async fn read(v: Session<Visit>) -> String {
    v.n.to_string()
}

async fn zero(mut v: Session<Visit>) -> String {
    v.n = 0;
    v.user = None;
    v.n.to_string()
}

async fn clear(mut v: Session<Visit>) -> &'static str {
    v.destroy();
    "cleared"
}

async fn login(mut v: Session<Visit>, Path(user): Path<String>) -> String {
    v.cycle_id();
    v.user = Some(user);
    v.id().to_string()
}

async fn destroy_then_set(mut v: Session<Visit>) -> String {
    v.destroy();
    v.n = 100;
    v.id().to_string()
}

async fn cart_add(mut c: Session<Cart>, Path(item): Path<u64>) -> String {
    c.items.push(item);
    format!("{:?}", c.items)
}

async fn cart_get(c: Session<Cart>) -> String {
    format!("{:?}", c.items)
}

async fn both(mut v: Session<Visit>, mut c: Session<Cart>) -> String {
    v.n += 10;
    c.items.push(99);
    format!("{} {:?}", v.n, c.items)
}

async fn attrs_incr(mut a: Session<Attrs>) -> String {
    a.n += 1;
    a.n.to_string()
}

async fn attrs_clear(mut a: Session<Attrs>) -> &'static str {
    a.destroy();
    "cleared"
}

async fn short_incr(mut s: Session<Short>) -> String {
    s.n += 1;
    s.n.to_string()
}

async fn short_get(s: Session<Short>) -> String {
    s.n.to_string()
}

async fn browser_incr(mut s: Session<Browser>) -> String {
    s.n += 1;
    s.n.to_string()
}

/// The session as a JSON object (`{}` if it cannot be encoded, which a
/// check then reports as a wrong body).
fn as_json(s: &UntypedSession) -> String {
    serde_json::to_string(s.as_map()).unwrap_or_else(|_| "{}".to_owned())
}

async fn untyped_set(mut s: UntypedSession, Path((k, v)): Path<(String, String)>) -> String {
    let value: serde_json::Value = serde_json::from_str(&v).unwrap_or(serde_json::Value::String(v));
    match s.insert(k, value) {
        Ok(_) => as_json(&s),
        Err(error) => format!("not inserted: {error}"),
    }
}

async fn untyped_get(s: UntypedSession) -> String {
    as_json(&s)
}

async fn untyped_remove(mut s: UntypedSession, Path(k): Path<String>) -> String {
    s.remove(&k);
    as_json(&s)
}

async fn untyped_clear(mut s: UntypedSession) -> &'static str {
    s.clear();
    "cleared"
}

/// Where the gated handlers wait, so that a check can order concurrent
/// requests: every wait needs a second party (another request, or the
/// check itself).
#[derive(Clone)]
pub(crate) struct Gate(Arc<Barrier>);

impl Gate {
    /// Waits for the other party; a check that waits in vain fails.
    pub(crate) async fn pass(&self, cx: Cx) -> Result<(), Failure> {
        tokio::time::timeout(GATE_TIMEOUT, self.0.wait())
            .await
            .map(drop)
            .map_err(|_| {
                cx.fail(format!(
                    "a request did not reach the point the check waits for within {GATE_TIMEOUT:?}"
                ))
            })
    }

    /// A handler's wait: it has no check to fail, so it gives up after the
    /// timeout and goes on (the check then fails on its own side).
    async fn wait(&self) {
        let _ = tokio::time::timeout(GATE_TIMEOUT, self.0.wait()).await;
    }
}

async fn pair_init(mut p: Session<Pair>) -> &'static str {
    p.a = 1;
    p.b = 1;
    "ok"
}

/// Loads the pair, waits at the gate for the other request to have loaded
/// it too, then changes one field.
async fn pair_race(
    State(gate): State<Gate>,
    mut p: Session<Pair>,
    Path((field, value)): Path<(String, i64)>,
) -> String {
    gate.wait().await;
    match field.as_str() {
        "a" => p.a = value,
        _ => p.b = value,
    }
    format!("{} {}", p.a, p.b)
}

async fn pair_get(p: Session<Pair>) -> String {
    format!("{} {}", p.a, p.b)
}

/// Sets one key, and holds the session a while so that many requests overlap.
async fn untyped_slow(mut s: UntypedSession, Path((k, v)): Path<(String, String)>) -> String {
    if let Err(error) = s.insert(k, v) {
        return format!("not inserted: {error}");
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    "ok".to_owned()
}

/// Loads the session, then waits at the gate twice (the check acts between
/// the two waits), then sets one key.
async fn hold(
    State(gate): State<Gate>,
    mut s: UntypedSession,
    Path((k, v)): Path<(String, String)>,
) -> String {
    gate.wait().await;
    gate.wait().await;
    match s.insert(k, v) {
        Ok(_) => as_json(&s),
        Err(error) => format!("not inserted: {error}"),
    }
}

/// Increments `n` and saves it early, then waits at the gate twice (the
/// check reads the store between the two waits). Answers what `save`
/// returned.
async fn early(State(gate): State<Gate>, mut v: Session<Visit>) -> String {
    v.n += 1;
    let saved = v.save().await;
    gate.wait().await;
    gate.wait().await;
    match saved {
        Ok(()) => format!("saved {}", v.n),
        Err(error) => format!("not saved: {error}"),
    }
}

/// The app over `store`, and the gate its gated handlers wait at.
pub(crate) fn app<S: SessionStore>(store: S) -> (Router, Gate) {
    let gate = Gate(Arc::new(Barrier::new(2)));
    let gated = Router::new()
        .route("/pair/init", get(pair_init))
        .route("/pair/race/{field}/{value}", get(pair_race))
        .route("/pair", get(pair_get))
        .route("/untyped/slow/{k}/{v}", get(untyped_slow))
        .route("/hold/{k}/{v}", get(hold))
        .route("/early", get(early))
        .with_state(gate.clone());
    let router = Router::new()
        .route("/incr", get(incr))
        .route("/get", get(read))
        .route("/zero", get(zero))
        .route("/clear", get(clear))
        .route("/login/{user}", get(login))
        .route("/destroy-then-set", get(destroy_then_set))
        .route("/none", get(|| async { "no session here" }))
        .route("/cart/add/{item}", get(cart_add))
        .route("/cart", get(cart_get))
        .route("/both", get(both))
        .route("/attrs/incr", get(attrs_incr))
        .route("/attrs/clear", get(attrs_clear))
        .route("/short/incr", get(short_incr))
        .route("/short", get(short_get))
        .route("/browser/incr", get(browser_incr))
        .route("/untyped/set/{k}/{v}", get(untyped_set))
        .route("/untyped", get(untyped_get))
        .route("/untyped/remove/{k}", get(untyped_remove))
        .route("/untyped/clear", get(untyped_clear))
        .merge(gated)
        .layer(SessionLayer::new(store));
    (router, gate)
}
