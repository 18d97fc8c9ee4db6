//! Session data as stored: a JSON object, as sanic-session writes it.
//!
//! Decoding keeps the top-level keys that are not fields of `T` (written by
//! another service, another session type or an older release), and encoding
//! writes them back, so a typed session never drops what it does not know.
//!
//! What sessionkit itself keeps about a session (its creation time when its
//! config has a `max_lifetime` or it has an owner, its own expiry, its
//! owner) is a [`Meta`] under the
//! reserved key `__sessionkit`, written as the object's first key and only
//! when there is something to keep: `{"__sessionkit":{"created":…},"n":1}`.
//! Neither `Session<T>` nor `UntypedSession` sees it; sanic-session reads
//! the object as a dict with one more key, and writes it back in place.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::checked::Checked;
use crate::scratch;

/// Top-level keys of a stored object that `T` does not declare.
pub(crate) type Extras = Map<String, Value>;

/// The reserved top-level key of [`Meta`].
pub(crate) const META_KEY: &str = "__sessionkit";

/// How an object that starts with its [`Meta`] starts.
const META_START: &[u8] = b"{\"__sessionkit\":";

/// What sessionkit keeps about a session besides its data.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Meta {
    /// When the session was created, in seconds since the Unix epoch; kept
    /// when its config has a `max_lifetime`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) created: Option<u64>,
    /// The session's own expiry in seconds, instead of its config's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) expiry: Option<u64>,
    /// Whose session it is, for the owner index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) owner: Option<String>,
    /// Entries this release does not know (a newer one wrote them), kept.
    #[serde(flatten)]
    pub(crate) other: Map<String, Value>,
}

impl Meta {
    pub(crate) fn is_empty(&self) -> bool {
        self.created.is_none()
            && self.expiry.is_none()
            && self.owner.is_none()
            && self.other.is_empty()
    }
}

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
    /// The meta, if the object has one.
    pub(crate) meta: Option<Box<Meta>>,
}

/// Decodes a stored JSON object into `T`, keeping the keys `T` ignores and
/// taking out the [`Meta`].
pub(crate) fn decode<T: DeserializeOwned + Serialize>(
    bytes: &[u8],
) -> Result<Decoded<T>, DecodeError> {
    decode_with(bytes, decode_plain)
}

/// [`decode`], with `plain` decoding the object once its [`Meta`] is taken
/// out from the front (the slow decode passes its own).
#[inline(always)]
pub(crate) fn decode_with<T>(
    bytes: &[u8],
    plain: impl FnOnce(&[u8]) -> Result<Decoded<T>, DecodeError>,
) -> Result<Decoded<T>, DecodeError> {
    // Checked here first: nearly every object has no meta.
    let split = if bytes.starts_with(META_START) {
        split_meta(bytes)
    } else {
        None
    };
    let Some((meta, end)) = split else {
        let mut decoded = plain(bytes)?;
        // Another writer may have moved the meta from the front.
        if let Some(extras) = &mut decoded.extras {
            if let Some(value) = extras.remove(META_KEY) {
                decoded.meta = Some(Box::new(Meta::deserialize(value).unwrap_or_default()));
                if extras.is_empty() {
                    decoded.extras = None;
                }
            }
        }
        return Ok(decoded);
    };
    // `{"__sessionkit":{…},"n":1}` is decoded as `{"n":1}`, and
    // `{"__sessionkit":{…}}` as `{}`.
    let rest = &bytes[end..];
    let mut object = Vec::with_capacity(rest.len());
    object.push(b'{');
    object.extend_from_slice(rest.strip_prefix(b",").unwrap_or(rest));
    let mut decoded = plain(&object)?;
    decoded.canonical = decoded.canonical
        && serde_json::to_vec(&meta).is_ok_and(|ours| ours == bytes[META_START.len()..end]);
    decoded.meta = Some(Box::new(meta));
    Ok(decoded)
}

/// The [`Meta`] an object starts with, and where it ends in `bytes`: the
/// next byte is the `,` before the other keys or the object's `}`.
fn split_meta(bytes: &[u8]) -> Option<(Meta, usize)> {
    let after = bytes.strip_prefix(META_START)?;
    let mut values = serde_json::Deserializer::from_slice(after).into_iter::<Meta>();
    let meta = values.next()?.ok()?;
    let end = META_START.len() + values.byte_offset();
    matches!(bytes.get(end), Some(b',' | b'}')).then_some((meta, end))
}

/// What follows the `{` of an encoded object, after its [`Meta`] if it has
/// one: `"n":1}` for both `{"n":1}` and `{"__sessionkit":{…},"n":1}`, so
/// that two encodings can be compared without their meta.
pub(crate) fn body(bytes: &[u8]) -> &[u8] {
    match split_meta(bytes) {
        Some((_, end)) => {
            let rest = &bytes[end..];
            rest.strip_prefix(b",").unwrap_or(rest)
        }
        None => bytes.get(1..).unwrap_or_default(),
    }
}

/// Whether `bytes` is `plain` (an encoding without meta), or `plain` with a
/// meta in front.
pub(crate) fn same_without_meta(plain: &[u8], bytes: &[u8]) -> bool {
    plain == bytes || (bytes.starts_with(META_START) && plain.get(1..) == Some(body(bytes)))
}

/// Whether `bytes` starts (after whitespace) as a JSON object: structs also
/// deserialize from JSON arrays, and only an object is a session.
fn is_object(bytes: &[u8]) -> bool {
    bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

/// The data of a stored object, decoded without the check that it is our
/// own encoding (which also rules out keys `T` does not declare): for a
/// session of a frozen type, whose check can wait until something changes
/// it (see `Session::touch`), since one nothing changed is saved as it was
/// loaded either way. `None` (take the checked [`decode`]) unless `bytes`
/// is an object `T` reads and the meta key appears nowhere in it: a meta
/// that another writer moved from the front must be found at the load.
pub(crate) fn decode_unchecked<T: DeserializeOwned>(bytes: &[u8]) -> Option<T> {
    if !is_object(bytes) {
        return None;
    }
    // The key as sessionkit and sanic-session write it; a writer that
    // spelled it with `\u` escapes would hide its meta from this search.
    if memchr::memmem::find(bytes, META_KEY.as_bytes()).is_some() {
        return None;
    }
    serde_json::from_slice(bytes).ok()
}

/// Decodes an object without its [`Meta`] into `T` as a whole.
pub(crate) fn decode_plain<T: DeserializeOwned + Serialize>(
    bytes: &[u8],
) -> Result<Decoded<T>, DecodeError> {
    if !is_object(bytes) {
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
                meta: None,
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
        meta: None,
    })
}

/// Whether our encoding of `data` is exactly `bytes`. (Encoding into a
/// buffer and comparing once is cheaper than comparing serde_json's many
/// small writes one by one.)
pub(crate) fn encodes_to<T: Serialize>(data: &T, bytes: &[u8]) -> bool {
    with_encoding(data, None, None, |ours| ours == bytes).unwrap_or(false)
}

/// Calls `f` with our encoding of `data` (and `extras`, and `meta` unless
/// it is empty), written into the thread's scratch buffer.
pub(crate) fn with_encoding<T: Serialize, R>(
    data: &T,
    extras: Option<&Extras>,
    meta: Option<&Meta>,
    f: impl FnOnce(&[u8]) -> R,
) -> serde_json::Result<R> {
    scratch::with_buffer(|buf| {
        match meta.filter(|meta| !meta.is_empty()) {
            None => write(buf, data, extras)?,
            Some(meta) => {
                let at = start_with_meta(buf, meta);
                write(buf, data, extras)?;
                join_after_meta(buf, at);
            }
        }
        Ok(f(buf))
    })
}

/// An encoded object (`plain`, without meta) with `meta` put in front.
pub(crate) fn with_meta_first(meta: &Meta, plain: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(plain.len() + 64);
    let at = start_with_meta(&mut out, meta);
    out.extend_from_slice(plain);
    join_after_meta(&mut out, at);
    out
}

/// Writes `{"__sessionkit":<meta>` and returns where the object's own
/// encoding is to start.
fn start_with_meta(out: &mut Vec<u8>, meta: &Meta) -> usize {
    out.extend_from_slice(META_START);
    serde_json::to_writer(&mut *out, meta).expect("numbers and JSON values always encode");
    out.len()
}

/// After the meta, at `at`, the object's own `{` becomes the `,` before
/// its keys, or goes when it has none.
fn join_after_meta(out: &mut Vec<u8>, at: usize) {
    if out.get(at + 1) == Some(&b'}') {
        out.remove(at);
    } else if let Some(brace) = out.get_mut(at) {
        *brace = b',';
    }
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
    use crate::Untyped;

    #[derive(Debug, Serialize, serde::Deserialize)]
    struct Visits {
        n: u64,
    }

    fn text(bytes: &[u8]) -> &str {
        std::str::from_utf8(bytes).unwrap()
    }

    fn encode<T: Serialize>(data: &T, extras: Option<&Extras>, meta: &Meta) -> String {
        with_encoding(data, extras, Some(meta), |b| text(b).to_owned()).unwrap()
    }

    fn meta(created: Option<u64>, expiry: Option<u64>) -> Meta {
        Meta {
            created,
            expiry,
            owner: None,
            other: Map::new(),
        }
    }

    #[test]
    fn the_meta_is_written_first_and_only_when_there_is_one() {
        let m = meta(Some(5), Some(60));
        assert_eq!(
            encode(&Visits { n: 1 }, None, &m),
            r#"{"__sessionkit":{"created":5,"expiry":60},"n":1}"#
        );
        assert_eq!(
            encode(&Visits { n: 1 }, None, &Meta::default()),
            r#"{"n":1}"#
        );
        let empty: Untyped = Untyped::default();
        assert_eq!(
            encode(&empty, None, &meta(Some(5), None)),
            r#"{"__sessionkit":{"created":5}}"#
        );
        let mut extras = Extras::new();
        extras.insert("x".into(), Value::from(true));
        assert_eq!(
            encode(&Visits { n: 1 }, Some(&extras), &meta(None, Some(9))),
            r#"{"__sessionkit":{"expiry":9},"n":1,"x":true}"#
        );
    }

    #[test]
    fn the_meta_is_taken_out_on_decoding() {
        let bytes = br#"{"__sessionkit":{"created":5,"expiry":60},"n":1}"#;
        let d = decode::<Visits>(bytes).unwrap();
        assert_eq!(d.data.n, 1);
        assert!(d.extras.is_none());
        assert!(d.canonical);
        assert_eq!(d.meta.as_deref(), Some(&meta(Some(5), Some(60))));

        // An untyped session does not see it either.
        let d = decode::<Untyped>(bytes).unwrap();
        assert_eq!(d.data.len(), 1);
        assert!(d.canonical);
        assert_eq!(d.meta.as_deref(), Some(&meta(Some(5), Some(60))));

        // Only the meta.
        let d = decode::<Untyped>(br#"{"__sessionkit":{"created":5}}"#).unwrap();
        assert!(d.data.is_empty() && d.canonical);
        assert_eq!(d.meta.as_deref().and_then(|m| m.created), Some(5));

        // Written by another encoder: not canonical, still read.
        let d = decode::<Visits>(br#"{"__sessionkit": {"created": 5}, "n": 1}"#).unwrap();
        assert_eq!(
            (
                d.data.n,
                d.meta.as_deref().and_then(|m| m.created),
                d.canonical
            ),
            (1, Some(5), false)
        );
        let d = decode::<Visits>(br#"{"__sessionkit":{"expiry":60,"created":5},"n":1}"#).unwrap();
        assert_eq!(
            (
                d.meta.as_deref().and_then(|m| m.created),
                d.meta.as_deref().and_then(|m| m.expiry),
                d.canonical
            ),
            (Some(5), Some(60), false)
        );

        // Moved from the front by another writer: a typed session finds it
        // among the keys it does not declare.
        let d = decode::<Visits>(br#"{"n":1,"__sessionkit":{"created":5}}"#).unwrap();
        assert_eq!(d.meta.as_deref().and_then(|m| m.created), Some(5));
        assert!(d.extras.is_none());

        // Entries of a newer release are kept.
        let bytes = br#"{"__sessionkit":{"created":5,"device":"u1"},"n":1}"#;
        let d = decode::<Visits>(bytes).unwrap();
        assert!(d.canonical);
        assert_eq!(
            encode(&d.data, None, d.meta.as_deref().unwrap()),
            text(bytes)
        );

        // Not a meta: an ordinary key.
        let d = decode::<Untyped>(br#"{"__sessionkit":5,"n":1}"#).unwrap();
        assert_eq!(d.data.get::<u64>(META_KEY), Some(5));
        assert!(d.meta.is_none());
    }

    #[test]
    fn the_meta_alone_is_not_data() {
        let plain = br#"{"n":0}"#;
        assert!(same_without_meta(plain, plain));
        assert!(same_without_meta(
            plain,
            br#"{"__sessionkit":{"created":5},"n":0}"#
        ));
        assert!(!same_without_meta(
            plain,
            br#"{"__sessionkit":{"created":5},"n":1}"#
        ));
        assert!(same_without_meta(
            b"{}",
            br#"{"__sessionkit":{"created":5}}"#
        ));
        assert!(!same_without_meta(
            b"{}",
            br#"{"__sessionkit":{"created":5},"n":0}"#
        ));
        assert_eq!(body(br#"{"n":0}"#), br#""n":0}"#);
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
