//! `Session<T>`: the typed session a handler extracts.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sessionkit_rules::Field;

use crate::codec::{self, Extras, Meta};
use crate::commit::{store_error, Commit};
use crate::config::{whole_secs, ConfigError};
use crate::observe::{self, Call, Found, Operation};
use crate::owners::{check_owner, not_enabled};
use crate::rebuild;
use crate::request::{
    self, Base, Expected, Expiry, Left, Owned, Progress, RequestState, Returned, Slot, SlotState,
};
use crate::{Error, SessionConfig, SessionData, SessionId};

/// A typed session, extracted in a handler and saved after it returns.
///
/// `Session<T>` dereferences to `T`; change it and the layer saves it after
/// the handler returns, but only if the encoded data really changed. A
/// session that becomes empty (`T::default()`) is deleted from the store and
/// its cookie expired.
///
/// ```
/// use serde::{Deserialize, Serialize};
/// use sessionkit::Session;
///
/// #[derive(Session, Serialize, Deserialize, Default)]
/// struct Counter {
///     n: u64,
/// }
///
/// async fn incr(mut counter: Session<Counter>) -> String {
///     counter.n += 1;
///     counter.n.to_string()
/// }
/// ```
///
/// Keep the session inside the handler: one moved into a task that outlives
/// the request is not saved (the layer logs a warning).
pub struct Session<T: SessionData> {
    data: T,
    extras: Option<Extras>,
    /// What sessionkit keeps about the session besides its data, if
    /// anything (boxed: most sessions have none).
    meta: Option<Box<Meta>>,
    id: SessionId,
    loaded: bool,
    destroyed: bool,
    /// Whether the handler may have changed the session: borrowed it
    /// mutably or called a method that changes it.
    touched: bool,
    /// Whether what was loaded is known to be our own encoding or not
    /// (and its unknown keys kept in `extras`). A frozen type's load leaves
    /// that to the first change ([`touch`](Self::touch)); every other
    /// session knows it from the start.
    checked: bool,
    request: Arc<RequestState>,
    slot: usize,
}

impl<T: SessionData> Session<T> {
    /// The session's id (the cookie's value; the store key is `prefix + id`,
    /// or `prefix + hex(SHA-256(id))` with `hash_ids`).
    pub fn id(&self) -> &SessionId {
        &self.id
    }

    /// Whether this session was found in the store (false: fresh, nothing stored yet).
    pub fn is_loaded(&self) -> bool {
        self.loaded
    }

    /// Gives the session a new id, keeping its data; the old key is deleted
    /// when the response is sent. Call it on login, against session fixation.
    pub fn cycle_id(&mut self) {
        self.touch();
        self.id = SessionId::generate();
    }

    /// Empties the session: its data is deleted from the store and its
    /// cookie expired. Data written after this call starts a new session
    /// under a new id.
    pub fn destroy(&mut self) {
        self.touch();
        self.data = T::default();
        self.extras = None;
        self.meta = None;
        self.id = SessionId::generate();
        self.destroyed = true;
    }

    /// Gives this session an expiry of its own, instead of its config's:
    /// the store's time to live and the cookie's `Max-Age` ("remember me"
    /// on a login form). It is kept with the session, across requests and
    /// a new id, until [`clear_expiry`](Self::clear_expiry) or
    /// [`destroy`](Self::destroy).
    ///
    /// The cookie gets a `Max-Age` even when the config asks for a
    /// browser-session cookie (`sessioncookie: true`), so a config without
    /// `Max-Age` plus `set_expiry` on "remember me" gives both kinds. A
    /// `max_lifetime` still ends the session in time. As for `expiry`, the
    /// expiry is 1 second to 400 days, in whole seconds (a fraction is
    /// rounded up).
    ///
    /// Costs one store write on each request that only reads the session
    /// and whose expiry differs from the config's: a load slides the
    /// store's expiry to the config's, and the write puts this one back.
    ///
    /// ```
    /// use std::time::Duration;
    /// use serde::{Deserialize, Serialize};
    /// use sessionkit::Session;
    ///
    /// #[derive(Session, Serialize, Deserialize, Default)]
    /// struct Login {
    ///     user: Option<String>,
    /// }
    ///
    /// async fn login(mut login: Session<Login>, remember: bool) {
    ///     login.cycle_id();
    ///     login.user = Some("ada".into());
    ///     if remember {
    ///         login.set_expiry(Duration::from_secs(30 * 86_400)).unwrap();
    ///     }
    /// }
    /// ```
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] (about [`Field::Expiry`]) for an expiry under a
    /// second or over 400 days; the session keeps the expiry it had.
    pub fn set_expiry(&mut self, expiry: Duration) -> Result<(), ConfigError> {
        let secs = whole_secs(expiry);
        sessionkit_rules::check_expiry(secs)
            .map_err(|message| ConfigError::one(Field::Expiry, message))?;
        self.meta_mut().expiry = Some(secs);
        Ok(())
    }

    /// Goes back to the config's expiry.
    pub fn clear_expiry(&mut self) {
        self.touch();
        if let Some(meta) = &mut self.meta {
            meta.expiry = None;
        }
    }

    /// The session's own expiry, if [`set_expiry`](Self::set_expiry) gave it one.
    pub fn expiry(&self) -> Option<Duration> {
        self.meta
            .as_ref()
            .and_then(|meta| meta.expiry)
            .map(Duration::from_secs)
    }

    /// Marks whose session this is, for example a user id on login, so that
    /// [`Owners`](crate::Owners) can list it and end it with the owner's
    /// other sessions ("log out everywhere"). Kept with the session across
    /// requests and a new id, until [`clear_owner`](Self::clear_owner) or
    /// [`destroy`](Self::destroy).
    ///
    /// The store's owner index is written when the response is sent, before
    /// the session itself (a session is never stored with an owner whose
    /// index misses it), and only when the owner or the id changed. An
    /// owned session lives at most its config's `max_lifetime`, or 400 days
    /// without one.
    ///
    /// # Errors
    ///
    /// [`Error::Owner`] when the layer was not built
    /// [`with_owners`](crate::SessionLayer::with_owners), or `owner` is not
    /// 1 to 128 visible ASCII characters; the session keeps the owner it had.
    pub fn set_owner(&mut self, owner: impl Into<String>) -> Result<(), Error> {
        let owner = owner.into();
        let session_name = || {
            let slots = self.request.slots();
            slots
                .get(self.slot)
                .map_or("", |slot| slot.config.session_name())
                .to_owned()
        };
        if !self.request.layer.owners {
            return Err(not_enabled(session_name()));
        }
        if let Err(message) = check_owner(&owner) {
            return Err(Error::Owner {
                session_name: session_name(),
                message,
            });
        }
        self.meta_mut().owner = Some(owner);
        Ok(())
    }

    /// Takes the session out of its owner's index; it stays as it is
    /// otherwise.
    pub fn clear_owner(&mut self) {
        self.touch();
        if let Some(meta) = &mut self.meta {
            meta.owner = None;
        }
    }

    /// Whose session this is, if [`set_owner`](Self::set_owner) said.
    pub fn owner(&self) -> Option<&str> {
        self.meta.as_ref()?.owner.as_deref()
    }

    /// Marks the session as possibly changed, first checking what was
    /// loaded if its load left that for now: the data is still as loaded.
    #[inline]
    fn touch(&mut self) {
        if self.touched {
            return;
        }
        if self.checked {
            self.touched = true;
            return;
        }
        let mut slots = self.request.slots();
        mark_touched(
            Marks {
                touched: &mut self.touched,
                checked: &mut self.checked,
                extras: &mut self.extras,
            },
            &self.data,
            slots.get_mut(self.slot),
        );
    }

    fn meta_mut(&mut self) -> &mut Meta {
        self.touch();
        self.meta.get_or_insert_with(Box::default)
    }

    /// The store keys this session is known by: as stored, and under its
    /// id now (they differ after [`cycle_id`](Self::cycle_id)).
    pub(crate) fn keys(&self, config: &SessionConfig) -> Vec<String> {
        let mut keys = vec![config.store_key(&self.id)];
        let slots = self.request.slots();
        if let Some(base) = slots.get(self.slot).and_then(|slot| slot.base.as_ref()) {
            keys.push(base.key.clone());
        }
        keys
    }

    /// Saves the session now, rather than after the handler returns, and
    /// tells whether that worked: call it before something that must not
    /// happen unless the session is stored (charging a card, sending a
    /// mail).
    ///
    /// It does what the layer would do after the handler: a changed session
    /// is saved (merged with concurrent writes like any save), a cycled
    /// id's old key deleted, a destroyed or emptied session deleted. Once it
    /// returns `Ok`, what it saved is not written again after the handler
    /// unless the session changes again. If a concurrent write was merged,
    /// the session now holds the merged data.
    ///
    /// ```
    /// use serde::{Deserialize, Serialize};
    /// use sessionkit::Session;
    ///
    /// #[derive(Session, Serialize, Deserialize, Default)]
    /// struct Checkout {
    ///     paid: bool,
    /// }
    ///
    /// async fn pay(mut checkout: Session<Checkout>) -> &'static str {
    ///     checkout.paid = true;
    ///     if checkout.save().await.is_err() {
    ///         return "try again later";
    ///     }
    ///     // charge the card here: the session says `paid`
    ///     "paid"
    /// }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when the store failed (nothing changed in it, and
    /// the layer tries again after the handler), [`Error::Encode`] when the
    /// data cannot be encoded, and [`Error::Ended`] when another request
    /// ended the session meanwhile (a logout): then nothing was saved, this
    /// session is now empty and fresh, and its cookie will be expired.
    pub async fn save(&mut self) -> Result<(), Error> {
        let max_size = self.request.layer.max_size;
        let settled = self.settle_in_slot(|slot, returned| {
            let returned = returned.map_err(|source| Error::Encode {
                session_name: slot.config.session_name().to_owned(),
                source,
            })?;
            let mut copy = Slot {
                config: slot.config.clone(),
                base: slot.base.clone(),
                canonical: slot.canonical,
                ended: slot.ended,
                state: SlotState::Returned(Ok(returned)),
            };
            let plan = request::plan(&mut copy, max_size)?;
            Ok::<_, Error>((copy, plan))
        });
        let Some(settled) = settled else {
            return Ok(());
        };
        let (copy, plan) = settled?;
        let commit = Commit::single(Arc::clone(&self.request), copy, plan);
        let plan = commit.run().await.into_single()?;
        let mut slots = self.request.slots();
        let Some(slot) = slots.get_mut(self.slot) else {
            return Ok(());
        };
        if plan.state == Progress::Ended {
            slot.base = None;
            slot.ended = true;
            self.data = T::default();
            self.extras = None;
            self.meta = None;
            self.id = SessionId::generate();
            self.loaded = false;
            return Err(Error::Ended {
                session_name: slot.config.session_name().to_owned(),
            });
        }
        match plan.save {
            Some(save) => {
                let merged = save.conflicts > 0 && matches!(save.expect, Expected::Loaded { .. });
                if merged {
                    // Hold what is stored now, so nothing of theirs is
                    // written back over later.
                    if let Ok(decoded) = codec::decode::<T>(&save.bytes) {
                        self.data = decoded.data;
                        self.extras = decoded.extras;
                        self.meta = decoded.meta;
                        slot.canonical = decoded.canonical;
                    }
                } else {
                    // Unmerged, what was written is our own encoding.
                    slot.canonical = true;
                }
                self.id = save.id;
                self.loaded = true;
                slot.base = Some(Base {
                    id: save.id,
                    key: save.key,
                    owner: self.owner().map(str::to_owned),
                    bytes: save.bytes,
                    version: save.version,
                });
            }
            None if plan.delete.is_some() => {
                slot.base = None;
                slot.ended = true;
                self.loaded = false;
            }
            None => {}
        }
        Ok(())
    }

    /// Finds or loads the session of type `T` for a request; a visitor
    /// without a stored one gets a fresh session when `start_fresh`, and
    /// `None` otherwise (and then no session of `T` is started).
    pub(crate) async fn extract(
        request: &Arc<RequestState>,
        headers: &http::HeaderMap,
        start_fresh: bool,
    ) -> Result<Option<Self>, Error> {
        let config = request.layer.config_for(T::CONFIG);
        if let Some(session) = Self::take_over(request, &config)? {
            return Ok(Some(session));
        }
        let Some(id) = crate::cookie::session_id_from(headers, config.cookie_name()) else {
            return Ok(Self::open(request, config, Loaded::Missing, start_fresh));
        };
        let layer = &request.layer;
        let key = config.store_key(&id);
        let mut call = Call::start(layer, &config, Operation::Load, None);
        let loading = call.scope(|| layer.store.load_versioned(&key, config.expiry()));
        let loaded = call.traced(loading).await;
        call.stop();
        // Everything from here on is done without waiting, and declared
        // here, so that none of it is kept in the future across the load.
        let loaded = match loaded {
            Ok(loaded) => loaded,
            Err(source) => {
                call.finish(layer, &config, Operation::Load, "error", Some(&source));
                return Err(store_error(&config, source));
            }
        };
        let loaded = loaded.map(|stored| {
            // A frozen type's data alone: whether it was our own encoding
            // matters only once something changes it.
            let unchecked = if T::__frozen() {
                codec::decode_unchecked::<T>(&stored.value)
            } else {
                None
            };
            let d = match unchecked {
                Some(data) => Ok((
                    codec::Decoded {
                        data,
                        extras: None,
                        canonical: false,
                        meta: None,
                    },
                    false,
                )),
                None => codec::decode::<T>(&stored.value)
                    .or_else(|error| rebuild::recover::<T>(&config, &stored.value, error))
                    .map(|d| (d, true)),
            };
            (stored, d)
        });
        let found = match &loaded {
            None => Found::Miss,
            Some((_, Ok(_))) => Found::Hit,
            Some((_, Err(_))) => Found::Undecodable,
        };
        observe::found(layer, &config, found);
        call.finish(layer, &config, Operation::Load, found.as_str(), None);
        let loaded = match loaded {
            None => Loaded::Missing,
            Some((_, Err(error))) => {
                tracing::warn!(
                    session = config.session_name(),
                    %error,
                    "stored session data does not decode; starting a fresh session with a new id"
                );
                Loaded::Missing
            }
            Some((stored, Ok((d, checked)))) => {
                let base = Base {
                    id,
                    key,
                    owner: d.meta.as_ref().and_then(|meta| meta.owner.clone()),
                    bytes: stored.value,
                    version: stored.version,
                };
                if outlived(&config, d.meta.as_deref()) {
                    tracing::debug!(
                        session = config.session_name(),
                        "the session is older than its lifetime; it is ended"
                    );
                    Loaded::Ended(base)
                } else {
                    Loaded::Found(base, d, checked)
                }
            }
        };
        Ok(Self::open(request, config, loaded, start_fresh))
    }

    /// The session a request gets from what was loaded.
    #[inline(always)]
    fn open(
        request: &Arc<RequestState>,
        config: SessionConfig,
        loaded: Loaded<T>,
        start_fresh: bool,
    ) -> Option<Self> {
        let (base, data, extras, meta, canonical, checked) = match loaded {
            Loaded::Found(base, d, checked) => {
                (Some(base), d.data, d.extras, d.meta, d.canonical, checked)
            }
            Loaded::Ended(found) => return Self::end(request, config, found, start_fresh),
            Loaded::Missing if !start_fresh => return None,
            Loaded::Missing => (None, T::default(), None, None, false, true),
        };
        let id = base.as_ref().map(|base| base.id);
        let mut slots = request.slots();
        // Room for just this one: nearly every request has one session.
        slots.reserve_exact(1);
        slots.push(Slot {
            config,
            base,
            canonical,
            ended: false,
            state: SlotState::CheckedOut,
        });
        let slot = slots.len() - 1;
        drop(slots);
        Some(Session {
            data,
            extras,
            meta,
            id: id.unwrap_or_else(SessionId::generate),
            loaded: id.is_some(),
            destroyed: false,
            touched: false,
            checked,
            request: Arc::clone(request),
            slot,
        })
    }

    /// The session of a request whose stored session `found` is past its
    /// `max_lifetime`: as if it had been loaded and destroyed at once, so
    /// that its key is deleted and its cookie expired unless the handler
    /// stores new data (under a new id). Without `start_fresh` there is no
    /// session for the handler, and the slot is left already returned.
    fn end(
        request: &Arc<RequestState>,
        config: SessionConfig,
        found: Base,
        start_fresh: bool,
    ) -> Option<Self> {
        let id = SessionId::generate();
        let state = if start_fresh {
            SlotState::CheckedOut
        } else {
            SlotState::Returned(Ok(Returned {
                id,
                bytes: None,
                changed: true,
                empty: true,
                destroyed: true,
                expiry: None,
                owner: None,
            }))
        };
        let mut slots = request.slots();
        slots.reserve_exact(1);
        slots.push(Slot {
            config,
            base: Some(found),
            canonical: false,
            ended: false,
            state,
        });
        let slot = slots.len() - 1;
        drop(slots);
        start_fresh.then(|| Session {
            data: T::default(),
            extras: None,
            meta: None,
            id,
            loaded: false,
            destroyed: true,
            touched: false,
            checked: true,
            request: Arc::clone(request),
            slot,
        })
    }

    /// A second extraction in the same request continues from what the
    /// first one left (a middleware and then the handler, say).
    fn take_over(
        request: &Arc<RequestState>,
        config: &SessionConfig,
    ) -> Result<Option<Self>, Error> {
        let mut slots = request.slots();
        let Some(index) = slots
            .iter()
            .position(|s| s.config.cookie_name() == config.cookie_name())
        else {
            return Ok(None);
        };
        let slot = &mut slots[index];
        let already = || Error::AlreadyExtracted {
            session_name: config.session_name().to_owned(),
        };
        let returned = match &slot.state {
            SlotState::CheckedOut => return Err(already()),
            SlotState::Returned(Err(_)) => return Err(already()),
            SlotState::Returned(Ok(returned)) => returned,
        };
        let bytes = match (&returned.bytes, &slot.base) {
            (Some(bytes), _) => bytes.as_slice(),
            (None, Some(base)) => &base.bytes,
            (None, None) => &[],
        };
        let Ok(decoded) = codec::decode::<T>(bytes) else {
            // Two types share one cookie name and do not agree on its shape.
            return Err(already());
        };
        let session = Session {
            data: decoded.data,
            extras: decoded.extras,
            meta: decoded.meta,
            id: returned.id,
            loaded: slot.base.is_some(),
            destroyed: returned.destroyed,
            // What an earlier extraction changed is not what was loaded.
            touched: true,
            checked: true,
            request: Arc::clone(request),
            slot: index,
        };
        slot.state = SlotState::CheckedOut;
        Ok(Some(session))
    }

    /// Encodes the data and decides, against what was loaded, what the
    /// layer must do ([`request::settle`]).
    /// Settles the session against its slot, under the slots' lock: stamps
    /// when it was created if its config now asks for that (checking first
    /// what its load left unchecked), encodes it with [`settle`](Self::settle),
    /// and hands the slot and what it asks for to `then`. `None` when the
    /// slot is gone (the response was sent without this session).
    fn settle_in_slot<R>(
        &mut self,
        then: impl FnOnce(&mut Slot, serde_json::Result<Returned>) -> R,
    ) -> Option<R> {
        let mut slots = self.request.slots();
        let slot = slots.get_mut(self.slot)?;
        if stamp(&mut self.meta, &slot.config) {
            let marks = Marks {
                touched: &mut self.touched,
                checked: &mut self.checked,
                extras: &mut self.extras,
            };
            mark_touched(marks, &self.data, Some(slot));
        }
        let stored = slot.base.as_ref().map(|base| base.bytes.as_slice());
        let returned = self.settle(stored, slot.canonical, &slot.config);
        Some(then(slot, returned))
    }

    fn settle(
        &self,
        stored: Option<&[u8]>,
        canonical: bool,
        config: &SessionConfig,
    ) -> serde_json::Result<Returned> {
        // The encoding is compared in a scratch buffer and copied out only
        // when it differs from what was loaded: a read allocates nothing.
        // A loaded session of a frozen type that nothing touched still
        // holds what was loaded, so it is not encoded at all: whether the
        // load was our own encoding (or was never checked) no longer matters.
        let mut bytes = None;
        let meta = self.meta.as_deref();
        let as_loaded = (canonical || !self.checked)
            && stored.is_some()
            && self.loaded
            && !self.touched
            && !self.destroyed
            && T::__frozen();
        if !as_loaded {
            codec::with_encoding(&self.data, self.extras.as_ref(), meta, |ours| {
                if stored != Some(ours) {
                    bytes = Some(ours.to_vec());
                }
            })?;
        }
        let mut left = Left {
            id: self.id,
            destroyed: self.destroyed,
            stored,
            canonical,
            bytes,
            has_extras: self.extras.is_some(),
            expiry: None,
            owner: None,
        };
        // A session with no meta under a config without a lifetime (nearly
        // all of them) has the config's expiry and no owner.
        if meta.is_some() || config.max_lifetime_secs().is_some() {
            left.expiry = Expiry::of(
                config,
                meta.and_then(|meta| meta.expiry),
                meta.and_then(|meta| meta.created),
                lifetime(config, meta),
                now_secs,
            );
            left.owner = owned(config, meta);
        }
        request::settle(
            left,
            // Another writer (sanic-session escapes `/`, orders keys its own
            // way) may encode the same data differently: compare our own
            // encoding of what was stored.
            |stored, ours| match codec::decode::<T>(stored) {
                Ok(d) => {
                    codec::with_encoding(&d.data, d.extras.as_ref(), d.meta.as_deref(), |theirs| {
                        theirs == ours
                    })
                }
                Err(_) => Ok(false),
            },
            // The meta alone does not keep a session.
            |bytes| {
                codec::with_encoding(&T::default(), None, None, |empty| {
                    codec::same_without_meta(empty, bytes)
                })
            },
        )
    }
}

impl<T: SessionData> Drop for Session<T> {
    fn drop(&mut self) {
        // The slot is gone when the response was sent while this session was
        // still held (moved into a task): the layer has logged that it was
        // not saved.
        self.settle_in_slot(|slot, returned| slot.state = SlotState::Returned(returned));
    }
}

impl<T: SessionData> Deref for Session<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.data
    }
}

impl<T: SessionData> DerefMut for Session<T> {
    fn deref_mut(&mut self) -> &mut T {
        self.touch();
        &mut self.data
    }
}

impl<T: SessionData + std::fmt::Debug> std::fmt::Debug for Session<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("data", &self.data)
            .field("loaded", &self.loaded)
            .finish_non_exhaustive()
    }
}

/// What a load found.
enum Loaded<T> {
    /// Nothing, or nothing that decodes.
    Missing,
    /// With whether it was checked to be our own encoding (see
    /// `Session::checked`).
    Found(Base, codec::Decoded<T>, bool),
    /// A session past its lifetime.
    Ended(Base),
}

/// Seconds since the Unix epoch.
fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

/// The fields of a `Session` that [`mark_touched`] changes, borrowed apart
/// from the request state whose lock holds its slot.
struct Marks<'a> {
    touched: &'a mut bool,
    checked: &'a mut bool,
    extras: &'a mut Option<codec::Extras>,
}

/// Marks a session as possibly changed. The first time, what its load
/// left unchecked (see [`codec::decode_unchecked`]) is learnt while `data`
/// is still as loaded: whether what `slot` holds is our own encoding of it,
/// and if not, the keys `T` does not declare.
fn mark_touched<T: SessionData>(marks: Marks<'_>, data: &T, slot: Option<&mut Slot>) {
    let unchecked = !*marks.touched && !*marks.checked;
    *marks.touched = true;
    *marks.checked = true;
    let Some(slot) = slot.filter(|_| unchecked) else {
        return;
    };
    let Some(base) = &slot.base else {
        return;
    };
    if codec::encodes_to(data, &base.bytes) {
        slot.canonical = true;
    } else if let Ok(decoded) = codec::decode::<T>(&base.bytes) {
        *marks.extras = decoded.extras;
        slot.canonical = decoded.canonical;
    }
}

/// Records when a session was created, the first time it is returned with
/// a lifetime (a session stored before its config had a `max_lifetime`, or
/// before it had an owner, starts its lifetime then). Returns whether it
/// did.
fn stamp(meta: &mut Option<Box<Meta>>, config: &SessionConfig) -> bool {
    if lifetime(config, meta.as_deref()).is_some() {
        let meta = meta.get_or_insert_with(Box::default);
        if meta.created.is_none() {
            meta.created = Some(now_secs());
            return true;
        }
    }
    false
}

/// How long a session may live in all, if that is limited: its config's
/// `max_lifetime`, or 400 days for an owned session, so that the owner
/// index, which lives until its sessions' end, never outlives one.
fn lifetime(config: &SessionConfig, meta: Option<&Meta>) -> Option<u64> {
    config.max_lifetime_secs().or(meta
        .and_then(|meta| meta.owner.as_ref())
        .map(|_| sessionkit_rules::MAX_EXPIRY_SECS))
}

/// What the owner index keeps of an owned session.
fn owned(config: &SessionConfig, meta: Option<&Meta>) -> Option<Box<Owned>> {
    let meta = meta?;
    let owner = meta.owner.as_ref()?;
    let created = meta.created.unwrap_or_else(now_secs);
    let expiry = meta.expiry.unwrap_or(config.expiry_secs());
    let lifetime = lifetime(config, Some(meta)).unwrap_or(sessionkit_rules::MAX_EXPIRY_SECS);
    Some(Box::new(Owned {
        owner: owner.clone(),
        value: format!(r#"{{"created":{created},"expiry":{expiry}}}"#).into_bytes(),
        until: created.saturating_add(lifetime),
    }))
}

/// Whether a stored session is past its lifetime.
fn outlived(config: &SessionConfig, meta: Option<&Meta>) -> bool {
    match (lifetime(config, meta), meta.and_then(|meta| meta.created)) {
        (Some(lifetime), Some(created)) => now_secs() >= created.saturating_add(lifetime),
        _ => false,
    }
}
