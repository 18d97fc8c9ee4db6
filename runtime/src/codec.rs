//! Session data as stored: a JSON object, as sanic-session writes it.
//!
//! Decoding keeps the top-level keys that are not fields of `T` (written by
//! another service, another session type or an older release), and encoding
//! writes them back, so a typed session never drops what it does not know.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::checked::Checked;
use crate::scratch;

/// Top-level keys of a stored object that `T` does not declare.
pub(crate) type Extras = Map<String, Value>;

/// Why stored bytes could not become a `T`.
#[derive(Debug)]
pub(crate) enum DecodeError {
    NotAnObject,
    /// serde_json's error, passed through as it is: its text is this
    /// error's, and its source this error's source.
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

impl std::error::Error for DecodeError {
    /// For [`Json`](Self::Json), serde_json's error's own source (not the
    /// serde_json error, whose text is already this one's).
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DecodeError::NotAnObject => None,
            DecodeError::Json(e) => std::error::Error::source(e),
        }
    }
}

/// A stored object decoded into `T`.
pub(crate) struct Decoded<T> {
    pub(crate) data: T,
    /// Top-level keys `T` does not declare, kept for the save.
    pub(crate) extras: Option<Extras>,
    /// The stored bytes are exactly our encoding of `data`: any other
    /// encoding after a change is a real change.
    pub(crate) canonical: bool,
}

/// Decodes a stored JSON object into `T`, keeping the keys `T` ignores.
pub(crate) fn decode<T: DeserializeOwned + Serialize>(
    bytes: &[u8],
) -> Result<Decoded<T>, DecodeError> {
    // Structs also deserialize from JSON arrays; only an object is a session.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(DecodeError::NotAnObject);
    }
    // Fast path, for what we wrote ourselves: if our encoding of the decoded
    // value reproduces the bytes, no key was ignored and nothing more is needed.
    if let Ok(data) = serde_json::from_slice::<T>(bytes) {
        if encodes_to(&data, bytes) {
            return Ok(Decoded {
                data,
                extras: None,
                canonical: true,
            });
        }
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
    let extras = if ignored.is_empty() {
        None
    } else {
        // Sorted, so that keeping them costs n log n, not a scan per key.
        ignored.sort_unstable();
        let mut all: Extras = serde_json::from_slice(bytes).map_err(DecodeError::Json)?;
        all.retain(|key, _| ignored.binary_search(key).is_ok());
        Some(all)
    };
    Ok(Decoded {
        data,
        extras,
        canonical: false,
    })
}

/// Whether our encoding of `data` is exactly `bytes`. (Encoding into a
/// buffer and comparing once is cheaper than comparing serde_json's many
/// small writes one by one.)
fn encodes_to<T: Serialize>(data: &T, bytes: &[u8]) -> bool {
    with_encoding(data, None, |ours| ours == bytes).unwrap_or(false)
}

/// Calls `f` with our encoding of `data` (and `extras`), written into the
/// thread's scratch buffer.
pub(crate) fn with_encoding<T: Serialize, R>(
    data: &T,
    extras: Option<&Extras>,
    f: impl FnOnce(&[u8]) -> R,
) -> serde_json::Result<R> {
    scratch::with_buffer(|buf| write(buf, data, extras).map(|()| f(buf)))
}

fn write<T: Serialize>(
    out: &mut Vec<u8>,
    data: &T,
    extras: Option<&Extras>,
) -> serde_json::Result<()> {
    // Checked: what is written must decode again.
    match extras {
        None => serde_json::to_writer(out, &Checked::new(data)),
        Some(extras) => serde_json::to_writer(out, &Checked::new(&WithExtras { data, extras })),
    }
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

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;
    use crate::error::Report;

    #[derive(Debug, Serialize, serde::Deserialize)]
    struct Visits {
        n: u64,
    }

    #[test]
    fn a_json_error_is_shown_once() {
        let error = decode::<Visits>(br#"{"n":"one"}"#)
            .err()
            .expect("a string is not a u64");
        let DecodeError::Json(json) = &error else {
            panic!("{error:?}")
        };
        let text = json.to_string();
        assert_eq!(error.to_string(), text);
        assert!(error.source().is_none(), "{:?}", error.source());
        assert_eq!(Report(&error).to_string(), text);
    }

    #[test]
    fn not_an_object_has_no_source() {
        let error = decode::<Visits>(b"[1]").err().expect("an array");
        assert!(matches!(error, DecodeError::NotAnObject));
        assert!(error.source().is_none());
        assert_eq!(
            Report(&error).to_string(),
            "the stored value is not a JSON object"
        );
    }
}
