//! `Session<T>`: the typed session a handler extracts.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use crate::codec::{self, Extras};
use crate::commit::Commit;
use crate::observe::{self, Call, Found, Operation};
use crate::request::{
    self, Base, Expected, Left, Progress, RequestState, Returned, Slot, SlotState,
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
    id: SessionId,
    loaded: bool,
    destroyed: bool,
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
        self.id = SessionId::generate();
    }

    /// Empties the session: its data is deleted from the store and its
    /// cookie expired. Data written after this call starts a new session
    /// under a new id.
    pub fn destroy(&mut self) {
        self.data = T::default();
        self.extras = None;
        self.id = SessionId::generate();
        self.destroyed = true;
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
        let (copy, plan) = {
            let mut slots = self.request.slots();
            let Some(slot) = slots.get_mut(self.slot) else {
                return Ok(());
            };
            let stored = slot.base.as_ref().map(|base| base.bytes.as_slice());
            let returned = self
                .settle(stored, slot.canonical)
                .map_err(|source| Error::Encode {
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
            let plan = request::plan(&mut copy, self.request.layer.max_size)?;
            (copy, plan)
        };
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
        let layer = &request.layer;
        let config = layer.config_for(T::CONFIG);
        if let Some(session) = Self::take_over(request, &config)? {
            return Ok(Some(session));
        }
        let mut base = None;
        let mut decoded = None;
        if let Some(id) = crate::cookie::session_id_from(headers, config.cookie_name()) {
            let key = config.store_key(&id);
            let mut call = Call::start(layer, &config, Operation::Load, None);
            let loading = call.scope(|| layer.store.load_versioned(&key, config.expiry()));
            let loaded = call.traced(loading).await;
            call.stop();
            let loaded = match loaded {
                Ok(loaded) => loaded,
                Err(source) => {
                    call.finish(layer, &config, Operation::Load, "error", Some(&source));
                    return Err(Error::Store {
                        session_name: config.session_name().to_owned(),
                        source,
                    });
                }
            };
            let loaded = loaded.map(|stored| {
                let d = codec::decode::<T>(&stored.value);
                (stored, d)
            });
            let found = match &loaded {
                None => Found::Miss,
                Some((_, Ok(_))) => Found::Hit,
                Some((_, Err(_))) => Found::Undecodable,
            };
            observe::found(layer, &config, found);
            call.finish(layer, &config, Operation::Load, found.as_str(), None);
            if let Some((stored, d)) = loaded {
                match d {
                    Ok(d) => {
                        decoded = Some(d);
                        base = Some(Base {
                            id,
                            key,
                            bytes: stored.value,
                            version: stored.version,
                        });
                    }
                    Err(error) => tracing::warn!(
                        session = config.session_name(),
                        %error,
                        "stored session data does not decode; starting a fresh session with a new id"
                    ),
                }
            }
        }
        let (data, extras, canonical) = match decoded {
            Some(d) => (d.data, d.extras, d.canonical),
            None if !start_fresh => return Ok(None),
            None => (T::default(), None, false),
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
        Ok(Some(Session {
            data,
            extras,
            id: id.unwrap_or_else(SessionId::generate),
            loaded: id.is_some(),
            destroyed: false,
            request: Arc::clone(request),
            slot,
        }))
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
            id: returned.id,
            loaded: slot.base.is_some(),
            destroyed: returned.destroyed,
            request: Arc::clone(request),
            slot: index,
        };
        slot.state = SlotState::CheckedOut;
        Ok(Some(session))
    }

    /// Encodes the data and decides, against what was loaded, what the
    /// layer must do ([`request::settle`]).
    fn settle(&self, stored: Option<&[u8]>, canonical: bool) -> serde_json::Result<Returned> {
        // The encoding is compared in a scratch buffer and copied out only
        // when it differs from what was loaded: a read allocates nothing.
        let mut bytes = None;
        codec::with_encoding(&self.data, self.extras.as_ref(), |ours| {
            if stored != Some(ours) {
                bytes = Some(ours.to_vec());
            }
        })?;
        let left = Left {
            id: self.id,
            destroyed: self.destroyed,
            stored,
            canonical,
            bytes,
            has_extras: self.extras.is_some(),
        };
        request::settle(
            left,
            // Another writer (sanic-session escapes `/`, orders keys its own
            // way) may encode the same data differently: compare our own
            // encoding of what was stored.
            |stored, ours| match codec::decode::<T>(stored) {
                Ok(d) => codec::with_encoding(&d.data, d.extras.as_ref(), |theirs| theirs == ours),
                Err(_) => Ok(false),
            },
            |bytes| codec::with_encoding(&T::default(), None, |empty| empty == bytes),
        )
    }
}

impl<T: SessionData> Drop for Session<T> {
    fn drop(&mut self) {
        let mut slots = self.request.slots();
        // Gone when the response was sent while this session was still held
        // (moved into a task): the layer has logged that it was not saved.
        if let Some(slot) = slots.get_mut(self.slot) {
            let stored = slot.base.as_ref().map(|base| base.bytes.as_slice());
            slot.state = SlotState::Returned(self.settle(stored, slot.canonical));
        }
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
