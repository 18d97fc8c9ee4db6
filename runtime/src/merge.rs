//! Three-way merge of stored session objects, key by key.
//!
//! When a conditional save finds that another request changed the session
//! since it was loaded, the layer merges: for each top-level key, our value
//! if this request changed that key relative to what it loaded (the base),
//! otherwise theirs, so their additions, changes and removals survive. A key
//! both sides changed takes our value.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::codec::{with_meta_first, Meta, META_KEY};

/// Why two writes of one session could not be merged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MergeError {
    /// What the other writer left is not a JSON object.
    TheirsNotAnObject,
    /// What was loaded, or what this request wrote, is not a JSON object.
    OursNotAnObject,
}

impl std::fmt::Display for MergeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            MergeError::TheirsNotAnObject => {
                "another writer stored a value that is not a JSON object; it was not merged or overwritten"
            }
            MergeError::OursNotAnObject => "the session is not a JSON object; it was not merged",
        })
    }
}

impl std::error::Error for MergeError {}

/// Merges `ours` (which started from `base`) into `theirs`, the value now
/// stored; returns the encoded result.
pub(crate) fn merge(base: &[u8], ours: &[u8], theirs: &[u8]) -> Result<Vec<u8>, MergeError> {
    let object = |bytes: &[u8]| serde_json::from_slice::<Map<String, Value>>(bytes).ok();
    let base = object(base).ok_or(MergeError::OursNotAnObject)?;
    let ours = object(ours).ok_or(MergeError::OursNotAnObject)?;
    let mut merged = object(theirs).ok_or(MergeError::TheirsNotAnObject)?;
    // Removed by us: in the base, no longer ours.
    for key in base.keys().filter(|key| !ours.contains_key(*key)) {
        merged.remove(key);
    }
    for (key, value) in ours {
        if base.get(&key) != Some(&value) {
            merged.insert(key, value);
        }
    }
    // The session's meta stays the first key, where it is looked for.
    let meta = merged
        .get(META_KEY)
        .and_then(|value| Meta::deserialize(value).ok());
    if meta.is_some() {
        merged.remove(META_KEY);
    }
    let plain = serde_json::to_vec(&merged).expect("a map of JSON values always encodes");
    Ok(match meta {
        Some(meta) => with_meta_first(&meta, &plain),
        None => plain,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The session's meta is the first key of a merge, wherever it was in
    /// the inputs, and merges like any key.
    #[test]
    fn the_meta_stays_first() {
        let base = br#"{"__sessionkit":{"created":1},"a":0}"#;
        let ours = br#"{"__sessionkit":{"created":1,"expiry":60},"a":0}"#;
        let theirs = br#"{"A":1,"a":2,"__sessionkit":{"created":1}}"#;
        let merged = merge(base, ours, theirs).unwrap();
        assert_eq!(
            std::str::from_utf8(&merged).unwrap(),
            r#"{"__sessionkit":{"created":1,"expiry":60},"A":1,"a":2}"#
        );
        let no_meta = merge(b"{}", br#"{"b":1}"#, b"{}").unwrap();
        assert_eq!(no_meta, br#"{"b":1}"#);
        let only_meta = merge(b"{}", br#"{"__sessionkit":{"created":1}}"#, b"{}").unwrap();
        assert_eq!(only_meta, br#"{"__sessionkit":{"created":1}}"#);
    }

    fn run(base: Value, ours: Value, theirs: Value) -> Value {
        let bytes = |v: &Value| serde_json::to_vec(v).unwrap();
        let merged = merge(&bytes(&base), &bytes(&ours), &bytes(&theirs)).unwrap();
        serde_json::from_slice(&merged).unwrap()
    }

    #[test]
    fn each_key_takes_our_value_if_we_changed_it_and_theirs_otherwise() {
        let cases = [
            // (base, ours, theirs, merged)
            // Different keys changed on each side: both changes kept.
            (
                json!({"a": 0, "b": 0}),
                json!({"a": 1, "b": 0}),
                json!({"a": 0, "b": 2}),
                json!({"a": 1, "b": 2}),
            ),
            // Their addition survives; so does ours.
            (
                json!({}),
                json!({"mine": 1}),
                json!({"theirs": 2}),
                json!({"mine": 1, "theirs": 2}),
            ),
            // Their removal of a key we did not touch survives.
            (
                json!({"a": 1, "b": 1}),
                json!({"a": 2, "b": 1}),
                json!({"a": 1}),
                json!({"a": 2}),
            ),
            // Our removal survives their keeping it.
            (
                json!({"a": 1, "b": 1}),
                json!({"b": 1}),
                json!({"a": 1, "b": 1, "c": 3}),
                json!({"b": 1, "c": 3}),
            ),
            // A key both changed: ours wins.
            (
                json!({"n": 1}),
                json!({"n": 2}),
                json!({"n": 5}),
                json!({"n": 2}),
            ),
            // A key we removed and they changed: our removal wins.
            (json!({"n": 1}), json!({}), json!({"n": 5}), json!({})),
            // A key they removed and we changed: ours comes back.
            (
                json!({"n": 1, "x": 0}),
                json!({"n": 2, "x": 0}),
                json!({"x": 0}),
                json!({"n": 2, "x": 0}),
            ),
            // Nested values are compared whole, not merged inside.
            (
                json!({"cart": {"a": 1}}),
                json!({"cart": {"a": 1, "b": 1}}),
                json!({"cart": {"a": 1, "c": 1}}),
                json!({"cart": {"a": 1, "b": 1}}),
            ),
        ];
        for (base, ours, theirs, want) in cases {
            let got = run(base.clone(), ours.clone(), theirs.clone());
            assert_eq!(got, want, "base {base}, ours {ours}, theirs {theirs}");
        }
    }

    #[test]
    fn values_that_are_not_objects_are_not_merged() {
        let object = br#"{"a":1}"#;
        for theirs in [&b"[1,2]"[..], b"\"x\"", b"null", b"not json", b""] {
            assert_eq!(
                merge(object, object, theirs),
                Err(MergeError::TheirsNotAnObject),
                "{}",
                String::from_utf8_lossy(theirs)
            );
        }
        assert_eq!(
            merge(b"[1]", object, object),
            Err(MergeError::OursNotAnObject)
        );
    }

    #[test]
    fn escapes_of_other_writers_are_read_as_the_same_values() {
        // sanic-session escapes `/` and non-ASCII: the same value, so not a
        // change of ours.
        let merged = merge(
            br#"{"path":"\/a","name":"\u00e9"}"#,
            r#"{"path":"/a","name":"é","n":1}"#.as_bytes(),
            br#"{"path":"\/b","name":"\u00e9"}"#,
        )
        .unwrap();
        let merged: Value = serde_json::from_slice(&merged).unwrap();
        assert_eq!(merged, json!({"path": "/b", "name": "é", "n": 1}));
    }
}
