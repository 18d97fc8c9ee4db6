//! The handling of Redis answers the store owns (the compare-and-set script and the rest).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    sessionkit::fuzzing::redis_bytes(data);
});
