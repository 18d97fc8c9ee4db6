//! Compile-time behaviour of the macros and the store trait: what compiles,
//! and the diagnostics of what must not. Regenerate the `.stderr` files with
//! `TRYBUILD=overwrite cargo test --test ui`, then read the diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/session_config/pass/*.rs");
    t.compile_fail("tests/ui/session_config/fail/*.rs");
    t.pass("tests/ui/derive_session/pass/*.rs");
    t.compile_fail("tests/ui/derive_session/fail/*.rs");
    t.compile_fail("tests/ui/store/fail/*.rs");
    // rustc prints `serde_json::Value` as `Value` unless another crate of
    // the build has an item of that name, as rusqlite (the `sqlite`
    // feature) has: these expected outputs are those of the build with
    // every feature, which `scripts/test.sh` runs.
    if cfg!(feature = "sqlite") {
        t.compile_fail("tests/ui/derive_session/fail_full_build/*.rs");
    }
}
