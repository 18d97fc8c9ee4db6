//! The memcached answer reader: malformed answers are errors, well-formed ones read exactly.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    sessionkit::fuzzing::memcache_bytes(data);
});
