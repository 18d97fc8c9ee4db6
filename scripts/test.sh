#!/usr/bin/env bash
# Installs what the tests need when it is missing, then runs every check we rely on.
# Usage: scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

# redis-server, memcached and PostgreSQL, from Debian's packages. The tests
# start their own servers on free loopback ports; nothing here starts a
# service.
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v memcached >/dev/null 2>&1 || missing+=(memcached)
# PostgreSQL, for tests/postgres_store.rs: its initdb on PATH or where
# Debian installs it (/usr/lib/postgresql/<version>/bin, not on PATH).
if ! command -v initdb >/dev/null 2>&1 && ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
  missing+=(postgresql)
fi
# Headless Chromium and its WebDriver server, for tests/partitioned_browser.rs
# (it starts both itself, on loopback).
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
# Python 3 with venv/ensurepip, for the sanic-session peer (below).
{ python3 -c 'import venv' && python3 -m ensurepip --version; } >/dev/null 2>&1 || missing+=(python3 python3-venv)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "scripts/test.sh: missing ${missing[*]}; install them (apt-get install -y ${missing[*]}) or run as root" >&2
    exit 1
  fi
  echo "==> installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# The Python virtualenv of tests/sanic_interop.rs (sanic-session 0.8.0 and
# the pinned tests/peers/sanic/requirements.txt, from PyPI), created in
# target/sanic-venv when missing or out of date; the tests run its python.
if [ -z "${SESSIONKIT_SANIC_PYTHON:-}" ]; then
  SESSIONKIT_SANIC_PYTHON=$(tests/peers/sanic/setup-venv.sh)
fi
export SESSIONKIT_SANIC_PYTHON

# Everything here is compiled once per run: incremental caches would only
# take disk (they were most of the target directory).
export CARGO_INCREMENTAL=0

echo "==> cargo fmt --check"
cargo fmt --all -- --check
# The declared rust-version against Cargo.lock (no dependency may need a
# newer Rust), and that the check does fail on a version below that; the
# code's own use of the standard library is held to it by clippy's
# incompatible_msrv, part of the clippy run below.
echo "==> rust-version"
scripts/check-msrv.sh
if scripts/check-msrv.sh 1.56 >/dev/null; then
  echo "scripts/check-msrv.sh passed rust-version 1.56, lower than Cargo.lock needs" >&2
  exit 1
fi
echo "==> cargo clippy"
cargo clippy --workspace --all-targets --all-features -- -D warnings
# Each of sessionkit's features alone: code that only another feature uses
# must be compiled with it, or a build with just the store one needs warns.
for feature in memory axum redis redis-tls memcache postgres sqlite metrics; do
  echo "==> cargo clippy -p sessionkit --no-default-features --features $feature"
  cargo clippy -p sessionkit --no-default-features --features "$feature" --all-targets -- -D warnings
done
echo "==> cargo doc"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --all-features
# Every publishable workspace member (publish = false ones are skipped) is
# packaged (in target/package) and its .crate built alone, with its default
# features (in target/publish); sibling crates not on crates.io come from a local overlay
# of the ones just packaged. Needs the crates.io index; uploads nothing.
# --allow-dirty: what is checked is the working tree, committed or not.
# The overlay's crates keep their version (0.1.0) from run to run, and cargo
# takes a registry crate it has unpacked or compiled before to be unchanged:
# it would verify against what an earlier run packaged. So the unpacked
# copies (under $CARGO_HOME/registry/src/-<hash>/) are removed, and the
# verification builds in a directory of its own whose sessionkit artifacts
# are removed too (its third-party dependencies stay compiled).
find "${CARGO_HOME:-$HOME/.cargo}/registry/src" -mindepth 2 -maxdepth 2 -type d \
  -path '*/src/-*/sessionkit-*' -exec rm -rf {} + 2>/dev/null || true
publish_target="${CARGO_TARGET_DIR:-target}/publish"
rm -rf "$publish_target"/debug/.fingerprint/sessionkit* "$publish_target"/debug/deps/*sessionkit* \
  "$publish_target"/debug/build/sessionkit*
echo "==> cargo publish --dry-run"
cargo publish --workspace --dry-run --allow-dirty --locked --target-dir "$publish_target"
echo "==> cargo test"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace --all-features 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# Property tests: each fuzz target's hook (sessionkit::fuzzing, see
# FUZZING.md) over SESSIONKIT_PROPS_CASES generated inputs (default
# 1,000,000; seeded by SESSIONKIT_PROPS_SEED, so reproducible), built in the
# optimized `props` profile; counted in the closing line below.
echo "==> property tests (${SESSIONKIT_PROPS_CASES:-1000000} inputs per target)"
set +e
cargo test --profile props -p sessionkit-props --test props --test memcache 2>&1 | tee -a "$log"
props_status=${PIPESTATUS[0]}
set -e
if [ "$status" -eq 0 ]; then status=$props_status; fi
# One closing line over every test binary and doc-test run (cargo's own last
# line is the last binary's, often a doc-test run with 0 tests).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
