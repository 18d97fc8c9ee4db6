//! The generators: well-formed inputs of each kind, and mutations of them.

use serde_json::{Number, Value};
use sessionkit::fuzzing::{
    nested_value, MemcacheCommand, Object, Probe, RedisCall, COOKIE_NAMES, KEY, MAX_LINE,
    PROBE_FIELDS, REDIS_ERRORS, REDIS_MAX_VALUE, SPECIAL_FLOATS,
};
use sessionkit::store::redis::client::Value as Reply;

use crate::Rng;

/// Bytes that change the meaning of what is around them.
const INTERESTING: &[u8] = b"\0\t\n\r \"',-.0159:;=AF[\\]afgz{}\x7f\x80\xc3\xff";

/// Text that is not ASCII, or is but looks like it is not: accents, a
/// line separator, a character outside the BMP, a replacement character,
/// a NUL, an escaped quote.
const UNUSUAL_TEXT: &[&str] = &[
    "é", "ß", "\u{2028}", "😀", "\u{fffd}", "\u{0}", "\u{7f}", "\u{a0}", "\\\"", "ключ", "\u{1}",
    "\t",
];

/// Applies one to three random byte mutations: truncation, bit flips,
/// interesting bytes written or inserted, deletions, duplications,
/// non-ASCII text, swaps.
pub fn mutate(rng: &mut Rng, bytes: &mut Vec<u8>) {
    for _ in 0..rng.between(1, 3) {
        let len = bytes.len();
        let at = rng.below(len + 1);
        match rng.below(9) {
            0 => bytes.truncate(at),
            1 if len > 0 => bytes[at.min(len - 1)] ^= 1 << rng.below(8),
            2 if len > 0 => bytes[at.min(len - 1)] = rng.pick(INTERESTING),
            3 => bytes.insert(at, rng.pick(INTERESTING)),
            4 => {
                let end = rng.between(at, len);
                bytes.drain(at..end);
            }
            5 => {
                let end = rng.between(at, len.min(at + 64));
                let copy = bytes[at..end].to_vec();
                let to = rng.below(len + 1);
                bytes.splice(to..to, copy);
            }
            6 => {
                let text = rng.pick(UNUSUAL_TEXT).as_bytes();
                bytes.splice(at..at, text.iter().copied());
            }
            7 if len > 1 => {
                let other = rng.below(len);
                bytes.swap(at.min(len - 1), other);
            }
            _ => bytes.push(rng.next_u64() as u8),
        }
    }
}

/// Text of up to `max` characters, mostly ASCII letters and digits, with
/// punctuation, escapes and non-ASCII now and then.
pub fn text(rng: &mut Rng, max: usize) -> String {
    let len = rng.below(max + 1);
    let mut out = String::new();
    for _ in 0..len {
        match rng.below(10) {
            0 => out.push_str(rng.pick(UNUSUAL_TEXT)),
            1 => out.push(rng.pick(&['"', '\\', '/', '\n', ' ', ';', '=', ':', ',', '{'])),
            _ => out.push(rng.pick(&[
                'a', 'b', 'c', 'n', 's', 'x', 'z', '0', '1', '9', '_', '-', 'A', 'K',
            ])),
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Ids and cookies.

/// A well-formed session id.
pub fn valid_id(rng: &mut Rng) -> Vec<u8> {
    (0..32).map(|_| rng.pick(b"0123456789abcdef")).collect()
}

/// An id, well-formed or nearly: wrong case, a non-hex character, one
/// character more or less, padding, quotes, random bytes.
pub fn id(rng: &mut Rng) -> Vec<u8> {
    let mut id = valid_id(rng);
    match rng.below(8) {
        0 | 1 => {}
        2 => {
            let at = rng.below(32);
            id[at] = rng.pick(b"ABCDEFGgxz:/ \"\x80\xff");
        }
        3 => {
            if rng.one_in(2) {
                id.pop();
            } else {
                id.push(rng.pick(b"0af "));
            }
        }
        4 => {
            let len = rng.between(0, 40);
            id = (0..len)
                .map(|_| rng.pick(b"0123456789abcdefABCDEF"))
                .collect();
        }
        5 => {
            let len = rng.between(0, 40);
            id = rng.bytes(len);
        }
        6 => {
            let pad = rng.pick(&[&b"\""[..], b" ", b"\t", b"%20"]);
            id.splice(0..0, pad.iter().copied());
            id.extend_from_slice(pad);
        }
        _ => mutate(rng, &mut id),
    }
    id
}

/// A cookie name and the `Cookie` header values a client sends: pairs of
/// that name and others (names that only start or end like it, upper
/// case), well-formed and nearly well-formed ids, separators with and
/// without spaces, and byte mutations.
pub fn cookie(rng: &mut Rng) -> (String, Vec<Vec<u8>>) {
    let name = rng.pick(&COOKIE_NAMES).to_string();
    let headers = (0..rng.between(0, 3))
        .map(|_| {
            let mut header = Vec::new();
            for i in 0..rng.between(0, 5) {
                if i > 0 {
                    header.extend_from_slice(rng.pick(&[&b"; "[..], b";", b" ; ", b";;", b";\t"]));
                }
                let key = match rng.below(8) {
                    0..=3 => name.clone(),
                    4 => format!("{name}x"),
                    5 => format!("x{name}"),
                    6 => name.to_uppercase(),
                    _ => rng.pick(&["other", "", " ", "a"]).to_string(),
                };
                header.extend_from_slice(key.as_bytes());
                header.extend_from_slice(rng.pick(&[
                    &b"="[..],
                    b"=",
                    b"=",
                    b" =",
                    b"= ",
                    b"==",
                    b"",
                ]));
                let value = if rng.one_in(4) {
                    id(rng)
                } else {
                    valid_id(rng)
                };
                header.extend_from_slice(&value);
                if rng.one_in(6) {
                    header.extend_from_slice(rng.pick(&[&b" "[..], b"\t", b"=x"]));
                }
            }
            if rng.one_in(4) {
                mutate(rng, &mut header);
            }
            header
        })
        .collect();
    (name, headers)
}

// ---------------------------------------------------------------------------
// JSON: values, objects, probes, stored bytes.

/// A finite float: from random bits, at the edges, or small.
pub fn float(rng: &mut Rng) -> f64 {
    let f = match rng.below(3) {
        0 => f64::from_bits(rng.next_u64()),
        1 => rng.pick(&SPECIAL_FLOATS),
        _ => rng.below(2001) as f64 / 8.0 - 125.0,
    };
    if f.is_finite() {
        f
    } else {
        0.5
    }
}

/// A JSON value: scalars (integers at their extremes, floats), text,
/// arrays and objects to `depth` 5, and now and then a chain of nested
/// containers around serde_json's limit (120 to 135 deep).
pub fn value(rng: &mut Rng, depth: usize) -> Value {
    match rng.below(12) {
        0 => Value::Null,
        1 => Value::Bool(rng.one_in(2)),
        2 => Value::from(rng.next_u64() as i64),
        3 => Value::from(rng.pick(&[0, 1, u64::MAX, i64::MAX as u64 + 1, 9_007_199_254_740_993])),
        4 => Value::from(rng.pick(&[i64::MIN, -1, 0, 1, 42])),
        5 | 6 => Number::from_f64(float(rng)).map_or(Value::Null, Value::Number),
        7 => Value::String(text(rng, 12)),
        8 if depth < 5 => Value::Array((0..rng.below(4)).map(|_| value(rng, depth + 1)).collect()),
        9 if depth < 5 => Value::Object(object(rng, depth + 1, 4)),
        10 if rng.one_in(8) => {
            nested_value(rng.between(120, 135).saturating_sub(depth), rng.one_in(2))
        }
        _ => Value::from(rng.below(10)),
    }
}

/// A key: a few common ones (so that objects share keys), or any text.
pub fn key(rng: &mut Rng) -> String {
    match rng.below(3) {
        0 => text(rng, 8),
        _ => rng
            .pick(&["a", "b", "n", "cart", "user", "", "é", "list", "v"])
            .to_string(),
    }
}

/// An object of up to `max` keys.
pub fn object(rng: &mut Rng, depth: usize, max: usize) -> Object {
    (0..rng.below(max + 1))
        .map(|_| (key(rng), value(rng, depth)))
        .collect()
}

/// A [`Probe`]: integers at their extremes, floats (not finite ones now
/// and then), text, lists, any value, nesting now and then around the
/// decoder's limit.
pub fn probe(rng: &mut Rng) -> Probe {
    let special = |rng: &mut Rng| {
        if rng.one_in(40) {
            rng.pick(&[f64::NAN, f64::INFINITY, f64::NEG_INFINITY])
        } else {
            float(rng)
        }
    };
    let (r1, r2) = (rng.next_u64(), rng.next_u64());
    let mut probe = Probe {
        n: rng.pick(&[0, -1, i64::MIN, i64::MAX, r1 as i64]),
        u: rng.pick(&[0, u64::MAX, r2]),
        f: special(rng),
        g: match rng.below(4) {
            0 => None,
            1 => Some(f32::from_bits(rng.next_u64() as u32)),
            2 => Some(rng.pick(&[
                0.1_f32,
                -0.0,
                f32::MAX,
                f32::MIN_POSITIVE,
                1e-45,
                16_777_217.0,
            ])),
            _ => Some(special(rng) as f32),
        },
        s: text(rng, 10),
        list: (0..rng.below(4)).map(|_| special(rng)).collect(),
        v: value(rng, 1),
        nested: None,
    };
    if rng.one_in(10) {
        let levels = if rng.one_in(2) {
            rng.between(120, 135)
        } else {
            rng.below(5)
        };
        for _ in 0..levels {
            probe = Probe {
                nested: Some(Box::new(probe)),
                ..Probe::default()
            };
        }
    }
    probe
}

/// Extra keys for a [`Probe`] (some are its fields, which the hook leaves out).
pub fn extras(rng: &mut Rng) -> Object {
    let mut extras = object(rng, 1, 4);
    if rng.one_in(4) {
        extras.insert(rng.pick(&PROBE_FIELDS).to_string(), value(rng, 1));
    }
    extras
}

/// Bytes as stored: our encodings and others' (spaces, escapes, other key
/// orders), JSON that is not an object, objects nested around the decoder's
/// limit, token soup, random bytes; mutated a third of the time.
pub fn stored(rng: &mut Rng) -> Vec<u8> {
    let mut bytes = match rng.below(8) {
        0 => serde_json::to_vec(&Value::Object(object(rng, 1, 6))).expect("a JSON value"),
        // Our own encoding of a probe: canonical.
        1 => serde_json::to_vec(&probe_finite(rng)).expect("a probe"),
        2 => {
            let mut object = serde_json::to_value(probe_finite(rng)).expect("a probe");
            if let Value::Object(map) = &mut object {
                map.extend(extras(rng));
            }
            serde_json::to_vec(&object).expect("a JSON value")
        }
        3 => serde_json::to_vec_pretty(&value(rng, 0)).expect("a JSON value"),
        4 => {
            let levels = rng.between(120, 135);
            let (open, close) = if rng.one_in(2) {
                ("{\"v\":", "}")
            } else {
                ("[", "]")
            };
            let mut text = String::from("{\"nested\":");
            text.push_str(&open.repeat(levels));
            text.push('1');
            text.push_str(&close.repeat(levels));
            text.push('}');
            text.into_bytes()
        }
        5 => {
            let tokens = [
                "{",
                "}",
                "[",
                "]",
                ":",
                ",",
                "\"a\"",
                "\"n\"",
                "1",
                "-0",
                "1e999",
                "1.5",
                "null",
                "true",
                " ",
                "\"\\u00e9\"",
                "\"\\ud800\"",
            ];
            (0..rng.below(24))
                .flat_map(|_| rng.pick(&tokens).bytes())
                .collect()
        }
        6 => {
            let len = rng.below(48);
            rng.bytes(len)
        }
        _ => serde_json::to_vec(&Value::Object(object(rng, 1, 6))).expect("a JSON value"),
    };
    if rng.one_in(3) {
        mutate(rng, &mut bytes);
    }
    bytes
}

/// A probe with finite floats and no deep nesting: one that encodes.
fn probe_finite(rng: &mut Rng) -> Probe {
    let mut probe = probe(rng);
    probe.f = float(rng);
    probe.list.retain(|f| f.is_finite());
    probe.g = probe.g.filter(|g| g.is_finite());
    probe.nested = None;
    probe
}

/// Three stored objects: a base, and "ours" and "theirs" each changed from
/// it (keys changed, removed, added, the same value written differently);
/// now and then one that is not an object, or mutated bytes.
pub fn merge(rng: &mut Rng) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let base = object(rng, 1, 6);
    let ours = edit(rng, &base);
    let theirs = edit(rng, &base);
    let encode = |rng: &mut Rng, object: &Object| -> Vec<u8> {
        let mut bytes = match rng.below(12) {
            0 => serde_json::to_vec(&value(rng, 0)).expect("a JSON value"),
            1 => serde_json::to_vec_pretty(object).expect("a JSON value"),
            _ => serde_json::to_vec(object).expect("a JSON value"),
        };
        if rng.one_in(16) {
            mutate(rng, &mut bytes);
        }
        bytes
    };
    (encode(rng, &base), encode(rng, &ours), encode(rng, &theirs))
}

/// `base` with some keys changed, removed or added.
fn edit(rng: &mut Rng, base: &Object) -> Object {
    let mut edited = base.clone();
    for _ in 0..rng.below(4) {
        match rng.below(4) {
            0 => {
                if let Some(key) = base.keys().nth(rng.below(base.len().max(1))) {
                    edited.remove(key);
                }
            }
            1 => {
                if let Some(key) = base.keys().nth(rng.below(base.len().max(1))) {
                    edited.insert(key.clone(), value(rng, 1));
                }
            }
            2 => {
                // The same number written as a float: a different value.
                if let Some((key, Value::Number(n))) = base.iter().nth(rng.below(base.len().max(1)))
                {
                    if let Some(f) = n.as_f64().and_then(Number::from_f64) {
                        edited.insert(key.clone(), Value::Number(f));
                    }
                }
            }
            _ => {
                edited.insert(key(rng), value(rng, 1));
            }
        }
    }
    edited
}

// ---------------------------------------------------------------------------
// memcached answers.

/// A command, the maximum value size, and what the server answers: the
/// command's own answers, error lines, and `VALUE` answers, then (half the
/// time) a mutation of the protocol: a huge, negative or signed announced
/// length, a length one over the maximum, a line cut short or without
/// `\r`, a line over the 1024-byte limit, another key, a field too many or
/// too few, no `END`, bytes after the answer, byte mutations.
pub fn memcache(rng: &mut Rng) -> (MemcacheCommand, usize, Vec<u8>) {
    let command = rng.pick(&MemcacheCommand::ALL);
    let random = rng.below(300);
    let max = rng.pick(&[0, 1, 5, 64, 1024, 64 * 1024, random]);
    let errors: [&[u8]; 6] = [
        b"ERROR",
        b"CLIENT_ERROR bad data chunk",
        b"SERVER_ERROR out of memory storing object",
        b"SERVER_ERROR object too large for cache",
        b"NOT_STORED",
        b"EXISTS",
    ];
    let line = |rng: &mut Rng, answers: &[&[u8]]| -> Vec<u8> {
        let mut line = if rng.one_in(4) {
            rng.pick(&errors).to_vec()
        } else {
            rng.pick(answers).to_vec()
        };
        line.extend_from_slice(b"\r\n");
        line
    };
    let mut reply = match command {
        MemcacheCommand::Version => line(
            rng,
            &[
                b"VERSION 1.6.21",
                b"VERSION 1.4.5",
                b"VERSION 1.5.3",
                b"VERSION x.y",
                b"VERSION",
            ],
        ),
        MemcacheCommand::Add => line(rng, &[b"STORED", b"NOT_STORED"]),
        MemcacheCommand::Cas => line(rng, &[b"STORED", b"EXISTS", b"NOT_FOUND"]),
        MemcacheCommand::Delete => line(rng, &[b"DELETED", b"NOT_FOUND"]),
        MemcacheCommand::Put => {
            let mut two = line(rng, &[b"STORED", b"NOT_STORED"]);
            two.extend(line(rng, &[b"STORED", b"NOT_STORED"]));
            two
        }
        MemcacheCommand::Gat | MemcacheCommand::Gats | MemcacheCommand::Gets => {
            if rng.one_in(5) {
                b"END\r\n".to_vec()
            } else {
                let len = if rng.one_in(8) {
                    max + rng.below(3)
                } else {
                    rng.below(max.min(300) + 1)
                };
                let mut value = rng.bytes(len);
                if len >= 2 && rng.one_in(4) {
                    value[len / 2 - 1] = b'\r';
                    value[len / 2] = b'\n';
                }
                let random = rng.next_u64();
                let flags = rng.pick(&[0, 1, u32::MAX, random as u32]);
                let mut header = format!("VALUE {KEY} {flags} {len}");
                if command != MemcacheCommand::Gat {
                    let random = rng.next_u64();
                    header.push_str(&format!(" {}", rng.pick(&[0, 1, u64::MAX, random])));
                }
                let mut reply = header.into_bytes();
                reply.extend_from_slice(b"\r\n");
                reply.extend_from_slice(&value);
                reply.extend_from_slice(b"\r\nEND\r\n");
                reply
            }
        }
    };
    if rng.one_in(2) {
        protocol_mutation(rng, max, &mut reply);
    }
    (command, max, reply)
}

/// Replaces the first occurrence of `from` in `bytes` with `to`.
fn replace_first(bytes: &mut Vec<u8>, from: &[u8], to: &[u8]) {
    if let Some(at) = bytes.windows(from.len()).position(|w| w == from) {
        bytes.splice(at..at + from.len(), to.iter().copied());
    }
}

fn protocol_mutation(rng: &mut Rng, max: usize, reply: &mut Vec<u8>) {
    let header_end = reply
        .iter()
        .position(|&b| b == b'\n')
        .unwrap_or(reply.len());
    match rng.below(10) {
        0 | 1 => {
            // The announced length (the fourth field of a VALUE line).
            let huge = [
                "4294967296".to_string(),
                "18446744073709551615".into(),
                "18446744073709551614".into(),
                "18446744073709551616".into(),
                "99999999999999999999999".into(),
                "1048577".into(),
                "300000".into(),
                "-1".into(),
                "+5".into(),
                "05".into(),
                "0x10".into(),
                "".into(),
                (max + 1).to_string(),
                max.to_string(),
                (usize::MAX - 1).to_string(),
            ];
            let with = rng.pick(&huge).clone();
            let line = String::from_utf8_lossy(&reply[..header_end]).into_owned();
            let mut fields: Vec<String> = line
                .trim_end_matches('\r')
                .split(' ')
                .map(str::to_string)
                .collect();
            if fields.len() >= 4 {
                fields[3] = with;
                let mut new = fields.join(" ").into_bytes();
                new.push(b'\r');
                reply.splice(..header_end, new);
            }
        }
        2 => {
            let at = rng.below(reply.len() + 1);
            reply.truncate(at);
        }
        3 => replace_first(reply, b"\r\n", b"\n"),
        4 => {
            // A line around the 1024-byte limit.
            let pad = rng.between(MAX_LINE - 320, MAX_LINE + 4);
            let mut line = b"SERVER_ERROR ".to_vec();
            line.resize(pad.max(13), b'x');
            line.extend_from_slice(b"\r\n");
            if rng.one_in(2) {
                *reply = line;
            } else {
                let padded: Vec<u8> =
                    std::iter::repeat_n(b'k', pad.saturating_sub(header_end)).collect();
                reply.splice(
                    header_end.saturating_sub(1)..header_end.saturating_sub(1),
                    padded,
                );
            }
        }
        5 => replace_first(
            reply,
            KEY.as_bytes(),
            b"session:0000000000000000000000000000000x",
        ),
        6 => {
            let field = rng.pick(&[&b" 7"[..], b" ", b" x"]);
            let at = header_end.saturating_sub(1);
            reply.splice(at..at, field.iter().copied());
        }
        7 => replace_first(
            reply,
            b"END",
            rng.pick(&[&b"ENDX"[..], b"END ", b"VALUE", b""]),
        ),
        8 => reply.extend_from_slice(rng.pick(&[&b"END\r\n"[..], b"garbage", b"VALUE x 0 1\r\n"])),
        _ => mutate(rng, reply),
    }
}

// ---------------------------------------------------------------------------
// Redis answers.

/// A stored session as Redis would hand it back: a JSON object holding an
/// id and a secret, or random bytes.
fn session_data(rng: &mut Rng) -> Vec<u8> {
    if rng.one_in(2) {
        let len = rng.below(40);
        return rng.bytes(len);
    }
    let id = String::from_utf8(valid_id(rng)).expect("hex");
    let secret = text(rng, 12);
    serde_json::to_vec(&serde_json::json!({"user": id, "secret": secret})).expect("a JSON value")
}

/// A Redis answer of any kind (RESP2 and RESP3), to `depth` 3.
pub fn reply(rng: &mut Rng, depth: usize) -> Reply {
    let many = |rng: &mut Rng| -> Vec<Reply> {
        if depth >= 3 {
            return Vec::new();
        }
        (0..rng.below(4)).map(|_| reply(rng, depth + 1)).collect()
    };
    match rng.below(13) {
        0 => Reply::Nil,
        1 => Reply::Int(rng.pick(&[0, 1, -1, 2, i64::MAX, i64::MIN])),
        2 => Reply::BulkString(session_data(rng)),
        3 => Reply::Array(many(rng)),
        4 => Reply::SimpleString(text(rng, 8)),
        5 => Reply::Okay,
        6 => {
            let items = many(rng);
            Reply::Map(
                items
                    .chunks(2)
                    .filter_map(|p| Some((p.first()?.clone(), p.get(1)?.clone())))
                    .collect(),
            )
        }
        7 => Reply::Set(many(rng)),
        8 => Reply::Double(float(rng)),
        9 => Reply::Boolean(rng.one_in(2)),
        10 => Reply::Array(vec![reply(rng, depth + 1)]),
        _ => sessionkit::fuzzing::redis_error(rng.pick(&REDIS_ERRORS)),
    }
}

/// A call, the value it saves, and the answers its connection gives: the
/// call's expected answers most of the time (the script's 1, 0 and
/// one-element array; nil, `OK`, bulk strings), `NOSCRIPT` before a
/// second answer, other errors, and answers of any other kind.
pub fn redis(rng: &mut Rng) -> (RedisCall, Vec<u8>, Vec<Reply>) {
    let call = rng.pick(&RedisCall::ALL);
    let len = if rng.one_in(8) {
        rng.between(REDIS_MAX_VALUE, 2 * REDIS_MAX_VALUE)
    } else {
        rng.below(REDIS_MAX_VALUE + 1)
    };
    let value = rng.bytes(len);
    let expected = |rng: &mut Rng| -> Reply {
        if rng.one_in(3) {
            return reply(rng, 0);
        }
        match call {
            RedisCall::Load | RedisCall::LoadVersioned => {
                if rng.one_in(3) {
                    Reply::Nil
                } else {
                    Reply::BulkString(session_data(rng))
                }
            }
            RedisCall::Save | RedisCall::SaveIfAbsent => rng.pick(&[Reply::Okay, Reply::Nil]),
            RedisCall::Delete => Reply::Int(rng.below(2) as i64),
            RedisCall::SaveIfLoaded => match rng.below(4) {
                0 => Reply::Int(1),
                1 => Reply::Int(0),
                2 => Reply::Array(vec![Reply::BulkString(session_data(rng))]),
                _ => Reply::Array(vec![reply(rng, 1)]),
            },
        }
    };
    let mut replies = Vec::new();
    if rng.one_in(4) {
        replies.push(sessionkit::fuzzing::redis_error(REDIS_ERRORS[0]));
    }
    for _ in 0..rng.between(1, 2) {
        replies.push(expected(rng));
    }
    if rng.one_in(16) {
        replies.clear();
    }
    (call, value, replies)
}

// ---------------------------------------------------------------------------
// Configurations.

/// The parts of a configuration, owned (the hook borrows them as
/// `Settings`).
#[derive(Debug, Clone)]
pub struct Config {
    /// `cookie_name`
    pub cookie_name: String,
    /// `domain`
    pub domain: Option<String>,
    /// `expiry`, seconds
    pub expiry_secs: u64,
    /// `httponly`, `secure`, `sessioncookie`, `hash_ids`, `partitioned`
    pub flags: [bool; 5],
    /// `samesite`
    pub samesite: Option<sessionkit::SameSite>,
    /// `prefix`
    pub prefix: String,
    /// `session_name`
    pub session_name: String,
    /// `max_lifetime`, seconds
    pub max_lifetime_secs: Option<u64>,
    /// A `samesite` value or an option name, as written.
    pub word: String,
}

fn string_from(rng: &mut Rng, alphabet: &[&str], len: usize) -> String {
    (0..len).map(|_| rng.pick(alphabet)).collect()
}

/// A domain: labels of letters, digits and `-` around the 63-character
/// limit, a leading dot, and mistakes (empty labels, a trailing dot, a
/// port, a space, non-ASCII, an underscore, 250 to 256 characters).
fn domain(rng: &mut Rng) -> String {
    let label = |rng: &mut Rng| {
        let random = rng.between(1, 20);
        let len = rng.pick(&[1, 3, 7, 62, 63, 64, random]);
        string_from(rng, &["a", "b", "z", "0", "9", "-", "x", "Q"], len)
    };
    let mut domain = (0..rng.between(1, 4))
        .map(|_| label(rng))
        .collect::<Vec<_>>()
        .join(".");
    if rng.one_in(4) {
        domain.insert(0, '.');
    }
    match rng.below(8) {
        0 => domain.push('.'),
        1 => domain.push_str(rng.pick(&[":80", " ", "é", "_", "..", "/"])),
        2 => {
            let len = rng.between(250, 256);
            let mut long = String::new();
            while long.len() < len {
                long.push_str("abcdefghi.");
            }
            long.truncate(len);
            domain = long.trim_end_matches('.').to_string();
        }
        3 => domain = String::new(),
        _ => {}
    }
    domain
}

/// A configuration: valid settings mixed with every kind of mistake, at the
/// limits (218/219-byte prefixes, 186/187 with `hash_ids`, 0 and 400 days
/// of expiry and one more).
pub fn config(rng: &mut Rng) -> Config {
    let token = ["a", "s", "Z", "0", "_", "-", "!", "~", "|", "`", "'"];
    let anything = [
        "a", "b", "0", "-", "_", ":", ".", " ", "\t", "\n", "\u{7f}", "\u{0}", ";", "=", "\"", "(",
        "/", "é", "\u{a0}", "\u{2028}", "😀", "\u{fffd}", "~", "!",
    ];
    // Each option is well-formed (or at a limit) more often than not, so
    // that a fair share of whole configurations is valid.
    let cookie_name = match rng.below(4) {
        0 => rng
            .pick(&[
                "session",
                "sid",
                "__Host-id",
                "__Secure-id",
                "__host-x",
                "a",
            ])
            .to_string(),
        1 | 2 => {
            let len = rng.between(1, 12);
            string_from(rng, &token, len)
        }
        _ => {
            let len = rng.below(10);
            string_from(rng, &anything, len)
        }
    };
    let visible = ["a", "z", "0", ":", "_", "-", "!", "~", "{", "\\"];
    let prefix = match rng.below(5) {
        0 => rng
            .pick(&["session:", "", "cart:", "a b", "café:"])
            .to_string(),
        1 => {
            let around = rng.pick(&[186, 218]);
            "p".repeat(rng.between(around - 2, around + 2))
        }
        2 | 3 => {
            let len = rng.below(12);
            string_from(rng, &visible, len)
        }
        _ => {
            let len = rng.below(12);
            string_from(rng, &anything, len)
        }
    };
    let session_name = match rng.below(3) {
        0 | 1 => "session".to_string(),
        _ => {
            let len = rng.below(8);
            string_from(rng, &anything, len)
        }
    };
    let max = sessionkit_rules::MAX_EXPIRY_SECS;
    let words = [
        "lax",
        "strict",
        "none",
        "Lax",
        "LAX",
        " lax",
        "",
        "cookie_name",
        "domain",
        "expiry",
        "prefix",
        "session_name",
        "samesite",
        "hash_ids",
        "partitioned",
        "Domain",
    ];
    let random = rng.next_u64();
    Config {
        cookie_name,
        domain: (!rng.one_in(3)).then(|| domain(rng)),
        expiry_secs: rng.pick(&[
            0,
            1,
            60,
            3600,
            2_592_000,
            2_592_000,
            max,
            max + 1,
            u64::MAX,
            random,
        ]),
        flags: [
            rng.one_in(2),
            rng.one_in(2),
            rng.one_in(2),
            rng.one_in(2),
            rng.one_in(2),
        ],
        samesite: rng.pick(&[
            None,
            Some(sessionkit::SameSite::Lax),
            Some(sessionkit::SameSite::Strict),
            Some(sessionkit::SameSite::None),
        ]),
        prefix,
        session_name,
        max_lifetime_secs: (!rng.one_in(2))
            .then(|| rng.pick(&[0, 1, 3600, 2_592_000, 2_592_001, max, max + 1, u64::MAX])),
        word: if rng.one_in(4) {
            text(rng, 6)
        } else {
            rng.pick(&words).to_string()
        },
    }
}

/// Runs the rules hook on a [`Config`].
pub fn check_config(config: &Config) -> sessionkit::fuzzing::Outcome {
    let settings: sessionkit_rules::Settings<&str> = sessionkit_rules::Settings {
        cookie_name: &config.cookie_name,
        domain: config.domain.as_deref(),
        expiry_secs: config.expiry_secs,
        httponly: config.flags[0],
        secure: config.flags[1],
        samesite: config.samesite,
        prefix: &config.prefix,
        sessioncookie: config.flags[2],
        session_name: &config.session_name,
        max_lifetime_secs: config.max_lifetime_secs,
        hash_ids: config.flags[3],
        partitioned: config.flags[4],
    };
    sessionkit::fuzzing::rules(&settings, &config.word)
}
