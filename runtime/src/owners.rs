//! Owner indexes: every session of one owner (a user), listed and ended
//! together ("log out everywhere", "log out other devices").
//!
//! A session gets an owner with [`Session::set_owner`], on a layer built
//! [`with_owners`](crate::SessionLayer::with_owners). The store then keeps,
//! under `prefix + "owner:" + owner`, an index of that owner's sessions:
//! their store keys, creation times and expiries. The index is written only
//! when a session's owner or id changes, or the session ends; a save that
//! changes neither costs nothing more. An owned session lives at most its
//! config's `max_lifetime`, or 400 days without one, so that its index
//! (which expires with its last session's end) never outlives it.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Deserialize;

use crate::commit::store_error;
use crate::request::{index_key, LayerState};
use crate::{Error, Session, SessionConfig, SessionData};

/// Lists and ends the sessions of one owner.
///
/// A handler extracts it (`owners: Owners`); code outside a request gets it
/// from [`SessionLayer::owners`](crate::SessionLayer::owners). Each call
/// names the session type, whose config gives the prefix of the index.
///
/// ```
/// use serde::{Deserialize, Serialize};
/// use sessionkit::{Owners, Session};
///
/// #[derive(Session, Serialize, Deserialize, Default)]
/// struct Login {
///     user: Option<String>,
/// }
///
/// async fn login(mut login: Session<Login>) {
///     login.cycle_id();
///     login.user = Some("ada".into());
///     login.set_owner("user-42").unwrap();
/// }
///
/// async fn log_out_other_devices(login: Session<Login>, owners: Owners) -> String {
///     match owners.revoke_others(&login).await {
///         Ok(n) => format!("{n} other sessions ended"),
///         Err(error) => error.to_string(),
///     }
/// }
/// ```
#[derive(Clone)]
pub struct Owners {
    layer: Arc<LayerState>,
}

/// One live session of an owner, as [`Owners::list`] gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OwnedSession {
    /// The first four characters of the session's id (of its hash with
    /// `hash_ids`) and `…`: enough to tell sessions apart in a list, never
    /// enough to use one.
    pub id_hint: String,
    /// When the session was created.
    pub created: SystemTime,
    /// When it was last used, to the second: its expiry less the time to
    /// live it had then.
    pub last_seen: SystemTime,
    /// When it ends unless it is used again.
    pub expires: SystemTime,
}

/// What an index entry holds besides the key.
#[derive(Deserialize)]
struct Entry {
    created: u64,
    expiry: u64,
}

impl Owners {
    pub(crate) fn of(layer: &Arc<LayerState>) -> Result<Owners, Error> {
        if !layer.owners {
            return Err(not_enabled(String::new()));
        }
        Ok(Owners {
            layer: Arc::clone(layer),
        })
    }

    fn config<T: SessionData>(&self) -> SessionConfig {
        self.layer.config_for(T::CONFIG)
    }

    /// The live sessions of `owner` of type `T`, in no particular order.
    /// Sessions that ended meanwhile are pruned from the index on the way.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when the store failed.
    pub async fn list<T: SessionData>(&self, owner: &str) -> Result<Vec<OwnedSession>, Error> {
        let config = self.config::<T>();
        let index = index_key(&config, owner);
        let entries = self
            .layer
            .store
            .index_list(&index)
            .await
            .map_err(|source| store_error(&config, source))?;
        let now = SystemTime::now();
        let secs = |s: u64| UNIX_EPOCH + Duration::from_secs(s);
        Ok(entries
            .into_iter()
            .map(|entry| {
                let about = serde_json::from_slice::<Entry>(&entry.value).ok();
                let expires = now + entry.ttl;
                let created = about.as_ref().map_or(now, |a| secs(a.created));
                let last_seen = about
                    .as_ref()
                    .and_then(|a| expires.checked_sub(Duration::from_secs(a.expiry)))
                    .map_or(now, |seen| seen.clamp(created, now));
                OwnedSession {
                    id_hint: id_hint(&config, &entry.key),
                    created,
                    last_seen,
                    expires,
                }
            })
            .collect())
    }

    /// Ends every session of `owner` of type `T` ("log out everywhere"):
    /// each is deleted from the store, so its cookie loads nothing on any
    /// server, and a request of it still running cannot save it back (its
    /// save finds the session gone). Returns how many were ended.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when the store failed; the sessions deleted before
    /// that stay deleted, and calling it again ends the rest.
    pub async fn revoke_all<T: SessionData>(&self, owner: &str) -> Result<usize, Error> {
        self.revoke::<T>(owner, &[]).await
    }

    /// Ends every session of `current`'s owner but `current` ("log out
    /// other devices"), as [`revoke_all`](Self::revoke_all) does. Returns
    /// how many were ended.
    ///
    /// # Errors
    ///
    /// [`Error::Owner`] when `current` has no owner, [`Error::Store`] when
    /// the store failed.
    pub async fn revoke_others<T: SessionData>(
        &self,
        current: &Session<T>,
    ) -> Result<usize, Error> {
        let config = self.config::<T>();
        let Some(owner) = current.owner() else {
            return Err(Error::Owner {
                session_name: config.session_name().to_owned(),
                message: "the session has no owner; give it one with `Session::set_owner`".into(),
            });
        };
        let keep = current.keys(&config);
        self.revoke::<T>(owner, &keep).await
    }

    /// Deletes every session in `owner`'s index but those under `keep`,
    /// then takes them out of the index.
    async fn revoke<T: SessionData>(&self, owner: &str, keep: &[String]) -> Result<usize, Error> {
        let config = self.config::<T>();
        let store = &self.layer.store;
        let index = index_key(&config, owner);
        let fail = |source| store_error(&config, source);
        let entries = store.index_list(&index).await.map_err(fail)?;
        let ended: Vec<String> = entries
            .into_iter()
            .map(|entry| entry.key)
            .filter(|key| !keep.contains(key))
            .collect();
        for key in &ended {
            store.delete(key).await.map_err(fail)?;
        }
        if !ended.is_empty() {
            store.index_remove(&index, &ended).await.map_err(fail)?;
        }
        Ok(ended.len())
    }
}

impl std::fmt::Debug for Owners {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Owners").finish_non_exhaustive()
    }
}

/// The first four characters after the prefix, and `…`.
fn id_hint(config: &SessionConfig, key: &str) -> String {
    let id = key.strip_prefix(config.prefix()).unwrap_or(key);
    let shown: String = id.chars().take(4).collect();
    format!("{shown}…")
}

/// The error of an owner asked of a layer built without
/// [`with_owners`](crate::SessionLayer::with_owners).
pub(crate) fn not_enabled(session_name: String) -> Error {
    Error::Owner {
        session_name,
        message:
            "the session layer keeps no owner index; build it with `SessionLayer::with_owners`"
                .into(),
    }
}

/// An owner a session can have: 1 to 128 visible ASCII characters (it is
/// part of a store key).
pub(crate) fn check_owner(owner: &str) -> Result<(), String> {
    if owner.is_empty() || owner.len() > 128 {
        return Err(format!(
            "an owner is 1 to 128 characters, not {}",
            owner.len()
        ));
    }
    if let Some(c) = owner.chars().find(|c| !c.is_ascii_graphic()) {
        return Err(format!(
            "an owner is visible ASCII characters only (it is part of a store key), not {c:?}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_are_short_visible_ascii() {
        for good in ["u", "user-42", "a@b.c", &"x".repeat(128)] {
            assert!(check_owner(good).is_ok(), "{good:?}");
        }
        for bad in ["", "a b", "ü", "a\n", &"x".repeat(129)] {
            assert!(check_owner(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_hint_shows_four_characters() {
        let config = SessionConfig::DEFAULT;
        assert_eq!(
            id_hint(&config, "session:0123456789abcdef0123456789abcdef"),
            "0123…"
        );
    }
}
