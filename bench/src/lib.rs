//! The side-by-side load benchmark of sessionkit (see BENCHMARKS.md).
//!
//! Two binaries:
//!
//! * `bench-server --mode MODE --port P` serves `GET /incr` (read `n` from
//!   the session, add one, save, return it) and `GET /get` (return `n`)
//!   with one contender per mode: see [`server::Mode`].
//! * `bench-client` sends fixed numbers of requests on keep-alive
//!   connections (memory measurement, callgrind), finds free ports and
//!   renders the result tables.
//!
//! `bench-server` counts its allocations (a counting global allocator,
//! crate `sessionkit-alloc-count`) and serves the counts at `GET /allocs`;
//! `scripts/bench/allocs.sh` turns them into allocations per request.
//!
//! `scripts/bench.sh` drives both, with wrk as the load generator; see
//! `BENCHMARKS.md` at the repository root.

pub mod allocs;
pub mod args;
pub mod client;
pub mod report;
pub mod server;
