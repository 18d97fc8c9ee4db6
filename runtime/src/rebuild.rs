//! The slow decode of a session type, tried only after the whole decode
//! failed: the type's `migrate` function, then a rebuild field by field.
//!
//! A rebuild starts from the encoding of `T::default()` and puts in each
//! stored field value, one at a time, keeping it only if `T` still decodes,
//! so that every serde attribute (`default`, `with`, `deserialize_with`, a
//! custom `Deserialize`) runs through `T`'s own `Deserialize` as in the
//! whole decode. A field found under none of its keys is left out when
//! `T` decodes without it (its serde default applies, as in the whole
//! decode), and keeps the value of `T::default()` otherwise. The keys `T`
//! does not declare are kept, as the whole decode keeps them.

use serde_json::{Map, Value};

use crate::codec::{self, DecodeError, Decoded, META_KEY};
use crate::data::{FieldKeys, Recovery};
use crate::{SessionConfig, SessionData};

/// What the slow decode did, for the log: field names only, never values.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Rebuilt {
    /// The type's `migrate` function ran.
    pub(crate) migrated: bool,
    /// Fields whose stored value does not decode any more: reset.
    pub(crate) reset: Vec<&'static str>,
    /// Fields with no stored value: defaulted.
    pub(crate) missing: Vec<&'static str>,
    /// Keys `T` does not declare that it refuses (`deny_unknown_fields`):
    /// not kept.
    pub(crate) dropped: Vec<String>,
}

/// A stored session that did not decode as `T` (`error`), read the slow
/// way if `T` allows it, with a warning that names the fields it reset.
/// `error` is given back when it still does not decode.
#[cold]
#[inline(never)]
pub(crate) fn recover<T: SessionData>(
    config: &SessionConfig,
    bytes: &[u8],
    error: DecodeError,
) -> Result<Decoded<T>, DecodeError> {
    let recovery = T::__recovery();
    let (decoded, rebuilt) = match decode::<T>(bytes, &recovery) {
        Some(found) => found,
        None => return Err(error),
    };
    let list = |names: &[&str]| names.join(", ");
    let dropped: Vec<&str> = rebuilt.dropped.iter().map(String::as_str).collect();
    if rebuilt.reset.is_empty() && rebuilt.missing.is_empty() && rebuilt.dropped.is_empty() {
        // Migrated, or a field under both its name and an alias: nothing lost.
        tracing::debug!(
            session = config.session_name(),
            r#type = std::any::type_name::<T>(),
            migrated = rebuilt.migrated,
            "stored session data does not decode as a whole; read again with every field kept"
        );
    } else {
        // Names only: a value or the id has no place in a log.
        tracing::warn!(
            session = config.session_name(),
            cookie = config.cookie_name(),
            r#type = std::any::type_name::<T>(),
            reset = %list(&rebuilt.reset),
            missing = %list(&rebuilt.missing),
            dropped = %list(&dropped),
            migrated = rebuilt.migrated,
            "stored session data does not decode as a whole; the session is kept, \
             rebuilt field by field: the fields reset or missing take their defaults, \
             the keys dropped are refused by the type"
        );
    }
    Ok(decoded)
}

/// `bytes` (an object, with its meta or not) decoded the slow way, and
/// what that took; `None` if it still does not decode.
pub(crate) fn decode<T: SessionData>(
    bytes: &[u8],
    recovery: &Recovery,
) -> Option<(Decoded<T>, Rebuilt)> {
    if recovery.migrate.is_none() && recovery.fields.is_none() {
        return None;
    }
    let mut rebuilt = Rebuilt::default();
    let decoded = codec::decode_with(bytes, |plain| {
        decode_plain::<T>(plain, recovery, &mut rebuilt).ok_or(DecodeError::NotAnObject)
    })
    .ok()?;
    Some((decoded, rebuilt))
}

/// An object without the meta in front, decoded the slow way.
fn decode_plain<T: SessionData>(
    plain: &[u8],
    recovery: &Recovery,
    rebuilt: &mut Rebuilt,
) -> Option<Decoded<T>> {
    let mut object: Map<String, Value> = serde_json::from_slice(plain).ok()?;
    // A meta another writer moved from the front is not data: it is put
    // back for `codec::decode_with` to take out.
    let meta = object.remove(META_KEY);
    if let Some(migrate) = recovery.migrate {
        migrate(&mut object);
        rebuilt.migrated = true;
        if let Some(decoded) = decode_object(&object, meta.as_ref()) {
            return Some(decoded);
        }
    }
    let fields = recovery.fields?;
    let (mut object, extras) = rebuild::<T>(object, fields, rebuilt)?;
    if extras.is_empty() {
        return decode_object(&object, meta.as_ref());
    }
    let without = object.clone();
    let keys: Vec<String> = extras.keys().cloned().collect();
    object.extend(extras);
    if let Some(decoded) = decode_object(&object, meta.as_ref()) {
        return Some(decoded);
    }
    // A type that denies unknown fields gets none.
    rebuilt.dropped = keys;
    decode_object(&without, meta.as_ref())
}

/// `object` decoded as a whole; never canonical, as these are not the
/// stored bytes.
fn decode_object<T: SessionData>(
    object: &Map<String, Value>,
    meta: Option<&Value>,
) -> Option<Decoded<T>> {
    let bytes = match meta {
        None => serde_json::to_vec(object),
        Some(meta) => {
            let mut object = object.clone();
            object.insert(META_KEY.to_owned(), meta.clone());
            serde_json::to_vec(&object)
        }
    }
    .ok()?;
    let mut decoded = codec::decode_plain::<T>(&bytes).ok()?;
    decoded.canonical = false;
    Some(decoded)
}

/// Whether `object` decodes as a `T`, through the same bytes the whole
/// decode reads.
fn decodes<T: SessionData>(object: &Map<String, Value>) -> bool {
    serde_json::to_vec(object).is_ok_and(|bytes| serde_json::from_slice::<T>(&bytes).is_ok())
}

/// The stored object rebuilt field by field: `T`'s fields that still
/// decode and defaults for the others, and apart, the keys `T` does not
/// declare. `None` if not even that decodes (a rule of the type).
fn rebuild<T: SessionData>(
    mut stored: Map<String, Value>,
    fields: &[FieldKeys],
    rebuilt: &mut Rebuilt,
) -> Option<(Map<String, Value>, Map<String, Value>)> {
    let Ok(Value::Object(default)) = serde_json::to_value(T::default()) else {
        return None;
    };
    // The default, with each field under the key it is read from.
    let mut base = Map::new();
    for (key, value) in default {
        let key = match fields.iter().find(|f| f.serialize == key) {
            Some(field) => field.deserialize.first().map_or(key, |&k| k.to_owned()),
            None => key,
        };
        base.insert(key, value);
    }
    // Each field's stored value, under its name or an alias.
    let mut found: Vec<(usize, Value)> = Vec::new();
    let mut absent: Vec<usize> = Vec::new();
    for (index, field) in fields.iter().enumerate() {
        match field.deserialize.iter().find_map(|key| stored.get(*key)) {
            Some(value) => found.push((index, value.clone())),
            None => absent.push(index),
        }
    }
    // The rest is kept as it is; an alias is not (the field would be read twice).
    stored.retain(|key, _| {
        !base.contains_key(key)
            && !fields
                .iter()
                .any(|f| f.serialize == key || f.deserialize.contains(&key.as_str()))
    });
    // Until nothing more fits: a field may fit only once another one is in.
    loop {
        let before = found.len();
        found.retain(|(index, value)| !try_with::<T>(&mut base, &fields[*index], Some(value)));
        if found.len() == before || found.is_empty() {
            break;
        }
    }
    let mut reset: Vec<usize> = found.into_iter().map(|(index, _)| index).collect();
    reset.sort_unstable();
    rebuilt.reset = reset.iter().map(|&i| fields[i].field).collect();
    rebuilt.missing = absent.iter().map(|&i| fields[i].field).collect();
    // Left out where the type allows it, so that its serde default applies.
    for index in reset.into_iter().chain(absent) {
        try_with::<T>(&mut base, &fields[index], None);
    }
    decodes::<T>(&base).then_some((base, stored))
}

/// Puts `value` (or nothing) under `field`'s key in `object`, and keeps it
/// if `T` still decodes; whether it did.
fn try_with<T: SessionData>(
    object: &mut Map<String, Value>,
    field: &FieldKeys,
    value: Option<&Value>,
) -> bool {
    let Some(&key) = field.deserialize.first() else {
        return false;
    };
    let old = match value {
        Some(value) => object.insert(key.to_owned(), value.clone()),
        None => object.remove(key),
    };
    if decodes::<T>(object) {
        return true;
    }
    match old {
        Some(old) => object.insert(key.to_owned(), old),
        None => object.remove(key),
    };
    false
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};
    use serde_json::json;

    use super::*;

    /// Release 2 of a session: `theme` added, `name` renamed from `user`,
    /// `visits` now a number (was a string), `legacy` removed.
    #[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
    struct Release2 {
        #[serde(alias = "user")]
        name: String,
        visits: u64,
        theme: String,
        #[serde(default = "ten")]
        limit: u32,
        #[serde(skip)]
        cache: u8,
    }

    fn ten() -> u32 {
        10
    }

    const FIELDS: &[FieldKeys] = &[
        FieldKeys {
            field: "name",
            serialize: "name",
            deserialize: &["name", "user"],
        },
        FieldKeys {
            field: "visits",
            serialize: "visits",
            deserialize: &["visits"],
        },
        FieldKeys {
            field: "theme",
            serialize: "theme",
            deserialize: &["theme"],
        },
        FieldKeys {
            field: "limit",
            serialize: "limit",
            deserialize: &["limit"],
        },
    ];

    impl SessionData for Release2 {
        const CONFIG: SessionConfig = SessionConfig::DEFAULT;
        fn __recovery() -> Recovery {
            Recovery {
                migrate: None,
                fields: Some(FIELDS),
            }
        }
    }

    fn slow<T: SessionData>(value: serde_json::Value) -> Option<(Decoded<T>, Rebuilt)> {
        decode::<T>(&serde_json::to_vec(&value).unwrap(), &T::__recovery())
    }

    #[test]
    fn fields_that_fit_are_kept_and_the_others_defaulted() {
        let stored = json!({"user": "ada", "visits": "many", "legacy": [1, 2]});
        assert!(codec::decode::<Release2>(&serde_json::to_vec(&stored).unwrap()).is_err());
        let (d, rebuilt) = slow::<Release2>(stored).unwrap();
        assert_eq!(
            d.data,
            Release2 {
                name: "ada".into(),
                visits: 0,
                theme: String::new(),
                // Missing: its serde default, as in the whole decode.
                limit: 10,
                cache: 0,
            }
        );
        // The removed field is kept; the alias is not.
        assert_eq!(
            serde_json::Value::Object(d.extras.unwrap()),
            json!({"legacy": [1, 2]})
        );
        assert!(!d.canonical);
        assert_eq!(
            rebuilt,
            Rebuilt {
                migrated: false,
                reset: vec!["visits"],
                missing: vec!["theme", "limit"],
                dropped: vec![],
            }
        );
    }

    #[test]
    fn the_name_wins_over_an_alias() {
        // Both, as after an older release wrote back the alias.
        let stored = json!({"name": "new", "user": "old", "visits": 3, "theme": "x", "limit": 1});
        let (d, rebuilt) = slow::<Release2>(stored).unwrap();
        assert_eq!((d.data.name.as_str(), d.data.visits), ("new", 3));
        assert!(d.extras.is_none());
        assert!(rebuilt.reset.is_empty() && rebuilt.missing.is_empty());
    }

    #[test]
    fn the_meta_is_kept() {
        let bytes = br#"{"__sessionkit":{"created":5},"visits":"x","name":"ada"}"#;
        let (d, _) = decode::<Release2>(bytes, &Release2::__recovery()).unwrap();
        assert_eq!(d.meta.and_then(|m| m.created), Some(5));
        assert_eq!(d.data.name, "ada");
        // Moved from the front by another writer.
        let bytes = br#"{"visits":"x","name":"ada","__sessionkit":{"created":6}}"#;
        let (d, _) = decode::<Release2>(bytes, &Release2::__recovery()).unwrap();
        assert_eq!(d.meta.and_then(|m| m.created), Some(6));
        assert!(d.extras.is_none());
    }

    #[test]
    fn what_is_not_an_object_is_not_rebuilt() {
        for bytes in [&b"[1]"[..], b"{\"name\":", b"null", b"\"x\""] {
            assert!(decode::<Release2>(bytes, &Release2::__recovery()).is_none());
        }
    }

    #[derive(Debug, Default, Serialize, Deserialize)]
    struct Strict {
        n: u64,
    }

    impl SessionData for Strict {
        const CONFIG: SessionConfig = SessionConfig::DEFAULT;
    }

    #[test]
    fn a_hand_written_impl_stays_whole_or_nothing() {
        assert!(slow::<Strict>(json!({"n": "x"})).is_none());
    }

    /// Kilometres became metres.
    #[derive(Debug, Default, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Migrated {
        metres: u64,
        #[serde(default)]
        name: String,
    }

    fn to_metres(object: &mut Map<String, Value>) {
        if let Some(km) = object.remove("km").and_then(|v| v.as_u64()) {
            object.insert("metres".into(), (km * 1000).into());
        }
    }

    impl SessionData for Migrated {
        const CONFIG: SessionConfig = SessionConfig::DEFAULT;
        fn __recovery() -> Recovery {
            Recovery {
                migrate: Some(to_metres),
                fields: Some(&[
                    FieldKeys {
                        field: "metres",
                        serialize: "metres",
                        deserialize: &["metres"],
                    },
                    FieldKeys {
                        field: "name",
                        serialize: "name",
                        deserialize: &["name"],
                    },
                ]),
            }
        }
    }

    #[test]
    fn migrate_runs_before_the_rebuild() {
        let (d, rebuilt) = slow::<Migrated>(json!({"km": 2, "name": "ada"})).unwrap();
        assert_eq!((d.data.metres, d.data.name.as_str()), (2000, "ada"));
        assert_eq!(
            rebuilt,
            Rebuilt {
                migrated: true,
                ..Rebuilt::default()
            }
        );
        // Still not whole after it: rebuilt, and a type that denies unknown
        // fields keeps none.
        let (d, rebuilt) = slow::<Migrated>(json!({"km": 2, "name": 1, "x": 1})).unwrap();
        assert_eq!((d.data.metres, d.data.name.as_str()), (2000, ""));
        assert!(d.extras.is_none());
        assert_eq!(rebuilt.reset, ["name"]);
        assert_eq!(rebuilt.dropped, ["x"]);
    }

    /// Written under `out`, read from `in`: a field renamed one way only.
    #[derive(Debug, Default, Serialize, Deserialize)]
    struct OneWay {
        #[serde(rename(serialize = "out", deserialize = "in"))]
        a: u64,
        b: u64,
    }

    impl SessionData for OneWay {
        const CONFIG: SessionConfig = SessionConfig::DEFAULT;
        fn __recovery() -> Recovery {
            Recovery {
                migrate: None,
                fields: Some(&[
                    FieldKeys {
                        field: "a",
                        serialize: "out",
                        deserialize: &["in"],
                    },
                    FieldKeys {
                        field: "b",
                        serialize: "b",
                        deserialize: &["b"],
                    },
                ]),
            }
        }
    }

    #[test]
    fn a_field_renamed_one_way_is_read_from_its_deserialize_name() {
        let (d, rebuilt) = slow::<OneWay>(json!({"in": 4, "b": "x"})).unwrap();
        assert_eq!((d.data.a, d.data.b), (4, 0));
        assert_eq!(rebuilt.reset, ["b"]);
        // The key it is written under is not kept as another key.
        let (d, _) = slow::<OneWay>(json!({"in": 4, "out": 5, "b": "x"})).unwrap();
        assert!(d.extras.is_none());
    }

    /// A type whose own rule refuses even its default.
    #[derive(Debug, Default, Serialize)]
    struct Refusing {
        n: u64,
    }

    impl<'de> Deserialize<'de> for Refusing {
        fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
            Err(serde::de::Error::custom("never"))
        }
    }

    impl SessionData for Refusing {
        const CONFIG: SessionConfig = SessionConfig::DEFAULT;
        fn __recovery() -> Recovery {
            Recovery {
                migrate: None,
                fields: Some(&[FieldKeys {
                    field: "n",
                    serialize: "n",
                    deserialize: &["n"],
                }]),
            }
        }
    }

    #[test]
    fn what_fails_a_rule_of_the_type_is_not_rebuilt() {
        assert!(slow::<Refusing>(json!({"n": 1})).is_none());
    }
}
