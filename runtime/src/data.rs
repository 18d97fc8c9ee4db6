//! The trait `#[derive(Session)]` implements.

use serde::de::DeserializeOwned;
use serde::Serialize;

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
}
