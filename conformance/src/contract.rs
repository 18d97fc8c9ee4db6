//! The store contract, checked by calling the store directly.
//!
//! Each check takes a fresh store, works under keys of its own
//! (`conformance:` and a new session id; a few use other prefixes), and
//! answers `Ok(())` or the [`Failure`] that says which rule broke:
//!
//! * a load of a missing or expired key is `Ok(None)`;
//! * a save replaces the value and its time to live, and a load gives the
//!   same bytes back, under keys of up to 250 bytes;
//! * a load extends the key's time to live to the `ttl` it is given
//!   (sliding expiry), `load_versioned` as well as `load`;
//! * a delete removes the key, and a delete of a missing key is `Ok(())`;
//! * when the store says [`compare_and_set`](SessionStore::compare_and_set)
//!   is `true`: `save_if` writes only where [`Expect`] holds, atomically,
//!   and otherwise writes nothing and answers [`SaveOutcome::Exists`],
//!   [`SaveOutcome::Changed`] or [`SaveOutcome::Gone`];
//! * when the store has a [`max_value_size`](SessionStore::max_value_size):
//!   under a key of 250 bytes (the longest the layer makes), a value at the
//!   limit is stored, and one over it is refused with a
//!   [permanent](sessionkit::ErrorClass::Permanent) error before anything
//!   is written;
//! * when the store keeps owner indexes
//!   ([`owner_index`](SessionStore::owner_index) is `true`): `index_list`
//!   gives what `index_add` recorded, with each session's time to live;
//!   `index_add` replaces an entry, drops entries whose `until` has passed
//!   and, over `max`, those with the earliest `until`, answering their
//!   keys; `index_remove` removes entries; an index lives no longer than
//!   its latest `until`; `index_list` leaves out and forgets the entries of
//!   sessions that are gone. When it keeps none, the three calls fail with
//!   a permanent error;
//! * every failure is a [`StoreError`]: a store
//!   call that panics, or does not answer within 10 seconds, fails the
//!   check.
//!
//! The checks of expiry save keys with a time to live of one second and
//! look for them 4 seconds later, which allows a store to round a time to
//! live up to whole seconds and to add a second for a clock that ticks once
//! a second (as memcached's does).
//!
//! A check that does not apply to the store (compare-and-set on a store
//! that does not claim it, a size limit on a store without one) passes at
//! once and prints why it was skipped.

use std::time::Duration;

use sessionkit::store::{Expect, IndexEntry, SaveOutcome, SessionStore, StoreError};
use sessionkit::{ErrorClass, SessionId};

use crate::check::{bytes, ensure, ensure_eq, skipped, Bytes, Cx, Failure};

/// The time to live of keys that must outlive the check.
const LONG: Duration = Duration::from_secs(60);

/// The time to live of keys that must expire during the check.
const SHORT: Duration = Duration::from_secs(1);

/// How long after its last write a key saved with [`SHORT`] must be gone:
/// a second, rounded up, plus a second for a one-second clock, plus the
/// tick that clock may lag behind, plus a margin.
const EXPIRY_WAIT: Duration = Duration::from_secs(4);

/// The largest size limit the size checks write a value of (each writes
/// a few values of about that size); a store with a larger limit skips them.
const LARGEST_CHECKED_LIMIT: usize = 64 << 20;

/// How many writers race in [`save_if_is_atomic`].
const RACERS: usize = 16;

/// A key no check used before: `conformance:` and a new session id.
fn key() -> String {
    format!("conformance:{}", SessionId::generate())
}

/// A key of 250 bytes, the longest the layer makes: `conformance:`, `k`s,
/// and a new session id.
fn longest_key() -> String {
    let id = SessionId::generate().to_string();
    let key = format!("conformance:{}{id}", "k".repeat(250 - 12 - id.len()));
    debug_assert_eq!(key.len(), 250);
    key
}

/// What `load` finds under `key`, refreshing it for [`LONG`].
async fn load<S: SessionStore>(cx: Cx, store: &S, key: &str) -> Result<Option<Bytes>, Failure> {
    Ok(bytes(cx.call("load", || store.load(key, LONG)).await?))
}

/// A save outcome with its bytes shown as text.
fn outcome_text(outcome: &SaveOutcome) -> String {
    match outcome {
        SaveOutcome::Saved { version } => format!("Saved {{ version: {version:?} }}"),
        SaveOutcome::Exists => "Exists".to_owned(),
        SaveOutcome::Gone => "Gone".to_owned(),
        SaveOutcome::Changed(stored) => format!(
            "Changed(Stored {{ value: {:?}, version: {:?} }})",
            Bytes(stored.value.clone()),
            stored.version
        ),
    }
}

/// Whether the store claims compare-and-set; if not, says the check is
/// skipped.
fn claims_compare_and_set<S: SessionStore>(cx: Cx, store: &S) -> bool {
    let claimed = store.compare_and_set();
    if !claimed {
        skipped(
            cx,
            "the store does not claim compare-and-set (compare_and_set() is false), \
             so its save_if writes unconditionally",
        );
    }
    claimed
}

/// A load of a key that was never written is `Ok(None)`, from `load` and
/// from `load_versioned`.
pub async fn missing_key_loads_none<S: SessionStore>(store: S) -> Result<(), Failure> {
    let cx = Cx("missing_key_loads_none");
    let key = key();
    let loaded = load(cx, &store, &key).await?;
    ensure_eq!(
        cx,
        loaded,
        None,
        "load of a key never written must be Ok(None)"
    );
    let versioned = cx
        .call("load_versioned", || store.load_versioned(&key, LONG))
        .await?;
    ensure!(
        cx,
        versioned.is_none(),
        "load_versioned of a key never written must be Ok(None); it found {:?}",
        versioned.map(|s| Bytes(s.value))
    );
    Ok(())
}

/// What `save` wrote, `load` and `load_versioned` give back byte for byte
/// (non-ASCII text, escapes, line breaks and what looks like a protocol
/// line included); keys that differ only in their prefix hold values of
/// their own.
pub async fn save_then_load_returns_the_same_bytes<S: SessionStore>(
    store: S,
) -> Result<(), Failure> {
    let cx = Cx("save_then_load_returns_the_same_bytes");
    let values: [&[u8]; 5] = [
        br#"{"n":1}"#,
        b"{}",
        "{\"s\":\"\u{e9} \u{20ac} \u{1f600} \\\"q\\\" \\/ \\u00e9\",\"l\":[1,2.5,null,true]}"
            .as_bytes(),
        b"{\"a\":\"x\"}\r\nEND\r\nVALUE k 0 1\r\n\r\n*1\r\n$4\r\nPING\r\n",
        b"not json at all",
    ];
    for value in values {
        let key = key();
        cx.call("save", || store.save(&key, value, LONG)).await?;
        let loaded = load(cx, &store, &key).await?;
        ensure_eq!(
            cx,
            loaded,
            Some(Bytes(value.to_vec())),
            "load must return the bytes save wrote"
        );
        let versioned = cx
            .call("load_versioned", || store.load_versioned(&key, LONG))
            .await?;
        ensure_eq!(
            cx,
            versioned.map(|s| Bytes(s.value)),
            Some(Bytes(value.to_vec())),
            "load_versioned must return the bytes save wrote"
        );
    }
    let id = SessionId::generate();
    let (a, b) = (format!("conformance-a:{id}"), format!("conformance-b:{id}"));
    cx.call("save", || store.save(&a, br#"{"key":"a"}"#, LONG))
        .await?;
    cx.call("save", || store.save(&b, br#"{"key":"b"}"#, LONG))
        .await?;
    ensure_eq!(
        cx,
        load(cx, &store, &a).await?,
        Some(Bytes(br#"{"key":"a"}"#.to_vec())),
        "keys that differ only in their prefix must hold values of their own"
    );
    ensure_eq!(
        cx,
        load(cx, &store, &b).await?,
        Some(Bytes(br#"{"key":"b"}"#.to_vec())),
        "keys that differ only in their prefix must hold values of their own"
    );
    Ok(())
}

/// A second `save` replaces the value, also with a shorter one.
pub async fn save_replaces_the_value<S: SessionStore>(store: S) -> Result<(), Failure> {
    let cx = Cx("save_replaces_the_value");
    let key = key();
    let first = br#"{"n":1,"long":"a value longer than the one that replaces it"}"#;
    let second = br#"{"n":2}"#;
    cx.call("save", || store.save(&key, first, LONG)).await?;
    cx.call("save", || store.save(&key, second, LONG)).await?;
    ensure_eq!(
        cx,
        load(cx, &store, &key).await?,
        Some(Bytes(second.to_vec())),
        "a save must replace the value the key held"
    );
    let versioned = cx
        .call("load_versioned", || store.load_versioned(&key, LONG))
        .await?;
    ensure_eq!(
        cx,
        versioned.map(|s| Bytes(s.value)),
        Some(Bytes(second.to_vec())),
        "after a save, load_versioned must return the new value"
    );
    Ok(())
}

/// A delete removes the key, and only that key.
pub async fn delete_removes_the_key<S: SessionStore>(store: S) -> Result<(), Failure> {
    let cx = Cx("delete_removes_the_key");
    let id = SessionId::generate();
    let (gone, kept) = (
        format!("conformance:{id}"),
        format!("conformance-kept:{id}"),
    );
    cx.call("save", || store.save(&gone, br#"{"n":1}"#, LONG))
        .await?;
    cx.call("save", || store.save(&kept, br#"{"n":2}"#, LONG))
        .await?;
    cx.call("delete", || store.delete(&gone)).await?;
    ensure_eq!(
        cx,
        load(cx, &store, &gone).await?,
        None,
        "after a delete, load must find nothing"
    );
    let versioned = cx
        .call("load_versioned", || store.load_versioned(&gone, LONG))
        .await?;
    ensure!(
        cx,
        versioned.is_none(),
        "after a delete, load_versioned must find nothing; it found {:?}",
        versioned.map(|s| Bytes(s.value))
    );
    ensure_eq!(
        cx,
        load(cx, &store, &kept).await?,
        Some(Bytes(br#"{"n":2}"#.to_vec())),
        "a delete must remove only its own key"
    );
    Ok(())
}

/// A delete of a key that was never written, or was deleted already, is
/// `Ok(())`.
pub async fn delete_of_a_missing_key_is_ok<S: SessionStore>(store: S) -> Result<(), Failure> {
    let cx = Cx("delete_of_a_missing_key_is_ok");
    let never = key();
    let deleted = cx.attempt("delete", || store.delete(&never)).await?;
    ensure!(
        cx,
        deleted.is_ok(),
        "a delete of a key that was never written must be Ok(()); it failed: {}",
        error_text(deleted.err())
    );
    let key = key();
    cx.call("save", || store.save(&key, br#"{"n":1}"#, LONG))
        .await?;
    cx.call("delete", || store.delete(&key)).await?;
    let again = cx.attempt("delete", || store.delete(&key)).await?;
    ensure!(
        cx,
        again.is_ok(),
        "a second delete of the same key must be Ok(()); it failed: {}",
        error_text(again.err())
    );
    Ok(())
}

/// A key of 250 bytes (the longest the layer makes: a prefix and a
/// 32-character id) is saved, loaded and deleted like any other.
pub async fn the_longest_key_works<S: SessionStore>(store: S) -> Result<(), Failure> {
    let cx = Cx("the_longest_key_works");
    let key = longest_key();
    cx.call("save", || store.save(&key, br#"{"n":1}"#, LONG))
        .await?;
    ensure_eq!(
        cx,
        load(cx, &store, &key).await?,
        Some(Bytes(br#"{"n":1}"#.to_vec())),
        "a key of 250 bytes must hold its value"
    );
    cx.call("delete", || store.delete(&key)).await?;
    ensure_eq!(
        cx,
        load(cx, &store, &key).await?,
        None,
        "a key of 250 bytes must be deleted"
    );
    Ok(())
}

/// A key saved with a time to live of one second, by `save` or by
/// `save_if`, is gone (`Ok(None)`) a few seconds later.
pub async fn keys_expire_after_their_ttl<S: SessionStore>(store: S) -> Result<(), Failure> {
    let cx = Cx("keys_expire_after_their_ttl");
    let (saved, created) = (key(), key());
    cx.call("save", || store.save(&saved, br#"{"n":1}"#, SHORT))
        .await?;
    let outcome = cx
        .call("save_if", || {
            store.save_if(&created, br#"{"n":1}"#, SHORT, Expect::Absent)
        })
        .await?;
    ensure!(
        cx,
        matches!(outcome, SaveOutcome::Saved { .. }),
        "save_if with Expect::Absent on a free key must save; it answered {}",
        outcome_text(&outcome)
    );
    tokio::time::sleep(EXPIRY_WAIT).await;
    ensure_eq!(
        cx,
        load(cx, &store, &saved).await?,
        None,
        "a key saved with a TTL of {SHORT:?} must be gone {EXPIRY_WAIT:?} later"
    );
    let versioned = cx
        .call("load_versioned", || store.load_versioned(&created, LONG))
        .await?;
    ensure!(
        cx,
        versioned.is_none(),
        "a key created by save_if with a TTL of {SHORT:?} must be gone {EXPIRY_WAIT:?} later; \
         load_versioned found {:?}",
        versioned.map(|s| Bytes(s.value))
    );
    Ok(())
}

/// A `save` replaces the time to live too: a long one with a short one
/// (the key expires), and a short one with a long one (it does not).
pub async fn save_replaces_the_ttl<S: SessionStore>(store: S) -> Result<(), Failure> {
    let cx = Cx("save_replaces_the_ttl");
    let (shortened, lengthened) = (key(), key());
    cx.call("save", || store.save(&shortened, br#"{"n":1}"#, LONG))
        .await?;
    cx.call("save", || store.save(&shortened, br#"{"n":2}"#, SHORT))
        .await?;
    cx.call("save", || store.save(&lengthened, br#"{"n":1}"#, SHORT))
        .await?;
    cx.call("save", || store.save(&lengthened, br#"{"n":2}"#, LONG))
        .await?;
    tokio::time::sleep(EXPIRY_WAIT).await;
    ensure_eq!(
        cx,
        load(cx, &store, &shortened).await?,
        None,
        "a save with a TTL of {SHORT:?} over a key saved with {LONG:?} must replace its TTL: \
         the key must be gone {EXPIRY_WAIT:?} later"
    );
    ensure_eq!(
        cx,
        load(cx, &store, &lengthened).await?,
        Some(Bytes(br#"{"n":2}"#.to_vec())),
        "a save with a TTL of {LONG:?} over a key saved with {SHORT:?} must replace its TTL: \
         the key must still be there {EXPIRY_WAIT:?} later"
    );
    Ok(())
}

/// A load extends the key's time to live to the `ttl` it is given (sliding
/// expiry): a key saved for one second and then loaded with a time to live
/// of a minute is still there seconds later, whether `load` or
/// `load_versioned` read it.
pub async fn load_refreshes_the_ttl<S: SessionStore>(store: S) -> Result<(), Failure> {
    let cx = Cx("load_refreshes_the_ttl");
    let (by_load, by_load_versioned) = (key(), key());
    cx.call("save", || store.save(&by_load, br#"{"n":1}"#, SHORT))
        .await?;
    cx.call("save", || {
        store.save(&by_load_versioned, br#"{"n":2}"#, SHORT)
    })
    .await?;
    let loaded = cx.call("load", || store.load(&by_load, LONG)).await?;
    ensure_eq!(
        cx,
        bytes(loaded),
        Some(Bytes(br#"{"n":1}"#.to_vec())),
        "load right after a save must find the value"
    );
    let versioned = cx
        .call("load_versioned", || {
            store.load_versioned(&by_load_versioned, LONG)
        })
        .await?;
    ensure_eq!(
        cx,
        versioned.map(|s| Bytes(s.value)),
        Some(Bytes(br#"{"n":2}"#.to_vec())),
        "load_versioned right after a save must find the value"
    );
    tokio::time::sleep(EXPIRY_WAIT).await;
    ensure_eq!(
        cx,
        load(cx, &store, &by_load).await?,
        Some(Bytes(br#"{"n":1}"#.to_vec())),
        "load must extend the key's TTL to the ttl it is given (sliding expiry): a key saved \
         with a TTL of {SHORT:?} and then loaded with {LONG:?} must still be there \
         {EXPIRY_WAIT:?} later"
    );
    ensure_eq!(
        cx,
        load(cx, &store, &by_load_versioned).await?,
        Some(Bytes(br#"{"n":2}"#.to_vec())),
        "load_versioned must extend the key's TTL to the ttl it is given (sliding expiry), as \
         load does: a key saved with a TTL of {SHORT:?} and then loaded with {LONG:?} must \
         still be there {EXPIRY_WAIT:?} later"
    );
    Ok(())
}

/// `save_if`, the call the layer saves with, sets the time to live it is
/// given, whether it creates the key or replaces a loaded value.
pub async fn save_if_sets_the_ttl<S: SessionStore>(store: S) -> Result<(), Failure> {
    let cx = Cx("save_if_sets_the_ttl");
    let (created, shortened, lengthened) = (key(), key(), key());
    let outcome = cx
        .call("save_if", || {
            store.save_if(&created, br#"{"n":1}"#, SHORT, Expect::Absent)
        })
        .await?;
    ensure!(
        cx,
        matches!(outcome, SaveOutcome::Saved { .. }),
        "save_if with Expect::Absent on a free key must save; it answered {}",
        outcome_text(&outcome)
    );
    for (key, first, then) in [(&shortened, LONG, SHORT), (&lengthened, SHORT, LONG)] {
        cx.call("save", || store.save(key, br#"{"n":1}"#, first))
            .await?;
        let Some(loaded) = cx
            .call("load_versioned", || store.load_versioned(key, first))
            .await?
        else {
            return Err(cx.fail("load_versioned of a key just saved found nothing"));
        };
        let expect = Expect::Loaded {
            value: &loaded.value,
            version: loaded.version,
        };
        let outcome = cx
            .call("save_if", || {
                store.save_if(key, br#"{"n":2}"#, then, expect)
            })
            .await?;
        ensure!(
            cx,
            matches!(outcome, SaveOutcome::Saved { .. }),
            "save_if with Expect::Loaded of what the key holds must save; it answered {}",
            outcome_text(&outcome)
        );
    }
    tokio::time::sleep(EXPIRY_WAIT).await;
    ensure_eq!(
        cx,
        load(cx, &store, &created).await?,
        None,
        "a key created by save_if with a TTL of {SHORT:?} must be gone {EXPIRY_WAIT:?} later"
    );
    ensure_eq!(
        cx,
        load(cx, &store, &shortened).await?,
        None,
        "save_if with a TTL of {SHORT:?} over a key saved with {LONG:?} must replace its TTL: \
         the key must be gone {EXPIRY_WAIT:?} later"
    );
    ensure_eq!(
        cx,
        load(cx, &store, &lengthened).await?,
        Some(Bytes(br#"{"n":2}"#.to_vec())),
        "save_if with a TTL of {LONG:?} over a key saved with {SHORT:?} must replace its TTL: \
         the key must still be there {EXPIRY_WAIT:?} later"
    );
    Ok(())
}

/// Compare-and-set, creating: `save_if` with [`Expect::Absent`] writes a
/// free key (a deleted one included), and on a taken key writes nothing and
/// answers [`SaveOutcome::Exists`].
pub async fn save_if_absent_creates_only_a_free_key<S: SessionStore>(
    store: S,
) -> Result<(), Failure> {
    let cx = Cx("save_if_absent_creates_only_a_free_key");
    if !claims_compare_and_set(cx, &store) {
        return Ok(());
    }
    let key = key();
    let created = cx
        .call("save_if", || {
            store.save_if(&key, br#"{"n":1}"#, LONG, Expect::Absent)
        })
        .await?;
    ensure!(
        cx,
        matches!(created, SaveOutcome::Saved { .. }),
        "save_if with Expect::Absent on a free key must save; it answered {}",
        outcome_text(&created)
    );
    ensure_eq!(
        cx,
        load(cx, &store, &key).await?,
        Some(Bytes(br#"{"n":1}"#.to_vec())),
        "save_if with Expect::Absent on a free key must store the value"
    );
    let again = cx
        .call("save_if", || {
            store.save_if(&key, br#"{"n":9}"#, LONG, Expect::Absent)
        })
        .await?;
    ensure!(
        cx,
        again == SaveOutcome::Exists,
        "save_if with Expect::Absent on a key that holds a value must write nothing and answer \
         SaveOutcome::Exists; it answered {}",
        outcome_text(&again)
    );
    ensure_eq!(
        cx,
        load(cx, &store, &key).await?,
        Some(Bytes(br#"{"n":1}"#.to_vec())),
        "save_if with Expect::Absent on a taken key must leave its value as it was"
    );
    cx.call("delete", || store.delete(&key)).await?;
    let recreated = cx
        .call("save_if", || {
            store.save_if(&key, br#"{"n":2}"#, LONG, Expect::Absent)
        })
        .await?;
    ensure!(
        cx,
        matches!(recreated, SaveOutcome::Saved { .. }),
        "save_if with Expect::Absent on a deleted key must save; it answered {}",
        outcome_text(&recreated)
    );
    ensure_eq!(
        cx,
        load(cx, &store, &key).await?,
        Some(Bytes(br#"{"n":2}"#.to_vec())),
        "save_if with Expect::Absent on a deleted key must store the value"
    );
    Ok(())
}

/// Compare-and-set, updating: `save_if` with [`Expect::Loaded`] writes only
/// over what was loaded. Over a value another writer changed it writes
/// nothing and answers [`SaveOutcome::Changed`] with what the key holds
/// now, and that answer (like the version of a [`SaveOutcome::Saved`]) is a
/// valid expectation for the next `save_if`.
pub async fn save_if_loaded_writes_only_over_what_was_loaded<S: SessionStore>(
    store: S,
) -> Result<(), Failure> {
    let cx = Cx("save_if_loaded_writes_only_over_what_was_loaded");
    if !claims_compare_and_set(cx, &store) {
        return Ok(());
    }
    let key = key();
    cx.call("save", || store.save(&key, br#"{"n":1}"#, LONG))
        .await?;
    let Some(loaded) = cx
        .call("load_versioned", || store.load_versioned(&key, LONG))
        .await?
    else {
        return Err(cx.fail("load_versioned of a key just saved found nothing"));
    };
    ensure_eq!(
        cx,
        Bytes(loaded.value.clone()),
        Bytes(br#"{"n":1}"#.to_vec()),
        "load_versioned must return the bytes save wrote"
    );
    let expect = Expect::Loaded {
        value: &loaded.value,
        version: loaded.version,
    };
    let updated = cx
        .call("save_if", || {
            store.save_if(&key, br#"{"n":2}"#, LONG, expect)
        })
        .await?;
    ensure!(
        cx,
        matches!(updated, SaveOutcome::Saved { .. }),
        "save_if with Expect::Loaded of what the key holds must save; it answered {}",
        outcome_text(&updated)
    );
    ensure_eq!(
        cx,
        load(cx, &store, &key).await?,
        Some(Bytes(br#"{"n":2}"#.to_vec())),
        "save_if that answered Saved must have stored its value"
    );

    // The same expectation again is stale now.
    let stale = cx
        .call("save_if", || {
            store.save_if(&key, br#"{"n":3}"#, LONG, expect)
        })
        .await?;
    let SaveOutcome::Changed(current) = stale else {
        return Err(cx.fail(format!(
            "save_if with Expect::Loaded of a value the key no longer holds must write nothing \
             and answer SaveOutcome::Changed with what the key holds now; it answered {}",
            outcome_text(&stale)
        )));
    };
    ensure_eq!(
        cx,
        Bytes(current.value.clone()),
        Bytes(br#"{"n":2}"#.to_vec()),
        "SaveOutcome::Changed must carry what the key holds now"
    );
    ensure_eq!(
        cx,
        load(cx, &store, &key).await?,
        Some(Bytes(br#"{"n":2}"#.to_vec())),
        "save_if that answered Changed must have written nothing"
    );

    // What Changed carried is what the key holds: an update over it saves.
    let fresh = Expect::Loaded {
        value: &current.value,
        version: current.version,
    };
    let merged = cx
        .call("save_if", || {
            store.save_if(&key, br#"{"n":4,"m":1}"#, LONG, fresh)
        })
        .await?;
    let SaveOutcome::Saved { version } = merged else {
        return Err(cx.fail(format!(
            "save_if with Expect::Loaded of the value and version SaveOutcome::Changed carried \
             must save; it answered {}",
            outcome_text(&merged)
        )));
    };
    ensure_eq!(
        cx,
        load(cx, &store, &key).await?,
        Some(Bytes(br#"{"n":4,"m":1}"#.to_vec())),
        "save_if must store the value as it was given"
    );

    // A version that Saved returned is the written value's.
    if let Some(version) = version {
        let next = Expect::Loaded {
            value: br#"{"n":4,"m":1}"#,
            version: Some(version),
        };
        let outcome = cx
            .call("save_if", || store.save_if(&key, br#"{"n":5}"#, LONG, next))
            .await?;
        ensure!(
            cx,
            matches!(outcome, SaveOutcome::Saved { .. }),
            "the version SaveOutcome::Saved returned must be the written value's: save_if with \
             Expect::Loaded of that value and version must save; it answered {}",
            outcome_text(&outcome)
        );
        ensure_eq!(
            cx,
            load(cx, &store, &key).await?,
            Some(Bytes(br#"{"n":5}"#.to_vec())),
            "save_if that answered Saved must have stored its value"
        );
    }
    Ok(())
}

/// Compare-and-set on a key that is gone: `save_if` with [`Expect::Loaded`]
/// on a deleted or never-written key writes nothing and answers
/// [`SaveOutcome::Gone`], so a session that was ended is not recreated.
pub async fn save_if_loaded_on_a_missing_key_is_gone<S: SessionStore>(
    store: S,
) -> Result<(), Failure> {
    let cx = Cx("save_if_loaded_on_a_missing_key_is_gone");
    if !claims_compare_and_set(cx, &store) {
        return Ok(());
    }
    let key = key();
    cx.call("save", || store.save(&key, br#"{"n":1}"#, LONG))
        .await?;
    let Some(loaded) = cx
        .call("load_versioned", || store.load_versioned(&key, LONG))
        .await?
    else {
        return Err(cx.fail("load_versioned of a key just saved found nothing"));
    };
    cx.call("delete", || store.delete(&key)).await?;
    let expect = Expect::Loaded {
        value: &loaded.value,
        version: loaded.version,
    };
    let outcome = cx
        .call("save_if", || {
            store.save_if(&key, br#"{"n":2}"#, LONG, expect)
        })
        .await?;
    ensure!(
        cx,
        outcome == SaveOutcome::Gone,
        "save_if with Expect::Loaded on a key deleted since the load must write nothing and \
         answer SaveOutcome::Gone; it answered {}",
        outcome_text(&outcome)
    );
    ensure_eq!(
        cx,
        load(cx, &store, &key).await?,
        None,
        "save_if on a deleted key must not recreate it"
    );

    let never = self::key();
    let expect = Expect::Loaded {
        value: br#"{"n":1}"#,
        version: None,
    };
    let outcome = cx
        .call("save_if", || {
            store.save_if(&never, br#"{"n":2}"#, LONG, expect)
        })
        .await?;
    ensure!(
        cx,
        outcome == SaveOutcome::Gone,
        "save_if with Expect::Loaded on a key that was never written must write nothing and \
         answer SaveOutcome::Gone; it answered {}",
        outcome_text(&outcome)
    );
    ensure_eq!(
        cx,
        load(cx, &store, &never).await?,
        None,
        "save_if with Expect::Loaded on a missing key must not create it"
    );
    Ok(())
}

/// Compare-and-set on a key that was deleted and written again since the
/// load: `save_if` with [`Expect::Loaded`] of the old value writes nothing
/// and answers [`SaveOutcome::Changed`] with the new value, even where the
/// store's version token of the new value started over (a logout and a
/// new session under the same key must not be overwritten by a request
/// that loaded the old one).
pub async fn save_if_loaded_after_the_key_was_written_again_is_changed<S: SessionStore>(
    store: S,
) -> Result<(), Failure> {
    let cx = Cx("save_if_loaded_after_the_key_was_written_again_is_changed");
    if !claims_compare_and_set(cx, &store) {
        return Ok(());
    }
    let key = key();
    let first = cx
        .call("save_if", || {
            store.save_if(&key, br#"{"n":1}"#, LONG, Expect::Absent)
        })
        .await?;
    ensure!(
        cx,
        matches!(first, SaveOutcome::Saved { .. }),
        "save_if with Expect::Absent on a free key must save; it answered {}",
        outcome_text(&first)
    );
    let Some(loaded) = cx
        .call("load_versioned", || store.load_versioned(&key, LONG))
        .await?
    else {
        return Err(cx.fail("load_versioned of a key just saved found nothing"));
    };
    cx.call("delete", || store.delete(&key)).await?;
    let again = cx
        .call("save_if", || {
            store.save_if(&key, br#"{"m":1}"#, LONG, Expect::Absent)
        })
        .await?;
    ensure!(
        cx,
        matches!(again, SaveOutcome::Saved { .. }),
        "save_if with Expect::Absent on a deleted key must save; it answered {}",
        outcome_text(&again)
    );
    let expect = Expect::Loaded {
        value: &loaded.value,
        version: loaded.version,
    };
    let outcome = cx
        .call("save_if", || {
            store.save_if(&key, br#"{"n":2}"#, LONG, expect)
        })
        .await?;
    ensure!(
        cx,
        matches!(&outcome, SaveOutcome::Changed(now) if now.value == br#"{"m":1}"#),
        "save_if with Expect::Loaded of a value deleted since, on a key written again, must \
         write nothing and answer SaveOutcome::Changed with the new value; it answered {}",
        outcome_text(&outcome)
    );
    ensure_eq!(
        cx,
        load(cx, &store, &key).await?,
        Some(Bytes(br#"{"m":1}"#.to_vec())),
        "the key must still hold what was written after the delete"
    );
    Ok(())
}

/// Compare-and-set is atomic: of 16 concurrent `save_if` calls with the
/// same expectation (first [`Expect::Absent`] on a free key, then
/// [`Expect::Loaded`] of one loaded value), exactly one saves; the others
/// answer [`SaveOutcome::Exists`] or [`SaveOutcome::Changed`] with the
/// winner's value, and the key holds the winner's value.
pub async fn save_if_is_atomic<S: SessionStore>(store: S) -> Result<(), Failure> {
    let cx = Cx("save_if_is_atomic");
    if !claims_compare_and_set(cx, &store) {
        return Ok(());
    }
    let key = key();
    let values: Vec<Vec<u8>> = (0..RACERS)
        .map(|i| format!(r#"{{"round":1,"racer":{i}}}"#).into_bytes())
        .collect();
    let outcomes = futures_util::future::join_all(values.iter().map(|value| {
        cx.call("save_if", || {
            store.save_if(&key, value, LONG, Expect::Absent)
        })
    }))
    .await
    .into_iter()
    .collect::<Result<Vec<_>, _>>()?;
    let winner = one_winner(cx, &outcomes, "Expect::Absent on a free key")?;
    for outcome in &outcomes {
        ensure!(
            cx,
            matches!(outcome, SaveOutcome::Saved { .. } | SaveOutcome::Exists),
            "{RACERS} concurrent save_if with Expect::Absent on one free key: each that did not \
             save must answer SaveOutcome::Exists; one answered {}",
            outcome_text(outcome)
        );
    }
    ensure_eq!(
        cx,
        load(cx, &store, &key).await?,
        Some(Bytes(values[winner].clone())),
        "after concurrent save_if calls the key must hold the value of the one that saved"
    );

    let Some(loaded) = cx
        .call("load_versioned", || store.load_versioned(&key, LONG))
        .await?
    else {
        return Err(cx.fail("load_versioned of a key just saved found nothing"));
    };
    let expect = Expect::Loaded {
        value: &loaded.value,
        version: loaded.version,
    };
    let values: Vec<Vec<u8>> = (0..RACERS)
        .map(|i| format!(r#"{{"round":2,"racer":{i}}}"#).into_bytes())
        .collect();
    let outcomes = futures_util::future::join_all(
        values
            .iter()
            .map(|value| cx.call("save_if", || store.save_if(&key, value, LONG, expect))),
    )
    .await
    .into_iter()
    .collect::<Result<Vec<_>, _>>()?;
    let winner = one_winner(cx, &outcomes, "Expect::Loaded of one loaded value")?;
    for outcome in &outcomes {
        match outcome {
            SaveOutcome::Saved { .. } => {}
            SaveOutcome::Changed(current) => ensure_eq!(
                cx,
                Bytes(current.value.clone()),
                Bytes(values[winner].clone()),
                "{RACERS} concurrent save_if with Expect::Loaded of one value: each that did \
                 not save must answer SaveOutcome::Changed with the value of the one that did"
            ),
            other => {
                return Err(cx.fail(format!(
                    "{RACERS} concurrent save_if with Expect::Loaded of one value: each that \
                     did not save must answer SaveOutcome::Changed; one answered {}",
                    outcome_text(other)
                )))
            }
        }
    }
    ensure_eq!(
        cx,
        load(cx, &store, &key).await?,
        Some(Bytes(values[winner].clone())),
        "after concurrent save_if calls the key must hold the value of the one that saved"
    );
    Ok(())
}

/// The index of the only `Saved` among `outcomes`, or a failure.
fn one_winner(cx: Cx, outcomes: &[SaveOutcome], race: &str) -> Result<usize, Failure> {
    let winners: Vec<usize> = outcomes
        .iter()
        .enumerate()
        .filter(|(_, o)| matches!(o, SaveOutcome::Saved { .. }))
        .map(|(i, _)| i)
        .collect();
    match winners[..] {
        [winner] => Ok(winner),
        _ => Err(cx.fail(format!(
            "save_if must check and write atomically: of {RACERS} concurrent save_if calls with \
             {race}, exactly one may save; {} did",
            winners.len()
        ))),
    }
}

/// The store's size limit, if it has one the size checks can write values
/// of; otherwise says why the check is skipped.
fn checked_limit<S: SessionStore>(cx: Cx, store: &S) -> Option<usize> {
    match store.max_value_size() {
        None => {
            skipped(
                cx,
                "the store has no size limit of its own (max_value_size() is None)",
            );
            None
        }
        Some(limit) if limit > LARGEST_CHECKED_LIMIT => {
            skipped(
                cx,
                &format!(
                    "the store's limit of {limit} bytes is over the {LARGEST_CHECKED_LIMIT} \
                     bytes this check writes values of"
                ),
            );
            None
        }
        Some(limit) => Some(limit),
    }
}

/// A JSON object of exactly `len` bytes (plain `a`s when `len` is under 8).
fn value_of_len(len: usize) -> Vec<u8> {
    if len < 8 {
        return vec![b'a'; len];
    }
    let mut value = Vec::with_capacity(len);
    value.extend_from_slice(br#"{"x":""#);
    value.resize(len - 2, b'a');
    value.extend_from_slice(br#""}"#);
    value
}

/// Passes when `result` is a permanent error.
fn refused<T>(
    cx: Cx,
    op: &str,
    len: usize,
    limit: usize,
    result: Result<T, StoreError>,
    show: impl FnOnce(&T) -> String,
) -> Result<(), Failure> {
    match result {
        Err(error) if error.class() == ErrorClass::Permanent => Ok(()),
        Err(error) => Err(cx.fail(format!(
            "{op} of a value of {len} bytes, over max_value_size() = {limit}, must fail with a \
             permanent error (retrying cannot help); it failed with a {:?} one: {error}",
            error.class()
        ))),
        Ok(answer) => Err(cx.fail(format!(
            "{op} of a value of {len} bytes, over max_value_size() = {limit}, must fail with a \
             permanent error; it answered Ok({})",
            show(&answer)
        ))),
    }
}

/// Over the store's own size limit
/// ([`max_value_size`](SessionStore::max_value_size)), `save` and
/// `save_if` fail with a [permanent](ErrorClass::Permanent) error, never a
/// panic, and write nothing: a free key stays free, a held value stays.
///
/// The keys are 250 bytes long, the longest the layer makes: a store whose
/// limit counts the key with the value (as memcached's item size does)
/// states the limit for that key, and may take a little more under a
/// shorter one.
pub async fn value_over_the_size_limit_is_refused<S: SessionStore>(
    store: S,
) -> Result<(), Failure> {
    let cx = Cx("value_over_the_size_limit_is_refused");
    let Some(limit) = checked_limit(cx, &store) else {
        return Ok(());
    };
    let over = value_of_len(limit + 1);
    let free = longest_key();
    let saved = cx
        .attempt("save", || store.save(&free, &over, LONG))
        .await?;
    refused(cx, "save", over.len(), limit, saved, |()| "()".to_owned())?;
    ensure_eq!(
        cx,
        load(cx, &store, &free).await?,
        None,
        "a save refused for its size must write nothing"
    );
    let created = cx
        .attempt("save_if", || {
            store.save_if(&free, &over, LONG, Expect::Absent)
        })
        .await?;
    refused(cx, "save_if", over.len(), limit, created, outcome_text)?;
    ensure_eq!(
        cx,
        load(cx, &store, &free).await?,
        None,
        "a save_if refused for its size must write nothing"
    );

    let held = longest_key();
    let small = br#"{"n":1}"#;
    cx.call("save", || store.save(&held, small, LONG)).await?;
    let saved = cx
        .attempt("save", || store.save(&held, &over, LONG))
        .await?;
    refused(cx, "save", over.len(), limit, saved, |()| "()".to_owned())?;
    ensure_eq!(
        cx,
        load(cx, &store, &held).await?,
        Some(Bytes(small.to_vec())),
        "a save refused for its size must leave the key's value as it was"
    );
    let Some(loaded) = cx
        .call("load_versioned", || store.load_versioned(&held, LONG))
        .await?
    else {
        return Err(cx.fail("load_versioned of a key just saved found nothing"));
    };
    let expect = Expect::Loaded {
        value: &loaded.value,
        version: loaded.version,
    };
    let updated = cx
        .attempt("save_if", || store.save_if(&held, &over, LONG, expect))
        .await?;
    refused(cx, "save_if", over.len(), limit, updated, outcome_text)?;
    ensure_eq!(
        cx,
        load(cx, &store, &held).await?,
        Some(Bytes(small.to_vec())),
        "a save_if refused for its size must leave the key's value as it was"
    );
    Ok(())
}

/// A value of exactly the store's own size limit
/// ([`max_value_size`](SessionStore::max_value_size)) is stored, by `save`
/// and by `save_if`, and loads back whole, under a key of 250 bytes (the
/// longest the layer makes).
pub async fn value_at_the_size_limit_is_stored<S: SessionStore>(store: S) -> Result<(), Failure> {
    let cx = Cx("value_at_the_size_limit_is_stored");
    let Some(limit) = checked_limit(cx, &store) else {
        return Ok(());
    };
    let at = value_of_len(limit);
    let (saved, created) = (longest_key(), longest_key());
    let result = cx.attempt("save", || store.save(&saved, &at, LONG)).await?;
    ensure!(
        cx,
        result.is_ok(),
        "a save of a value of exactly max_value_size() = {limit} bytes must be stored; it \
         failed: {}",
        error_text(result.err())
    );
    ensure!(
        cx,
        load(cx, &store, &saved).await?.as_ref() == Some(&Bytes(at.clone())),
        "a value of exactly max_value_size() = {limit} bytes must load back whole"
    );
    let result = cx
        .attempt("save_if", || {
            store.save_if(&created, &at, LONG, Expect::Absent)
        })
        .await?;
    match result {
        Ok(SaveOutcome::Saved { .. }) => {}
        Ok(other) => {
            return Err(cx.fail(format!(
                "save_if with Expect::Absent of a value of exactly max_value_size() = {limit} \
                 bytes on a free key must save; it answered {}",
                outcome_text(&other)
            )))
        }
        Err(error) => {
            return Err(cx.fail(format!(
                "save_if of a value of exactly max_value_size() = {limit} bytes must be stored; \
                 it failed: {}",
                error_text(Some(error))
            )))
        }
    }
    ensure!(
        cx,
        load(cx, &store, &created).await?.as_ref() == Some(&Bytes(at.clone())),
        "a value of exactly max_value_size() = {limit} bytes saved by save_if must load back whole"
    );
    cx.call("delete", || store.delete(&saved)).await?;
    cx.call("delete", || store.delete(&created)).await?;
    Ok(())
}

/// A store error as a check shows it: its text and class.
fn error_text(error: Option<StoreError>) -> String {
    match error {
        Some(error) => format!("{error} (class {:?})", error.class()),
        None => "no error".to_owned(),
    }
}

/// How long the owner index checks wait for an `until` of one second from
/// now to have passed: up to a second to its start, the second itself, and
/// a margin.
const UNTIL_WAIT: Duration = Duration::from_millis(2500);

/// The until of index entries that must outlive the check: ten minutes.
const LATER: u64 = 600;

/// The system clock, in whole seconds since the Unix epoch: what an owner
/// index entry's `until` counts in.
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

/// An owner index key no check used before.
fn index_key() -> String {
    format!("conformance:owner:{}", SessionId::generate())
}

/// Whether the store keeps owner indexes; if not, says the check is
/// skipped.
fn claims_owner_index<S: SessionStore>(cx: Cx, store: &S) -> bool {
    let claimed = store.owner_index();
    if !claimed {
        skipped(
            cx,
            "the store keeps no owner index (owner_index() is false); \
             stores_without_an_owner_index_refuse_its_calls checks that it says so",
        );
    }
    claimed
}

/// What `index_list` gives for `index`, sorted by session key.
async fn listed<S: SessionStore>(
    cx: Cx,
    store: &S,
    index: &str,
) -> Result<Vec<IndexEntry>, Failure> {
    let mut entries = cx.call("index_list", || store.index_list(index)).await?;
    entries.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(entries)
}

/// The session keys of `entries`.
fn keys_of(entries: &[IndexEntry]) -> Vec<String> {
    entries.iter().map(|e| e.key.clone()).collect()
}

/// `keys`, sorted.
fn sorted(keys: &[&String]) -> Vec<String> {
    let mut keys: Vec<String> = keys.iter().map(|k| (*k).clone()).collect();
    keys.sort();
    keys
}

/// `index_add` of `key` with `value`, until `until`, at most `max`: the
/// keys it evicted, sorted.
async fn index_add<S: SessionStore>(
    cx: Cx,
    store: &S,
    index: &str,
    (key, value): (&str, &[u8]),
    until: u64,
    max: usize,
) -> Result<Vec<String>, Failure> {
    let mut evicted = cx
        .call("index_add", || {
            store.index_add(index, key, value, until, max)
        })
        .await?;
    evicted.sort();
    Ok(evicted)
}

/// A store whose [`owner_index`](SessionStore::owner_index) is `false`
/// answers `index_add`, `index_remove` and `index_list` with a
/// [permanent](ErrorClass::Permanent) error, never a silent success: a
/// layer that went on without one would believe sessions recorded that
/// are not, and a "log out everywhere" would end none of them.
pub async fn stores_without_an_owner_index_refuse_its_calls<S: SessionStore>(
    store: S,
) -> Result<(), Failure> {
    let cx = Cx("stores_without_an_owner_index_refuse_its_calls");
    if store.owner_index() {
        skipped(
            cx,
            "the store keeps owner indexes (owner_index() is true); the index checks apply",
        );
        return Ok(());
    }
    let (index, key) = (index_key(), key());
    let until = unix_now() + LATER;
    let keys = [key.clone()];
    let answers = [
        (
            "index_add",
            cx.attempt("index_add", || {
                store.index_add(&index, &key, b"v", until, 10)
            })
            .await?
            .map(|evicted| format!("{evicted:?}")),
        ),
        (
            "index_remove",
            cx.attempt("index_remove", || store.index_remove(&index, &keys))
                .await?
                .map(|()| "()".to_owned()),
        ),
        (
            "index_list",
            cx.attempt("index_list", || store.index_list(&index))
                .await?
                .map(|entries| format!("{:?}", keys_of(&entries))),
        ),
    ];
    for (op, answer) in answers {
        match answer {
            Err(error) if error.class() == ErrorClass::Permanent => {}
            Err(error) => {
                return Err(cx.fail(format!(
                    "{op} on a store whose owner_index() is false must fail with a permanent \
                     error (retrying cannot help); it failed with a {:?} one: {error}",
                    error.class()
                )))
            }
            Ok(shown) => {
                return Err(cx.fail(format!(
                    "{op} on a store whose owner_index() is false must fail with a permanent \
                     error, not succeed silently; it answered Ok({shown})"
                )))
            }
        }
    }
    Ok(())
}

/// What `index_add` records, `index_list` gives back: each session's key,
/// its value byte for byte, and its session key's time to live (at most
/// what the session was saved with, and not much less). A missing index
/// lists nothing.
pub async fn index_add_then_list_gives_values_and_ttls<S: SessionStore>(
    store: S,
) -> Result<(), Failure> {
    let cx = Cx("index_add_then_list_gives_values_and_ttls");
    if !claims_owner_index(cx, &store) {
        return Ok(());
    }
    let index = index_key();
    ensure_eq!(
        cx,
        keys_of(&listed(cx, &store, &index).await?),
        Vec::<String>::new(),
        "index_list of an index never written must be empty"
    );
    let (a, b) = (key(), key());
    let short = Duration::from_secs(30);
    cx.call("save", || store.save(&a, b"{}", LONG)).await?;
    cx.call("save", || store.save(&b, b"{}", short)).await?;
    let value_a: &[u8] = b"ua=Firefox 1.2 \x00\xff\r\n*1\r\n";
    let value_b: &[u8] = b"";
    let until = unix_now() + LATER;
    for (key, value) in [(&a, value_a), (&b, value_b)] {
        let evicted = index_add(cx, &store, &index, (key, value), until, 10).await?;
        ensure_eq!(
            cx,
            evicted,
            Vec::<String>::new(),
            "index_add under max must evict nothing"
        );
    }
    let entries = listed(cx, &store, &index).await?;
    ensure_eq!(
        cx,
        keys_of(&entries),
        sorted(&[&a, &b]),
        "index_list must give every entry whose session lives"
    );
    for (entry, value, ttl) in entries
        .iter()
        .map(|e| {
            if e.key == a {
                (e, value_a, LONG)
            } else {
                (e, value_b, short)
            }
        })
        .collect::<Vec<_>>()
    {
        ensure_eq!(
            cx,
            Bytes(entry.value.clone()),
            Bytes(value.to_vec()),
            "index_list must give the value index_add recorded, byte for byte"
        );
        ensure!(
            cx,
            entry.ttl <= ttl && entry.ttl + Duration::from_secs(10) > ttl,
            "index_list must give the session key's time to live: saved for {ttl:?}, listed \
             with {:?}",
            entry.ttl
        );
    }
    Ok(())
}

/// A second `index_add` of a session key replaces its entry (value and
/// until): the index still holds one entry for it, and it does not count
/// twice against `max`.
pub async fn index_add_replaces_an_entry<S: SessionStore>(store: S) -> Result<(), Failure> {
    let cx = Cx("index_add_replaces_an_entry");
    if !claims_owner_index(cx, &store) {
        return Ok(());
    }
    let (index, a) = (index_key(), key());
    cx.call("save", || store.save(&a, b"{}", LONG)).await?;
    let now = unix_now();
    index_add(cx, &store, &index, (&a, b"first"), now + LATER, 1).await?;
    let evicted = index_add(cx, &store, &index, (&a, b"second"), now + LATER / 2, 1).await?;
    ensure_eq!(
        cx,
        evicted,
        Vec::<String>::new(),
        "index_add of a key already in the index replaces its entry; with max 1 nothing is evicted"
    );
    let entries = listed(cx, &store, &index).await?;
    ensure_eq!(
        cx,
        entries
            .iter()
            .map(|e| (e.key.clone(), Bytes(e.value.clone())))
            .collect::<Vec<_>>(),
        vec![(a.clone(), Bytes(b"second".to_vec()))],
        "index_add of a key already in the index must replace its entry"
    );
    Ok(())
}

/// `index_remove` removes the entries of the keys it is given, missing
/// ones and a missing index being no error; an index emptied this way
/// lists nothing, and takes entries again.
pub async fn index_remove_removes_entries<S: SessionStore>(store: S) -> Result<(), Failure> {
    let cx = Cx("index_remove_removes_entries");
    if !claims_owner_index(cx, &store) {
        return Ok(());
    }
    let index = index_key();
    let (a, b, c) = (key(), key(), key());
    let until = unix_now() + LATER;
    for k in [&a, &b, &c] {
        cx.call("save", || store.save(k, b"{}", LONG)).await?;
        index_add(cx, &store, &index, (k, b"v"), until, 10).await?;
    }
    let first = [a.clone(), key()];
    cx.call("index_remove", || store.index_remove(&index, &first))
        .await?;
    ensure_eq!(
        cx,
        keys_of(&listed(cx, &store, &index).await?),
        sorted(&[&b, &c]),
        "index_remove must remove the entries of the keys it is given, and only those"
    );
    let rest = [b.clone(), c.clone()];
    cx.call("index_remove", || store.index_remove(&index, &rest))
        .await?;
    ensure_eq!(
        cx,
        keys_of(&listed(cx, &store, &index).await?),
        Vec::<String>::new(),
        "an index whose every entry was removed must list nothing"
    );
    let missing = index_key();
    cx.call("index_remove", || store.index_remove(&missing, &rest))
        .await?;
    cx.call("index_remove", || store.index_remove(&index, &[]))
        .await?;
    index_add(cx, &store, &index, (&a, b"again"), until, 10).await?;
    ensure_eq!(
        cx,
        keys_of(&listed(cx, &store, &index).await?),
        vec![a.clone()],
        "an index emptied by index_remove must take entries again"
    );
    Ok(())
}

/// An entry whose `until` has passed is dropped by the next `index_add`
/// (not counted against `max`, and not answered as evicted), and is not
/// listed; an index whose every `until` has passed lists nothing, though
/// its sessions live on (it lives until its latest `until`, no longer).
pub async fn index_entries_past_their_until_are_dropped<S: SessionStore>(
    store: S,
) -> Result<(), Failure> {
    let cx = Cx("index_entries_past_their_until_are_dropped");
    if !claims_owner_index(cx, &store) {
        return Ok(());
    }
    let (index, lone) = (index_key(), index_key());
    let (a, b, c) = (key(), key(), key());
    for k in [&a, &b, &c] {
        cx.call("save", || store.save(k, b"{}", LONG)).await?;
    }
    let now = unix_now();
    index_add(cx, &store, &index, (&a, b"soon"), now + 1, 10).await?;
    index_add(cx, &store, &index, (&b, b"later"), now + LATER, 10).await?;
    index_add(cx, &store, &lone, (&a, b"soon"), now + 1, 10).await?;
    tokio::time::sleep(UNTIL_WAIT).await;
    let evicted = index_add(cx, &store, &index, (&c, b"later"), unix_now() + LATER, 2).await?;
    ensure_eq!(
        cx,
        evicted,
        Vec::<String>::new(),
        "an entry whose until has passed must be dropped, not count against max nor be \
         answered as evicted"
    );
    ensure_eq!(
        cx,
        keys_of(&listed(cx, &store, &index).await?),
        sorted(&[&b, &c]),
        "an entry whose until has passed must be gone from the index"
    );
    ensure_eq!(
        cx,
        keys_of(&listed(cx, &store, &lone).await?),
        Vec::<String>::new(),
        "an index must not outlive its latest until (its session still lives)"
    );
    Ok(())
}

/// Over `max`, `index_add` drops the entries with the earliest `until`
/// and answers their session keys; the others stay.
pub async fn index_over_max_evicts_the_earliest_until<S: SessionStore>(
    store: S,
) -> Result<(), Failure> {
    let cx = Cx("index_over_max_evicts_the_earliest_until");
    if !claims_owner_index(cx, &store) {
        return Ok(());
    }
    let index = index_key();
    let keys: Vec<String> = (0..5).map(|_| key()).collect();
    for k in &keys {
        cx.call("save", || store.save(k, b"{}", LONG)).await?;
    }
    let [a, b, c, d, e] = [&keys[0], &keys[1], &keys[2], &keys[3], &keys[4]];
    let now = unix_now();
    for (k, until) in [(a, 300), (b, 100), (c, 200)] {
        let evicted = index_add(cx, &store, &index, (k, b"v"), now + until, 3).await?;
        ensure_eq!(
            cx,
            evicted,
            Vec::<String>::new(),
            "index_add up to max must evict nothing"
        );
    }
    let evicted = index_add(cx, &store, &index, (d, b"v"), now + 400, 3).await?;
    ensure_eq!(
        cx,
        evicted,
        vec![b.clone()],
        "one over max, index_add must evict the entry with the earliest until"
    );
    ensure_eq!(
        cx,
        keys_of(&listed(cx, &store, &index).await?),
        sorted(&[a, c, d]),
        "an evicted entry must be gone from the index, and only it"
    );
    let evicted = index_add(cx, &store, &index, (e, b"v"), now + 500, 2).await?;
    ensure_eq!(
        cx,
        evicted,
        sorted(&[a, c]),
        "two over max, index_add must evict the two entries with the earliest until"
    );
    ensure_eq!(
        cx,
        keys_of(&listed(cx, &store, &index).await?),
        sorted(&[d, e]),
        "evicted entries must be gone from the index"
    );
    Ok(())
}

/// `index_list` leaves out the entries whose session key is gone (deleted,
/// expired) and removes them from the index: once those keys are written
/// again, the index still does not list them.
pub async fn index_list_drops_and_forgets_gone_sessions<S: SessionStore>(
    store: S,
) -> Result<(), Failure> {
    let cx = Cx("index_list_drops_and_forgets_gone_sessions");
    if !claims_owner_index(cx, &store) {
        return Ok(());
    }
    let index = index_key();
    let (deleted, expired, kept) = (key(), key(), key());
    cx.call("save", || store.save(&deleted, b"{}", LONG))
        .await?;
    cx.call("save", || store.save(&expired, b"{}", SHORT))
        .await?;
    cx.call("save", || store.save(&kept, b"{}", LONG)).await?;
    let until = unix_now() + LATER;
    for k in [&deleted, &expired, &kept] {
        index_add(cx, &store, &index, (k, b"v"), until, 10).await?;
    }
    cx.call("delete", || store.delete(&deleted)).await?;
    tokio::time::sleep(EXPIRY_WAIT).await;
    ensure_eq!(
        cx,
        keys_of(&listed(cx, &store, &index).await?),
        vec![kept.clone()],
        "index_list must leave out the entries whose session key was deleted or expired"
    );
    for k in [&deleted, &expired] {
        cx.call("save", || store.save(k, b"{}", LONG)).await?;
    }
    ensure_eq!(
        cx,
        keys_of(&listed(cx, &store, &index).await?),
        vec![kept.clone()],
        "index_list must remove from the index the entries whose session key was gone; they \
         came back once the keys were written again"
    );
    Ok(())
}
