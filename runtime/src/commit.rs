//! The commit of a request's sessions: one driver that carries out what
//! each session asks of the store (decided in [`crate::request`]), either
//! at once for a store that never waits or in a future.
//!
//! The order, for every request: every save, then every delete (the old
//! key of a cycled id, a destroyed or emptied session), then the cookies.
//! So a failed save leaves nothing deleted, and the error response still
//! carries the cookie of each session that was saved.

use std::sync::Arc;
use std::time::Duration;

use axum::response::Response;
use http::header::SET_COOKIE;

use crate::observe::{self, Call, Operation};
use crate::queue::Turn;
use crate::request::{
    after_save, backoff, plan, CookieAction, Next, Plan, Progress, RequestState, Slot, MAX_OWNED,
};
use crate::response::{error_response, mark_private, vary_cookie};
use crate::store::sealed::OnlyThisCrate;
use crate::store::{SaveOutcome, StoreError, StoreFuture};
use crate::{cookie, Error, SessionConfig};

/// One store operation of the commit: the save or the delete of a plan.
#[derive(Debug, Clone, Copy)]
enum Op {
    Save(usize),
    Delete(usize),
}

impl Op {
    fn operation(self) -> Operation {
        match self {
            Op::Save(_) => Operation::Save,
            Op::Delete(_) => Operation::Delete,
        }
    }
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
        let max_size = request.layer.max_size;
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
        self.request.layer.store.immediate(OnlyThisCrate)
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
        let store = &self.request.layer.store;
        match op {
            Op::Save(i) => {
                let plan = self.plans.get(i);
                let save = plan.save.as_ref().expect("a save to start");
                let ttl = match plan.expiry {
                    Some(expiry) => Duration::from_secs(expiry.secs),
                    None => self.slots[i].config.expiry(),
                };
                Started::Save(store.save_if(&save.key, &save.bytes, ttl, save.expect.as_expect()))
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

    fn apply(&mut self, op: Op, result: Result<Outcome, StoreError>, call: Call) {
        let (Op::Save(i) | Op::Delete(i)) = op;
        let plan = self.plans.get_mut(i);
        let config = &self.slots[i].config;
        let layer = &self.request.layer;
        let outcome = match &result {
            Err(_) => "error",
            Ok(Outcome::Deleted) => "deleted",
            Ok(Outcome::Saved(SaveOutcome::Saved { .. })) => "saved",
            Ok(Outcome::Saved(SaveOutcome::Changed(_))) => "changed",
            Ok(Outcome::Saved(SaveOutcome::Exists)) => "exists",
            Ok(Outcome::Saved(SaveOutcome::Gone)) => "gone",
        };
        call.finish(
            layer,
            config,
            op.operation(),
            outcome,
            result.as_ref().err(),
        );
        let outcome = match result {
            Ok(outcome) => outcome,
            Err(source) => {
                self.error = Some(store_error(config, source));
                return;
            }
        };
        match outcome {
            Outcome::Deleted => {
                observe::count(observe::DELETES, layer, config);
                plan.state = Progress::Done;
            }
            Outcome::Saved(outcome) => {
                let save = plan.save.as_mut().expect("a save to apply");
                let merging = matches!(outcome, SaveOutcome::Changed(_));
                match after_save(config, layer.max_size, save, outcome) {
                    Next::Saved => {
                        observe::count(observe::SAVES, layer, config);
                        plan.cookie = CookieAction::Set(save.id);
                        plan.state = Progress::Deleting;
                    }
                    Next::Retry => {
                        if merging {
                            observe::count(observe::MERGES, layer, config);
                        }
                        observe::count(observe::CONFLICT_RETRIES, layer, config);
                        plan.cookie = CookieAction::Set(save.id);
                    }
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
        // Owner index changes (a login, a logout) go the long way, in `run`.
        if self.plans.iter().any(|plan| plan.index.is_some()) {
            return false;
        }
        let Some(mut op) = self.next() else {
            return true;
        };
        if !self.immediate() {
            return false;
        }
        loop {
            // The memory store's futures are always ready. Were one pending,
            // it would be dropped unpolled, having done nothing (the memory
            // store does its work in the call), and `run` would do the
            // operation.
            let mut call = self.call(op, None);
            let ready = call.scope(|| match self.start(op) {
                Started::Save(f) => f.into_ready().ok().map(|r| r.map(Outcome::Saved)),
                Started::Delete(f) => f.into_ready().ok().map(|r| r.map(|()| Outcome::Deleted)),
            });
            call.stop();
            match ready {
                Some(result) => self.apply(op, result, call),
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
        // The request's span, if any: the commit may finish in a task of
        // its own once the client is gone, and its store calls stay under it.
        let parent = tracing::Span::current();
        let queues = Arc::clone(&self.request.layer.queues);
        let evicted = self.enter_owners().await;
        // The turn, and how many conflicts the save had when it began.
        let mut turn: Option<(Turn, u32)> = None;
        while let Some(op) = self.next() {
            if let (Op::Save(i), None) = (op, &turn) {
                let key = self.save_key(i);
                if let Some(queue) = queues.existing(key) {
                    turn = Some((queues.wait(key, queue).await, 0));
                }
            }
            let mut call = self.call(op, Some(&parent));
            let result = match call.scope(|| self.start(op)) {
                Started::Save(f) => call.traced(f).await.map(Outcome::Saved),
                Started::Delete(f) => call.traced(f).await.map(|()| Outcome::Deleted),
            };
            call.stop();
            self.apply(op, result, call);
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
        self.settle_owners(evicted).await;
        self
    }

    /// Puts each owned session in its owner's index, before any save: a
    /// session is never stored with an owner whose index misses it. A
    /// failure is the request's error, and nothing is saved. Returns the
    /// keys of sessions the indexes dropped to stay within their bound.
    async fn enter_owners(&mut self) -> Vec<String> {
        let store = Arc::clone(&self.request.layer.store);
        let mut evicted = Vec::new();
        for i in 0..self.plans.len() {
            let Some(add) = self
                .plans
                .get(i)
                .index
                .as_ref()
                .and_then(|w| w.add.as_ref())
            else {
                continue;
            };
            if self.error.is_some() {
                break;
            }
            let entered = store
                .index_add(&add.index, &add.key, &add.value, add.until, MAX_OWNED)
                .await;
            match entered {
                Ok(keys) => evicted.extend(keys),
                Err(source) => self.error = Some(store_error(&self.slots[i].config, source)),
            }
        }
        evicted
    }

    /// After the saves and deletes: ends the sessions an index dropped,
    /// moves an entry whose save went to another id, takes out the entries
    /// of sessions that were deleted, cycled away, disowned or ended by
    /// another request. A failure here is only logged: an entry left behind
    /// is pruned when its index is next listed.
    async fn settle_owners(&mut self, evicted: Vec<String>) {
        if self.error.is_some() {
            return;
        }
        let store = Arc::clone(&self.request.layer.store);
        for key in &evicted {
            if let Err(error) = store.delete(key).await {
                tracing::warn!(%error, "a session beyond its owner's limit was not deleted");
            }
        }
        for i in 0..self.plans.len() {
            let plan = self.plans.get_mut(i);
            let Some(work) = plan.index.as_deref_mut() else {
                continue;
            };
            let config = &self.slots[i].config;
            if let Some(add) = &work.add {
                let saved = plan.save.as_ref().map(|save| save.key.as_str());
                if plan.state == Progress::Ended {
                    work.remove.push((add.index.clone(), add.key.clone()));
                } else if let Some(key) = saved.filter(|key| *key != add.key) {
                    // The id was taken and another drawn: index that one.
                    match store
                        .index_add(&add.index, key, &add.value, add.until, MAX_OWNED)
                        .await
                    {
                        Ok(_) => work.remove.push((add.index.clone(), add.key.clone())),
                        Err(error) => tracing::warn!(
                            session = config.session_name(),
                            %error,
                            "a session saved under a new id was not entered in its owner's index"
                        ),
                    }
                }
            }
            for (index, key) in &work.remove {
                if let Err(error) = store.index_remove(index, std::slice::from_ref(key)).await {
                    tracing::warn!(
                        session = config.session_name(),
                        %error,
                        "an owner index entry was not removed; listing the index prunes it"
                    );
                }
            }
        }
    }

    /// The span (and clock) of the store call `op`.
    fn call(&self, op: Op, parent: Option<&tracing::Span>) -> Call {
        let (Op::Save(i) | Op::Delete(i)) = op;
        Call::start(
            &self.request.layer,
            &self.slots[i].config,
            op.operation(),
            parent,
        )
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
            response = error_response(&self.request.layer, error);
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
                CookieAction::Set(id) => cookie::set_cookie(&slot.config, &id, plan.expiry),
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

enum Started<'a> {
    Save(StoreFuture<'a, SaveOutcome>),
    Delete(StoreFuture<'a, ()>),
}

/// A store's error, as the error of the session of `config`.
pub(crate) fn store_error(config: &SessionConfig, source: StoreError) -> Error {
    Error::Store {
        session_name: config.session_name().to_owned(),
        source,
    }
}
