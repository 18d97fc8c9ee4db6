//! Support code shared by the examples and integration tests (none yet).
