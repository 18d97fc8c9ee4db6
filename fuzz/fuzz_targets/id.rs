//! The session id check: only 32 lowercase hex characters, rendered back unchanged.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    sessionkit::fuzzing::id_bytes(data);
});
