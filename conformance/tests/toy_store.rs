//! The suite against a toy in-memory store (a real implementation of the
//! trait, a `Mutex<HashMap>` with compare-and-set and a size limit): the
//! sound toy passes every check, the toy without compare-and-set passes
//! with those checks skipped, and each deliberately broken toy is caught
//! by the check of the rule it breaks, with a message that names the rule.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sessionkit::store::{
    Expect, IndexEntry, SaveOutcome, SessionStore, StoreError, StoreFuture, Stored,
};
use sessionkit_conformance::{contract, lifecycle, Failure};

/// The toy's own size limit.
const LIMIT: usize = 4096;

/// How a toy breaks the contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flaw {
    /// None: the toy keeps every rule.
    Sound,
    /// `load` does not extend the time to live.
    LoadKeepsTtl,
    /// `load_versioned` (what the layer calls) does not extend it.
    LoadVersionedKeepsTtl,
    /// A `save` over a live key keeps its old expiry.
    SaveKeepsTtl,
    /// Nothing ever expires.
    NeverExpires,
    /// A delete of a missing key is an error.
    DeleteOfMissingErrors,
    /// `save_if` writes whatever the key holds.
    SaveIfIgnoresExpectation,
    /// `save_if` checks, lets other calls run, then writes.
    SaveIfNotAtomic,
    /// A value over the limit panics.
    PanicsOverLimit,
    /// A value over the limit is written.
    WritesOverLimit,
    /// A value over the limit is a transient error.
    TransientOverLimit,
    /// A value of exactly the limit is refused too.
    RefusesAtLimit,
    /// `load` never answers.
    LoadHangs,
}

#[derive(Default)]
struct State {
    entries: HashMap<String, Entry>,
    revisions: u64,
}

struct Entry {
    value: Vec<u8>,
    expires: Instant,
    revision: u64,
}

struct Toy {
    state: Mutex<State>,
    flaw: Flaw,
}

impl Toy {
    fn new(flaw: Flaw) -> Toy {
        Toy {
            state: Mutex::default(),
            flaw,
        }
    }

    fn expiry(&self, ttl: Duration) -> Instant {
        if self.flaw == Flaw::NeverExpires {
            Instant::now() + Duration::from_secs(3600)
        } else {
            Instant::now() + ttl
        }
    }

    /// The live entry under `key`; an expired one is removed.
    fn live<'s>(state: &'s mut State, key: &str) -> Option<&'s mut Entry> {
        if state
            .entries
            .get(key)
            .is_some_and(|e| e.expires <= Instant::now())
        {
            state.entries.remove(key);
        }
        state.entries.get_mut(key)
    }

    /// What `key` holds, its expiry slid to `ttl` unless `slide` is false.
    fn load_entry(&self, key: &str, ttl: Duration, slide: bool) -> Option<Stored> {
        let expires = self.expiry(ttl);
        let mut state = self.state.lock().unwrap();
        let entry = Toy::live(&mut state, key)?;
        if slide {
            entry.expires = expires;
        }
        Some(Stored {
            value: entry.value.clone(),
            version: Some(entry.revision),
        })
    }

    /// Refuses a value over the limit, the way the flaw says.
    fn check_size(&self, value: &[u8]) -> Result<(), StoreError> {
        let over = match self.flaw {
            Flaw::RefusesAtLimit => value.len() >= LIMIT,
            _ => value.len() > LIMIT,
        };
        if !over {
            return Ok(());
        }
        let error = StoreError::new(format!("toy: {} bytes over {LIMIT}", value.len()));
        match self.flaw {
            Flaw::PanicsOverLimit => panic!("toy: a value of {} bytes", value.len()),
            Flaw::WritesOverLimit => Ok(()),
            Flaw::TransientOverLimit => Err(error),
            _ => Err(error.permanent()),
        }
    }

    /// Writes `value` under `key`; its new revision.
    fn write(&self, state: &mut State, key: &str, value: &[u8], ttl: Duration) -> u64 {
        state.revisions += 1;
        let revision = state.revisions;
        let expires = match Toy::live(state, key) {
            Some(old) if self.flaw == Flaw::SaveKeepsTtl => old.expires,
            _ => self.expiry(ttl),
        };
        state.entries.insert(
            key.to_owned(),
            Entry {
                value: value.to_vec(),
                expires,
                revision,
            },
        );
        revision
    }

    /// What `save_if` answers without writing, or `None` to write.
    fn conflict(state: &mut State, key: &str, expect: Expect<'_>) -> Option<SaveOutcome> {
        let current = Toy::live(state, key).map(|e| Stored {
            value: e.value.clone(),
            version: Some(e.revision),
        });
        match (expect, current) {
            (Expect::Absent, Some(_)) => Some(SaveOutcome::Exists),
            (Expect::Loaded { .. }, None) => Some(SaveOutcome::Gone),
            (Expect::Loaded { version, .. }, Some(current)) if version != current.version => {
                Some(SaveOutcome::Changed(current))
            }
            _ => None,
        }
    }
}

impl SessionStore for Toy {
    fn load<'a>(&'a self, key: &'a str, ttl: Duration) -> StoreFuture<'a, Option<Vec<u8>>> {
        if self.flaw == Flaw::LoadHangs {
            return StoreFuture::new(std::future::pending());
        }
        let slide = self.flaw != Flaw::LoadKeepsTtl;
        StoreFuture::ready(Ok(self.load_entry(key, ttl, slide).map(|s| s.value)))
    }

    fn load_versioned<'a>(
        &'a self,
        key: &'a str,
        ttl: Duration,
    ) -> StoreFuture<'a, Option<Stored>> {
        let slide = self.flaw != Flaw::LoadVersionedKeepsTtl;
        StoreFuture::ready(Ok(self.load_entry(key, ttl, slide)))
    }

    fn save<'a>(&'a self, key: &'a str, value: &'a [u8], ttl: Duration) -> StoreFuture<'a, ()> {
        StoreFuture::ready(self.check_size(value).map(|()| {
            self.write(&mut self.state.lock().unwrap(), key, value, ttl);
        }))
    }

    fn save_if<'a>(
        &'a self,
        key: &'a str,
        value: &'a [u8],
        ttl: Duration,
        expect: Expect<'a>,
    ) -> StoreFuture<'a, SaveOutcome> {
        if let Err(error) = self.check_size(value) {
            return StoreFuture::ready(Err(error));
        }
        if self.flaw == Flaw::SaveIfNotAtomic {
            // Checks, lets other calls run, then writes what it checked.
            return StoreFuture::new(async move {
                if let Some(outcome) = Toy::conflict(&mut self.state.lock().unwrap(), key, expect) {
                    return Ok(outcome);
                }
                tokio::task::yield_now().await;
                let version = self.write(&mut self.state.lock().unwrap(), key, value, ttl);
                Ok(SaveOutcome::Saved {
                    version: Some(version),
                })
            });
        }
        // Checked and written under one lock.
        let mut state = self.state.lock().unwrap();
        let conflict = match self.flaw {
            Flaw::SaveIfIgnoresExpectation => None,
            _ => Toy::conflict(&mut state, key, expect),
        };
        let outcome = conflict.unwrap_or_else(|| SaveOutcome::Saved {
            version: Some(self.write(&mut state, key, value, ttl)),
        });
        StoreFuture::ready(Ok(outcome))
    }

    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
        let removed = self.state.lock().unwrap().entries.remove(key);
        if removed.is_none() && self.flaw == Flaw::DeleteOfMissingErrors {
            return StoreFuture::ready(Err(StoreError::new("toy: no such key").permanent()));
        }
        StoreFuture::ready(Ok(()))
    }

    fn compare_and_set(&self) -> bool {
        true
    }

    fn max_value_size(&self) -> Option<usize> {
        Some(LIMIT)
    }
}

/// A store that implements only `load`, `save` and `delete`: no
/// compare-and-set, no size limit of its own.
struct LastWriterWins(Toy);

impl SessionStore for LastWriterWins {
    fn load<'a>(&'a self, key: &'a str, ttl: Duration) -> StoreFuture<'a, Option<Vec<u8>>> {
        self.0.load(key, ttl)
    }
    fn save<'a>(&'a self, key: &'a str, value: &'a [u8], ttl: Duration) -> StoreFuture<'a, ()> {
        self.0.save(key, value, ttl)
    }
    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
        self.0.delete(key)
    }
}

/// A toy that keeps no owner index, yet answers the index calls as if
/// it did.
struct SilentIndex(Toy);

impl SessionStore for SilentIndex {
    fn load<'a>(&'a self, key: &'a str, ttl: Duration) -> StoreFuture<'a, Option<Vec<u8>>> {
        self.0.load(key, ttl)
    }
    fn save<'a>(&'a self, key: &'a str, value: &'a [u8], ttl: Duration) -> StoreFuture<'a, ()> {
        self.0.save(key, value, ttl)
    }
    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
        self.0.delete(key)
    }
    fn index_add<'a>(
        &'a self,
        _: &'a str,
        _: &'a str,
        _: &'a [u8],
        _: u64,
        _: usize,
    ) -> StoreFuture<'a, Vec<String>> {
        StoreFuture::ready(Ok(Vec::new()))
    }
    fn index_remove<'a>(&'a self, _: &'a str, _: &'a [String]) -> StoreFuture<'a, ()> {
        StoreFuture::ready(Ok(()))
    }
    fn index_list<'a>(&'a self, _: &'a str) -> StoreFuture<'a, Vec<IndexEntry>> {
        StoreFuture::ready(Ok(Vec::new()))
    }
}

mod sound {
    use super::*;
    sessionkit_conformance::store_tests!(async { Toy::new(Flaw::Sound) });
}

mod last_writer_wins {
    use super::*;
    sessionkit_conformance::store_tests!(async { LastWriterWins(Toy::new(Flaw::Sound)) });
}

/// The failure a check must report, with a message that contains `rule`.
#[track_caller]
fn caught(result: Result<(), Failure>, check: &str, rule: &str) {
    let failure = result.expect_err("the broken store must fail the check");
    assert_eq!(failure.check(), check, "{failure}");
    assert!(
        failure.message().contains(rule),
        "the message must name the rule ({rule:?}): {failure}"
    );
    assert!(failure.to_string().contains(check), "{failure}");
}

#[tokio::test]
async fn a_load_that_does_not_slide_the_expiry_is_caught() {
    let result = contract::load_refreshes_the_ttl(Toy::new(Flaw::LoadKeepsTtl)).await;
    caught(
        result,
        "load_refreshes_the_ttl",
        "load must extend the key's TTL",
    );
}

#[tokio::test]
async fn a_load_versioned_that_does_not_slide_the_expiry_is_caught() {
    let result = contract::load_refreshes_the_ttl(Toy::new(Flaw::LoadVersionedKeepsTtl)).await;
    caught(
        result,
        "load_refreshes_the_ttl",
        "load_versioned must extend the key's TTL",
    );
    // The layer loads with load_versioned: the session expires under it.
    let result = lifecycle::expiry_slides_on_reads(Toy::new(Flaw::LoadVersionedKeepsTtl)).await;
    caught(result, "expiry_slides_on_reads", "must slide the expiry");
}

#[tokio::test]
async fn a_save_that_keeps_the_old_expiry_is_caught() {
    let result = contract::save_replaces_the_ttl(Toy::new(Flaw::SaveKeepsTtl)).await;
    caught(result, "save_replaces_the_ttl", "must replace its TTL");
}

#[tokio::test]
async fn a_store_where_nothing_expires_is_caught() {
    let result = contract::keys_expire_after_their_ttl(Toy::new(Flaw::NeverExpires)).await;
    caught(result, "keys_expire_after_their_ttl", "must be gone");
}

#[tokio::test]
async fn a_delete_of_a_missing_key_that_errors_is_caught() {
    let result =
        contract::delete_of_a_missing_key_is_ok(Toy::new(Flaw::DeleteOfMissingErrors)).await;
    caught(
        result,
        "delete_of_a_missing_key_is_ok",
        "a delete of a key that was never written must be Ok(())",
    );
}

#[tokio::test]
async fn a_save_if_that_ignores_the_expectation_is_caught() {
    let toy = || Toy::new(Flaw::SaveIfIgnoresExpectation);
    let result = contract::save_if_absent_creates_only_a_free_key(toy()).await;
    caught(
        result,
        "save_if_absent_creates_only_a_free_key",
        "must write nothing and answer SaveOutcome::Exists",
    );
    let result = contract::save_if_loaded_writes_only_over_what_was_loaded(toy()).await;
    caught(
        result,
        "save_if_loaded_writes_only_over_what_was_loaded",
        "must write nothing and answer SaveOutcome::Changed",
    );
    let result = contract::save_if_loaded_on_a_missing_key_is_gone(toy()).await;
    caught(
        result,
        "save_if_loaded_on_a_missing_key_is_gone",
        "answer SaveOutcome::Gone",
    );
    // Through the layer: one of two concurrent changes is lost, and a
    // session ended meanwhile is saved back.
    let result = lifecycle::concurrent_changes_to_different_fields_are_merged(toy()).await;
    caught(
        result,
        "concurrent_changes_to_different_fields_are_merged",
        "the store has both changes",
    );
    let result = lifecycle::a_session_ended_meanwhile_stays_ended(toy()).await;
    caught(
        result,
        "a_session_ended_meanwhile_stays_ended",
        "is not recreated",
    );
}

#[tokio::test]
async fn a_save_if_that_is_not_atomic_is_caught() {
    let result = contract::save_if_is_atomic(Toy::new(Flaw::SaveIfNotAtomic)).await;
    caught(
        result,
        "save_if_is_atomic",
        "save_if must check and write atomically",
    );
}

#[tokio::test]
async fn a_value_over_the_limit_that_panics_is_caught_as_a_failure() {
    let result =
        contract::value_over_the_size_limit_is_refused(Toy::new(Flaw::PanicsOverLimit)).await;
    caught(
        result,
        "value_over_the_size_limit_is_refused",
        "save panicked",
    );
}

#[tokio::test]
async fn a_value_over_the_limit_that_is_written_is_caught() {
    let result =
        contract::value_over_the_size_limit_is_refused(Toy::new(Flaw::WritesOverLimit)).await;
    caught(
        result,
        "value_over_the_size_limit_is_refused",
        "must fail with a permanent error; it answered Ok",
    );
}

#[tokio::test]
async fn a_value_over_the_limit_refused_as_transient_is_caught() {
    let result =
        contract::value_over_the_size_limit_is_refused(Toy::new(Flaw::TransientOverLimit)).await;
    caught(
        result,
        "value_over_the_size_limit_is_refused",
        "it failed with a Transient one",
    );
}

#[tokio::test]
async fn a_value_at_the_limit_that_is_refused_is_caught() {
    let result = contract::value_at_the_size_limit_is_stored(Toy::new(Flaw::RefusesAtLimit)).await;
    caught(
        result,
        "value_at_the_size_limit_is_stored",
        "must be stored",
    );
}

#[tokio::test]
async fn a_load_that_hangs_is_caught() {
    let result = contract::missing_key_loads_none(Toy::new(Flaw::LoadHangs)).await;
    caught(result, "missing_key_loads_none", "load did not complete");
}

#[tokio::test]
async fn run_all_reports_every_check_a_broken_store_fails() {
    let failures =
        sessionkit_conformance::run_all(|| async { Toy::new(Flaw::DeleteOfMissingErrors) })
            .await
            .expect_err("a delete of a missing key that errors fails the suite");
    assert!(
        failures.contains("delete_of_a_missing_key_is_ok"),
        "{failures}"
    );
    assert!(failures
        .to_string()
        .contains("delete_of_a_missing_key_is_ok"));
    for failure in failures.as_slice() {
        assert!(
            failure.message().contains("delete"),
            "only deletes of missing keys fail: {failure}"
        );
    }
}

#[tokio::test]
async fn index_calls_that_succeed_without_an_owner_index_are_caught() {
    let result = contract::stores_without_an_owner_index_refuse_its_calls(SilentIndex(Toy::new(
        Flaw::Sound,
    )))
    .await;
    caught(
        result,
        "stores_without_an_owner_index_refuse_its_calls",
        "not succeed silently",
    );
}
