//! Every fuzz target's hook over [`cases`](sessionkit_props::cases) generated
//! inputs (1,000,000 by default), except memcached's (tests/memcache.rs,
//! which counts allocations).

use sessionkit::fuzzing;
use sessionkit_props::{check, gen};

#[test]
fn ids() {
    check("id", gen::id, |id| fuzzing::id_bytes(id));
}

#[test]
fn cookie_headers() {
    check("cookie", gen::cookie, |(name, headers)| {
        let headers: Vec<&[u8]> = headers.iter().map(Vec::as_slice).collect();
        fuzzing::cookie_headers(name, &headers)
    });
}

#[test]
fn decoding_stored_data() {
    check("decode", gen::stored, |bytes| fuzzing::decode_bytes(bytes));
}

#[test]
fn encoding_round_trips() {
    check(
        "roundtrip",
        |rng| (gen::probe(rng), gen::extras(rng)),
        |(probe, extras)| match (
            fuzzing::roundtrip(probe, extras),
            fuzzing::roundtrip_untyped(extras),
        ) {
            ("read back", "read back") => "both read back",
            ("read back", _) => "probe read back, object refused",
            (_, "read back") => "probe refused, object read back",
            _ => "both refused",
        },
    );
}

#[test]
fn merging() {
    check("merge", gen::merge, |(base, ours, theirs)| {
        fuzzing::merge3(base, ours, theirs)
    });
}

#[test]
fn redis_answers() {
    check("redis", gen::redis, |(call, value, replies)| {
        fuzzing::redis_replies(*call, value, replies.clone())
    });
}

#[test]
fn config_rules() {
    check("rules", gen::config, gen::check_config);
}
