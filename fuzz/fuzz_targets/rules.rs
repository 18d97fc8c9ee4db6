//! The configuration rules: no panic, and what is accepted is what each rule says.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    sessionkit::fuzzing::rules_bytes(data);
});
