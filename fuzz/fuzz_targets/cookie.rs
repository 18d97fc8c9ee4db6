//! The `Cookie` header reader: the first well-formed `name=id` pair, or none.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    sessionkit::fuzzing::cookie_bytes(data);
});
