#!/usr/bin/env bash
# Allocations per request of the bench server, counted by its global
# allocator (crate sessionkit-alloc-count, read at GET /allocs): one worker
# thread; after W warm-up requests, a run of N1 and then a run of N2
# requests, each on a keep-alive connection of its own that reads
# GET /allocs before and after its requests (`bench-client send --allocs`),
# and (A(N2) - A(N1)) / (N2 - N1), so that the two GET /allocs of a run
# cancel out, like the start-up in callgrind.sh. Same workloads as
# callgrind.sh. Counts calls to alloc/realloc (and the bytes asked for),
# all threads of the server; frees are not counted.
#
# Usage: scripts/bench/allocs.sh [MODE...]
#   (default modes: bare sessionkit-memory tower-sessions-memory)
# Environment: ALLOCS_WORKLOADS="reuse readonly new unused", W=200, N1=1000,
#   N2=5000, BENCH_OUT=target/bench/allocs
set -euo pipefail
cd "$(dirname "$0")/../.."

ALLOCS_WORKLOADS=${ALLOCS_WORKLOADS:-reuse readonly new unused}
W=${W:-200}
N1=${N1:-1000}
N2=${N2:-5000}
BENCH_OUT=${BENCH_OUT:-target/bench/allocs}
if [ "$#" -gt 0 ]; then modes=("$@"); else modes=(bare sessionkit-memory tower-sessions-memory); fi
[ "$N2" -gt "$N1" ] || { echo "N2 ($N2) must be greater than N1 ($N1)" >&2; exit 2; }

# shellcheck source=lib.sh
. scripts/bench/lib.sh
bench_require redis-server:redis-server redis-cli:redis-tools \
  memcached:memcached taskset:util-linux psql:postgresql-client pg_isready:postgresql-client
bench_cpu_setup

mkdir -p "$BENCH_OUT"
OUT=$(cd "$BENCH_OUT" && pwd)
bench_log "building (cargo build --release -p sessionkit-bench --all-features)"
cargo build --release -p sessionkit-bench --all-features

bench_start_backends_for "$OUT" "${modes[@]}"

# Allocations per request of mode $1 in workload $2, and bytes per
# request, tab-separated.
count() {
  local mode=$1 workload=$2
  local log="$OUT/server.$mode.$workload.log"
  local port session path
  case $workload in
    reuse) path=/incr session=reuse ;;
    readonly) path=/get session=reuse ;;
    new) path=/incr session=none ;;
    unused) path=/plain session=reuse ;; # a route that never extracts the session, cookie sent
    *) echo "unknown workload $workload" >&2; return 1 ;;
  esac
  # The modes that set no cookie get the same cookie header a session mode gets.
  case $mode in bare | bare-layer | bare-const) [ "$session" = reuse ] && session=fixed ;; esac
  port=$(bench_free_port)
  bench_flush_backends
  local backend=()
  [ -n "$REDIS_URL" ] && backend+=(--redis-url "$REDIS_URL")
  [ -n "$MEMCACHED_ADDR" ] && backend+=(--memcached "$MEMCACHED_ADDR")
  [ -n "$POSTGRES_URL" ] && backend+=(--postgres-url "$POSTGRES_URL")
  [ "$mode" = sessionkit-sqlite ] && backend+=(--sqlite-file "$OUT/sessions.db")
  taskset -c "$SERVER_CPU" "$BIN/bench-server" --mode "$mode" --port "$port" --workers 1 \
    "${backend[@]}" >"$log" 2>&1 &
  local pid=$!
  bench_started "$pid"
  if ! "$BIN/bench-client" wait-port --port "$port" --pid "$pid" --timeout 30; then
    cat "$log" >&2
    return 1
  fi
  local send=("$BIN/bench-client" send --port "$port" --path "$path" --session "$session")
  taskset -c "$CLIENT_CPU" "${send[@]}" --requests "$W" 2>>"$log"
  local a1 a2
  a1=$(taskset -c "$CLIENT_CPU" "${send[@]}" --requests "$N1" --allocs 2>>"$log")
  a2=$(taskset -c "$CLIENT_CPU" "${send[@]}" --requests "$N2" --allocs 2>>"$log")
  bench_stop "$pid"
  printf '%s %s\n' "$a1" "$a2" >>"$log"
  # a1, a2: "allocs=<n> bytes=<n>"
  awk -v a="$a1" -v b="$a2" -v n1="$N1" -v n2="$N2" 'BEGIN {
    split(a, x, /[ =]/); split(b, y, /[ =]/)
    printf "%.2f\t%.0f\n", (y[2] - x[2]) / (n2 - n1), (y[4] - x[4]) / (n2 - n1)
  }'
}

results="$OUT/results.md"
header="| mode |"
rule="|---|"
for workload in $ALLOCS_WORKLOADS; do
  header="$header $workload |"
  rule="$rule---:|"
done
{
  echo "Allocations per request (calls to alloc/realloc, all threads of the server, 1 worker), and bytes asked for per request: (A(N2) − A(N1)) / (N2 − N1), N1 = $N1, N2 = $N2, after $W warm-up requests"
  echo
  echo "$header"
  echo "$rule"
} >"$results"
for mode in "${modes[@]}"; do
  row="| $mode |"
  for workload in $ALLOCS_WORKLOADS; do
    bench_log "$mode $workload: $N1 and $N2 requests"
    per=$(count "$mode" "$workload")
    row="$row ${per%%$'\t'*} ($(printf '%s' "${per##*$'\t'}") B) |"
    bench_log "$mode $workload: ${per%%$'\t'*} allocations, ${per##*$'\t'} bytes per request"
  done
  echo "$row" >>"$results"
done
echo
cat "$results"
bench_log "server logs and the table in $OUT"
