//! An untyped session: a JSON object by string keys, like sanic-session's
//! `request.ctx.session` dict, for code being ported from Python.

use std::fmt;
use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::checked::Checked;

use crate::config::{ConfigSource, DefaultConfig};
use crate::{SessionConfig, SessionData};

/// An untyped session extracted in a handler, with config `C`.
///
/// ```
/// use sessionkit::UntypedSession;
///
/// async fn visit(mut session: UntypedSession) -> String {
///     let n: u64 = session.get("n").unwrap_or(0) + 1;
///     session.insert("n", n).unwrap();
///     n.to_string()
/// }
/// ```
#[cfg(feature = "axum")]
pub type UntypedSession<C = DefaultConfig> = crate::Session<Untyped<C>>;

/// A session's data as a JSON object: get, insert, remove and clear serde
/// values by string key.
pub struct Untyped<C = DefaultConfig> {
    map: Map<String, Value>,
    config: PhantomData<fn() -> C>,
}

impl<C> Untyped<C> {
    /// The value under `key` as a `V`; `None` if missing or not a `V`.
    pub fn get<V: DeserializeOwned>(&self, key: &str) -> Option<V> {
        V::deserialize(self.map.get(key)?).ok()
    }

    /// The raw JSON value under `key`.
    pub fn get_value(&self, key: &str) -> Option<&Value> {
        self.map.get(key)
    }

    /// Stores `value` under `key`, returning what was there. Fails, and
    /// changes nothing, if `value` could not be read back as it is: a map
    /// with non-string keys, a float that is not finite (JSON has no `NaN`),
    /// or nesting deeper than the decoder reads. (A value nested deeply
    /// through [`as_map_mut`](Self::as_map_mut) is refused when the session
    /// is saved instead: an encode error, and nothing stored.)
    ///
    /// ```
    /// # use sessionkit::Untyped;
    /// let mut data: Untyped = Untyped::default();
    /// assert!(data.insert("ratio", f64::NAN).is_err());
    /// assert!(data.get_value("ratio").is_none());
    /// assert!(data.insert("ratio", 0.5).is_ok());
    /// ```
    pub fn insert<V: Serialize>(
        &mut self,
        key: impl Into<String>,
        value: V,
    ) -> serde_json::Result<Option<Value>> {
        // The key's level counts too: the value sits inside the session object.
        let value = Checked::nested(&value, 1).serialize(serde_json::value::Serializer)?;
        Ok(self.map.insert(key.into(), value))
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        self.map.remove(key)
    }

    /// Removes every key; an empty session is deleted from the store and its
    /// cookie expired when the response is sent.
    pub fn clear(&mut self) {
        self.map.clear();
    }

    /// Whether `key` is present.
    pub fn contains_key(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The whole object.
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.map
    }

    /// The whole object, mutably.
    pub fn as_map_mut(&mut self) -> &mut Map<String, Value> {
        &mut self.map
    }
}

impl<C> Default for Untyped<C> {
    fn default() -> Self {
        Untyped {
            map: Map::new(),
            config: PhantomData,
        }
    }
}

impl<C> fmt::Debug for Untyped<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.map, f)
    }
}

impl<C> Serialize for Untyped<C> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.map.serialize(serializer)
    }
}

impl<'de, C> Deserialize<'de> for Untyped<C> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Untyped {
            map: Map::deserialize(deserializer)?,
            config: PhantomData,
        })
    }
}

impl<C: ConfigSource> SessionData for Untyped<C> {
    const CONFIG: SessionConfig = C::CONFIG;
}
