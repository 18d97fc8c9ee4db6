//! Hooks for the fuzz targets (`fuzz/`) and the property tests (`props/`).
//!
//! Each hook runs one piece of the input handling on what it is given and
//! panics when an invariant does not hold, so the fuzzers and the property
//! tests check exactly the same things. Every target has a hook on raw
//! bytes (`*_bytes`, what a fuzzer feeds) and, where a structured input
//! reaches the interesting cases faster, a hook on that structure (what
//! the property tests generate); the byte hooks decode their input into
//! the structure and call the structured hook.
//!
//! Not a public API: compiled only with the `fuzzing` feature, hidden from
//! the docs, and changed along with the code it exercises.

use std::collections::BTreeSet;
use std::fmt;
use std::future::Future;

use http::header::COOKIE;
use http::{HeaderMap, HeaderValue};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};
use sessionkit_rules::{Field, Settings, Violation};

use crate::merge::MergeError;
use crate::{codec, cookie, merge, DefaultConfig, SameSite, SessionConfig, SessionId, Untyped};

/// A JSON object, as sessions are stored.
pub type Object = Map<String, Value>;

/// What a hook made of its input ("refused", "read", …): the property
/// tests count these, to show that the generators reach every outcome.
pub type Outcome = &'static str;

/// The session id the hooks use where they need a valid one.
pub const ID: &str = "9ca69ea696434e99beff2880eb95116a";

/// The cookie names [`cookie_bytes`] picks from.
pub const COOKIE_NAMES: [&str; 4] = ["session", "sid", "__Host-id", "s"];

/// Shows at most 300 characters of `value`, so that a failure on a large
/// input still prints a readable message.
fn shown(value: impl fmt::Display) -> String {
    let text = value.to_string();
    match text.char_indices().nth(300) {
        Some((at, _)) => format!("{}… ({} bytes)", &text[..at], text.len()),
        None => text,
    }
}

/// Bytes, escaped, at most 300 characters.
fn bytes(value: &[u8]) -> String {
    shown(value.escape_ascii())
}

/// Reads structured values from a fuzzer's bytes; past the end, every read
/// gives zeroes, so any input decodes to something.
#[derive(Debug)]
pub struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    /// Reads from `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Input { data }
    }

    /// The next byte (0 past the end).
    pub fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&first, rest)) => {
                self.data = rest;
                first
            }
            None => 0,
        }
    }

    /// The next byte, reduced to `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        usize::from(self.byte()) % n.max(1)
    }

    /// The next `n` bytes (fewer at the end).
    pub fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.data.split_at(n.min(self.data.len()));
        self.data = rest;
        head
    }

    /// Eight bytes, little-endian.
    pub fn u64(&mut self) -> u64 {
        let mut buf = [0; 8];
        let head = self.take(8);
        buf[..head.len()].copy_from_slice(head);
        u64::from_le_bytes(buf)
    }

    /// A length byte, then that many bytes as text (invalid UTF-8 replaced).
    pub fn text(&mut self) -> String {
        let len = usize::from(self.byte());
        String::from_utf8_lossy(self.take(len)).into_owned()
    }

    /// A JSON value: scalars, strings, floats (edge cases included), arrays
    /// and objects, and now and then a chain of nested containers up to 300
    /// deep (serde_json reads 128).
    pub fn value(&mut self, depth: usize) -> Value {
        match self.byte() % 11 {
            0 => Value::Null,
            1 => Value::Bool(self.byte() & 1 == 1),
            2 => Value::from(self.u64() as i64),
            3 => Value::from(self.u64()),
            4 => Number::from_f64(f64::from_bits(self.u64())).map_or(Value::Null, Value::Number),
            5 => {
                let f = SPECIAL_FLOATS[self.below(SPECIAL_FLOATS.len())];
                Number::from_f64(f).map_or(Value::Null, Value::Number)
            }
            6 => Value::String(self.text()),
            7 if depth < 6 => {
                let n = self.below(5);
                Value::Array((0..n).map(|_| self.value(depth + 1)).collect())
            }
            8 if depth < 6 => Value::Object(self.object(depth + 1)),
            9 => {
                let levels = usize::from(self.byte()) + usize::from(self.byte() % 64);
                let object = self.byte() & 1 == 1;
                nested_value(levels, object)
            }
            _ => Value::from(i64::from(self.byte()) - 128),
        }
    }

    /// A JSON object of up to 7 keys.
    pub fn object(&mut self, depth: usize) -> Object {
        let n = self.below(8);
        (0..n)
            .map(|_| {
                let key = match self.byte() % 4 {
                    0 => self.text(),
                    i => ["a", "n", "cart"][usize::from(i) - 1].to_string(),
                };
                (key, self.value(depth))
            })
            .collect()
    }

    /// A [`Probe`], its floats from raw bits (so `NaN` and infinities too).
    pub fn probe(&mut self) -> Probe {
        let mut probe = Probe {
            n: self.u64() as i64,
            u: self.u64(),
            f: match self.byte() % 3 {
                0 => f64::from_bits(self.u64()),
                1 => SPECIAL_FLOATS[self.below(SPECIAL_FLOATS.len())],
                _ => f64::from(self.byte()),
            },
            g: match self.byte() % 3 {
                0 => None,
                1 => Some(f32::from_bits(self.u64() as u32)),
                _ => Some(f32::from(self.byte())),
            },
            s: self.text(),
            list: (0..self.below(4))
                .map(|_| f64::from_bits(self.u64()))
                .collect(),
            v: self.value(1),
            nested: None,
        };
        let levels = match self.byte() % 4 {
            0 => usize::from(self.byte()),
            _ => 0,
        };
        for _ in 0..levels {
            probe = Probe {
                nested: Some(Box::new(probe)),
                ..Probe::default()
            };
        }
        probe
    }
}

/// Floats at the edges: zeroes, the extremes, subnormals, values whose
/// shortest form is long, and the ones JSON cannot hold.
pub const SPECIAL_FLOATS: [f64; 16] = [
    0.0,
    -0.0,
    1.0,
    0.1,
    -1.5,
    1e300,
    f64::MAX,
    f64::MIN,
    f64::MIN_POSITIVE,
    5e-324,
    2.225_073_858_507_201e-308,
    9_007_199_254_740_993.0,
    0.300_000_000_000_000_04,
    f64::NAN,
    f64::INFINITY,
    f64::NEG_INFINITY,
];

/// `levels` arrays (or objects under key `"k"`) around `null`.
pub fn nested_value(levels: usize, object: bool) -> Value {
    (0..levels).fold(Value::Null, |inner, _| {
        if object {
            Value::Object(Object::from_iter([("k".to_string(), inner)]))
        } else {
            Value::Array(vec![inner])
        }
    })
}

// ---------------------------------------------------------------------------
// Session ids and the `Cookie` header.

/// The session id check on raw bytes.
///
/// Invariants: exactly 32 lowercase hex characters are accepted, nothing
/// else; an accepted id renders (`as_str`, `Display`) to the same bytes and
/// parses again to the same id; `parse` on text agrees with the byte check.
pub fn id_bytes(data: &[u8]) -> Outcome {
    let parsed = SessionId::parse_bytes(data);
    let well_formed = data.len() == crate::id::ID_LEN
        && data
            .iter()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b));
    assert_eq!(
        parsed.is_some(),
        well_formed,
        "SessionId::parse_bytes({}) is {parsed:?}",
        bytes(data)
    );
    if let Some(id) = parsed {
        assert_eq!(id.as_str().as_bytes(), data, "{id:?} renders differently");
        assert_eq!(id.as_bytes(), data);
        assert_eq!(id.to_string(), id.as_str());
        assert_eq!(SessionId::parse(id.as_str()), Some(id));
    }
    if let Ok(text) = std::str::from_utf8(data) {
        assert_eq!(SessionId::parse(text), parsed, "parse({text:?})");
    }
    if parsed.is_some() {
        "accepted"
    } else {
        "refused"
    }
}

/// The `Cookie` header reader on raw bytes: the first byte picks the cookie
/// name from [`COOKIE_NAMES`], the rest is split at `\n` into header values.
pub fn cookie_bytes(data: &[u8]) -> Outcome {
    let Some((&pick, rest)) = data.split_first() else {
        return "empty";
    };
    let name = COOKIE_NAMES[usize::from(pick) % COOKIE_NAMES.len()];
    let values: Vec<&[u8]> = rest.split(|&b| b == b'\n').collect();
    cookie_headers(name, &values)
}

/// The `Cookie` header reader: `values` are sent as `Cookie` headers, in
/// order (those that are not valid header values are left out, as `http`
/// would never hand them over), and the session id under `name` (a cookie
/// name: a token, without `=`) is looked up.
///
/// Invariants: no panic; the id found is exactly the first `name=value`
/// pair (split at `;`, trimmed; the name matched exactly) whose value,
/// trimmed, is a well-formed id, and none when there is no such pair; the
/// id found passes [`id_bytes`].
pub fn cookie_headers(name: &str, values: &[&[u8]]) -> Outcome {
    let mut headers = HeaderMap::new();
    let mut sent = Vec::new();
    for &value in values {
        if let Ok(header) = HeaderValue::from_bytes(value) {
            headers.append(COOKIE, header);
            sent.push(value);
        }
    }
    let found = cookie::session_id_from(&headers, name);
    let expected = sent
        .iter()
        .flat_map(|value| value.split(|&b| b == b';'))
        .find_map(|pair| {
            let pair = pair.trim_ascii();
            let eq = pair.iter().position(|&b| b == b'=')?;
            let value = pair[eq + 1..].trim_ascii();
            let is_id = value.len() == 32
                && value
                    .iter()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b));
            (&pair[..eq] == name.as_bytes() && is_id).then_some(value)
        });
    let shown_headers: Vec<String> = sent.iter().map(|v| bytes(v)).collect();
    assert_eq!(
        found.as_ref().map(SessionId::as_bytes),
        expected,
        "cookie {name:?} in {shown_headers:?}"
    );
    match found {
        Some(id) => {
            id_bytes(id.as_bytes());
            "id found"
        }
        None => "no id",
    }
}

// ---------------------------------------------------------------------------
// Stored data: decoding, encoding and merging.

/// A session type with a field of each kind the codec must carry back
/// unchanged: integers at their extremes, floats (`f32` too), text, a list,
/// any JSON value, and itself nested (for depth).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Probe {
    /// A signed integer.
    pub n: i64,
    /// An unsigned integer.
    pub u: u64,
    /// A double.
    pub f: f64,
    /// A single-precision float, optional.
    pub g: Option<f32>,
    /// Text.
    pub s: String,
    /// A list of doubles.
    pub list: Vec<f64>,
    /// Any JSON value.
    pub v: Value,
    /// Another probe inside this one.
    pub nested: Option<Box<Probe>>,
}

/// The keys [`Probe`] declares.
pub const PROBE_FIELDS: [&str; 8] = ["n", "u", "f", "g", "s", "list", "v", "nested"];

/// Our encoding of `data`, `extras` and `meta`; `None` when the encoder
/// refuses it.
fn encoding<T: Serialize>(
    data: &T,
    extras: Option<&Object>,
    meta: Option<&codec::Meta>,
) -> Option<Vec<u8>> {
    codec::with_encoding(data, extras, meta, <[u8]>::to_vec).ok()
}

/// Decoding stored bytes, as a [`Probe`] and as an [`Untyped`] session.
///
/// Invariants: no panic; the untyped decode accepts exactly the JSON
/// objects, and gives back the object, with no extras, less the reserved
/// `__sessionkit` entry when it was taken as the session's meta; for both types,
/// whatever decodes re-encodes (unless the encoder refuses) to bytes that
/// decode again and encode to the same bytes (a fixpoint), keep the keys
/// the type does not declare, and are recognised as canonical when there
/// are none.
pub fn decode_bytes(data: &[u8]) -> Outcome {
    let probe = decode_as::<Probe>(data, codec::decode(data));
    let untyped = codec::decode::<Untyped<DefaultConfig>>(data);
    let object = serde_json::from_slice::<Object>(data).ok();
    match (untyped, object) {
        (Ok(decoded), Some(mut object)) => {
            if !decoded.data.contains_key(codec::META_KEY) {
                if let Some(meta) = object.remove(codec::META_KEY) {
                    assert_eq!(
                        codec::Meta::deserialize(meta).ok().as_ref(),
                        Some(decoded.meta.as_deref().cloned().unwrap_or_default()).as_ref(),
                        "{}",
                        bytes(data)
                    );
                }
            }
            assert_eq!(decoded.data.as_map(), &object, "{}", bytes(data));
            assert!(decoded.extras.is_none(), "{}", bytes(data));
            decode_as(data, Ok(decoded));
            probe
        }
        (Err(_), None) => "not an object",
        (decoded, object) => panic!(
            "decoding {} as an untyped session: {:?}, as a JSON object: {object:?}",
            bytes(data),
            decoded.map(|d| d.data)
        ),
    }
}

/// Checks the re-encoding of `data` decoded as a `T` (`decoded`); what
/// happened.
fn decode_as<T: DeserializeOwned + Serialize>(
    data: &[u8],
    decoded: Result<codec::Decoded<T>, codec::DecodeError>,
) -> Outcome {
    let Ok(first) = decoded else {
        return "an object, not a probe";
    };
    let Some(encoded) = encoding(&first.data, first.extras.as_ref(), first.meta.as_deref()) else {
        return "decoded, re-encoding refused";
    };
    if first.canonical {
        assert_eq!(encoded, data, "canonical, yet encodes differently");
    }
    let second = codec::decode::<T>(&encoded).unwrap_or_else(|e| {
        panic!(
            "{} decoded, but its encoding {} does not decode: {e}",
            bytes(data),
            bytes(&encoded)
        )
    });
    assert_eq!(
        second.canonical,
        second.extras.is_none(),
        "our own encoding {} (of {})",
        bytes(&encoded),
        bytes(data)
    );
    assert_eq!(second.meta, first.meta, "{}", bytes(&encoded));
    let again = encoding(&second.data, second.extras.as_ref(), second.meta.as_deref())
        .unwrap_or_else(|| panic!("the encoder refuses what it wrote: {}", bytes(&encoded)));
    assert_eq!(
        bytes(&again),
        bytes(&encoded),
        "encoding is not a fixpoint (from {})",
        bytes(data)
    );
    match (first.canonical, first.extras.is_some()) {
        (true, _) => "decoded, canonical",
        (false, true) => "decoded, with extras",
        (false, false) => "decoded, not canonical",
    }
}

/// Decodes a [`Probe`] and an object of extra keys from bytes and runs
/// [`roundtrip`] and [`roundtrip_untyped`] on them.
pub fn roundtrip_bytes(data: &[u8]) -> Outcome {
    let mut input = Input::new(data);
    let probe = input.probe();
    let extras = input.object(1);
    roundtrip_untyped(&extras);
    roundtrip(&probe, &extras)
}

/// Encoding a typed session with extra keys, then decoding it.
///
/// Invariants: when the encoder accepts `probe` and `extras` (those whose
/// keys [`Probe`] declares are left out, as the layer only keeps keys the
/// type does not declare), decoding gives back an equal probe and exactly
/// the extras, and recognises the bytes as canonical when there are none.
/// Refusing is fine (a float that is not finite, nesting too deep).
pub fn roundtrip(probe: &Probe, extras: &Object) -> Outcome {
    let extras: Object = extras
        .iter()
        .filter(|(key, _)| !PROBE_FIELDS.contains(&key.as_str()))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    let extras = (!extras.is_empty()).then_some(&extras);
    let Some(encoded) = encoding(probe, extras, None) else {
        return "refused by the encoder";
    };
    let decoded = codec::decode::<Probe>(&encoded).unwrap_or_else(|e| {
        panic!(
            "{} was accepted by the encoder as {}, which does not decode: {e}",
            shown(format_args!("{probe:?}")),
            bytes(&encoded)
        )
    });
    assert!(
        decoded.data == *probe,
        "{} encodes to {}, which decodes to {}",
        shown(format_args!("{probe:?}")),
        bytes(&encoded),
        shown(format_args!("{:?}", decoded.data))
    );
    assert_eq!(decoded.extras.as_ref(), extras, "{}", bytes(&encoded));
    assert_eq!(decoded.canonical, extras.is_none(), "{}", bytes(&encoded));
    "read back"
}

/// Encoding an untyped session, then decoding it.
///
/// Invariants: when the encoder accepts `object`, decoding gives back an
/// equal object, with no extras, recognised as canonical.
pub fn roundtrip_untyped(object: &Object) -> Outcome {
    let mut untyped = Untyped::<DefaultConfig>::default();
    *untyped.as_map_mut() = object.clone();
    let Some(encoded) = encoding(&untyped, None, None) else {
        return "refused by the encoder";
    };
    let decoded = codec::decode::<Untyped<DefaultConfig>>(&encoded).unwrap_or_else(|e| {
        panic!(
            "the encoder accepted {}, which does not decode: {e}",
            bytes(&encoded)
        )
    });
    assert_eq!(decoded.data.as_map(), object, "{}", bytes(&encoded));
    assert!(decoded.extras.is_none() && decoded.canonical);
    "read back"
}

/// The three-way merge on raw bytes: base, ours and theirs separated by
/// NUL bytes (which JSON text cannot hold).
pub fn merge_bytes(data: &[u8]) -> Outcome {
    let mut parts = data.splitn(3, |&b| b == 0);
    let mut next = || parts.next().unwrap_or_default();
    let (base, ours, theirs) = (next(), next(), next());
    merge3(base, ours, theirs)
}

/// The three-way merge of stored sessions.
///
/// Invariants: no panic; an error exactly when one input is not a JSON
/// object (`OursNotAnObject` when the base or ours is not, else
/// `TheirsNotAnObject`); otherwise a JSON object with, for each key, our
/// value (or its absence) when we changed it relative to the base, and
/// theirs otherwise; `merge(base, ours, base) == ours` and
/// `merge(base, base, theirs) == theirs`.
pub fn merge3(base: &[u8], ours: &[u8], theirs: &[u8]) -> Outcome {
    let object = |b: &[u8]| serde_json::from_slice::<Object>(b).ok();
    let merged = merge::merge(base, ours, theirs);
    let show = || {
        format!(
            "base {}, ours {}, theirs {}",
            bytes(base),
            bytes(ours),
            bytes(theirs)
        )
    };
    let (b, o, t) = match (object(base), object(ours), object(theirs)) {
        (Some(b), Some(o), Some(t)) => (b, o, t),
        (Some(_), Some(_), None) => {
            assert_eq!(merged, Err(MergeError::TheirsNotAnObject), "{}", show());
            return "theirs not an object";
        }
        _ => {
            assert_eq!(merged, Err(MergeError::OursNotAnObject), "{}", show());
            return "base or ours not an object";
        }
    };
    let parse = |merged: Result<Vec<u8>, MergeError>| -> Object {
        let merged = merged.unwrap_or_else(|e| panic!("{e} ({})", show()));
        serde_json::from_slice(&merged)
            .unwrap_or_else(|e| panic!("the merge {} is not an object: {e}", bytes(&merged)))
    };
    let keys: BTreeSet<&String> = b.keys().chain(o.keys()).chain(t.keys()).collect();
    let mut expected = Object::new();
    for key in keys {
        let side = if b.get(key) != o.get(key) { &o } else { &t };
        if let Some(value) = side.get(key) {
            expected.insert(key.clone(), value.clone());
        }
    }
    assert_eq!(parse(merged), expected, "{}", show());
    assert_eq!(
        parse(merge::merge(base, ours, base)),
        o,
        "merge(base, ours, base) != ours: {}",
        show()
    );
    assert_eq!(
        parse(merge::merge(base, base, theirs)),
        t,
        "merge(base, base, theirs) != theirs: {}",
        show()
    );
    "merged"
}

// ---------------------------------------------------------------------------
// Configuration rules.

/// The configuration rules on raw bytes: a flags byte, an expiry byte (its
/// value modulo 6 picks the expiry; bit 6 asks for a `max_lifetime`, bit 7
/// makes it twice the expiry rather than one second less), then the
/// cookie name, domain, prefix, session name and a `samesite` word,
/// separated by `0xff` bytes.
pub fn rules_bytes(data: &[u8]) -> Outcome {
    let mut input = Input::new(data);
    let flags = input.byte();
    let expiry_byte = input.byte();
    let expiry_secs = match expiry_byte % 6 {
        0 => 0,
        1 => 1,
        2 => sessionkit_rules::MAX_EXPIRY_SECS,
        3 => sessionkit_rules::MAX_EXPIRY_SECS + 1,
        4 => u64::MAX,
        _ => input.u64(),
    };
    let rest = input.take(usize::MAX);
    let mut parts = rest
        .split(|&b| b == 0xff)
        .map(|part| String::from_utf8_lossy(part).into_owned());
    let mut next = || parts.next().unwrap_or_default();
    let (cookie_name, domain, prefix, session_name, word) =
        (next(), next(), next(), next(), next());
    let settings: Settings<&str> = Settings {
        cookie_name: &cookie_name,
        domain: (flags & 1 == 1).then_some(domain.as_str()),
        expiry_secs,
        httponly: flags & 2 != 0,
        secure: flags & 4 != 0,
        samesite: [
            None,
            Some(SameSite::Lax),
            Some(SameSite::Strict),
            Some(SameSite::None),
        ][usize::from(flags >> 3) % 4],
        prefix: &prefix,
        sessioncookie: flags & 32 != 0,
        session_name: &session_name,
        max_lifetime_secs: (expiry_byte & 64 != 0).then(|| {
            if expiry_byte & 128 != 0 {
                expiry_secs.saturating_mul(2)
            } else {
                expiry_secs.saturating_sub(1)
            }
        }),
        hash_ids: flags & 64 != 0,
        partitioned: flags & 128 != 0,
    };
    rules(&settings, &word)
}

/// The configuration rules, on `settings` and on `word` as a `samesite`
/// value and an option name.
///
/// Invariants: no panic; `check_all` reports exactly the options whose own
/// check fails, then the combined rules; an accepted cookie name is a
/// non-empty token (visible ASCII, no separator); an accepted domain is
/// ASCII letters, digits, `-` and dots, at most 253 characters besides a
/// leading dot; an accepted expiry is 1 s to 400 days; an accepted prefix
/// is visible ASCII and leaves room for an id in a 250-byte key, and valid
/// settings with `hash_ids` leave room for a 64-character hash; an
/// accepted session name is non-empty without control characters; an
/// accepted max_lifetime is at most 400 days and, in valid settings, at
/// least the expiry; valid settings make a `Set-Cookie` header;
/// `SessionConfig::validate` after `with_domain`, `with_secure` and
/// `with_partitioned` agrees with the domain rule and the
/// partitioned-needs-secure rule, and what it accepts builds headers
/// without panicking, both ending in `; Partitioned` exactly when the
/// settings say so;
/// messages start in lower case and end without a period; `samesite`
/// accepts only `lax`, `strict` and `none`; option names round-trip.
pub fn rules(settings: &Settings<&str>, word: &str) -> Outcome {
    use sessionkit_rules as r;

    let all = r::check_all(settings);
    let single: Vec<(Field, Result<(), String>)> = [
        (
            Field::CookieName,
            Some(r::check_cookie_name(settings.cookie_name)),
        ),
        (Field::Domain, settings.domain.map(r::check_domain)),
        (Field::Expiry, Some(r::check_expiry(settings.expiry_secs))),
        (Field::Prefix, Some(r::check_prefix(settings.prefix))),
        (
            Field::SessionName,
            Some(r::check_session_name(settings.session_name)),
        ),
        (
            Field::MaxLifetime,
            settings.max_lifetime_secs.map(r::check_max_lifetime),
        ),
    ]
    .into_iter()
    .filter_map(|(field, result)| Some((field, result?)))
    .collect();
    let expected: Vec<Violation> = single
        .iter()
        .filter_map(|(field, result)| {
            let message = result.as_ref().err()?.clone();
            Some(Violation {
                field: *field,
                message,
            })
        })
        .chain(r::check_combination(settings))
        .collect();
    assert_eq!(all, expected, "{settings:?}");
    for violation in &all {
        let message = &violation.message;
        assert!(
            !message.is_empty()
                && !message.ends_with('.')
                && !message.starts_with(|c: char| c.is_ascii_uppercase()),
            "message {message:?} ({settings:?})"
        );
    }

    let accepted = |field| {
        single
            .iter()
            .any(|(f, result)| *f == field && result.is_ok())
    };
    if accepted(Field::CookieName) {
        let name = settings.cookie_name;
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_graphic() && !"()<>@,;:\\\"/[]?={}".contains(c)),
            "cookie name {name:?} accepted"
        );
    }
    if let (true, Some(domain)) = (accepted(Field::Domain), settings.domain) {
        let host = domain.strip_prefix('.').unwrap_or(domain);
        assert!(
            !host.is_empty()
                && host.len() <= 253
                && host.split('.').all(|label| {
                    (1..=63).contains(&label.len())
                        && !label.starts_with('-')
                        && !label.ends_with('-')
                        && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                }),
            "domain {domain:?} accepted"
        );
    }
    if accepted(Field::Expiry) {
        assert!(
            (1..=r::MAX_EXPIRY_SECS).contains(&settings.expiry_secs),
            "expiry {} accepted",
            settings.expiry_secs
        );
    }
    if accepted(Field::Prefix) {
        let prefix = settings.prefix;
        assert!(
            prefix.len() + r::ID_LEN <= r::MAX_KEY_LEN
                && prefix.chars().all(|c| c.is_ascii_graphic()),
            "prefix {prefix:?} accepted"
        );
    }
    if let (true, Some(lifetime)) = (accepted(Field::MaxLifetime), settings.max_lifetime_secs) {
        assert!(
            lifetime <= r::MAX_EXPIRY_SECS,
            "max_lifetime {lifetime} accepted"
        );
    }
    if all.is_empty() {
        assert!(
            settings
                .max_lifetime_secs
                .is_none_or(|lifetime| lifetime >= settings.expiry_secs),
            "a max_lifetime below the expiry accepted: {settings:?}"
        );
    }
    if all.is_empty() && settings.hash_ids {
        let prefix = settings.prefix;
        assert!(
            prefix.len() + r::HASHED_ID_LEN <= r::MAX_KEY_LEN,
            "prefix {prefix:?} accepted with hash_ids"
        );
    }
    if accepted(Field::SessionName) {
        let name = settings.session_name;
        assert!(
            !name.is_empty() && !name.chars().any(char::is_control),
            "session name {name:?} accepted"
        );
    }
    if all.is_empty() {
        let header = match settings.domain {
            Some(domain) => format!("{}={ID}; Path=/; Domain={domain}", settings.cookie_name),
            None => format!("{}={ID}; Path=/", settings.cookie_name),
        };
        assert!(
            HeaderValue::from_str(&header).is_ok(),
            "valid settings make the invalid header {header:?}"
        );
    }

    // Values set at start-up are checked by the same rules, and what they
    // accept builds headers (which panic on bytes a header cannot hold).
    let config = SessionConfig::DEFAULT
        .with_domain(settings.domain)
        .with_secure(settings.secure)
        .with_partitioned(settings.partitioned);
    let valid = config.validate().is_ok();
    let domain_ok = settings.domain.is_none_or(|d| r::check_domain(d).is_ok());
    let partitioned_ok = settings.secure || !settings.partitioned;
    assert_eq!(
        valid,
        domain_ok && partitioned_ok,
        "with_domain({:?}).with_secure({}).with_partitioned({}).validate()",
        settings.domain,
        settings.secure,
        settings.partitioned
    );
    if valid {
        let id = SessionId::parse(ID).expect("a valid id");
        let set = cookie::set_cookie(&config, &id, None);
        assert!(set.as_bytes().starts_with(b"session="), "{set:?}");
        let delete = cookie::delete_cookie(&config);
        assert!(delete.as_bytes().starts_with(b"session=;"), "{delete:?}");
        for header in [&set, &delete] {
            assert_eq!(
                header.as_bytes().ends_with(b"; Partitioned"),
                settings.partitioned,
                "{header:?}"
            );
        }
    }

    match SameSite::parse(word) {
        Ok(same_site) => {
            assert!(
                ["lax", "strict", "none"].contains(&word),
                "{word:?} accepted"
            );
            assert!(same_site.as_attribute().eq_ignore_ascii_case(word));
        }
        Err(message) => {
            assert!(
                !["lax", "strict", "none"].contains(&word),
                "{word:?} refused"
            );
            assert!(!message.ends_with('.'), "{message:?}");
        }
    }
    if let Some(field) = Field::from_name(word) {
        assert_eq!(field.name(), word);
    }
    if all.is_empty() {
        "valid"
    } else {
        "invalid"
    }
}

// ---------------------------------------------------------------------------
// The stores' answer handling.

/// Runs `future` to completion on this thread's runtime (current-thread,
/// with I/O and time).
fn block_on<F: Future>(future: F) -> F::Output {
    thread_local! {
        static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a current-thread runtime");
    }
    RUNTIME.with(|runtime| runtime.block_on(future))
}

/// The key the store hooks read and write.
pub const KEY: &str = "session:9ca69ea696434e99beff2880eb95116a";

#[cfg(unix)]
pub use self::memcache::*;
pub use self::redis::*;

#[cfg(unix)]
mod memcache {
    use std::io::Write as _;
    use std::net::Shutdown;
    use std::os::fd::OwnedFd;
    use std::os::unix::net::UnixStream;
    use std::str::FromStr;

    use tokio::io::BufReader;

    use super::{block_on, bytes, Input, Outcome, KEY};
    use crate::store::memcache::connection::{self, Added, Connection, Swapped};
    use crate::store::memcache::MemcacheStoreError;

    /// A command whose answer [`memcache_reply`] reads.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum MemcacheCommand {
        /// `version`, once per connection.
        Version,
        /// `gat`: `END`, or `VALUE <key> <flags> <bytes>`, the value, `END`.
        Gat,
        /// `gats`: as `gat`, with the CAS unique after `<bytes>`.
        Gats,
        /// `gets`: as `gats`.
        Gets,
        /// `replace` and `add` in one write: two answer lines.
        Put,
        /// `add`: `STORED` or `NOT_STORED`.
        Add,
        /// `cas`: `STORED`, `EXISTS` or `NOT_FOUND`.
        Cas,
        /// `delete`: `DELETED` or `NOT_FOUND`.
        Delete,
    }

    impl MemcacheCommand {
        /// Every command.
        pub const ALL: [MemcacheCommand; 8] = [
            MemcacheCommand::Version,
            MemcacheCommand::Gat,
            MemcacheCommand::Gats,
            MemcacheCommand::Gets,
            MemcacheCommand::Put,
            MemcacheCommand::Add,
            MemcacheCommand::Cas,
            MemcacheCommand::Delete,
        ];
    }

    /// The maximum value sizes [`memcache_bytes`] picks from.
    pub const MEMCACHE_MAX_VALUES: [usize; 5] = [0, 5, 64, 1024, 64 * 1024];

    /// The longest reply the hook sends; longer ones are cut (the socket
    /// buffer holds it whole, so the hook needs no second task).
    pub const MAX_REPLY: usize = 32 * 1024;

    /// An answer line's longest length, without its `\r\n`.
    pub const MAX_LINE: usize = connection::MAX_LINE;

    /// The memcached answer reader on raw bytes: the first byte picks the
    /// command, the second the maximum value size (from
    /// [`MEMCACHE_MAX_VALUES`]), the rest is the server's answer.
    pub fn memcache_bytes(data: &[u8]) -> Outcome {
        let mut input = Input::new(data);
        let command = MemcacheCommand::ALL[input.below(MemcacheCommand::ALL.len())];
        let max = MEMCACHE_MAX_VALUES[input.below(MEMCACHE_MAX_VALUES.len())];
        memcache_reply(command, max, input.take(usize::MAX))
    }

    /// What a command answered, in one shape for all of them.
    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Answer {
        /// `END`: no value.
        Missing,
        /// A value, and its CAS unique when the command asks for one.
        Found(Vec<u8>, Option<u64>),
        /// The success line the command gave meaning to.
        Line(&'static str),
        /// A `VERSION` line.
        Version,
    }

    /// Sends `command` on a connection whose server answers `reply` (at
    /// most [`MAX_REPLY`] bytes of it) and then closes its side, and reads
    /// the answer with values of at most `max` bytes.
    ///
    /// Invariants: no panic; a reply that does not follow the protocol (a
    /// line over [`MAX_LINE`] bytes, without `\r\n` or cut short; an answer
    /// the command does not give; a `VALUE` for another key, with a bad
    /// number, or announcing more than `max` bytes; a value not followed by
    /// `\r\n` and `END`) is an error; a well-formed reply is read exactly
    /// (the value and unique it holds, the meaning of its line); after a
    /// success the connection is between answers (not marked busy). How
    /// much the reader allocates is checked by the callers: libFuzzer's
    /// `-malloc_limit_mb`, and the property test's counting allocator.
    pub fn memcache_reply(command: MemcacheCommand, max: usize, reply: &[u8]) -> Outcome {
        let reply = &reply[..reply.len().min(MAX_REPLY)];
        let (result, busy) = block_on(run(command, max, reply));
        let expected = model(command, max, reply);
        let show = || format!("{command:?} (max {max}) answered {}", bytes(reply));
        match (&result, &expected) {
            (Ok(answer), Ok((want, strict))) => {
                assert_eq!(answer, want, "{}", show());
                assert!(!busy, "a success leaves the connection busy: {}", show());
                if *strict {
                    "read"
                } else {
                    "read (numbers with signs or zeroes)"
                }
            }
            (Ok(answer), Err(why)) => {
                panic!("accepted as {answer:?}, yet {why}: {}", show())
            }
            (Err(error), Ok((want, true))) => {
                panic!("refused ({error}), yet well-formed ({want:?}): {}", show())
            }
            (Err(_), Ok(_)) => "refused (numbers with signs or zeroes)",
            (Err(_), Err(why)) => why,
        }
    }

    /// Runs `command` against `reply`; the result, and whether the
    /// connection was left busy.
    async fn run(
        command: MemcacheCommand,
        max: usize,
        reply: &[u8],
    ) -> (Result<Answer, MemcacheStoreError>, bool) {
        let (ours, mut server) = UnixStream::pair().expect("a socket pair");
        server
            .write_all(reply)
            .expect("the reply fits the socket buffer");
        // The reader sees the end after the reply; what it writes still
        // goes somewhere (the server's side stays open for reading).
        server.shutdown(Shutdown::Write).expect("shutdown");
        // A `Connection` reads a `TcpStream`: a Unix socket (one end of
        // the pair) serves as one here, as only reads and writes are used.
        let stream = std::net::TcpStream::from(OwnedFd::from(ours));
        stream.set_nonblocking(true).expect("non-blocking");
        let stream = tokio::net::TcpStream::from_std(stream).expect("registered");
        let mut connection = Connection {
            server: "fuzz:11211".into(),
            stream: BufReader::new(stream),
            out: Vec::new(),
            line: Vec::new(),
            busy: false,
        };
        let c = &mut connection;
        let result = match command {
            MemcacheCommand::Version => c.version().await.map(|_| Answer::Version),
            MemcacheCommand::Gat => c
                .gat(KEY, 60, max)
                .await
                .map(|found| found.map_or(Answer::Missing, |v| Answer::Found(v, None))),
            MemcacheCommand::Gats => c
                .gats(KEY, 60, max)
                .await
                .map(|found| found.map_or(Answer::Missing, |(v, u)| Answer::Found(v, Some(u)))),
            MemcacheCommand::Gets => c
                .gets(KEY, max)
                .await
                .map(|found| found.map_or(Answer::Missing, |(v, u)| Answer::Found(v, Some(u)))),
            MemcacheCommand::Put => c.put(KEY, b"{}", 60).await.map(|()| Answer::Line("done")),
            MemcacheCommand::Add => c.add(KEY, b"{}", 60).await.map(|added| {
                Answer::Line(match added {
                    Added::Stored => "STORED",
                    Added::NotStored => "NOT_STORED",
                })
            }),
            MemcacheCommand::Cas => c.cas(KEY, b"{}", 60, 7).await.map(|swapped| {
                Answer::Line(match swapped {
                    Swapped::Stored => "STORED",
                    Swapped::Exists => "EXISTS",
                    Swapped::NotFound => "NOT_FOUND",
                })
            }),
            MemcacheCommand::Delete => c.delete(KEY).await.map(|()| Answer::Line("done")),
        };
        if let Ok(Answer::Version) = result {
            // What the pool does with the answer next.
            let _ = connection::parse_version(&String::from_utf8_lossy(&connection.line));
        }
        let busy = connection.busy;
        drop(server);
        (result, busy)
    }

    /// One answer line of `reply`, without its `\r\n`, and what follows it.
    fn line(reply: &[u8]) -> Result<(&[u8], &[u8]), &'static str> {
        let end = reply
            .iter()
            .position(|&b| b == b'\n')
            .ok_or("a line is cut short")?;
        if end + 1 > MAX_LINE + 2 {
            return Err("a line is too long");
        }
        let line = reply[..end]
            .strip_suffix(b"\r")
            .ok_or("a line does not end with \\r\\n")?;
        Ok((line, &reply[end + 1..]))
    }

    /// A decimal field as `str::parse` reads it, and whether it is plain
    /// digits (what memcached writes).
    fn number<T: FromStr>(field: Option<&[u8]>) -> Result<(T, bool), &'static str> {
        let field = field.ok_or("a field is missing")?;
        let value = std::str::from_utf8(field)
            .ok()
            .and_then(|text| text.parse().ok())
            .ok_or("a number is not one")?;
        Ok((value, field.iter().all(u8::is_ascii_digit)))
    }

    /// What a reader that follows memcached's protocol makes of `reply`:
    /// the answer and whether the reply is strictly well-formed (numbers
    /// as plain digits), or why it is not an answer.
    fn model(
        command: MemcacheCommand,
        max: usize,
        reply: &[u8],
    ) -> Result<(Answer, bool), &'static str> {
        let (first, rest) = line(reply)?;
        let one_of = |answers: &[&'static str]| {
            answers
                .iter()
                .find(|a| a.as_bytes() == first)
                .map(|a| (Answer::Line(a), true))
                .ok_or("not an answer of the command")
        };
        let with_unique = match command {
            MemcacheCommand::Version => {
                return match first.strip_prefix(b"VERSION ") {
                    Some(_) => Ok((Answer::Version, true)),
                    None => Err("not a VERSION line"),
                }
            }
            MemcacheCommand::Add => return one_of(&["STORED", "NOT_STORED"]),
            MemcacheCommand::Cas => return one_of(&["STORED", "EXISTS", "NOT_FOUND"]),
            MemcacheCommand::Delete => {
                return one_of(&["DELETED", "NOT_FOUND"]).map(|_| (Answer::Line("done"), true))
            }
            MemcacheCommand::Put => {
                let stored = |line: &[u8]| match line {
                    b"STORED" => Ok(true),
                    b"NOT_STORED" => Ok(false),
                    _ => Err("not an answer of replace or add"),
                };
                let replaced = stored(first);
                if replaced.is_err() && !first.starts_with(b"SERVER_ERROR ") {
                    return Err("replace failed");
                }
                let (second, _) = line(rest)?;
                return match (replaced, stored(second)) {
                    (Ok(true), _) | (_, Ok(true)) | (Ok(false), Ok(false)) => {
                        Ok((Answer::Line("done"), true))
                    }
                    _ => Err("neither replace nor add stored"),
                };
            }
            MemcacheCommand::Gat => false,
            MemcacheCommand::Gats | MemcacheCommand::Gets => true,
        };
        if first == b"END" {
            return Ok((Answer::Missing, true));
        }
        let mut parts = first.split(|&b| b == b' ');
        if parts.next() != Some(&b"VALUE"[..]) || parts.next() != Some(KEY.as_bytes()) {
            return Err("not a VALUE line for the key");
        }
        let (_flags, flags_plain) = number::<u32>(parts.next())?;
        let (len, len_plain) = number::<u64>(parts.next())?;
        let (unique, unique_plain) = if with_unique {
            let (unique, plain) = number::<u64>(parts.next())?;
            (Some(unique), plain)
        } else {
            (None, true)
        };
        if parts.next().is_some() {
            return Err("a VALUE line has too many fields");
        }
        if len > max as u64 {
            return Err("the value announced is over the maximum");
        }
        let len = len as usize;
        if rest.len() < len + 2 || &rest[len..len + 2] != b"\r\n" {
            return Err("the value is cut short or not followed by \\r\\n");
        }
        let (end, _) = line(&rest[len + 2..])?;
        if end != b"END" {
            return Err("no END after the value");
        }
        let strict = flags_plain && len_plain && unique_plain;
        Ok((Answer::Found(rest[..len].to_vec(), unique), strict))
    }
}

mod redis {
    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex, PoisonError};
    use std::time::Duration;

    use ::redis::aio::ConnectionLike;
    use ::redis::{Cmd, ErrorKind, Pipeline, RedisFuture, ServerErrorKind, Value};

    use super::{block_on, bytes, Input, Outcome, KEY};
    use crate::store::redis::RedisStore;
    use crate::{Expect, SaveOutcome, SessionStore, Stored};

    /// A call whose handling of Redis's answers [`redis_replies`] checks.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum RedisCall {
        /// `load`: `GETEX`.
        Load,
        /// `load_versioned`: `GETEX`.
        LoadVersioned,
        /// `save`: `SET`.
        Save,
        /// `save_if` of a new session: `SET … NX`.
        SaveIfAbsent,
        /// `save_if` of a loaded session: the compare-and-set script
        /// (`EVALSHA`, then `EVAL` after `NOSCRIPT`).
        SaveIfLoaded,
        /// `delete`: `DEL`.
        Delete,
    }

    impl RedisCall {
        /// Every call.
        pub const ALL: [RedisCall; 6] = [
            RedisCall::Load,
            RedisCall::LoadVersioned,
            RedisCall::Save,
            RedisCall::SaveIfAbsent,
            RedisCall::SaveIfLoaded,
            RedisCall::Delete,
        ];
    }

    /// The store's maximum value size in the hook: values up to 2× it are
    /// tried.
    pub const REDIS_MAX_VALUE: usize = 16;

    /// The error answers [`redis_bytes`] picks from (the first is
    /// `NOSCRIPT`; the last quotes [`KEY`], as Redis does for a command it
    /// does not know).
    pub const REDIS_ERRORS: [&str; 6] = [
        "NOSCRIPT No matching script. Please use EVAL.",
        "ERR something went wrong",
        "WRONGTYPE Operation against a key holding the wrong kind of value",
        "BUSY Redis is busy running a script",
        "READONLY You can't write against a read only replica.",
        "ERR unknown command 'GETEX', with args beginning with: \
         'session:9ca69ea696434e99beff2880eb95116a' 'EX' '60' ",
    ];

    /// A Redis error answer, `-<line>\r\n`, as the `redis` crate reads it.
    pub fn redis_error(line: &str) -> Value {
        let line: String = line.chars().filter(|c| !c.is_control()).collect();
        ::redis::parse_redis_value(format!("-{line}\r\n").as_bytes()).expect("an error line parses")
    }

    /// The Redis answer handling on raw bytes: the call, the value's size
    /// and two answers (the second is used when the first was `NOSCRIPT`)
    /// are read from `data`.
    pub fn redis_bytes(data: &[u8]) -> Outcome {
        let mut input = Input::new(data);
        let call = RedisCall::ALL[input.below(RedisCall::ALL.len())];
        let value = vec![b'x'; input.below(2 * REDIS_MAX_VALUE + 1)];
        let replies = vec![redis_value(&mut input, 0), redis_value(&mut input, 0)];
        redis_replies(call, &value, replies)
    }

    /// A Redis value of any kind (RESP2 and RESP3), from bytes.
    fn redis_value(input: &mut Input<'_>, depth: usize) -> Value {
        let many = |input: &mut Input<'_>| -> Vec<Value> {
            if depth >= 3 {
                return Vec::new();
            }
            (0..input.below(4))
                .map(|_| redis_value(input, depth + 1))
                .collect()
        };
        match input.byte() % 14 {
            0 => Value::Nil,
            1 => Value::Int([0, 1, -1, 2][input.below(4)]),
            2 => Value::Int(input.u64() as i64),
            3 | 4 => {
                let len = input.byte().into();
                Value::BulkString(input.take(len).to_vec())
            }
            5 => Value::Array(many(input)),
            6 => {
                let len = input.byte().into();
                Value::Array(vec![Value::BulkString(input.take(len).to_vec())])
            }
            7 => Value::SimpleString(input.text()),
            8 => Value::Okay,
            9 => {
                let items = many(input);
                Value::Map(
                    items
                        .chunks(2)
                        .filter_map(|p| Some((p.first()?.clone(), p.get(1)?.clone())))
                        .collect(),
                )
            }
            10 => Value::Set(many(input)),
            11 => Value::Double(f64::from_bits(input.u64())),
            12 => Value::Boolean(input.byte() & 1 == 1),
            _ => {
                let pick = input.below(REDIS_ERRORS.len() + 1);
                match REDIS_ERRORS.get(pick) {
                    Some(line) => redis_error(line),
                    None => redis_error(&input.text()),
                }
            }
        }
    }

    /// Answers the commands of one call from a list, and notes which
    /// commands were sent.
    #[derive(Clone, Default)]
    struct Scripted {
        replies: Arc<Mutex<VecDeque<Value>>>,
        sent: Arc<Mutex<Vec<String>>>,
    }

    impl ConnectionLike for Scripted {
        fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
            let name = match cmd.args_iter().next() {
                Some(::redis::Arg::Simple(name)) => String::from_utf8_lossy(name).into_owned(),
                _ => String::new(),
            };
            self.sent
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(name);
            let reply = self
                .replies
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop_front();
            Box::pin(async move {
                reply.ok_or_else(|| {
                    std::io::Error::new(std::io::ErrorKind::ConnectionReset, "no more answers")
                        .into()
                })
            })
        }

        fn req_packed_commands<'a>(
            &'a mut self,
            _: &'a Pipeline,
            _: usize,
            _: usize,
        ) -> RedisFuture<'a, Vec<Value>> {
            Box::pin(async {
                Err(std::io::Error::new(std::io::ErrorKind::Unsupported, "no pipelines").into())
            })
        }

        fn get_db(&self) -> i64 {
            0
        }
    }

    /// Whether the `redis` crate reads `value` as an error (it looks for
    /// one inside arrays, maps and sets too), of `kind` when given.
    fn is_error(value: &Value, kind: Option<ServerErrorKind>) -> bool {
        match value.clone().extract_error() {
            Err(error) => kind.is_none_or(|kind| error.kind() == ErrorKind::Server(kind)),
            Ok(_) => false,
        }
    }

    /// Runs `call` (saving `value` where it saves, on a store whose
    /// maximum value size is [`REDIS_MAX_VALUE`]) against a connection
    /// that answers its commands with `replies`, in order, and then fails.
    ///
    /// Invariants: no panic; a value over the maximum is refused before
    /// anything is sent; each call sends its one command, and the
    /// compare-and-set script is sent again as `EVAL` exactly when
    /// `EVALSHA` answered `NOSCRIPT`; an error answer (or one holding an
    /// error, which the `redis` crate reads as that error) is an error;
    /// `GETEX` reads nil as no session and a bulk string as the value;
    /// `SET` takes `OK` as written and `SET … NX` nil as taken; `DEL`
    /// takes any integer; the script's answer 1 is `Saved`, 0 is `Gone`,
    /// and a one-element array of a bulk string is `Changed` with those
    /// bytes; any other answer is an error; and no error shows session
    /// data (its text does not change when the bytes of the replies' bulk
    /// strings do) or more than 4 characters of the session id.
    pub fn redis_replies(call: RedisCall, value: &[u8], replies: Vec<Value>) -> Outcome {
        let show = || format!("{call:?} of {} answered {replies:?}", bytes(value));
        let (outcome, sent) = call_store(call, value, &replies);
        if let Err(error) = &outcome {
            shows_nothing_secret(error, call, value, &replies, &show);
        }
        let writes = matches!(
            call,
            RedisCall::Save | RedisCall::SaveIfAbsent | RedisCall::SaveIfLoaded
        );
        if writes && value.len() > REDIS_MAX_VALUE {
            assert!(outcome.is_err(), "too large, yet {outcome:?}: {}", show());
            assert!(sent.is_empty(), "too large, yet sent {sent:?}: {}", show());
            return "too large, nothing sent";
        }
        let first = replies.first();
        let no_script = first.is_some_and(|r| is_error(r, Some(ServerErrorKind::NoScript)));
        let expected_sent: &[&str] = match call {
            RedisCall::Load | RedisCall::LoadVersioned => &["GETEX"],
            RedisCall::Save | RedisCall::SaveIfAbsent => &["SET"],
            RedisCall::SaveIfLoaded if no_script => &["EVALSHA", "EVAL"],
            RedisCall::SaveIfLoaded => &["EVALSHA"],
            RedisCall::Delete => &["DEL"],
        };
        assert_eq!(sent, expected_sent, "{}", show());
        // The answer the outcome comes from.
        let answer = if call == RedisCall::SaveIfLoaded && no_script {
            replies.get(1)
        } else {
            first
        };
        let Some(answer) = answer else {
            assert!(outcome.is_err(), "no answer, yet {outcome:?}: {}", show());
            return "no answer, an error";
        };
        if is_error(answer, None) {
            assert!(
                outcome.is_err(),
                "an error answer, yet {outcome:?}: {}",
                show()
            );
            return "an error answer, an error";
        }
        let want = match (call, answer) {
            (RedisCall::Load | RedisCall::LoadVersioned, Value::Nil) => Some(Gave::Loaded(None)),
            (RedisCall::Load | RedisCall::LoadVersioned, Value::BulkString(b)) => {
                Some(Gave::Loaded(Some(b.clone())))
            }
            (RedisCall::Save, Value::Okay) => Some(Gave::Saved),
            (RedisCall::SaveIfAbsent, Value::Okay) => {
                Some(Gave::SavedIf(SaveOutcome::Saved { version: None }))
            }
            (RedisCall::SaveIfAbsent, Value::Nil) => Some(Gave::SavedIf(SaveOutcome::Exists)),
            (RedisCall::Delete, Value::Int(_)) => Some(Gave::Deleted),
            (RedisCall::SaveIfLoaded, Value::Int(1)) => {
                Some(Gave::SavedIf(SaveOutcome::Saved { version: None }))
            }
            (RedisCall::SaveIfLoaded, Value::Int(0)) => Some(Gave::SavedIf(SaveOutcome::Gone)),
            (RedisCall::SaveIfLoaded, Value::Array(items)) => match items.as_slice() {
                [Value::BulkString(b)] => Some(Gave::SavedIf(SaveOutcome::Changed(Stored {
                    value: b.clone(),
                    version: None,
                }))),
                _ => None,
            },
            _ => None,
        };
        match want {
            Some(want) => assert_eq!(
                outcome.as_ref().ok(),
                Some(&want),
                "{outcome:?}: {}",
                show()
            ),
            // RESP3 wrappers the `redis` crate may unwrap: no claim.
            None if matches!(answer, Value::Attribute { .. } | Value::Push { .. }) => {}
            None => assert!(
                outcome.is_err(),
                "an answer the command does not give, yet {outcome:?}: {}",
                show()
            ),
        }
        match outcome {
            Ok(Gave::Loaded(Some(_))) => "loaded",
            Ok(Gave::Loaded(None)) => "missing",
            Ok(Gave::Saved | Gave::SavedIf(SaveOutcome::Saved { .. })) => "saved",
            Ok(Gave::SavedIf(SaveOutcome::Exists)) => "exists",
            Ok(Gave::SavedIf(SaveOutcome::Changed(_))) => "changed",
            Ok(Gave::SavedIf(SaveOutcome::Gone)) => "gone",
            Ok(Gave::Deleted) => "deleted",
            Err(_) => "an answer the command does not give, an error",
        }
    }

    /// Runs `call` on a store whose connection answers with `replies`;
    /// what it gave, and the commands it sent.
    fn call_store(
        call: RedisCall,
        value: &[u8],
        replies: &[Value],
    ) -> (Result<Gave, crate::StoreError>, Vec<String>) {
        let connection = Scripted::default();
        connection
            .replies
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(replies.iter().cloned());
        let store = RedisStore::new(connection.clone()).with_max_value_size(REDIS_MAX_VALUE);
        let ttl = Duration::from_millis(1500);
        let loaded = Expect::Loaded {
            value: b"{\"a\":1}",
            version: None,
        };
        let outcome = block_on(async {
            match call {
                RedisCall::Load => store.load(KEY, ttl).await.map(Gave::Loaded),
                RedisCall::LoadVersioned => store.load_versioned(KEY, ttl).await.map(|stored| {
                    assert!(stored.as_ref().is_none_or(|s| s.version.is_none()));
                    Gave::Loaded(stored.map(|s| s.value))
                }),
                RedisCall::Save => store.save(KEY, value, ttl).await.map(|()| Gave::Saved),
                RedisCall::SaveIfAbsent => store
                    .save_if(KEY, value, ttl, Expect::Absent)
                    .await
                    .map(Gave::SavedIf),
                RedisCall::SaveIfLoaded => store
                    .save_if(KEY, value, ttl, loaded)
                    .await
                    .map(Gave::SavedIf),
                RedisCall::Delete => store.delete(KEY).await.map(|()| Gave::Deleted),
            }
        });
        let sent = connection
            .sent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        (outcome, sent)
    }

    /// `value` with the bytes of every bulk string replaced (the lengths
    /// kept).
    fn masked(value: &Value) -> Value {
        match value {
            Value::BulkString(bytes) => Value::BulkString(
                bytes
                    .iter()
                    .map(|&b| if b == b'#' { b'%' } else { b'#' })
                    .collect(),
            ),
            Value::Array(items) => Value::Array(items.iter().map(masked).collect()),
            Value::Set(items) => Value::Set(items.iter().map(masked).collect()),
            Value::Map(pairs) => {
                Value::Map(pairs.iter().map(|(k, v)| (masked(k), masked(v))).collect())
            }
            other => other.clone(),
        }
    }

    /// All an error shows: its text, its sources' and its `Debug`.
    fn error_text(error: &crate::StoreError) -> String {
        let mut text = format!("{error} {error:?}");
        let mut source = std::error::Error::source(error);
        while let Some(inner) = source {
            text.push_str(&format!(" {inner} {inner:?}"));
            source = inner.source();
        }
        text
    }

    /// Checks that `error` shows no session data and no session id: its
    /// text (its sources' and its `Debug` too) is the same when every bulk
    /// string of the answers holds other bytes, and holds no more than 4
    /// characters of the id in [`KEY`].
    fn shows_nothing_secret(
        error: &crate::StoreError,
        call: RedisCall,
        value: &[u8],
        replies: &[Value],
        show: &dyn Fn() -> String,
    ) {
        let text = error_text(error);
        let id = &KEY[KEY.len() - 32..];
        assert!(
            !text.contains(&id[..5]),
            "the error shows the session id: {text:?} ({})",
            show()
        );
        let masked: Vec<Value> = replies.iter().map(masked).collect();
        let (again, _) = call_store(call, value, &masked);
        let again = again.err().map(|e| error_text(&e));
        assert_eq!(
            again.as_deref(),
            Some(text.as_str()),
            "the error depends on the bytes of a reply's bulk strings ({})",
            show()
        );
    }

    /// What a call gave.
    #[derive(Debug, PartialEq)]
    enum Gave {
        Loaded(Option<Vec<u8>>),
        Saved,
        SavedIf(SaveOutcome),
        Deleted,
    }
}
