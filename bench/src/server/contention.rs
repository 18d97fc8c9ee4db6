//! The contention workload's server side: many requests of one session at
//! once, half of them writing. A store wrapper counts what the layer's
//! conditional saves ran into, and `GET /conflicts` (outside the session
//! layer) reports it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::Path;
use axum::routing::get;
use axum::Router;
use sessionkit::store::{Expect, SaveOutcome, StoreFuture, Stored};
use sessionkit::{SessionStore, UntypedSession};

/// What the conditional saves answered.
#[derive(Default)]
pub(super) struct Counts {
    saves: AtomicU64,
    changed: AtomicU64,
    exists: AtomicU64,
    gone: AtomicU64,
    failed: AtomicU64,
}

impl Counts {
    fn record(&self, outcome: &Result<SaveOutcome, sessionkit::StoreError>) {
        let counter = match outcome {
            Ok(SaveOutcome::Saved { .. }) => return,
            Ok(SaveOutcome::Changed(_)) => &self.changed,
            Ok(SaveOutcome::Exists) => &self.exists,
            Ok(SaveOutcome::Gone) => &self.gone,
            Err(_) => &self.failed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// `saves=… changed=… exists=… gone=… failed=…`: every conditional save
    /// sent, and how many found the session changed (each is one merge and
    /// one more try), taken, gone, or failed.
    fn report(&self) -> String {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        format!(
            "saves={} changed={} exists={} gone={} failed={}\n",
            get(&self.saves),
            get(&self.changed),
            get(&self.exists),
            get(&self.gone),
            get(&self.failed)
        )
    }
}

/// A store that counts the answers of its conditional saves.
#[derive(Clone)]
pub(super) struct Counted<S> {
    inner: S,
    counts: Arc<Counts>,
}

impl<S: SessionStore> SessionStore for Counted<S> {
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
        self.counts.saves.fetch_add(1, Ordering::Relaxed);
        match self.inner.save_if(key, value, ttl, expect).into_ready() {
            Ok(outcome) => {
                self.counts.record(&outcome);
                StoreFuture::ready(outcome)
            }
            Err(pending) => StoreFuture::new(async move {
                let outcome = pending.await;
                self.counts.record(&outcome);
                outcome
            }),
        }
    }
    fn compare_and_set(&self) -> bool {
        self.inner.compare_and_set()
    }
    fn max_value_size(&self) -> Option<usize> {
        self.inner.max_value_size()
    }
}

/// Adds one to key `k` of the (untyped) session.
async fn put(mut session: UntypedSession, Path(k): Path<String>) -> String {
    let n = session.get::<u64>(&k).unwrap_or(0) + 1;
    session.insert(k, n).expect("a number encodes");
    n.to_string()
}

/// `store` wrapped to count conflicts, and the counts.
pub(super) fn counted<S: SessionStore>(store: S) -> (Counted<S>, Arc<Counts>) {
    let counts = Arc::new(Counts::default());
    let store = Counted {
        inner: store,
        counts: Arc::clone(&counts),
    };
    (store, counts)
}

/// `GET /put/{k}`, to be put inside the session layer.
pub(super) fn routes() -> Router {
    Router::new().route("/put/{k}", get(put))
}

/// `router` (already layered) plus `GET /conflicts`, outside the layer.
pub(super) fn with_report(router: Router, counts: Arc<Counts>) -> Router {
    router.route(
        "/conflicts",
        get(move || {
            let report = counts.report();
            async move { report }
        }),
    )
}
