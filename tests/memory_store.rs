//! The memory store through the layer: the store conformance suite (the
//! `sessionkit-conformance` checks, and the rest in `support::conformance`).

mod support;

use std::time::Duration;

use sessionkit::store::{Expect, SaveOutcome, SessionStore, StoreFuture, Stored};
use sessionkit::MemoryStore;

sessionkit_conformance::store_tests!(async { MemoryStore::new() });
conformance_tests!(|| async { MemoryStore::new() });

/// The memory store, but every future it returns waits once before it does
/// its work, although the store says it is `immediate`: a store that breaks
/// that promise must still work (the layer drops the pending future
/// unpolled and does the operation again in a future of its own).
#[derive(Clone)]
struct NotQuiteImmediate(MemoryStore);

fn later<'a, T: Send + 'a>(
    work: impl FnOnce() -> StoreFuture<'a, T> + Send + 'a,
) -> StoreFuture<'a, T> {
    StoreFuture::new(async move {
        tokio::task::yield_now().await;
        work().await
    })
}

impl SessionStore for NotQuiteImmediate {
    fn load<'a>(&'a self, key: &'a str, ttl: Duration) -> StoreFuture<'a, Option<Vec<u8>>> {
        later(move || self.0.load(key, ttl))
    }
    fn save<'a>(&'a self, key: &'a str, value: &'a [u8], ttl: Duration) -> StoreFuture<'a, ()> {
        later(move || self.0.save(key, value, ttl))
    }
    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
        later(move || self.0.delete(key))
    }
    fn load_versioned<'a>(
        &'a self,
        key: &'a str,
        ttl: Duration,
    ) -> StoreFuture<'a, Option<Stored>> {
        later(move || self.0.load_versioned(key, ttl))
    }
    fn save_if<'a>(
        &'a self,
        key: &'a str,
        value: &'a [u8],
        ttl: Duration,
        expect: Expect<'a>,
    ) -> StoreFuture<'a, SaveOutcome> {
        later(move || self.0.save_if(key, value, ttl, expect))
    }
    fn compare_and_set(&self) -> bool {
        true
    }
    fn immediate(&self) -> bool {
        true
    }
}

#[tokio::test]
async fn a_store_that_is_not_immediate_after_all_still_saves_and_deletes() {
    let store = support::Counting::new(NotQuiteImmediate(MemoryStore::new()));
    let addr = support::serve(support::app::app(store.clone())).await;
    let mut browser = support::Browser::new(addr);
    assert_eq!(browser.get("/incr").await.body, "1");
    assert_eq!(browser.get("/incr").await.body, "2");
    assert_eq!(browser.get("/get").await.body, "2");
    assert_eq!(store.inner.0.len(), 1);
    // Each of the two saves was started, found pending, dropped unpolled and
    // done again; the read-only request saved nothing.
    assert_eq!(store.counts.get(), (2, 4, 0));
    let reply = browser.get("/clear").await;
    assert_eq!(reply.status, 200);
    assert_eq!(store.inner.0.len(), 0, "the clear deleted the session");
    assert!(
        browser.jar.is_empty(),
        "and expired its cookie: {:?}",
        reply.set_cookies
    );
    assert_eq!(store.counts.get(), (3, 4, 2));
}

/// A flood of new visitors past the capacity evicts idle sessions, never
/// fails a request, and keeps the store at its bound; a visitor who keeps
/// coming back keeps their session (eviction samples 5 distinct sessions and
/// takes the one closest to expiry; the regular is always among the 4 most
/// recently used, so it is never the oldest of a sample).
#[tokio::test]
async fn flood_of_new_visitors_stays_within_capacity() {
    let store = MemoryStore::new().with_capacity(10);
    let addr = support::serve(support::app::app(store.clone())).await;
    let mut regular = support::Browser::new(addr);
    assert_eq!(regular.get("/incr").await.body, "1");
    let mut expected = 1;
    for i in 0..100 {
        // Expiry has millisecond resolution: keep the visits apart in time
        // so "least recently used" is well defined.
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        let reply = support::Browser::new(addr).get("/incr").await;
        assert_eq!(
            (reply.status, reply.body.as_str()),
            (200, "1"),
            "visitor {i}"
        );
        assert!(store.len() <= 10, "len {} after visitor {i}", store.len());
        if i % 3 == 0 {
            expected += 1;
            assert_eq!(regular.get("/incr").await.body, expected.to_string());
        }
    }
    assert_eq!(store.len(), 10);
}
