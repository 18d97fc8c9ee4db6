#!/usr/bin/env bash
# The side-by-side benchmark: bare axum, sessionkit
# with each store and tower-sessions, doing the same work, measured with wrk.
#
# Usage: scripts/bench.sh            (defaults: 3 interleaved reps × 10 s)
#
# Environment (all optional):
#   BENCH_SECONDS=10      length of each measured wrk run
#   BENCH_REPS=3          interleaved repetitions (bare, A, B, …, bare, A, B, …)
#   BENCH_MODES="bare bare-const sessionkit-memory sessionkit-redis sessionkit-memcache tower-sessions-memory tower-sessions-redis"
#                         (also: sessionkit-postgres, sessionkit-sqlite, bare-layer,
#                         sessionkit-memory-around)
#   BENCH_WORKLOADS="reuse readonly new contend"
#                         (contend: all connections on one session, half of the
#                         requests writing different keys; sessionkit modes only)
#   BENCH_CONNECTIONS=32  wrk connections (one wrk thread)
#   BENCH_WORKERS=1       tokio worker threads of the server
#   BENCH_WARMUP=1        seconds of unmeasured load before each run (0: none)
#   BENCH_SESSIONS=100000 sessions created for the memory measurement (0: skip it)
#   BENCH_MEMORY_EXPIRY=10  session expiry during the memory measurement, seconds
#   BENCH_MEMORY_WAIT=20    wait after creating them before reading RSS again
#   BENCH_CEILING_SECONDS=5 length of the store ceiling loops
#   BENCH_OUT=target/bench/<date>   where results and logs go
#   BENCH_SERVER_CPU=0 BENCH_CLIENT_CPU=1   pinning (taskset)
#   CARGO_TARGET_DIR      respected (binaries in $CARGO_TARGET_DIR/release)
#
# Writes $BENCH_OUT/results.md (the tables, the parameters and the machine)
# and prints it. See BENCHMARKS.md for what the numbers mean.
set -euo pipefail
cd "$(dirname "$0")/.."
started_at=$(date +%s)

BENCH_SECONDS=${BENCH_SECONDS:-10}
BENCH_REPS=${BENCH_REPS:-3}
BENCH_MODES=${BENCH_MODES:-bare bare-const sessionkit-memory sessionkit-redis sessionkit-memcache tower-sessions-memory tower-sessions-redis}
BENCH_WORKLOADS=${BENCH_WORKLOADS:-reuse readonly new contend}
BENCH_CONNECTIONS=${BENCH_CONNECTIONS:-32}
BENCH_WORKERS=${BENCH_WORKERS:-1}
BENCH_WARMUP=${BENCH_WARMUP:-1}
BENCH_SESSIONS=${BENCH_SESSIONS:-100000}
BENCH_MEMORY_EXPIRY=${BENCH_MEMORY_EXPIRY:-10}
BENCH_MEMORY_WAIT=${BENCH_MEMORY_WAIT:-20}
BENCH_CEILING_SECONDS=${BENCH_CEILING_SECONDS:-5}
BENCH_OUT=${BENCH_OUT:-target/bench/$(date -u +%Y%m%dT%H%M%SZ)}

# shellcheck source=bench/lib.sh
. scripts/bench/lib.sh

bench_require wrk:wrk redis-server:redis-server redis-cli:redis-tools \
  redis-benchmark:redis-tools memcached:memcached taskset:util-linux \
  psql:postgresql-client pg_isready:postgresql-client
bench_cpu_setup

mkdir -p "$BENCH_OUT/logs"
OUT=$(cd "$BENCH_OUT" && pwd)
LOGS="$OUT/logs"
RUNS="$OUT/runs.tsv"
CEILINGS="$OUT/ceilings.tsv"
MEMORY="$OUT/memory.tsv"
CONTENTION="$OUT/contention.tsv"
printf '# rep\tworkload\tmode\trps\trequests\tcpu_us_per_request\tp99_us\terrors\n' >"$RUNS"
printf '# name\tper_second\tdescription\n' >"$CEILINGS"
printf '# mode\tsessions\trss_start_kib\trss_full_kib\trss_expired_kib\tleft\texpiry_secs\n' >"$MEMORY"
printf '# rep\tmode\trps\trequests\terrors\tconflicts_before\tconflicts_after\n' >"$CONTENTION"

bench_log "building (cargo build --release -p sessionkit-bench --all-features)"
build_started=$(date +%s)
cargo build --release -p sessionkit-bench --all-features
build_secs=$(($(date +%s) - build_started))

# Modes this build can serve; the others are listed in the results.
modes=()
skipped=()
for mode in $BENCH_MODES; do
  if why=$("$BIN/bench-server" --mode "$mode" --check); then
    modes+=("$mode")
  else
    skipped+=("$mode: $why")
    bench_log "skipping $mode: $why"
  fi
done
[ "${#modes[@]}" -gt 0 ] || { echo "no mode to run" >&2; exit 1; }
has_mode() { local m; for m in "${modes[@]}"; do [ "$m" = "$1" ] && return 0; done; return 1; }

REDIS_URL=
MEMCACHED_ADDR=
case " ${modes[*]} " in *redis*)
  bench_start_redis "$OUT/redis"
  bench_log "redis-server on port $REDIS_PORT (CPU $CLIENT_CPU)" ;;
esac
POSTGRES_URL=
if has_mode sessionkit-postgres; then
  bench_start_postgres "$OUT/postgres"
  bench_log "postgres on port $POSTGRES_PORT (CPU $CLIENT_CPU)"
fi
memcache_ceiling=0
if "$BIN/bench-server" --ceiling memcache --check >/dev/null; then memcache_ceiling=1; fi
if has_mode sessionkit-memcache || [ "$memcache_ceiling" = 1 ]; then
  bench_start_memcached "$OUT/memcached"
  bench_log "memcached on port $MEMCACHED_PORT (CPU $CLIENT_CPU)"
fi
CLK_TCK=$(getconf CLK_TCK)

# Starts the server of mode $1 pinned to SERVER_CPU (extra args follow);
# sets SERVER_PID and SERVER_PORT.
start_server() {
  local mode=$1 log=$2
  shift 2
  SERVER_PORT=$(bench_free_port)
  local backend=()
  [ -n "$REDIS_URL" ] && backend+=(--redis-url "$REDIS_URL")
  [ -n "$MEMCACHED_ADDR" ] && backend+=(--memcached "$MEMCACHED_ADDR")
  [ -n "$POSTGRES_URL" ] && backend+=(--postgres-url "$POSTGRES_URL")
  [ "$mode" = sessionkit-sqlite ] && backend+=(--sqlite-file "$OUT/sessions.db")
  taskset -c "$SERVER_CPU" "$BIN/bench-server" --mode "$mode" --port "$SERVER_PORT" \
    --workers "$BENCH_WORKERS" "${backend[@]}" "$@" >"$log" 2>&1 &
  SERVER_PID=$!
  bench_started "$SERVER_PID"
  if ! "$BIN/bench-client" wait-port --port "$SERVER_PORT" --pid "$SERVER_PID" --timeout 30; then
    cat "$log" >&2
    return 1
  fi
}

# wrk on CLIENT_CPU against the running server; prints the BENCH_RESULT line.
# A mode that sets no cookie (bare, bare-layer, bare-const) is sent this one, shaped like a session
# cookie, so that every mode parses the same requests.
FIXED_COOKIE=session=0123456789abcdef0123456789abcdef
run_wrk() {
  local workload=$1 seconds=$2 log=$3 mode=$4
  local url="http://127.0.0.1:$SERVER_PORT"
  local script=() fixed=
  case $mode in bare | bare-layer | bare-const) fixed=$FIXED_COOKIE ;; esac
  case $workload in
    reuse | readonly) script=(-s scripts/bench/session.lua "$url/" -- "$workload" "$BENCH_CONNECTIONS" "$fixed") ;;
    new) script=(-s scripts/bench/plain.lua "$url/incr") ;;
    contend) script=(-s scripts/bench/contend.lua "$url/" -- "$CONTEND_COOKIE" 16) ;;
    *) echo "unknown workload $workload" >&2; return 1 ;;
  esac
  taskset -c "$CLIENT_CPU" wrk -t1 -c"$BENCH_CONNECTIONS" -d"${seconds}s" --timeout 5s --latency \
    "${script[@]}" >"$log" 2>&1 || { cat "$log" >&2; return 1; }
  grep '^BENCH_RESULT' "$log" || { cat "$log" >&2; return 1; }
}

field() { # field NAME "BENCH_RESULT a=1 b=2"
  printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"
}

# The contention workload needs a session mode that counts its conflicts.
runs_of() { # runs_of WORKLOAD: the modes that run it
  local m
  for m in "${modes[@]}"; do
    case $1:$m in contend:sessionkit-memory-around) ;; contend:sessionkit-*) echo "$m" ;; contend:*) ;; *) echo "$m" ;; esac
  done
}
total_runs=0
for workload in $BENCH_WORKLOADS; do
  total_runs=$((total_runs + BENCH_REPS * $(runs_of "$workload" | wc -l)))
done
# The one session every connection of the contention workload uses.
create_contended_session() {
  CONTEND_COOKIE=$(curl -s -D - -o /dev/null "http://127.0.0.1:$SERVER_PORT/put/start" |
    sed -n 's/^[Ss]et-[Cc]ookie: *\([^;]*\).*/\1/p' | head -1)
  [ -n "$CONTEND_COOKIE" ] || { echo "no session cookie from /put/start" >&2; return 1; }
}
# What the contention server's conditional saves ran into so far
# (`saves=… changed=… exists=… gone=… failed=…`).
conflict_counts() {
  curl -s "http://127.0.0.1:$SERVER_PORT/conflicts"
}
run_no=0
for rep in $(seq "$BENCH_REPS"); do
  for workload in $BENCH_WORKLOADS; do
    for mode in $(runs_of "$workload"); do
      run_no=$((run_no + 1))
      tag="rep$rep-$workload-$mode"
      bench_flush_backends
      extra=()
      [ "$workload" = contend ] && extra=(--contention)
      start_server "$mode" "$LOGS/server-$tag.log" "${extra[@]}"
      [ "$workload" = contend ] && create_contended_session
      if [ "$BENCH_WARMUP" != 0 ]; then
        run_wrk "$workload" "$BENCH_WARMUP" "$LOGS/warmup-$tag.log" "$mode" >/dev/null
      fi
      conflicts_before=
      [ "$workload" = contend ] && conflicts_before=$(conflict_counts)
      cpu_before=$(bench_cpu_ticks "$SERVER_PID")
      result=$(run_wrk "$workload" "$BENCH_SECONDS" "$LOGS/wrk-$tag.log" "$mode")
      cpu_after=$(bench_cpu_ticks "$SERVER_PID")
      conflicts_after=
      [ "$workload" = contend ] && conflicts_after=$(conflict_counts)
      bench_stop "$SERVER_PID"
      requests=$(field requests "$result")
      duration_us=$(field duration_us "$result")
      errors=$(field errors "$result")
      p99_us=$(field p99_us "$result")
      row=$(awk -v r="$requests" -v d="$duration_us" -v c0="$cpu_before" -v c1="$cpu_after" -v hz="$CLK_TCK" \
        'BEGIN { rps = r / (d / 1e6); cpu = r > 0 ? (c1 - c0) * 1e6 / hz / r : 0; printf "%.1f\t%.2f", rps, cpu }')
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$rep" "$workload" "$mode" "${row%%$'\t'*}" \
        "$requests" "${row##*$'\t'}" "$p99_us" "$errors" >>"$RUNS"
      if [ "$workload" = contend ]; then
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$rep" "$mode" "${row%%$'\t'*}" "$requests" "$errors" \
          "$conflicts_before" "$conflicts_after" >>"$CONTENTION"
      fi
      bench_log "[$run_no/$total_runs] rep $rep $workload $mode: ${row%%$'\t'*} req/s, ${row##*$'\t'} µs CPU/req, p99 ${p99_us} µs, errors $errors"
    done
  done
done

# Store ceilings: what one read + one write per request allows at most.
if [ -n "$REDIS_URL" ]; then
  bench_log "redis-benchmark -t get,set -n 200000 (client on CPU $SERVER_CPU, like the server)"
  bench_flush_backends
  taskset -c "$SERVER_CPU" redis-benchmark -h 127.0.0.1 -p "$REDIS_PORT" -t get,set -n 200000 -q \
    >"$LOGS/redis-benchmark.log" 2>&1
  rb=$(tr '\r' '\n' <"$LOGS/redis-benchmark.log")
  set_rps=$(sed -n 's/^SET: \([0-9.]*\) requests per second.*/\1/p' <<<"$rb" | tail -1)
  get_rps=$(sed -n 's/^GET: \([0-9.]*\) requests per second.*/\1/p' <<<"$rb" | tail -1)
  if [ -n "$set_rps" ] && [ -n "$get_rps" ]; then
    awk -v g="$get_rps" -v s="$set_rps" 'BEGIN { printf "redis\t%.0f\tredis-benchmark -t get,set -n 200000 (50 clients): GET %.0f/s, SET %.0f/s, one of each 1/(1/GET + 1/SET)\n", 1 / (1 / g + 1 / s), g, s }' >>"$CEILINGS"
  else
    echo "warning: could not read redis-benchmark's output (see $LOGS/redis-benchmark.log)" >&2
  fi
  if "$BIN/bench-server" --ceiling redis --check >/dev/null; then
    bench_log "sessionkit RedisStore load + save loop, ${BENCH_CEILING_SECONDS} s"
    bench_flush_backends
    line=$(taskset -c "$SERVER_CPU" "$BIN/bench-server" --ceiling redis --redis-url "$REDIS_URL" \
      --seconds "$BENCH_CEILING_SECONDS" --concurrency "$BENCH_CONNECTIONS" --workers "$BENCH_WORKERS")
    printf 'redis-sessionkit\t%s\tsessionkit RedisStore load + save loop, %s tasks, %s worker(s), %s s\n' \
      "${line##* }" "$BENCH_CONNECTIONS" "$BENCH_WORKERS" "$BENCH_CEILING_SECONDS" >>"$CEILINGS"
  fi
fi
if [ "$memcache_ceiling" = 1 ]; then
  bench_log "sessionkit memcached store get + set loop, ${BENCH_CEILING_SECONDS} s"
  bench_flush_backends
  line=$(taskset -c "$SERVER_CPU" "$BIN/bench-server" --ceiling memcache --memcached "$MEMCACHED_ADDR" \
    --seconds "$BENCH_CEILING_SECONDS" --concurrency "$BENCH_CONNECTIONS" --workers "$BENCH_WORKERS")
  printf 'memcache\t%s\tsessionkit memcached store load + save loop, %s tasks, %s worker(s), %s s\n' \
    "${line##* }" "$BENCH_CONNECTIONS" "$BENCH_WORKERS" "$BENCH_CEILING_SECONDS" >>"$CEILINGS"
elif has_mode sessionkit-memcache || [[ " $BENCH_MODES " == *" sessionkit-memcache "* ]]; then
  skipped+=("memcached ceiling: $("$BIN/bench-server" --ceiling memcache --check || true)")
fi

# Memory: RSS per stored session, and after they expired.
if [ "$BENCH_SESSIONS" != 0 ]; then
  for mode in sessionkit-memory tower-sessions-memory; do
    has_mode "$mode" || continue
    bench_log "memory: $BENCH_SESSIONS new sessions in $mode (expiry $BENCH_MEMORY_EXPIRY s, then wait $BENCH_MEMORY_WAIT s)"
    start_server "$mode" "$LOGS/server-memory-$mode.log" --expiry "$BENCH_MEMORY_EXPIRY"
    line=$(taskset -c "$CLIENT_CPU" "$BIN/bench-client" sessions --port "$SERVER_PORT" --pid "$SERVER_PID" \
      --count "$BENCH_SESSIONS" --connections 4 --wait "$BENCH_MEMORY_WAIT" 2>"$LOGS/memory-$mode.log")
    bench_stop "$SERVER_PID"
    cat "$LOGS/memory-$mode.log" >&2
    printf '%s\t%s\t%s\n' "$mode" "$line" "$BENCH_MEMORY_EXPIRY" >>"$MEMORY"
  done
fi

# The report.
total_secs=$(($(date +%s) - started_at))
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git status --porcelain 2>/dev/null | head -1)" ]; then commit="$commit (with uncommitted changes)"; fi
{
  echo "## Results"
  echo
  echo "Run $(date -u '+%Y-%m-%d %H:%M UTC'), commit $commit: ${BENCH_REPS} interleaved rep(s) × ${BENCH_SECONDS} s per mode and workload" \
    "(after ${BENCH_WARMUP} s of warm-up each), wrk -t1 -c${BENCH_CONNECTIONS}, server with ${BENCH_WORKERS} worker(s)" \
    "pinned to CPU ${SERVER_CPU}, wrk, Redis, memcached and PostgreSQL pinned to CPU ${CLIENT_CPU}" \
    "(PostgreSQL with \`synchronous_commit=off\`: a commit does not wait for its WAL to reach the disk;" \
    "SQLite in WAL mode with \`synchronous=NORMAL\`, in the server's process)."
  echo
  echo "Command: \`BENCH_SECONDS=$BENCH_SECONDS BENCH_REPS=$BENCH_REPS BENCH_MODES=\"$BENCH_MODES\" BENCH_WORKLOADS=\"$BENCH_WORKLOADS\" BENCH_SESSIONS=$BENCH_SESSIONS scripts/bench.sh\`"
  echo
  echo "Machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), Linux $(uname -r);" \
    "$(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2), $(redis-server --version | cut -d' ' -f1-3), $(memcached -V)${POSTGRES_URL:+, $("$(bench_postgres_bin)/postgres" --version)}."
  echo
  "$BIN/bench-client" table --runs "$RUNS" --ceilings "$CEILINGS" --memory "$MEMORY"
  if [ "$(wc -l <"$CONTENTION")" -gt 1 ]; then
    echo
    echo "### Contention: what the conditional saves of the \`contend\` runs ran into"
    echo
    echo "Counted by the server during each measured run (warm-up excluded). A write"
    echo "request sends one conditional save; each \`changed\` answer is one merge and"
    echo "one more save. \`failed\` saves became error responses."
    echo
    echo "| rep | mode | req/s | requests | saves | changed (merges) | merges per write request | failed | errors |"
    echo "|---:|---|---:|---:|---:|---:|---:|---:|---:|"
    awk -F'\t' '!/^#/ {
      split($6, b, /[ =]/); split($7, a, /[ =]/)
      saves = a[2] - b[2]; changed = a[4] - b[4]; failed = a[10] - b[10]
      writes = saves - changed
      per_write = writes > 0 ? changed / writes : 0
      printf "| %s | %s | %.0f | %s | %d | %d | %.2f | %d | %s |\n", $1, $2, $3, $4, saves, changed, per_write, failed, $5
    }' "$CONTENTION"
  fi
  if [ "${#skipped[@]}" -gt 0 ]; then
    echo
    echo "Not measured:"
    echo
    for s in "${skipped[@]}"; do echo "* $s"; done
  fi
  echo
  echo "Total time $((total_secs / 60)) min $((total_secs % 60)) s (release build ${build_secs} s)."
} >"$OUT/results.md"
cat "$OUT/results.md"
echo
bench_log "results in $OUT/results.md (raw: runs.tsv, ceilings.tsv, memory.tsv, logs/)"
