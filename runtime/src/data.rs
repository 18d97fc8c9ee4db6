//! The trait `#[derive(Session)]` implements.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::SessionConfig;

/// A type that can be kept in a session: a struct with named fields that
/// serializes as a JSON object, with a `Default` (the empty session).
///
/// Implement it with `#[derive(Session)]`:
///
/// ```
/// use serde::{Deserialize, Serialize};
/// use sessionkit::{session_config, Session, SessionData};
///
/// session_config! {
///     CART { cookie_name: "cart", prefix: "cart:" }
/// }
///
/// #[derive(Session, Serialize, Deserialize, Default)]
/// #[session(config = CART)]
/// struct Cart {
///     items: Vec<u64>,
/// }
///
/// assert_eq!(<Cart as SessionData>::CONFIG.cookie_name(), "cart");
/// ```
pub trait SessionData: Serialize + DeserializeOwned + Default + Send + 'static {
    /// The cookie and store settings of this kind of session.
    const CONFIG: SessionConfig;

    /// How a stored object that does not decode as a whole is read:
    /// `#[derive(Session)]` describes the type's fields (and its
    /// `migrate` function); by default, nothing (whole or nothing).
    #[doc(hidden)]
    fn __recovery() -> Recovery {
        Recovery::STRICT
    }

    /// Whether no value of this type can change behind a shared reference
    /// (see `frozen.rs`): `#[derive(Session)]` answers from the fields'
    /// types; by default, no, so that a session is always encoded again.
    #[doc(hidden)]
    fn __frozen() -> bool {
        false
    }
}

/// What the slow decode of a session type may do, tried only after the
/// whole decode failed.
#[doc(hidden)]
#[derive(Debug, Clone, Copy)]
pub struct Recovery {
    /// Rewrites the stored object, which is then decoded as a whole again.
    pub migrate: Option<fn(&mut Map<String, Value>)>,
    /// The type's fields, to rebuild the session one field at a time;
    /// `None` keeps whole or nothing.
    pub fields: Option<&'static [FieldKeys]>,
}

impl Recovery {
    /// Whole or nothing: the behaviour of a hand-written impl.
    pub const STRICT: Recovery = Recovery {
        migrate: None,
        fields: None,
    };
}

/// The keys of one field of a session type, as its `Serialize` and
/// `Deserialize` use them.
#[doc(hidden)]
#[derive(Debug, Clone, Copy)]
pub struct FieldKeys {
    /// The field's name in Rust, for the log.
    pub field: &'static str,
    /// The key it is written under.
    pub serialize: &'static str,
    /// The keys it is read from: its name first, then its aliases.
    pub deserialize: &'static [&'static str],
}
