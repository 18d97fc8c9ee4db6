//! Decoding stored bytes (typed and untyped): no panic, re-encodings are a fixpoint.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    sessionkit::fuzzing::decode_bytes(data);
});
