//! What the layer reports of its store calls: counters and histograms
//! through the `metrics` facade with the `metrics` feature, nothing
//! without it (every function here is then empty and [`Timer`] holds
//! nothing, so the request path compiles as if they were not called).
//!
//! Every metric is labelled with the session's `session_name` (`session`)
//! and the store's [`name`](crate::SessionStore::name) (`store`), never
//! with a session id or key.

use crate::error::StoreError;
use crate::request::LayerState;
use crate::SessionConfig;

/// Saves the store acknowledged.
pub(crate) const SAVES: &str = "sessionkit_saves_total";
/// Deletes the store acknowledged.
pub(crate) const DELETES: &str = "sessionkit_deletes_total";
/// Saves that found another writer's value and merged with it.
pub(crate) const MERGES: &str = "sessionkit_merges_total";
/// Saves tried again after a conflict (a merge, or a new id found taken).
pub(crate) const CONFLICT_RETRIES: &str = "sessionkit_conflict_retries_total";

/// A store call the layer makes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Operation {
    Load,
    Save,
    Delete,
}

impl Operation {
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    fn as_str(self) -> &'static str {
        match self {
            Operation::Load => "load",
            Operation::Save => "save",
            Operation::Delete => "delete",
        }
    }
}

/// What a load found.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Found {
    /// A value that decodes.
    Hit,
    /// Nothing under the key.
    Miss,
    /// A value that does not decode as the session type.
    Undecodable,
}

/// When a store call started (nothing without the `metrics` feature).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timer {
    #[cfg(feature = "metrics")]
    started: std::time::Instant,
}

impl Timer {
    #[inline(always)]
    pub(crate) fn start() -> Timer {
        Timer {
            #[cfg(feature = "metrics")]
            started: std::time::Instant::now(),
        }
    }
}

#[cfg(feature = "metrics")]
mod on {
    use metrics::{counter, histogram, SharedString};

    use super::*;

    /// Store loads, by `outcome`: `hit`, `miss`, `undecodable`.
    const LOADS: &str = "sessionkit_loads_total";
    /// Store calls that failed, by `operation` and `class`.
    const STORE_ERRORS: &str = "sessionkit_store_errors_total";
    /// How long each store call took, in seconds, by `operation`.
    const STORE_DURATION: &str = "sessionkit_store_duration_seconds";

    fn session(config: &SessionConfig) -> SharedString {
        config.session_label()
    }

    pub(crate) fn call<T>(
        layer: &LayerState,
        config: &SessionConfig,
        op: Operation,
        timer: Timer,
        result: &Result<T, StoreError>,
    ) {
        let store = layer.store.name();
        histogram!(
            STORE_DURATION,
            "session" => session(config),
            "store" => store,
            "operation" => op.as_str(),
        )
        .record(timer.started.elapsed());
        if let Err(error) = result {
            let class = match error.class() {
                crate::ErrorClass::Transient => "transient",
                crate::ErrorClass::Permanent => "permanent",
            };
            counter!(
                STORE_ERRORS,
                "session" => session(config),
                "store" => store,
                "operation" => op.as_str(),
                "class" => class,
            )
            .increment(1);
        }
    }

    pub(crate) fn found(layer: &LayerState, config: &SessionConfig, found: Found) {
        let outcome = match found {
            Found::Hit => "hit",
            Found::Miss => "miss",
            Found::Undecodable => "undecodable",
        };
        counter!(
            LOADS,
            "session" => session(config),
            "store" => layer.store.name(),
            "outcome" => outcome,
        )
        .increment(1);
    }

    pub(crate) fn count(name: &'static str, layer: &LayerState, config: &SessionConfig) {
        counter!(
            name,
            "session" => session(config),
            "store" => layer.store.name(),
        )
        .increment(1);
    }
}

/// Records a store call: its duration, and its error if it failed.
#[inline(always)]
pub(crate) fn call<T>(
    layer: &LayerState,
    config: &SessionConfig,
    op: Operation,
    timer: Timer,
    result: &Result<T, StoreError>,
) {
    #[cfg(feature = "metrics")]
    on::call(layer, config, op, timer, result);
    #[cfg(not(feature = "metrics"))]
    let _ = (layer, config, op, timer, result);
}

/// Records what a load found.
#[inline(always)]
pub(crate) fn found(layer: &LayerState, config: &SessionConfig, found: Found) {
    #[cfg(feature = "metrics")]
    on::found(layer, config, found);
    #[cfg(not(feature = "metrics"))]
    let _ = (layer, config, found);
}

/// Adds one to the counter `name` (one of [`SAVES`], [`DELETES`],
/// [`MERGES`], [`CONFLICT_RETRIES`]).
#[inline(always)]
pub(crate) fn count(name: &'static str, layer: &LayerState, config: &SessionConfig) {
    #[cfg(feature = "metrics")]
    on::count(name, layer, config);
    #[cfg(not(feature = "metrics"))]
    let _ = (name, layer, config);
}
