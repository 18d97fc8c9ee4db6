//! The memory store through the layer: the store conformance suite (the
//! `sessionkit-conformance` checks, and the rest in `support::conformance`).

mod support;

use sessionkit::MemoryStore;

sessionkit_conformance::store_tests!(async { MemoryStore::new() });
conformance_tests!(|| async { MemoryStore::new() });

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
