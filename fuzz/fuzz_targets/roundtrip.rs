//! decode(encode(x)) == x for every session the encoder accepts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    sessionkit::fuzzing::roundtrip_bytes(data);
});
