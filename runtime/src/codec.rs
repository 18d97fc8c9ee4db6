//! Session data as stored: a JSON object, as sanic-session writes it.
//!
//! Decoding keeps the top-level keys that are not fields of `T` (written by
//! another service, another session type or an older release), and encoding
//! writes them back, so a typed session never drops what it does not know.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

/// Top-level keys of a stored object that `T` does not declare.
pub(crate) type Extras = Map<String, Value>;

/// Why stored bytes could not become a `T`.
#[derive(Debug)]
pub(crate) enum DecodeError {
    NotAnObject,
    Json(serde_json::Error),
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::NotAnObject => f.write_str("the stored value is not a JSON object"),
            DecodeError::Json(e) => write!(f, "{e}"),
        }
    }
}

/// Decodes a stored JSON object into `T`, returning the keys `T` ignored.
pub(crate) fn decode<T: DeserializeOwned>(
    bytes: &[u8],
) -> Result<(T, Option<Extras>), DecodeError> {
    // Structs also deserialize from JSON arrays; only an object is a session.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(DecodeError::NotAnObject);
    }
    let mut ignored = Vec::new();
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let data: T = serde_ignored::deserialize(&mut de, |path| {
        if let serde_ignored::Path::Map {
            parent: serde_ignored::Path::Root,
            key,
        } = path
        {
            ignored.push(key);
        }
    })
    .map_err(DecodeError::Json)?;
    de.end().map_err(DecodeError::Json)?;
    if ignored.is_empty() {
        return Ok((data, None));
    }
    let mut all: Extras = serde_json::from_slice(bytes).map_err(DecodeError::Json)?;
    all.retain(|key, _| ignored.contains(key));
    Ok((data, Some(all)))
}

/// `T`'s fields followed by the keys it does not know.
#[derive(Serialize)]
#[serde(bound = "T: Serialize")]
struct WithExtras<'a, T> {
    #[serde(flatten)]
    data: &'a T,
    #[serde(flatten)]
    extras: &'a Extras,
}

/// Encodes `data` (and the keys it did not know) as a compact JSON object.
pub(crate) fn encode<T: Serialize>(
    data: &T,
    extras: Option<&Extras>,
) -> serde_json::Result<Vec<u8>> {
    match extras {
        None => serde_json::to_vec(data),
        Some(extras) => serde_json::to_vec(&WithExtras { data, extras }),
    }
}
