//! The memory store through the layer: the shared conformance suite.

mod support;

use sessionkit::MemoryStore;

conformance_tests!(|| async { MemoryStore::new() });
