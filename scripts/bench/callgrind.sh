#!/usr/bin/env bash
# Instructions per request of the bench server, counted by callgrind: one
# worker thread, N1 and then, in a second
# run, N2 requests on one keep-alive connection with one cookie, and
# (Ir(N2) - Ir(N1)) / (N2 - N1), so that start-up and shutdown cancel out.
# User space of the server only; the kernel's TCP work is not counted.
# Counts repeat closely from run to run (BENCHMARKS.md has how closely), so
# they show changes too small for requests/s on a noisy machine.
#
# Usage: scripts/bench/callgrind.sh [MODE...]
#   (default modes: bare sessionkit-memory tower-sessions-memory)
# Environment: CALLGRIND_WORKLOADS="reuse readonly new" (also: unused, and
#   browser: reuse with 20 other cookies before the session's in `Cookie`,
#   about 0.7 KB, as a browser sends on a site with analytics), N1=200, N2=2200,
#   BENCH_OUT=target/bench/callgrind (the callgrind.out files stay there:
#   `callgrind_annotate FILE | head -40` shows where the instructions go;
#   build with CARGO_PROFILE_RELEASE_DEBUG=line-tables-only for line numbers).
set -euo pipefail
cd "$(dirname "$0")/../.."

CALLGRIND_WORKLOADS=${CALLGRIND_WORKLOADS:-reuse readonly new}
N1=${N1:-200}
N2=${N2:-2200}
BENCH_OUT=${BENCH_OUT:-target/bench/callgrind}
if [ "$#" -gt 0 ]; then modes=("$@"); else modes=(bare sessionkit-memory tower-sessions-memory); fi
[ "$N2" -gt "$N1" ] || { echo "N2 ($N2) must be greater than N1 ($N1)" >&2; exit 2; }

# shellcheck source=lib.sh
. scripts/bench/lib.sh
bench_require valgrind:valgrind redis-server:redis-server redis-cli:redis-tools \
  memcached:memcached taskset:util-linux psql:postgresql-client pg_isready:postgresql-client

mkdir -p "$BENCH_OUT"
OUT=$(cd "$BENCH_OUT" && pwd)
bench_log "building (cargo build --release -p sessionkit-bench --all-features)"
cargo build --release -p sessionkit-bench --all-features

bench_start_backends_for "$OUT" "${modes[@]}"

# Instructions of one server run that answers $3 requests of workload $2.
count() {
  local mode=$1 workload=$2 n=$3
  local file="$OUT/callgrind.out.$mode.$workload.$n" log="$OUT/server.$mode.$workload.$n.log"
  local port session path others=0
  case $workload in
    reuse) path=/incr session=reuse ;;
    readonly) path=/get session=reuse ;;
    new) path=/incr session=none ;;
    unused) path=/plain session=reuse ;; # a route that never extracts the session, cookie sent
    browser) path=/incr session=reuse others=20 ;;
    *) echo "unknown workload $workload" >&2; return 1 ;;
  esac
  # bare, bare-layer and bare-const set no cookie: send them the same cookie
  # header a session mode gets, so that every mode parses the same request.
  case $mode in bare | bare-layer | bare-const) [ "$session" = reuse ] && session=fixed ;; esac
  port=$(bench_free_port)
  bench_flush_backends
  local backend=()
  [ -n "$REDIS_URL" ] && backend+=(--redis-url "$REDIS_URL")
  [ -n "$MEMCACHED_ADDR" ] && backend+=(--memcached "$MEMCACHED_ADDR")
  [ -n "$POSTGRES_URL" ] && backend+=(--postgres-url "$POSTGRES_URL")
  [ "$mode" = sessionkit-sqlite ] && backend+=(--sqlite-file "$OUT/sessions.db")
  taskset -c "$SERVER_CPU" valgrind --tool=callgrind --callgrind-out-file="$file" \
    "$BIN/bench-server" --mode "$mode" --port "$port" --workers 1 "${backend[@]}" >"$log" 2>&1 &
  local pid=$!
  bench_started "$pid"
  if ! "$BIN/bench-client" wait-port --port "$port" --pid "$pid" --timeout 120; then
    cat "$log" >&2
    return 1
  fi
  taskset -c "$CLIENT_CPU" "$BIN/bench-client" send --port "$port" --path "$path" \
    --requests "$n" --session "$session" --other-cookies "$others" 2>>"$log"
  bench_stop "$pid"
  sed -n 's/^summary: *//p; s/^totals: *//p' "$file" | head -1 | awk '{ print $1 }'
}

results="$OUT/results.md"
{
  echo "Instructions per request (callgrind, user space of the server, 1 worker): (Ir(N2) − Ir(N1)) / (N2 − N1), N1 = $N1, N2 = $N2"
  echo
  echo "| mode | workload | Ir($N1) | Ir($N2) | instructions/request |"
  echo "|---|---|---:|---:|---:|"
} >"$results"
for mode in "${modes[@]}"; do
  for workload in $CALLGRIND_WORKLOADS; do
    bench_log "$mode $workload: $N1 and $N2 requests under callgrind"
    ir1=$(count "$mode" "$workload" "$N1")
    ir2=$(count "$mode" "$workload" "$N2")
    per=$(awk -v a="$ir1" -v b="$ir2" -v n1="$N1" -v n2="$N2" 'BEGIN { printf "%.0f", (b - a) / (n2 - n1) }')
    printf '| %s | %s | %s | %s | %s |\n' "$mode" "$workload" "$ir1" "$ir2" "$per" >>"$results"
    bench_log "$mode $workload: $per instructions/request"
  done
done
echo
cat "$results"
bench_log "callgrind.out files and the table in $OUT"
