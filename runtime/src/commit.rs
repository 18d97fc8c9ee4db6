//! The commit of a request's sessions: what each session asks of the store
//! (pure decisions, tested below), and one driver that carries them out,
//! either at once for a store that never waits or in a future.
//!
//! The order, for every request: every save, then every delete (the old
//! key of a cycled id, a destroyed or emptied session), then the cookies.
//! So a failed save leaves nothing deleted, and the error response still
//! carries the cookie of each session that was saved.

use std::sync::Arc;
use std::time::Duration;

use axum::response::Response;
use http::header::{Entry, CACHE_CONTROL, SET_COOKIE, VARY};
use http::{HeaderMap, HeaderValue};

use crate::layer::error_response;
use crate::merge::merge;
use crate::queue::Turn;
use crate::session::{RequestState, Returned, Slot, SlotState};
use crate::store::{Expect, SaveOutcome, StoreError, StoreFuture};
use crate::{cookie, Error, SessionConfig, SessionId};

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
    fn as_expect(&self) -> Expect<'_> {
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
    fn empty() -> Plan {
        Plan {
            save: None,
            delete: None,
            cookie: CookieAction::None,
            state: Progress::Saving,
        }
    }

    /// Whether its cookie can be sent with an error response: everything it
    /// wrote is written, and an expiring cookie only once its delete is done.
    fn cookie_holds(&self) -> bool {
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
    } = returned;
    let base = slot.base.take();
    if empty {
        let expire = base.is_some() || destroyed || slot.ended;
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
    if !(changed || cycled) {
        return Ok(plan);
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

/// One store operation of the commit: the save or the delete of a plan.
#[derive(Debug, Clone, Copy)]
enum Op {
    Save(usize),
    Delete(usize),
}

enum Outcome {
    Saved(SaveOutcome),
    Deleted,
}

/// The plans of a request: the first one inline, since nearly every
/// request has one session, so that it costs no allocation.
#[derive(Default)]
struct Plans {
    first: Option<Plan>,
    rest: Vec<Plan>,
}

impl Plans {
    fn push(&mut self, plan: Plan) {
        match self.first {
            None => self.first = Some(plan),
            Some(_) => self.rest.push(plan),
        }
    }

    fn len(&self) -> usize {
        usize::from(self.first.is_some()) + self.rest.len()
    }

    fn get(&self, i: usize) -> &Plan {
        match i {
            0 => self.first.as_ref().expect("a first plan"),
            i => &self.rest[i - 1],
        }
    }

    fn get_mut(&mut self, i: usize) -> &mut Plan {
        match i {
            0 => self.first.as_mut().expect("a first plan"),
            i => &mut self.rest[i - 1],
        }
    }

    fn iter(&self) -> impl Iterator<Item = &Plan> {
        self.first.iter().chain(&self.rest)
    }
}

/// The commit of one request's sessions, carried out one store operation
/// at a time.
pub(crate) struct Commit {
    request: Arc<RequestState>,
    /// The sessions, for their configs; `plans` says what each asks for.
    slots: Vec<Slot>,
    plans: Plans,
    /// Where [`next`](Self::next) is: below `plans.len()` among the saves,
    /// then among the deletes.
    cursor: usize,
    error: Option<Error>,
}

impl Commit {
    /// Plans every session the handler left.
    pub(crate) fn new(request: Arc<RequestState>, mut slots: Vec<Slot>) -> Commit {
        let mut plans = Plans::default();
        let mut error = None;
        let max_size = request.shared.max_size;
        for slot in &mut slots {
            // A slot that cannot be planned (its data did not encode, or is
            // too large) gets an empty plan, so that plans and slots stay in
            // step.
            plans.push(plan(slot, max_size).unwrap_or_else(|e| {
                error.get_or_insert(e);
                Plan::empty()
            }));
        }
        Commit {
            request,
            slots,
            plans,
            cursor: 0,
            error,
        }
    }

    /// A commit of one session's plan, for an early save.
    pub(crate) fn single(request: Arc<RequestState>, slot: Slot, plan: Plan) -> Commit {
        Commit {
            request,
            slots: vec![slot],
            plans: Plans {
                first: Some(plan),
                rest: Vec::new(),
            },
            cursor: 0,
            error: None,
        }
    }

    /// Whether the store answers every call at once.
    fn immediate(&self) -> bool {
        self.request.shared.store.immediate()
    }

    /// The next store operation, if any is left and nothing failed.
    fn next(&mut self) -> Option<Op> {
        if self.error.is_some() {
            return None;
        }
        // Every plan's save, then every plan's delete: `cursor` walks the
        // plans twice, and stays on a save that is to be tried again.
        let n = self.plans.len();
        while self.cursor < 2 * n {
            let deleting = self.cursor >= n;
            let i = if deleting {
                self.cursor - n
            } else {
                self.cursor
            };
            let plan = self.plans.get_mut(i);
            match (deleting, plan.state) {
                (false, Progress::Saving) if plan.save.is_some() => return Some(Op::Save(i)),
                (false, Progress::Saving) => plan.state = Progress::Deleting,
                (true, Progress::Deleting) if plan.delete.is_some() => return Some(Op::Delete(i)),
                (true, Progress::Deleting) => plan.state = Progress::Done,
                _ => {}
            }
            self.cursor += 1;
        }
        None
    }

    fn start(&self, op: Op) -> Started<'_> {
        let store = &self.request.shared.store;
        match op {
            Op::Save(i) => {
                let save = self.plans.get(i).save.as_ref().expect("a save to start");
                Started::Save(store.save_if(
                    &save.key,
                    &save.bytes,
                    self.slots[i].config.expiry(),
                    save.expect.as_expect(),
                ))
            }
            Op::Delete(i) => {
                let key = self
                    .plans
                    .get(i)
                    .delete
                    .as_deref()
                    .expect("a delete to start");
                Started::Delete(store.delete(key))
            }
        }
    }

    fn apply(&mut self, op: Op, result: Result<Outcome, StoreError>) {
        let (Op::Save(i) | Op::Delete(i)) = op;
        let plan = self.plans.get_mut(i);
        let config = &self.slots[i].config;
        let outcome = match result {
            Ok(outcome) => outcome,
            Err(source) => {
                self.error = Some(store_error(config, source));
                return;
            }
        };
        match outcome {
            Outcome::Deleted => plan.state = Progress::Done,
            Outcome::Saved(outcome) => {
                let save = plan.save.as_mut().expect("a save to apply");
                match after_save(config, self.request.shared.max_size, save, outcome) {
                    Next::Saved => {
                        plan.cookie = CookieAction::Set(save.id);
                        plan.state = Progress::Deleting;
                    }
                    Next::Retry => plan.cookie = CookieAction::Set(save.id),
                    Next::Ended => {
                        tracing::info!(
                            session = config.session_name(),
                            "the session was ended by another request while this one ran; its changes are dropped and its cookie expired"
                        );
                        plan.save = None;
                        plan.cookie = CookieAction::Expire;
                        plan.state = Progress::Ended;
                    }
                    Next::Fail(source) => self.error = Some(store_error(config, source)),
                }
            }
        }
    }

    /// Runs what can be run without waiting; `false` when an operation
    /// must wait (it is then done by [`run`](Self::run)).
    pub(crate) fn run_now(&mut self) -> bool {
        let Some(mut op) = self.next() else {
            return true;
        };
        if !self.immediate() {
            return false;
        }
        loop {
            // A pending future (the store was not immediate after all) is
            // dropped unpolled, and the operation done again by `run`.
            let ready = match self.start(op) {
                Started::Save(f) => f.into_ready().ok().map(|r| r.map(Outcome::Saved)),
                Started::Delete(f) => f.into_ready().ok().map(|r| r.map(|()| Outcome::Deleted)),
            };
            match ready {
                Some(result) => self.apply(op, result),
                None => return false,
            }
            match self.next() {
                Some(next) => op = next,
                None => return true,
            }
        }
    }

    /// Runs every operation left, waiting for each. A save that conflicts
    /// takes its turn in its session's queue (see [`crate::queue`]) before it
    /// tries again, and a save of a session whose saves are queued waits its
    /// turn from the start.
    pub(crate) async fn run(mut self) -> Commit {
        let queues = Arc::clone(&self.request.shared.queues);
        // The turn, and how many conflicts the save had when it began.
        let mut turn: Option<(Turn, u32)> = None;
        while let Some(op) = self.next() {
            if let (Op::Save(i), None) = (op, &turn) {
                let key = self.save_key(i);
                if let Some(queue) = queues.existing(key) {
                    turn = Some((queues.wait(key, queue).await, 0));
                }
            }
            let result = match self.start(op) {
                Started::Save(f) => f.await.map(Outcome::Saved),
                Started::Delete(f) => f.await.map(|()| Outcome::Deleted),
            };
            self.apply(op, result);
            match (self.retrying(op), &turn) {
                (Some(conflicts), None) => {
                    let Op::Save(i) = op else {
                        unreachable!("only saves are retried")
                    };
                    let key = self.save_key(i);
                    let queue = queues.get_or_make(key);
                    turn = Some((queues.wait(key, queue).await, conflicts));
                }
                // In its turn a save conflicts once if others saved while
                // it waited (what it expects is older than that), and then
                // tries again with what the store answered. Conflicting
                // again means another process wrote in between.
                (Some(conflicts), Some((_, began))) if conflicts - began >= 2 => {
                    let random = uuid::Uuid::new_v4().as_u64_pair().0;
                    tokio::time::sleep(backoff(conflicts - began - 1, random)).await;
                }
                (Some(_), Some(_)) => {}
                (None, _) => {
                    if let Some((done, _)) = turn.take() {
                        queues.done(done);
                    }
                }
            }
        }
        if let Some((done, _)) = turn.take() {
            queues.done(done);
        }
        self
    }

    fn save_key(&self, i: usize) -> &str {
        &self.plans.get(i).save.as_ref().expect("a save").key
    }

    /// How many conflicts the save `op` has merged, if it is to be tried again.
    fn retrying(&self, op: Op) -> Option<u32> {
        let Op::Save(i) = op else { return None };
        let plan = self.plans.get(i);
        let save = plan.save.as_ref()?;
        (plan.state == Progress::Saving && save.conflicts > 0).then_some(save.conflicts)
    }

    /// The response with every session's cookie; on a failure, the error
    /// policy's response with the cookies of the sessions that hold. It
    /// varies with `Cookie`, and one that sets or expires a cookie is
    /// private (see [`mark_private`]).
    pub(crate) fn respond(self, mut response: Response) -> Response {
        if let Some(error) = &self.error {
            response = error_response(&self.request.shared, error);
        }
        let failed = self.error.is_some();
        let mut cookies = false;
        let headers = response.headers_mut();
        for (plan, slot) in self.plans.iter().zip(&self.slots) {
            if failed && !plan.cookie_holds() {
                continue;
            }
            let value = match plan.cookie {
                CookieAction::None => continue,
                CookieAction::Set(id) => cookie::set_cookie(&slot.config, &id),
                CookieAction::Expire => cookie::delete_cookie(&slot.config),
            };
            headers.append(SET_COOKIE, value);
            cookies = true;
        }
        vary_cookie(headers);
        if cookies {
            mark_private(headers);
        }
        response
    }

    /// The one plan of a [`single`](Self::single) commit, or its error.
    pub(crate) fn into_single(mut self) -> Result<Plan, Error> {
        match self.error.take() {
            Some(error) => Err(error),
            None => Ok(self.plans.first.take().expect("one plan")),
        }
    }
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

/// Adds `Cookie` to `Vary`, unless it is there already (or `*`): the
/// response of a request that used its session depends on its cookie, so a
/// cache must not answer another visitor with it.
pub(crate) fn vary_cookie(headers: &mut HeaderMap) {
    match headers.entry(VARY) {
        Entry::Vacant(vacant) => {
            vacant.insert(HeaderValue::from_static("Cookie"));
        }
        Entry::Occupied(mut occupied) => {
            let listed = occupied.iter().any(|value| {
                directives(value).any(|name| name == "*" || name.eq_ignore_ascii_case("cookie"))
            });
            if !listed {
                occupied.append(HeaderValue::from_static("Cookie"));
            }
        }
    }
}

/// Makes sure no shared cache stores a response that sets or expires a
/// session cookie: a cached `Set-Cookie` would hand one visitor's session to
/// the next. `Cache-Control: private` is added when the response says
/// neither `private` nor `no-store`, and replaces a `public` it says.
pub(crate) fn mark_private(headers: &mut HeaderMap) {
    match headers.entry(CACHE_CONTROL) {
        Entry::Vacant(vacant) => {
            vacant.insert(HeaderValue::from_static("private"));
        }
        Entry::Occupied(mut occupied) => {
            let mut kept = String::from("private");
            for value in occupied.iter() {
                for directive in value.to_str().unwrap_or("").split(',') {
                    let directive = directive.trim();
                    let name = directive.split('=').next().unwrap_or("").trim();
                    if name.eq_ignore_ascii_case("private") || name.eq_ignore_ascii_case("no-store")
                    {
                        return;
                    }
                    if !directive.is_empty() && !name.eq_ignore_ascii_case("public") {
                        kept.push_str(", ");
                        kept.push_str(directive);
                    }
                }
            }
            // Built from the old value's visible ASCII: always valid.
            if let Ok(value) = HeaderValue::from_str(&kept) {
                occupied.insert(value);
            }
        }
    }
}

/// The names of the comma-separated items of a header value.
fn directives(value: &HeaderValue) -> impl Iterator<Item = &str> {
    value
        .to_str()
        .unwrap_or("")
        .split(',')
        .map(|item| item.split('=').next().unwrap_or("").trim())
}

enum Started<'a> {
    Save(StoreFuture<'a, SaveOutcome>),
    Delete(StoreFuture<'a, ()>),
}

fn store_error(config: &SessionConfig, source: StoreError) -> Error {
    Error::Store {
        session_name: config.session_name().to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::Base;
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
        assert!(error.to_string().contains("not a JSON object"), "{error}");
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
}
