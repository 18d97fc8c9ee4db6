//! Conformance checks for [sessionkit] session stores.
//!
//! A store implements [`SessionStore`]; the trait's documentation states
//! the contract it keeps. This crate checks a store against it in two sets,
//! each check an `async fn` that takes a fresh store and answers `Ok(())`
//! or the [`Failure`] that names the rule the store broke:
//!
//! * [`contract`]: the store called directly. A missing key loads `None`,
//!   a load slides the expiry, a save replaces value and time to live, a
//!   delete of a missing key is `Ok`, compare-and-set and its conflicts
//!   (when the store claims it), the store's own size limit (when it has
//!   one), owner indexes (when the store keeps them; a store that does not
//!   must refuse their calls), and no panics and no hangs.
//! * [`lifecycle`]: the store behind a [`SessionLayer`](sessionkit::SessionLayer)
//!   on an axum router, requests sent in-process with
//!   `tower::ServiceExt::oneshot`. A fresh visitor gets a cookie, a
//!   read-only request writes nothing, an unknown id gets a new id,
//!   destroy, `cycle_id`, concurrent changes merged, an ended session stays
//!   ended, and more.
//!
//! # Testing a store
//!
//! Add the crate as a dev-dependency and give [`store_tests!`] an `async`
//! block that makes the store. It expands to one `#[test]` per check, in
//! modules `contract` and `lifecycle`, so that a failure names its check
//! (`contract::load_refreshes_the_ttl`). Each test makes its own store
//! and runs on its own tokio runtime (current-thread, I/O and time
//! enabled); the block runs on that runtime.
//!
//! ```
//! use std::collections::HashMap;
//! use std::sync::Mutex;
//! use std::time::{Duration, Instant};
//!
//! use sessionkit::store::{Expect, SaveOutcome, SessionStore, StoreFuture, Stored};
//!
//! /// Values with their expiry and a revision, in one map under one lock.
//! #[derive(Default)]
//! pub struct ToyStore {
//!     state: Mutex<State>,
//! }
//!
//! #[derive(Default)]
//! struct State {
//!     entries: HashMap<String, Entry>,
//!     revisions: u64,
//! }
//!
//! struct Entry {
//!     value: Vec<u8>,
//!     expires: Instant,
//!     revision: u64,
//! }
//!
//! impl State {
//!     /// The live entry under `key` (an expired one is removed).
//!     fn live(&mut self, key: &str) -> Option<&mut Entry> {
//!         if self.entries.get(key).is_some_and(|e| e.expires <= Instant::now()) {
//!             self.entries.remove(key);
//!         }
//!         self.entries.get_mut(key)
//!     }
//!
//!     fn write(&mut self, key: &str, value: &[u8], ttl: Duration) -> u64 {
//!         self.revisions += 1;
//!         let entry = Entry {
//!             value: value.to_vec(),
//!             expires: Instant::now() + ttl,
//!             revision: self.revisions,
//!         };
//!         self.entries.insert(key.to_owned(), entry);
//!         self.revisions
//!     }
//! }
//!
//! impl SessionStore for ToyStore {
//!     fn load<'a>(&'a self, key: &'a str, ttl: Duration) -> StoreFuture<'a, Option<Vec<u8>>> {
//!         self.load_versioned(key, ttl).map(|found| found.map(|stored| stored.value))
//!     }
//!
//!     fn load_versioned<'a>(&'a self, key: &'a str, ttl: Duration) -> StoreFuture<'a, Option<Stored>> {
//!         let mut state = self.state.lock().unwrap();
//!         let found = state.live(key).map(|entry| {
//!             entry.expires = Instant::now() + ttl; // sliding expiry
//!             Stored { value: entry.value.clone(), version: Some(entry.revision) }
//!         });
//!         StoreFuture::ready(Ok(found))
//!     }
//!
//!     fn save<'a>(&'a self, key: &'a str, value: &'a [u8], ttl: Duration) -> StoreFuture<'a, ()> {
//!         self.state.lock().unwrap().write(key, value, ttl);
//!         StoreFuture::ready(Ok(()))
//!     }
//!
//!     fn save_if<'a>(
//!         &'a self,
//!         key: &'a str,
//!         value: &'a [u8],
//!         ttl: Duration,
//!         expect: Expect<'a>,
//!     ) -> StoreFuture<'a, SaveOutcome> {
//!         let mut state = self.state.lock().unwrap();
//!         let current = state.live(key).map(|e| (e.value.clone(), e.revision));
//!         let outcome = match (expect, current) {
//!             (Expect::Absent, Some(_)) => SaveOutcome::Exists,
//!             (Expect::Loaded { .. }, None) => SaveOutcome::Gone,
//!             (Expect::Loaded { version, .. }, Some((value, revision)))
//!                 if version != Some(revision) =>
//!             {
//!                 SaveOutcome::Changed(Stored { value, version: Some(revision) })
//!             }
//!             _ => SaveOutcome::Saved { version: Some(state.write(key, value, ttl)) },
//!         };
//!         StoreFuture::ready(Ok(outcome))
//!     }
//!
//!     fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
//!         self.state.lock().unwrap().entries.remove(key);
//!         StoreFuture::ready(Ok(()))
//!     }
//!
//!     fn compare_and_set(&self) -> bool {
//!         true
//!     }
//! }
//!
//! // In the store's tests (tests/conformance.rs): one test per check.
//! sessionkit_conformance::store_tests!(async { ToyStore::default() });
//! # fn main() {}
//! ```
//!
//! To run the checks some other way (a test of your own, a custom harness,
//! a subset), call them one by one, or [`run_all`] them in a row:
//!
//! ```no_run
//! # async fn demo() {
//! use sessionkit::MemoryStore;
//!
//! sessionkit_conformance::contract::load_refreshes_the_ttl(MemoryStore::new())
//!     .await
//!     .unwrap();
//! if let Err(failures) = sessionkit_conformance::run_all(|| async { MemoryStore::new() }).await {
//!     panic!("{failures}");
//! }
//! # }
//! ```
//!
//! # What the checks need
//!
//! Every check works under keys of its own (a prefix and a new random
//! id), so the checks can share one server and run in parallel. The
//! contract checks write keys that expire within a minute; the lifecycle
//! checks store sessions with the test app's expiries (up to the 30-day
//! default), so point the store at a server or namespace meant for tests.
//! The owner index checks write indexes under `conformance:owner:` and a
//! new id, whose entries' `until` is at most ten minutes away. The expiry
//! checks save keys with a time to live of one second and wait
//! 4 seconds (the index checks of `until` 2.5 seconds); [`lifecycle::expiry_slides_on_reads`] takes
//! about 9 seconds. No check asserts how fast the store is; a store call
//! that takes over 10 seconds counts as hung.
//!
//! A check that does not apply to a store passes at once and prints why it
//! was skipped: the compare-and-set checks when
//! [`compare_and_set`](SessionStore::compare_and_set) is `false`, the size
//! checks when [`max_value_size`](SessionStore::max_value_size) is `None`
//! (or over 64 MiB), the owner index checks when
//! [`owner_index`](SessionStore::owner_index) is `false` (then
//! [`contract::stores_without_an_owner_index_refuse_its_calls`] checks
//! that their calls fail), and that one when it is `true`.
#![forbid(unsafe_code)]

use std::future::Future;

use sessionkit::SessionStore;

mod check;
pub mod contract;
pub mod lifecycle;

pub use check::{Failure, Failures};

/// One `#[test]` per conformance check, for the store an `async` block
/// makes; see the [crate docs](crate).
///
/// ```
/// # fn main() {}
/// // tests/conformance.rs
/// sessionkit_conformance::store_tests!(async { sessionkit::MemoryStore::new() });
/// ```
///
/// The block is evaluated once per test, on that test's runtime: a store
/// that needs a server can connect to it there. The tests are in modules
/// `contract` and `lifecycle` of the module the macro is called in; items
/// of that module (the store's type, helper functions) are in scope in the
/// block. Call it inside a module of your own to run the suite on several
/// configurations of a store:
///
/// ```
/// # fn main() {}
/// # use sessionkit::MemoryStore;
/// mod small {
///     use super::*;
///     sessionkit_conformance::store_tests!(async { MemoryStore::new().with_capacity(1_000) });
/// }
/// ```
#[macro_export]
macro_rules! store_tests {
    ($make:expr $(,)?) => {
        $crate::__checks!($crate::store_tests; @tests [$make]);
    };
    (@tests [$make:expr]
        contract { $($contract:ident),* $(,)? }
        lifecycle { $($lifecycle:ident),* $(,)? }
    ) => {
        mod contract {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[test]
                fn $contract() {
                    $crate::__private::run(async {
                        let store = ($make).await;
                        $crate::contract::$contract(store).await
                    });
                }
            )*
        }
        mod lifecycle {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[test]
                fn $lifecycle() {
                    $crate::__private::run(async {
                        let store = ($make).await;
                        $crate::lifecycle::$lifecycle(store).await
                    });
                }
            )*
        }
    };
}

/// The names of every check, in the order they run, handed to `$callback`
/// after `$args`. One list for [`store_tests!`] and [`run_all`].
#[doc(hidden)]
#[macro_export]
macro_rules! __checks {
    ($callback:path; $($args:tt)*) => {
        $crate::__checks_with! { $callback; [$($args)*]
            contract {
                missing_key_loads_none,
                save_then_load_returns_the_same_bytes,
                save_replaces_the_value,
                delete_removes_the_key,
                delete_of_a_missing_key_is_ok,
                the_longest_key_works,
                keys_expire_after_their_ttl,
                save_replaces_the_ttl,
                load_refreshes_the_ttl,
                save_if_sets_the_ttl,
                save_if_absent_creates_only_a_free_key,
                save_if_loaded_writes_only_over_what_was_loaded,
                save_if_loaded_on_a_missing_key_is_gone,
                save_if_loaded_after_the_key_was_written_again_is_changed,
                save_if_is_atomic,
                value_over_the_size_limit_is_refused,
                value_at_the_size_limit_is_stored,
                stores_without_an_owner_index_refuse_its_calls,
                index_add_then_list_gives_values_and_ttls,
                index_add_replaces_an_entry,
                index_remove_removes_entries,
                index_entries_past_their_until_are_dropped,
                index_over_max_evicts_the_earliest_until,
                index_list_drops_and_forgets_gone_sessions,
            }
            lifecycle {
                fresh_visitor_gets_a_cookie_and_a_stored_session,
                reused_session_keeps_counting,
                read_only_request_writes_nothing_and_slides_the_cookie,
                route_without_session_touches_no_store,
                empty_fresh_session_is_never_stored,
                unknown_id_gets_a_new_id,
                ill_formed_cookies_never_reach_the_store,
                undecodable_data_gives_a_fresh_session,
                destroy_deletes_and_expires_the_cookie,
                session_that_becomes_empty_is_deleted,
                cycle_id_moves_the_data_to_a_new_id,
                destroy_then_write_starts_a_new_session,
                delete_cookie_carries_the_set_cookie_attributes,
                unknown_keys_survive_a_save,
                reformatted_but_equal_data_is_not_saved,
                two_sessions_are_independent,
                expiry_slides_on_reads,
                browser_session_cookie_has_no_max_age,
                untyped_session_gets_inserts_removes_and_clears,
                concurrent_changes_to_different_fields_are_merged,
                fifty_concurrent_requests_each_keep_their_key,
                a_session_ended_meanwhile_stays_ended,
                a_stored_value_that_is_not_an_object_is_not_overwritten,
                an_early_save_is_stored_before_the_handler_returns_and_not_again,
            }
        }
    };
}

/// Calls `$callback!` with its arguments and the lists.
#[doc(hidden)]
#[macro_export]
macro_rules! __checks_with {
    ($callback:path; [$($args:tt)*] $($lists:tt)*) => {
        $callback! { $($args)* $($lists)* }
    };
}

/// Runs every check in a row, each on a fresh store from `make`, and
/// answers every failure; `Ok(())` when the store passes them all.
///
/// [`store_tests!`] is usually better: it runs the checks in parallel,
/// as tests named after them. The checks run one after another here and
/// take about 32 seconds in all (the expiry checks wait in real time).
pub async fn run_all<S, F, Fut>(mut make: F) -> Result<(), Failures>
where
    S: SessionStore,
    F: FnMut() -> Fut,
    Fut: Future<Output = S>,
{
    let mut failures = Vec::new();
    macro_rules! run_each {
        (contract { $($contract:ident),* $(,)? } lifecycle { $($lifecycle:ident),* $(,)? }) => {
            $(
                if let Err(failure) = contract::$contract(make().await).await {
                    failures.push(failure);
                }
            )*
            $(
                if let Err(failure) = lifecycle::$lifecycle(make().await).await {
                    failures.push(failure);
                }
            )*
        };
    }
    __checks!(run_each;);
    if failures.is_empty() {
        Ok(())
    } else {
        Err(Failures(failures))
    }
}

/// What [`store_tests!`] expands to calls; not a public API.
#[doc(hidden)]
pub mod __private {
    use std::future::Future;

    use crate::Failure;

    /// Runs one check on a new current-thread runtime (I/O and time
    /// enabled) and panics with its failure.
    pub fn run(check: impl Future<Output = Result<(), Failure>>) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime for the conformance check");
        if let Err(failure) = runtime.block_on(check) {
            panic!("{failure}");
        }
    }
}
