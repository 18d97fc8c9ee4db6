#!/usr/bin/env bash
# Runs the fuzz targets (fuzz/, cargo-fuzz on libFuzzer) for a given time each,
# then prints what each one ran. See FUZZING.md.
#
# Usage: scripts/fuzz.sh [seconds-per-target] [target...]
#   seconds-per-target  default 60
#   target              default all: id cookie decode roundtrip merge memcache redis rules
#
# Environment:
#   FUZZ_TARGET_DIR   where cargo-fuzz builds (default: fuzz/target)
#   FUZZ_SANITIZER    address (default, cargo-fuzz's), leak, none, ...
#
# Uses the nightly toolchain when rustup has one; otherwise the default
# toolchain with RUSTC_BOOTSTRAP=1 (cargo-fuzz needs nightly flags). Installs
# cargo-fuzz (crates.io) when it is missing. A crash stops the run: its input
# is in fuzz/artifacts/<target>/, and the script exits non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."

all=(id cookie decode roundtrip merge memcache redis rules)
seconds=${1:-60}
if [ "$#" -gt 0 ]; then shift; fi
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then targets=("${all[@]}"); fi
case "$seconds" in
  '' | *[!0-9]*) echo "scripts/fuzz.sh: seconds must be a number, got '$seconds'" >&2; exit 2 ;;
esac
for target in "${targets[@]}"; do
  case " ${all[*]} " in
    *" $target "*) ;;
    *) echo "scripts/fuzz.sh: unknown target '$target' (known: ${all[*]})" >&2; exit 2 ;;
  esac
done

if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  cargo=(cargo +nightly)
  echo "==> toolchain: $(rustc +nightly --version)"
else
  cargo=(cargo)
  export RUSTC_BOOTSTRAP=1
  echo "==> toolchain: $(rustc --version), with RUSTC_BOOTSTRAP=1 (no nightly installed)"
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "==> installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

target_dir=${FUZZ_TARGET_DIR:-fuzz/target}
sanitizer=${FUZZ_SANITIZER:-address}

# Seed corpora: a few well-formed inputs per target, written when the
# target's corpus does not exist yet (the fuzzer adds to it as it runs).
seed() { # target name bytes (printf format)
  local dir=fuzz/corpus/$1
  # shellcheck disable=SC2059
  printf "$3" >"$dir/$2"
}
id=9ca69ea696434e99beff2880eb95116a
key=session:$id
for target in "${targets[@]}"; do
  dir=fuzz/corpus/$target
  [ -d "$dir" ] && continue
  mkdir -p "$dir"
  case "$target" in
    id)
      seed id valid "$id"
      seed id upper '9CA69EA696434E99BEFF2880EB95116A'
      ;;
    cookie)
      # First byte: the cookie name (0: session, 1: sid); then header values, one a line.
      seed cookie one "\\000a=1; session=$id; b=2"
      seed cookie two "\\001sid=bad; sid=$id\\nsid=$id"
      ;;
    decode)
      seed decode object '{"n":1,"s":"x","list":[0.5,-1e300],"v":{"a":[true,null]},"extra":"kept"}'
      seed decode nested '{"nested":{"nested":{"n":2}},"g":1.5}'
      ;;
    roundtrip)
      seed roundtrip bytes 'probe-and-extras\001\002\003\004\005\006\007\010\011\012'
      ;;
    merge)
      # base, ours, theirs, NUL-separated.
      seed merge three '{"a":0,"b":0}\000{"a":1,"b":0}\000{"a":0,"b":2,"c":3}'
      ;;
    memcache)
      # First byte: the command (1 gat, 2 gats, 4 put, 5 add, 6 cas); second: the
      # maximum value size (3: 1024); then the server's answer.
      seed memcache gat "\\001\\003VALUE $key 0 7\\r\\n{\"a\":1}\\r\\nEND\\r\\n"
      seed memcache gats "\\002\\003VALUE $key 0 7 42\\r\\n{\"a\":1}\\r\\nEND\\r\\n"
      seed memcache missing '\001\003END\r\n'
      seed memcache put '\004\003NOT_STORED\r\nSTORED\r\n'
      seed memcache add '\005\003NOT_STORED\r\n'
      seed memcache cas '\006\003SERVER_ERROR out of memory storing object\r\n'
      ;;
    redis)
      # The call (4: the compare-and-set script), the value size, then answers.
      seed redis script '\004\010\001\001'
      seed redis changed '\004\010\006\007{"a":2}'
      ;;
    rules)
      # Flags, expiry pick, then cookie name, domain, prefix, session name and
      # a samesite word, separated by 0xff.
      seed rules valid '\007\002__Host-id\377example.com\377session:\377session\377lax'
      ;;
  esac
done

mkdir -p fuzz/artifacts
summary=()
status=0
for target in "${targets[@]}"; do
  echo "==> fuzzing $target for ${seconds}s (sanitizer: $sanitizer)"
  log=fuzz/artifacts/$target.log
  set +e
  # -malloc_limit_mb: any single allocation over 64 MiB is a finding (the
  # memcached reader must not size a buffer by what the server announces).
  "${cargo[@]}" fuzz run --sanitizer "$sanitizer" --target-dir "$target_dir" "$target" -- \
    -max_total_time="$seconds" -timeout=10 -malloc_limit_mb=64 -print_final_stats=1 \
    2>&1 | tee "$log"
  result=${PIPESTATUS[0]}
  set -e
  runs=$(awk '/stat::number_of_executed_units:/ { n += $2 } END { print n + 0 }' "$log")
  time=$(awk '/stat::average_exec_per_sec:/ { n += $2 } END { print n + 0 }' "$log")
  corpus=$(find "fuzz/corpus/$target" -type f | wc -l)
  if [ "$result" -ne 0 ]; then
    status=1
    summary+=("$(printf '%-10s FAILED (exit %s): see %s and fuzz/artifacts/%s/' "$target" "$result" "$log" "$target")")
  else
    summary+=("$(printf '%-10s %12s runs in %ss (%s/s), corpus %s inputs' "$target" "$runs" "$seconds" "$time" "$corpus")")
  fi
done

echo "==> summary"
printf '%s\n' "${summary[@]}"
exit "$status"
