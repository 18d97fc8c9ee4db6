//! The state of one request's sessions, and the decisions about them: what
//! a session's data, as its handler left it, asks for ([`returned`]), what
//! each session asks of the store and the browser ([`plan`]), and what to do
//! with the store's answer to a save ([`after_save`]). Everything here is a
//! pure function of its arguments, tested by the tables below; the service
//! and the commit driver carry the decisions out.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::response::Response;

use crate::merge::merge;
use crate::queue::SaveQueues;
use crate::store::{Expect, SaveOutcome, StoreError};
use crate::{Error, SessionConfig, SessionId, SessionStore};

/// Turns a session error into the response the client gets.
pub(crate) type ErrorHandler = Arc<dyn Fn(&Error) -> Response + Send + Sync>;

/// What every request of one layer shares: the store and the layer's
/// settings.
#[derive(Clone)]
pub(crate) struct LayerState {
    pub(crate) store: Arc<dyn SessionStore>,
    /// Start-up overrides of compiled-in configs, by cookie name.
    pub(crate) configs: Vec<SessionConfig>,
    pub(crate) on_error: ErrorHandler,
    /// Where saves of one session that ran into each other take turns.
    pub(crate) queues: Arc<SaveQueues>,
    /// The largest encoded session saved: the layer's own limit, lowered
    /// to the store's if that is smaller.
    pub(crate) max_size: usize,
    /// Whether a handler's 5xx response still saves its sessions' changes.
    pub(crate) save_on_server_error: bool,
    /// Whether sessions may have owners (the store keeps owner indexes).
    pub(crate) owners: bool,
}

impl LayerState {
    /// The config to use for a session type: a start-up override with the
    /// same cookie name, or the one compiled in.
    pub(crate) fn config_for(&self, compiled: SessionConfig) -> SessionConfig {
        self.configs
            .iter()
            .find(|c| c.cookie_name() == compiled.cookie_name())
            .cloned()
            .unwrap_or(compiled)
    }
}

/// The state one request's sessions share with the layer.
pub(crate) struct RequestState {
    pub(crate) layer: Arc<LayerState>,
    slots: Mutex<Slots>,
}

impl RequestState {
    pub(crate) fn new(layer: Arc<LayerState>) -> Self {
        RequestState {
            layer,
            slots: Mutex::new(Slots::new()),
        }
    }

    pub(crate) fn slots(&self) -> MutexGuard<'_, Slots> {
        // A panic while holding the lock leaves the slots consistent: each
        // write is a single assignment.
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The request extension through which extractors find the layer.
#[derive(Clone)]
pub(crate) struct RequestHandle(pub(crate) Arc<RequestState>);

/// The sessions of one request. (Kept in a `Vec`, not inline: an inline
/// slot makes every request, even one that uses no session, copy it around.)
pub(crate) type Slots = Vec<Slot>;

/// One kind of session (one cookie name) within one request.
pub(crate) struct Slot {
    pub(crate) config: SessionConfig,
    /// What the store holds for this session, as far as this request
    /// knows: what it loaded, or what it saved early.
    pub(crate) base: Option<Base>,
    /// The base's bytes are exactly our encoding of what they decode to.
    pub(crate) canonical: bool,
    /// This request already deleted the session (an early save of a
    /// destroyed one): its cookie is expired unless it is stored again.
    pub(crate) ended: bool,
    pub(crate) state: SlotState,
}

/// A session as it is stored.
#[derive(Debug, Clone)]
pub(crate) struct Base {
    pub(crate) id: SessionId,
    /// Its store key, built once for the load and the save.
    pub(crate) key: String,
    /// Its owner, as stored.
    pub(crate) owner: Option<String>,
    /// The stored bytes, to tell a real change from none and to compare
    /// against when saving.
    pub(crate) bytes: Vec<u8>,
    /// The store's version token of `bytes`.
    pub(crate) version: Option<u64>,
}

pub(crate) enum SlotState {
    /// A `Session<T>` for this slot is alive.
    CheckedOut,
    /// The `Session<T>` was dropped; this is what it left.
    Returned(Result<Returned, serde_json::Error>),
}

/// How long a session lives from now, when that is not simply its
/// config's `expiry`: its own expiry (`set_expiry`), or what is left of its
/// `max_lifetime` when that is shorter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Expiry {
    /// The store's time to live and the cookie's `Max-Age`, in seconds.
    pub(crate) secs: u64,
    /// Set by the session itself: its cookie has a `Max-Age` even when the
    /// config's is a browser-session cookie, and a load, which slides the
    /// store's expiry to the config's, is followed by a write that puts
    /// the session's own back.
    pub(crate) own: bool,
}

impl Expiry {
    /// The expiry of a session whose own expiry is `own` (seconds, if set),
    /// which was created at `created` (if known) and may live `lifetime`
    /// seconds in all (if limited), at `now()` (seconds since the Unix
    /// epoch, asked only if needed), under `config`; `None` when it is the
    /// config's expiry.
    pub(crate) fn of(
        config: &SessionConfig,
        own: Option<u64>,
        created: Option<u64>,
        lifetime: Option<u64>,
        now: impl FnOnce() -> u64,
    ) -> Option<Expiry> {
        let secs = own.unwrap_or(config.expiry_secs());
        let left = match (lifetime, created) {
            (Some(lifetime), Some(created)) => {
                created.saturating_add(lifetime).saturating_sub(now())
            }
            _ => u64::MAX,
        };
        let expiry = Expiry {
            // At least a second: a store refuses a zero time to live.
            secs: secs.min(left).max(1),
            own: own.is_some(),
        };
        (expiry.own || expiry.secs != config.expiry_secs()).then_some(expiry)
    }
}

/// What a dropped session asks the layer to do.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Returned {
    pub(crate) id: SessionId,
    /// The data as it is to be stored; `None`: exactly the base's bytes,
    /// so no copy was made.
    pub(crate) bytes: Option<Vec<u8>>,
    /// The data differs from what was loaded (always true for a fresh session).
    pub(crate) changed: bool,
    /// The data is the empty session (`T::default()`, no unknown keys).
    pub(crate) empty: bool,
    /// `destroy()` was called.
    pub(crate) destroyed: bool,
    /// How long it lives from now, if not its config's expiry.
    pub(crate) expiry: Option<Expiry>,
    /// Whose session it is, if anyone's (boxed: most sessions have none).
    pub(crate) owner: Option<Box<Owned>>,
}

/// What the owner index keeps of an owned session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Owned {
    pub(crate) owner: String,
    /// The index entry's value: `{"created":…,"expiry":…}`.
    pub(crate) value: Vec<u8>,
    /// The latest the session can live, in seconds since the Unix epoch.
    pub(crate) until: u64,
}

/// The owner index key of `owner` under `config`: `prefix + "owner:" + owner`.
pub(crate) fn index_key(config: &SessionConfig, owner: &str) -> String {
    format!("{}owner:{owner}", config.prefix())
}

/// What a request changes in owner indexes besides its saves and deletes.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct IndexWork {
    /// Entered before the save, so that a session is never stored with an
    /// owner whose index does not list it.
    pub(crate) add: Option<IndexAdd>,
    /// (index, session key) pairs taken out after the deletes; one left
    /// behind is harmless, as listing an index prunes keys that are gone.
    pub(crate) remove: Vec<(String, String)>,
}

/// An entry to put in an owner index.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct IndexAdd {
    pub(crate) index: String,
    pub(crate) key: String,
    pub(crate) value: Vec<u8>,
    pub(crate) until: u64,
}

/// The most sessions one owner index keeps: a new one beyond that ends the
/// owner's session that would end first.
pub(crate) const MAX_OWNED: usize = 100;

/// A session's data as its handler left it, for [`settle`].
pub(crate) struct Left<'a> {
    pub(crate) id: SessionId,
    pub(crate) destroyed: bool,
    /// What the store holds, if anything was loaded or saved early.
    pub(crate) stored: Option<&'a [u8]>,
    /// `stored` is exactly our encoding of what it decodes to.
    pub(crate) canonical: bool,
    /// Our encoding of the data now, when it differs from `stored` byte for
    /// byte; `None` when it is the same bytes.
    pub(crate) bytes: Option<Vec<u8>>,
    /// The data has keys its type does not declare.
    pub(crate) has_extras: bool,
    pub(crate) expiry: Option<Expiry>,
    pub(crate) owner: Option<Box<Owned>>,
}

/// Decides what a session's data, as its handler left it, asks for.
///
/// Two questions need the data's type, and are asked only when the answer
/// matters: `same_data(stored, ours)`, whether the stored bytes, written by
/// another writer that may encode the same data differently, decode to what
/// we now hold; and `is_default(bytes)`, whether bytes are the encoding of
/// the type's default.
pub(crate) fn settle<E>(
    left: Left<'_>,
    same_data: impl FnOnce(&[u8], &[u8]) -> Result<bool, E>,
    is_default: impl FnOnce(&[u8]) -> Result<bool, E>,
) -> Result<Returned, E> {
    let Left {
        id,
        destroyed,
        stored,
        canonical,
        bytes,
        has_extras,
        expiry,
        owner,
    } = left;
    let changed = match (stored, &bytes) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(_), Some(_)) if canonical => true,
        (Some(stored), Some(ours)) => !same_data(stored, ours)?,
    };
    let empty = if changed || destroyed {
        let current = bytes.as_deref().or(stored).unwrap_or_default();
        !has_extras && is_default(current)?
    } else {
        false
    };
    Ok(Returned {
        id,
        bytes,
        changed,
        empty,
        destroyed,
        expiry,
        owner,
    })
}

/// How many concurrent writes one save merges with before it gives up and
/// reports a store error. Each conflict means that another request of the
/// same session saved in between, and each request saves once, so a save
/// gives up only when more than this many others saved while it tried: with
/// fewer requests of one session at once, every save gets through.
pub(crate) const MAX_CONFLICTS: u32 = 64;

/// What one session asks of the store and the browser. (Its config stays
/// in its slot: moving it around would cost every request.)
#[derive(Debug)]
pub(crate) struct Plan {
    /// A conditional write, first.
    pub(crate) save: Option<Save>,
    /// A key to delete unconditionally, after every save of the request.
    pub(crate) delete: Option<String>,
    pub(crate) cookie: CookieAction,
    /// The store's time to live and the cookie's `Max-Age`, if not the
    /// config's expiry.
    pub(crate) expiry: Option<Expiry>,
    /// Owner index changes, for an owned session (boxed: nearly every
    /// request has none).
    pub(crate) index: Option<Box<IndexWork>>,
    pub(crate) state: Progress,
}

/// Where a plan's store operations are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Progress {
    /// Its save (if any) is still to do.
    Saving,
    /// Saved (or nothing to save); its delete (if any) is still to do.
    Deleting,
    Done,
    /// The session was ended by another writer before this save: nothing
    /// was written and the cookie is expired.
    Ended,
}

/// A conditional write of a session.
#[derive(Debug)]
pub(crate) struct Save {
    pub(crate) id: SessionId,
    pub(crate) key: String,
    pub(crate) bytes: Vec<u8>,
    pub(crate) expect: Expected,
    /// Concurrent writes merged so far.
    pub(crate) conflicts: u32,
    /// The version of what was written, once it was.
    pub(crate) version: Option<u64>,
}

/// What a save expects the key to hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Expected {
    Absent,
    Loaded {
        bytes: Vec<u8>,
        version: Option<u64>,
    },
}

impl Expected {
    pub(crate) fn as_expect(&self) -> Expect<'_> {
        match self {
            Expected::Absent => Expect::Absent,
            Expected::Loaded { bytes, version } => Expect::Loaded {
                value: bytes,
                version: *version,
            },
        }
    }
}

/// The cookie a session's response carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CookieAction {
    None,
    Set(SessionId),
    Expire,
}

impl Plan {
    pub(crate) fn empty() -> Plan {
        Plan {
            save: None,
            delete: None,
            cookie: CookieAction::None,
            expiry: None,
            index: None,
            state: Progress::Saving,
        }
    }

    /// Whether its cookie can be sent with an error response: everything it
    /// wrote is written, and an expiring cookie only once its delete is done.
    pub(crate) fn cookie_holds(&self) -> bool {
        match self.state {
            Progress::Saving => self.save.is_none() && self.delete.is_none(),
            Progress::Deleting => self.cookie != CookieAction::Expire || self.delete.is_none(),
            Progress::Done | Progress::Ended => true,
        }
    }
}

/// Decides what one session, as its handler left it, asks for; takes what
/// it needs out of `slot`, leaving its config. A session that encodes to
/// more than `max_size` bytes is an error: nothing of it is written.
pub(crate) fn plan(slot: &mut Slot, max_size: usize) -> Result<Plan, Error> {
    let mut plan = Plan::empty();
    let config = &slot.config;
    let returned = match std::mem::replace(&mut slot.state, SlotState::CheckedOut) {
        SlotState::CheckedOut => {
            tracing::warn!(
                session = config.session_name(),
                "a session was still held when the response was sent (moved into a task?); its changes are not saved"
            );
            return Ok(plan);
        }
        SlotState::Returned(Err(source)) => {
            return Err(Error::Encode {
                session_name: config.session_name().to_owned(),
                source,
            })
        }
        SlotState::Returned(Ok(returned)) => returned,
    };
    let Returned {
        id,
        bytes,
        changed,
        empty,
        destroyed,
        expiry,
        owner,
    } = returned;
    plan.expiry = expiry;
    let base = slot.base.take();
    if empty {
        let expire = base.is_some() || destroyed || slot.ended;
        if base.as_ref().is_some_and(|base| base.owner.is_some()) {
            plan.index = index_work(config, base.as_ref(), None, None);
        }
        plan.delete = base.map(|base| base.key);
        plan.cookie = if expire {
            CookieAction::Expire
        } else {
            CookieAction::None
        };
        return Ok(plan);
    }
    let cycled = base.as_ref().is_some_and(|base| base.id != id);
    // Sent on every visit, like sanic-session: the cookie's expiry slides
    // with the store's (refreshed by the load).
    plan.cookie = CookieAction::Set(id);
    // The load slid the store's expiry to the config's: a session with an
    // expiry of its own is written again to put that back.
    let refresh = base.is_some() && expiry.is_some_and(|e| e.own && e.secs != config.expiry_secs());
    if !(changed || cycled || refresh) {
        return Ok(plan);
    }
    if owner.is_some() || base.as_ref().is_some_and(|base| base.owner.is_some()) {
        let saved_key = match &base {
            Some(base) if !cycled => base.key.clone(),
            _ => config.store_key(&id),
        };
        plan.index = index_work(config, base.as_ref(), Some(&saved_key), owner.map(|o| *o));
    }
    let (key, bytes, expect) = match base {
        Some(base) if !cycled => {
            // Changed in place: write only over what was loaded.
            let bytes = bytes.unwrap_or_else(|| base.bytes.clone());
            let expect = Expected::Loaded {
                bytes: base.bytes,
                version: base.version,
            };
            (base.key, bytes, expect)
        }
        base => {
            // A new session, or the data moving to a new id: written only
            // where nothing is, then the old key deleted.
            let key = config.store_key(&id);
            let bytes = match (bytes, base) {
                (Some(bytes), base) => {
                    plan.delete = base.map(|base| base.key);
                    bytes
                }
                (None, Some(base)) => {
                    plan.delete = Some(base.key);
                    base.bytes
                }
                (None, None) => Vec::new(),
            };
            (key, bytes, Expected::Absent)
        }
    };
    if bytes.len() > max_size {
        return Err(Error::TooLarge {
            session_name: config.session_name().to_owned(),
            size: bytes.len(),
            limit: max_size,
        });
    }
    plan.save = Some(Save {
        id,
        key,
        bytes,
        expect,
        conflicts: 0,
        version: None,
    });
    Ok(plan)
}

/// What a session's owner index needs: `base` as stored (if it was), the
/// key it is saved under (`None`: it is deleted) and its owner now.
/// Nothing when the owner and the key stay as they were: saving an owned
/// session costs no index round trip.
fn index_work(
    config: &SessionConfig,
    base: Option<&Base>,
    saved_key: Option<&str>,
    owner: Option<Owned>,
) -> Option<Box<IndexWork>> {
    let before = base.and_then(|base| Some((base.owner.as_deref()?, base.key.as_str())));
    let after = saved_key.zip(owner);
    let same = match (&before, &after) {
        (Some((was, old_key)), Some((key, owned))) => *was == owned.owner && old_key == key,
        (None, None) => true,
        _ => false,
    };
    if same {
        return None;
    }
    let mut work = IndexWork::default();
    if let Some((was, old_key)) = before {
        work.remove
            .push((index_key(config, was), old_key.to_owned()));
    }
    if let Some((key, owned)) = after {
        work.add = Some(IndexAdd {
            index: index_key(config, &owned.owner),
            key: key.to_owned(),
            value: owned.value,
            until: owned.until,
        });
    }
    Some(Box::new(work))
}

/// What to do after a save's answer.
#[derive(Debug)]
pub(crate) enum Next {
    /// Written.
    Saved,
    /// Try again: `save` now holds the merged value, or a new id.
    Retry,
    /// The session was ended meanwhile; it is not recreated.
    Ended,
    Fail(StoreError),
}

/// Updates `save` with the store's answer and says what comes next. A
/// merge that grows the session past `max_size` fails: nothing is written.
pub(crate) fn after_save(
    config: &SessionConfig,
    max_size: usize,
    save: &mut Save,
    outcome: SaveOutcome,
) -> Next {
    match (outcome, &save.expect) {
        (SaveOutcome::Saved { version }, _) => {
            save.version = version;
            return Next::Saved;
        }
        (SaveOutcome::Gone, Expected::Loaded { .. }) => return Next::Ended,
        (SaveOutcome::Changed(theirs), Expected::Loaded { bytes: base, .. }) => {
            save.bytes = match merge(base, &save.bytes, &theirs.value) {
                Ok(merged) if merged.len() > max_size => {
                    return Next::Fail(
                        StoreError::new(format!(
                            "session not saved: merged with a concurrent write, it encodes to {} bytes, over the limit of {max_size}",
                            merged.len()
                        ))
                        .permanent(),
                    )
                }
                Ok(merged) => merged,
                Err(error) => {
                    return Next::Fail(
                        StoreError::with_source("session not saved", error).permanent(),
                    )
                }
            };
            save.expect = Expected::Loaded {
                bytes: theirs.value,
                version: theirs.version,
            };
        }
        (SaveOutcome::Exists, Expected::Loaded { .. }) => {
            return Next::Fail(
                StoreError::new(
                    "session not saved: the store answered `Exists` to an update, which only a create can get",
                )
                .permanent(),
            )
        }
        // A new id that is taken (astronomically rare): draw another. Any
        // other answer to a create means the same: the key was not free.
        (_, Expected::Absent) => {
            save.id = SessionId::generate();
            save.key = config.store_key(&save.id);
        }
    }
    save.conflicts += 1;
    if save.conflicts > MAX_CONFLICTS {
        return Next::Fail(StoreError::new(format!(
            "session not saved: it was changed by {MAX_CONFLICTS} other writes while this one merged"
        )));
    }
    Next::Retry
}

/// How long to wait before the next try of a save that ran into
/// `conflicts` concurrent writes from other processes: a random time (from
/// `random`) below a bound that doubles from 1 ms up to 16 ms. Processes
/// whose saves conflicted together would otherwise try again together, and
/// all but one conflict again; the random wait spreads them out. A store
/// that answers at once (memory) is retried without waiting: nobody else
/// can write in between but another thread, and its lock orders them.
pub(crate) fn backoff(conflicts: u32, random: u64) -> Duration {
    let bound_micros = 1000u64 << conflicts.saturating_sub(1).min(4);
    Duration::from_micros(random % bound_micros)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Stored;

    const CONFIG: SessionConfig = SessionConfig::DEFAULT;
    const MAX: usize = 1 << 20;

    fn id(n: u8) -> SessionId {
        SessionId::parse(&format!("{n:032x}")).unwrap()
    }

    fn base(n: u8, bytes: &str) -> Base {
        Base {
            id: id(n),
            key: CONFIG.store_key(&id(n)),
            owner: None,
            bytes: bytes.as_bytes().to_vec(),
            version: Some(7),
        }
    }

    fn slot(base: Option<Base>, returned: Returned) -> Slot {
        Slot {
            config: CONFIG,
            base,
            canonical: true,
            ended: false,
            state: SlotState::Returned(Ok(returned)),
        }
    }

    fn returned(n: u8, bytes: Option<&str>, changed: bool, empty: bool) -> Returned {
        Returned {
            id: id(n),
            bytes: bytes.map(|b| b.as_bytes().to_vec()),
            changed,
            empty,
            destroyed: false,
            expiry: None,
            owner: None,
        }
    }

    /// (save key, bytes, expected, delete, cookie) of a plan, as text.
    fn summary(
        plan: &Plan,
    ) -> (
        Option<String>,
        Option<String>,
        String,
        Option<String>,
        String,
    ) {
        let text = |b: &[u8]| String::from_utf8(b.to_vec()).unwrap();
        (
            plan.save.as_ref().map(|s| s.key.clone()),
            plan.save.as_ref().map(|s| text(&s.bytes)),
            match plan.save.as_ref().map(|s| &s.expect) {
                None => "-".into(),
                Some(Expected::Absent) => "absent".into(),
                Some(Expected::Loaded { bytes, version }) => {
                    format!("loaded {} v{version:?}", text(bytes))
                }
            },
            plan.delete.clone(),
            format!("{:?}", plan.cookie),
        )
    }

    #[test]
    fn what_each_session_asks_for() {
        let key = |n| Some(CONFIG.store_key(&id(n)));
        let cases: Vec<(&str, Slot, _)> = vec![
            (
                "new session: created only where nothing is",
                slot(None, returned(1, Some(r#"{"n":1}"#), true, false)),
                (
                    key(1),
                    Some(r#"{"n":1}"#.into()),
                    "absent".into(),
                    None,
                    format!("Set({:?})", id(1)),
                ),
            ),
            (
                "loaded and changed: written over what was loaded",
                slot(
                    Some(base(1, r#"{"n":1}"#)),
                    returned(1, Some(r#"{"n":2}"#), true, false),
                ),
                (
                    key(1),
                    Some(r#"{"n":2}"#.into()),
                    r#"loaded {"n":1} vSome(7)"#.into(),
                    None,
                    format!("Set({:?})", id(1)),
                ),
            ),
            (
                "loaded, unchanged: nothing written, cookie sent again",
                slot(Some(base(1, r#"{"n":1}"#)), returned(1, None, false, false)),
                (None, None, "-".into(), None, format!("Set({:?})", id(1))),
            ),
            (
                "cycled, unchanged: the loaded bytes under the new id, then the old key deleted",
                slot(Some(base(1, r#"{"n":1}"#)), returned(2, None, false, false)),
                (
                    key(2),
                    Some(r#"{"n":1}"#.into()),
                    "absent".into(),
                    key(1),
                    format!("Set({:?})", id(2)),
                ),
            ),
            (
                "cycled and changed",
                slot(
                    Some(base(1, r#"{"n":1}"#)),
                    returned(2, Some(r#"{"n":2}"#), true, false),
                ),
                (
                    key(2),
                    Some(r#"{"n":2}"#.into()),
                    "absent".into(),
                    key(1),
                    format!("Set({:?})", id(2)),
                ),
            ),
            (
                "emptied: deleted unconditionally, cookie expired",
                slot(
                    Some(base(1, r#"{"n":1}"#)),
                    returned(1, Some("{}"), true, true),
                ),
                (None, None, "-".into(), key(1), "Expire".into()),
            ),
            (
                "empty and fresh: nothing at all",
                slot(None, returned(1, Some("{}"), true, true)),
                (None, None, "-".into(), None, "None".into()),
            ),
        ];
        for (what, mut slot, want) in cases {
            let plan = plan(&mut slot, MAX).unwrap();
            assert_eq!(summary(&plan), want, "{what}");
        }
    }

    #[test]
    fn a_destroyed_fresh_session_still_expires_its_cookie() {
        let mut r = returned(1, Some("{}"), true, true);
        r.destroyed = true;
        assert_eq!(
            plan(&mut slot(None, r), MAX).unwrap().cookie,
            CookieAction::Expire
        );
    }

    #[test]
    fn a_session_with_its_own_expiry_is_written_again_after_a_read() {
        let own = |secs| Some(Expiry { secs, own: true });
        let read = |expiry| {
            let mut r = returned(1, None, false, false);
            r.expiry = expiry;
            plan(&mut slot(Some(base(1, r#"{"n":1}"#)), r), MAX).unwrap()
        };
        // Its own expiry, other than the config's: the same bytes again,
        // only over what was loaded, with its own time to live.
        let written = read(own(60));
        assert_eq!(
            summary(&written),
            (
                Some(CONFIG.store_key(&id(1))),
                Some(r#"{"n":1}"#.into()),
                r#"loaded {"n":1} vSome(7)"#.into(),
                None,
                format!("Set({:?})", id(1)),
            )
        );
        assert_eq!(written.expiry, own(60));
        // Its own expiry, equal to the config's; a lifetime's cap; none:
        // the load left the right time to live, nothing is written.
        for expiry in [
            own(CONFIG.expiry_secs()),
            Some(Expiry {
                secs: 60,
                own: false,
            }),
            None,
        ] {
            let read = read(expiry);
            assert!(read.save.is_none(), "{expiry:?}");
            assert_eq!(read.expiry, expiry);
        }
        // A fresh session with its own expiry is written once, as any new one.
        let mut r = returned(1, Some(r#"{"n":1}"#), true, false);
        r.expiry = own(60);
        let new = plan(&mut slot(None, r), MAX).unwrap();
        assert_eq!(new.expiry, own(60));
        assert_eq!(new.save.map(|s| s.expect), Some(Expected::Absent));
    }

    type IndexCase = (
        &'static str,
        Option<Base>,
        Option<String>,
        Option<Owned>,
        Option<IndexWork>,
    );

    #[test]
    fn what_an_owned_session_asks_of_its_index() {
        let owned = |owner: &str| {
            Some(Owned {
                owner: owner.into(),
                value: b"v".to_vec(),
                until: 9,
            })
        };
        let stored = |owner: Option<&str>| {
            let mut b = base(1, r#"{"n":1}"#);
            b.owner = owner.map(String::from);
            b
        };
        let key = |n| CONFIG.store_key(&id(n));
        let index = |owner| index_key(&CONFIG, owner);
        let add = |owner, n| {
            Some(IndexAdd {
                index: index(owner),
                key: key(n),
                value: b"v".to_vec(),
                until: 9,
            })
        };
        // (what, stored, saved under, owner now, index work)
        let cases: Vec<IndexCase> = vec![
            (
                "no owner before or after",
                Some(stored(None)),
                Some(key(1)),
                None,
                None,
            ),
            (
                "the same owner and key: no round trip",
                Some(stored(Some("a"))),
                Some(key(1)),
                owned("a"),
                None,
            ),
            (
                "a new session with an owner",
                None,
                Some(key(1)),
                owned("a"),
                Some(IndexWork {
                    add: add("a", 1),
                    remove: vec![],
                }),
            ),
            (
                "an owner given on login",
                Some(stored(None)),
                Some(key(2)),
                owned("a"),
                Some(IndexWork {
                    add: add("a", 2),
                    remove: vec![],
                }),
            ),
            (
                "a new id: the new key in, the old out",
                Some(stored(Some("a"))),
                Some(key(2)),
                owned("a"),
                Some(IndexWork {
                    add: add("a", 2),
                    remove: vec![(index("a"), key(1))],
                }),
            ),
            (
                "another owner",
                Some(stored(Some("a"))),
                Some(key(1)),
                owned("b"),
                Some(IndexWork {
                    add: add("b", 1),
                    remove: vec![(index("a"), key(1))],
                }),
            ),
            (
                "the owner cleared",
                Some(stored(Some("a"))),
                Some(key(1)),
                None,
                Some(IndexWork {
                    add: None,
                    remove: vec![(index("a"), key(1))],
                }),
            ),
            (
                "deleted",
                Some(stored(Some("a"))),
                None,
                None,
                Some(IndexWork {
                    add: None,
                    remove: vec![(index("a"), key(1))],
                }),
            ),
        ];
        for (what, base, saved, owner, want) in cases {
            let work = index_work(&CONFIG, base.as_ref(), saved.as_deref(), owner);
            assert_eq!(work.map(|w| *w), want, "{what}");
        }
    }

    #[test]
    fn a_plan_carries_its_index_work() {
        let mut r = returned(2, Some(r#"{"n":1}"#), true, false);
        r.owner = Some(Box::new(Owned {
            owner: "a".into(),
            value: b"v".to_vec(),
            until: 9,
        }));
        let plan = plan(&mut slot(Some(base(1, r#"{"n":1}"#)), r), MAX).unwrap();
        let work = plan.index.expect("index work");
        assert_eq!(work.add.map(|a| a.key), Some(CONFIG.store_key(&id(2))));
        // An emptied owned session leaves its index.
        let mut stored = base(1, r#"{"n":1}"#);
        stored.owner = Some("a".into());
        let plan = plan_of(Some(stored), returned(1, Some("{}"), true, true));
        assert_eq!(
            plan.index.map(|w| w.remove),
            Some(vec![(index_key(&CONFIG, "a"), CONFIG.store_key(&id(1)))])
        );
        // Nothing for a session without an owner.
        assert!(plan_of(
            Some(base(1, "{}")),
            returned(1, Some(r#"{"n":2}"#), true, false)
        )
        .index
        .is_none());
    }

    fn plan_of(base: Option<Base>, returned: Returned) -> Plan {
        plan(&mut slot(base, returned), MAX).unwrap()
    }

    #[test]
    fn the_expiry_of_a_session() {
        const DAY: u64 = 86_400;
        let lifetime = CONFIG.with_max_lifetime(Some(std::time::Duration::from_secs(45 * DAY)));
        let now = 1_000 * DAY;
        let cases = [
            // (what, config, own, created, expiry)
            ("the config's", &CONFIG, None, None, None),
            (
                "the config's, with a lifetime not begun",
                &lifetime,
                None,
                None,
                None,
            ),
            (
                "the config's, a lifetime far from its end",
                &lifetime,
                None,
                Some(now),
                None,
            ),
            (
                "the rest of the lifetime when shorter",
                &lifetime,
                None,
                Some(now - 40 * DAY),
                Some((5 * DAY, false)),
            ),
            (
                "a lifetime past its end still lives a second",
                &lifetime,
                None,
                Some(now - 50 * DAY),
                Some((1, false)),
            ),
            ("its own", &CONFIG, Some(60), None, Some((60, true))),
            (
                "its own, equal to the config's, still its own",
                &CONFIG,
                Some(30 * DAY),
                None,
                Some((30 * DAY, true)),
            ),
            (
                "its own, cut by the lifetime",
                &lifetime,
                Some(40 * DAY),
                Some(now - 10 * DAY),
                Some((35 * DAY, true)),
            ),
        ];
        for (what, config, own, created, want) in cases {
            let expiry = Expiry::of(config, own, created, config.max_lifetime_secs(), || now);
            assert_eq!(expiry.map(|e| (e.secs, e.own)), want, "{what}");
        }
        // The clock is read only for a lifetime that has begun.
        Expiry::of(&CONFIG, Some(60), Some(now), None, || unreachable!());
        Expiry::of(&lifetime, Some(60), None, Some(45 * DAY), || unreachable!());
    }

    #[test]
    fn a_session_still_held_asks_for_nothing() {
        let mut s = slot(None, returned(1, None, true, false));
        s.state = SlotState::CheckedOut;
        let plan = plan(&mut s, MAX).unwrap();
        assert_eq!(
            summary(&plan),
            (None, None, "-".into(), None, "None".into())
        );
    }

    fn save(expect: Expected, bytes: &str) -> Save {
        Save {
            id: id(1),
            key: CONFIG.store_key(&id(1)),
            bytes: bytes.as_bytes().to_vec(),
            expect,
            conflicts: 0,
            version: None,
        }
    }

    fn loaded(bytes: &str, version: u64) -> Expected {
        Expected::Loaded {
            bytes: bytes.as_bytes().to_vec(),
            version: Some(version),
        }
    }

    fn stored(bytes: &str, version: u64) -> Stored {
        Stored {
            value: bytes.as_bytes().to_vec(),
            version: Some(version),
        }
    }

    impl PartialEq for Next {
        fn eq(&self, other: &Next) -> bool {
            std::mem::discriminant(self) == std::mem::discriminant(other)
        }
    }

    #[test]
    fn a_session_over_the_limit_plans_nothing() {
        let data = r#"{"n":12345}"#;
        for base in [None, Some(base(1, r#"{"n":1}"#))] {
            let fits = plan(
                &mut slot(base.clone(), returned(1, Some(data), true, false)),
                11,
            );
            assert!(fits.unwrap().save.is_some());
            let over = plan(&mut slot(base, returned(1, Some(data), true, false)), 10);
            assert!(matches!(
                over,
                Err(Error::TooLarge {
                    size: 11,
                    limit: 10,
                    ..
                })
            ));
        }
    }

    #[test]
    fn a_merge_that_grows_past_the_limit_fails_permanently() {
        let mut s = save(loaded(r#"{"a":0}"#, 1), r#"{"a":1}"#);
        let theirs = stored(r#"{"a":0,"b":"their long value"}"#, 2);
        match after_save(&CONFIG, 20, &mut s, SaveOutcome::Changed(theirs)) {
            Next::Fail(e) => assert_eq!(e.class(), crate::ErrorClass::Permanent),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn saved_keeps_the_new_version() {
        let mut s = save(loaded(r#"{"a":0}"#, 1), r#"{"a":1}"#);
        let next = after_save(
            &CONFIG,
            MAX,
            &mut s,
            SaveOutcome::Saved { version: Some(2) },
        );
        assert_eq!((next, s.version), (Next::Saved, Some(2)));
    }

    #[test]
    fn a_concurrent_change_is_merged_and_tried_again_against_it() {
        let mut s = save(loaded(r#"{"a":0,"b":0}"#, 1), r#"{"a":1,"b":0}"#);
        let theirs = stored(r#"{"a":0,"b":2}"#, 5);
        let next = after_save(&CONFIG, MAX, &mut s, SaveOutcome::Changed(theirs));
        assert_eq!(next, Next::Retry);
        assert_eq!(s.bytes, br#"{"a":1,"b":2}"#);
        assert_eq!(s.expect, loaded(r#"{"a":0,"b":2}"#, 5));
        assert_eq!((s.conflicts, s.id), (1, id(1)));
    }

    #[test]
    fn a_session_gone_meanwhile_is_not_recreated() {
        let mut s = save(loaded(r#"{"a":0}"#, 1), r#"{"a":1}"#);
        assert_eq!(
            after_save(&CONFIG, MAX, &mut s, SaveOutcome::Gone),
            Next::Ended
        );
    }

    #[test]
    fn a_taken_new_id_is_replaced_by_another() {
        let mut s = save(Expected::Absent, r#"{"a":1}"#);
        assert_eq!(
            after_save(&CONFIG, MAX, &mut s, SaveOutcome::Exists),
            Next::Retry
        );
        assert_ne!(s.id, id(1));
        assert_eq!(s.key, CONFIG.store_key(&s.id));
        assert_eq!(s.bytes, br#"{"a":1}"#, "the data stays");
    }

    #[test]
    fn theirs_not_an_object_fails_without_a_write() {
        let mut s = save(loaded(r#"{"a":0}"#, 1), r#"{"a":1}"#);
        let next = after_save(&CONFIG, MAX, &mut s, SaveOutcome::Changed(stored("[1]", 2)));
        let Next::Fail(error) = next else {
            panic!("{next:?}")
        };
        assert_eq!(error.to_string(), "session not saved");
        let cause = std::error::Error::source(&error).unwrap().to_string();
        assert!(cause.contains("not a JSON object"), "{cause}");
    }

    #[test]
    fn the_wait_before_a_retry_is_random_below_a_doubling_bound() {
        for (conflicts, bound) in [(1, 1000), (2, 2000), (3, 4000), (5, 16000), (30, 16000)] {
            assert_eq!(backoff(conflicts, 0), Duration::ZERO);
            assert_eq!(
                backoff(conflicts, bound - 1),
                Duration::from_micros(bound - 1)
            );
            assert_eq!(backoff(conflicts, bound + 5), Duration::from_micros(5));
        }
    }

    #[test]
    fn conflicts_are_bounded() {
        let mut s = save(loaded(r#"{"a":0}"#, 0), r#"{"a":1}"#);
        for n in 1..=MAX_CONFLICTS {
            let theirs = stored(&format!(r#"{{"a":0,"b":{n}}}"#), u64::from(n));
            assert_eq!(
                after_save(&CONFIG, MAX, &mut s, SaveOutcome::Changed(theirs)),
                Next::Retry
            );
        }
        let theirs = stored(r#"{"a":0,"b":0}"#, 99);
        assert!(matches!(
            after_save(&CONFIG, MAX, &mut s, SaveOutcome::Changed(theirs)),
            Next::Fail(_)
        ));
    }

    fn left(stored: Option<&'static str>, canonical: bool, bytes: Option<&str>) -> Left<'static> {
        Left {
            id: id(1),
            destroyed: false,
            stored: stored.map(str::as_bytes),
            canonical,
            bytes: bytes.map(|b| b.as_bytes().to_vec()),
            has_extras: false,
            expiry: None,
            owner: None,
        }
    }

    /// (changed, empty) for a session left as `left`, when its type's
    /// default encodes to `{}` and another writer's `{"n": 1}` is our `{"n":1}`.
    fn decided(left: Left<'_>) -> (bool, bool) {
        let same_data = |stored: &[u8], ours: &[u8]| {
            let normal = |b: &[u8]| String::from_utf8(b.to_vec()).unwrap().replace(' ', "");
            Ok::<_, ()>(normal(stored) == normal(ours))
        };
        let r = settle(left, same_data, |b| Ok(b == b"{}")).unwrap();
        (r.changed, r.empty)
    }

    #[test]
    fn what_a_session_left_asks_for() {
        let cases = [
            (
                "fresh and written",
                left(None, false, Some(r#"{"n":1}"#)),
                (true, false),
            ),
            (
                "fresh and untouched",
                left(None, false, Some("{}")),
                (true, true),
            ),
            (
                "loaded, same bytes",
                left(Some(r#"{"n":1}"#), true, None),
                (false, false),
            ),
            (
                "loaded as written by us, other bytes now",
                left(Some(r#"{"n":1}"#), true, Some(r#"{"n":2}"#)),
                (true, false),
            ),
            (
                "written by another writer, same data in our encoding",
                left(Some(r#"{"n": 1}"#), false, Some(r#"{"n":1}"#)),
                (false, false),
            ),
            (
                "written by another writer, and changed",
                left(Some(r#"{"n": 1}"#), false, Some(r#"{"n":2}"#)),
                (true, false),
            ),
            (
                "loaded and emptied",
                left(Some(r#"{"n":1}"#), true, Some("{}")),
                (true, true),
            ),
        ];
        for (what, left, want) in cases {
            assert_eq!(decided(left), want, "{what}");
        }
    }

    #[test]
    fn unknown_keys_keep_a_session_from_being_empty() {
        let mut l = left(Some(r#"{"n":1,"x":2}"#), true, Some(r#"{"x":2}"#));
        l.has_extras = true;
        assert_eq!(decided(l), (true, false));
    }

    #[test]
    fn a_destroyed_session_is_checked_for_emptiness_even_unchanged() {
        let mut l = left(Some("{}"), true, None);
        l.destroyed = true;
        assert_eq!(decided(l), (false, true));
        // Unchanged and not destroyed: the emptiness question is not asked.
        let l = left(Some("{}"), true, None);
        let r = settle(
            l,
            |_, _| Ok::<_, ()>(true),
            |_| -> Result<bool, ()> { panic!("not asked") },
        );
        assert!(!r.unwrap().empty);
    }

    #[test]
    fn an_error_of_the_type_questions_is_returned() {
        let l = left(Some(r#"{"n": 1}"#), false, Some(r#"{"n":1}"#));
        assert_eq!(settle(l, |_, _| Err("bad"), |_| Ok(false)), Err("bad"));
    }
}
