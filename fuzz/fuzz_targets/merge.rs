//! The three-way merge: key by key, `merge(b, o, b) == o`, `merge(b, b, t) == t`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    sessionkit::fuzzing::merge_bytes(data);
});
