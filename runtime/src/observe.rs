//! What the layer reports of its store calls: a tracing span for each
//! (always), and counters and histograms through the `metrics` facade with
//! the `metrics` feature. Without the feature the metrics functions here
//! are empty, and a call whose span no subscriber wants reads no clock.
//!
//! Every metric and span is labelled with the session's `session_name`
//! (`session`) and the store's [`name`](crate::SessionStore::name)
//! (`store`), never with a session id or key.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tracing::instrument::Instrumented;
use tracing::{Instrument, Span};

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

impl Found {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Found::Hit => "hit",
            Found::Miss => "miss",
            Found::Undecodable => "undecodable",
        }
    }
}

/// One store call under way: its span (none when no subscriber wants
/// it) and, when anything will read it, when it started.
pub(crate) struct Call {
    span: Option<Span>,
    started: Option<Instant>,
    elapsed: Option<Duration>,
}

/// A store future, polled in its call's span when there is one.
pub(crate) enum Traced<F> {
    Plain(F),
    Traced(Instrumented<F>),
}

impl<F: Future + Unpin> Future for Traced<F> {
    type Output = F::Output;

    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        match self.get_mut() {
            Traced::Plain(future) => Pin::new(future).poll(cx),
            Traced::Traced(future) => Pin::new(future).poll(cx),
        }
    }
}

impl Call {
    /// Starts the call's span: a child of `parent`, or of the current span
    /// (the request's, under tower-http's `TraceLayer`).
    #[inline(always)]
    pub(crate) fn start(
        layer: &LayerState,
        config: &SessionConfig,
        op: Operation,
        parent: Option<&Span>,
    ) -> Call {
        // Checked first, so that without a subscriber at `DEBUG` not even
        // a disabled span is built (with `tracing`'s `log` feature on, a
        // disabled span would still report itself to `log` at each step).
        let span = if !tracing::level_enabled!(tracing::Level::DEBUG) {
            None
        } else {
            let span = match parent {
                None => tracing::debug_span!(
                    "sessionkit.store",
                    operation = op.as_str(),
                    store = layer.store.name(),
                    session = config.session_name(),
                    outcome = tracing::field::Empty,
                    duration_us = tracing::field::Empty,
                ),
                Some(parent) => tracing::debug_span!(
                    parent: parent,
                    "sessionkit.store",
                    operation = op.as_str(),
                    store = layer.store.name(),
                    session = config.session_name(),
                    outcome = tracing::field::Empty,
                    duration_us = tracing::field::Empty,
                ),
            };
            (!span.is_disabled()).then_some(span)
        };
        let timed = cfg!(feature = "metrics") || span.is_some();
        Call {
            span,
            started: timed.then(Instant::now),
            elapsed: None,
        }
    }

    /// Runs `f` (which starts the store call) in the call's span.
    #[inline(always)]
    pub(crate) fn scope<T>(&self, f: impl FnOnce() -> T) -> T {
        match &self.span {
            None => f(),
            Some(span) => span.in_scope(f),
        }
    }

    /// `future`, polled in the call's span.
    #[inline(always)]
    pub(crate) fn traced<F: Future + Unpin>(&self, future: F) -> Traced<F> {
        match &self.span {
            None => Traced::Plain(future),
            Some(span) => Traced::Traced(future.instrument(span.clone())),
        }
    }

    /// The store answered: the call's duration ends here.
    #[inline(always)]
    pub(crate) fn stop(&mut self) {
        self.elapsed = self.started.map(|started| started.elapsed());
    }

    /// Records the call's outcome (`hit`, `miss`, `undecodable`, `saved`,
    /// `changed`, `exists`, `gone`, `deleted`, `error`) and duration on its
    /// span, and its duration and error in the metrics; closes the span.
    #[inline(always)]
    pub(crate) fn finish(
        self,
        layer: &LayerState,
        config: &SessionConfig,
        op: Operation,
        outcome: &'static str,
        error: Option<&StoreError>,
    ) {
        if let Some(span) = &self.span {
            span.record("outcome", outcome);
            if let Some(elapsed) = self.elapsed {
                let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
                span.record("duration_us", micros);
            }
        }
        #[cfg(feature = "metrics")]
        on::call(layer, config, op, self.elapsed.unwrap_or_default(), error);
        #[cfg(not(feature = "metrics"))]
        let _ = (layer, config, op, error);
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

    pub(crate) fn call(
        layer: &LayerState,
        config: &SessionConfig,
        op: Operation,
        elapsed: Duration,
        error: Option<&StoreError>,
    ) {
        let store = layer.store.name();
        histogram!(
            STORE_DURATION,
            "session" => session(config),
            "store" => store,
            "operation" => op.as_str(),
        )
        .record(elapsed);
        if let Some(error) = error {
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
        counter!(
            LOADS,
            "session" => session(config),
            "store" => layer.store.name(),
            "outcome" => found.as_str(),
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
