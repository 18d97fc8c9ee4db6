//! `bare`: the same routes without sessions.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::{routing::get, Router};

/// One counter for the whole process: the nearest session-free stand-in
/// for "read n, add one, write n" (an uncontended atomic add with one worker).
static COUNTER: AtomicU64 = AtomicU64::new(0);

async fn incr() -> String {
    (COUNTER.fetch_add(1, Ordering::Relaxed) + 1).to_string()
}

/// Also served, inside each session layer, as `/plain`: a route that never
/// touches the session, to measure what the layer costs when unused.
pub(super) async fn read() -> String {
    COUNTER.load(Ordering::Relaxed).to_string()
}

pub(super) fn router() -> Router {
    Router::new()
        .route("/incr", get(incr))
        .route("/get", get(read))
        .route("/plain", get(read))
}

/// What every `bare-const` route answers.
const CONSTANT_BODY: &str = "1";

async fn constant() -> &'static str {
    CONSTANT_BODY
}

/// `bare-const`: the same routes answering a constant body. Without the
/// atomic and the formatting into a new `String`, this is the part of
/// `bare` that is axum, hyper and tokio alone.
pub(super) fn router_const() -> Router {
    Router::new()
        .route("/incr", get(constant))
        .route("/get", get(constant))
        .route("/plain", get(constant))
}

/// `bare-layer`: the same routes behind a layer that does nothing. Axum's
/// `Router::layer` wraps every route in one more boxed, cloned-per-request
/// `Route`, whatever the layer; this mode measures that floor, which every
/// session layer applied with `Router::layer` pays before doing any work.
pub(super) fn router_with_layer() -> Router {
    router().layer(tower_layer::Identity::new())
}
