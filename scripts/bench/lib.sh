# Helpers shared by scripts/bench.sh and scripts/bench/callgrind.sh.
# Source it after `set -euo pipefail` and `cd` to the repository root.
# It defines BIN (the release binaries), starts backends on free loopback
# ports and stops everything it started on exit (one trap, by pid).

BENCH_TARGET_DIR=${CARGO_TARGET_DIR:-target}
BIN="$BENCH_TARGET_DIR/release"
SERVER_CPU=${BENCH_SERVER_CPU:-0}
CLIENT_CPU=${BENCH_CLIENT_CPU:-1}
BENCH_STARTED_PIDS=()

bench_log() { printf '==> %s\n' "$*" >&2; }

bench_cleanup() {
  local pid
  for pid in "${BENCH_STARTED_PIDS[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
    fi
  done
  for pid in "${BENCH_STARTED_PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  BENCH_STARTED_PIDS=()
}
trap bench_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Remembers a pid so that the exit trap stops it.
bench_started() { BENCH_STARTED_PIDS+=("$1"); }

# Stops one process this script started (SIGTERM, then SIGKILL after 10 s).
bench_stop() {
  local pid=$1 i
  kill "$pid" 2>/dev/null || true
  for i in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  local keep=() p
  for p in "${BENCH_STARTED_PIDS[@]}"; do [ "$p" = "$pid" ] || keep+=("$p"); done
  BENCH_STARTED_PIDS=("${keep[@]}")
}

# Installs missing Debian packages when root; otherwise says what is missing.
bench_require() {
  local missing=() cmd pkg
  for pair in "$@"; do
    cmd=${pair%%:*}
    pkg=${pair#*:}
    command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing ${missing[*]}; install them (apt-get install -y ${missing[*]}) or run as root" >&2
    return 1
  fi
  bench_log "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

bench_free_port() { "$BIN/bench-client" free-port; }

bench_cpu_setup() {
  local n
  n=$(nproc)
  if [ "$n" -lt 2 ]; then
    echo "warning: $n CPU: server and load generator share CPU 0" >&2
    SERVER_CPU=0
    CLIENT_CPU=0
  fi
}

# Starts redis-server on a free port, pinned to CLIENT_CPU; sets REDIS_PORT and REDIS_URL.
bench_start_redis() {
  local dir=$1
  REDIS_PORT=$(bench_free_port)
  mkdir -p "$dir"
  taskset -c "$CLIENT_CPU" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 \
    --save '' --appendonly no --dir "$dir" --daemonize no \
    >"$dir/redis.log" 2>&1 &
  REDIS_PID=$!
  bench_started "$REDIS_PID"
  "$BIN/bench-client" wait-port --port "$REDIS_PORT"
  REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
}

# Starts memcached on a free port, pinned to CLIENT_CPU; sets MEMCACHED_PORT and MEMCACHED_ADDR.
bench_start_memcached() {
  local dir=$1
  MEMCACHED_PORT=$(bench_free_port)
  mkdir -p "$dir"
  taskset -c "$CLIENT_CPU" memcached -l 127.0.0.1 -p "$MEMCACHED_PORT" -U 0 -m 1024 -t 1 \
    -u "$(id -un)" >"$dir/memcached.log" 2>&1 &
  MEMCACHED_PID=$!
  bench_started "$MEMCACHED_PID"
  "$BIN/bench-client" wait-port --port "$MEMCACHED_PORT"
  MEMCACHED_ADDR="127.0.0.1:$MEMCACHED_PORT"
}

# Starts PostgreSQL (a new cluster in $1, trust auth for user postgres,
# synchronous_commit off) on a free port, pinned to CLIENT_CPU; sets
# POSTGRES_PORT and POSTGRES_URL. PostgreSQL refuses to run as root: as root
# it runs as the postgres user (which Debian's package creates), by setpriv,
# which executes it in place (runuser would stay its parent and take the
# signal that stops it).
bench_start_postgres() {
  local dir=$1 bin as=()
  bin=$(bench_postgres_bin)
  POSTGRES_PORT=$(bench_free_port)
  mkdir -p "$dir"
  rm -rf "$dir/data"
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres "$dir"
    as=(setpriv --reuid=postgres --regid=postgres --init-groups --)
  fi
  "${as[@]}" "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 >"$dir/initdb.log" 2>&1
  "${as[@]}" taskset -c "$CLIENT_CPU" "$bin/postgres" -D "$dir/data" -p "$POSTGRES_PORT" \
    -c listen_addresses=127.0.0.1 -c unix_socket_directories="$dir" \
    -c synchronous_commit=off -c max_connections=200 >"$dir/postgres.log" 2>&1 &
  POSTGRES_PID=$!
  bench_started "$POSTGRES_PID"
  "$BIN/bench-client" wait-port --port "$POSTGRES_PORT" --pid "$POSTGRES_PID" --timeout 30
  local i
  for i in $(seq 300); do
    pg_isready -q -h 127.0.0.1 -p "$POSTGRES_PORT" && break
    sleep 0.1
  done
  POSTGRES_URL="postgres://postgres@127.0.0.1:$POSTGRES_PORT/postgres"
}

# The directory of PostgreSQL's server programs: initdb on PATH, or the
# newest of Debian's /usr/lib/postgresql/<version>/bin.
bench_postgres_bin() {
  if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    bench_require postgres-server-missing:postgresql >&2 || return 1
  fi
  if command -v initdb >/dev/null 2>&1; then
    dirname "$(readlink -f "$(command -v initdb)")"
  else
    ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1
  fi
}

# Checks that this build can serve each of the modes after $1 (exits
# otherwise) and starts, in directories under $1, each backend one of them
# needs, once; sets REDIS_URL, MEMCACHED_ADDR and POSTGRES_URL (empty when
# not needed). For the scripts that count one mode at a time.
bench_start_backends_for() {
  local out=$1 mode why
  shift
  REDIS_URL=
  MEMCACHED_ADDR=
  POSTGRES_URL=
  for mode in "$@"; do
    if ! why=$("$BIN/bench-server" --mode "$mode" --check); then
      echo "cannot count $mode: $why" >&2
      exit 1
    fi
    case $mode in
      *redis*) [ -n "$REDIS_URL" ] || bench_start_redis "$out/redis" ;;
      *memcache*) [ -n "$MEMCACHED_ADDR" ] || bench_start_memcached "$out/memcached" ;;
      *postgres*) [ -n "$POSTGRES_URL" ] || bench_start_postgres "$out/postgres" ;;
    esac
  done
}

# Empties the backends between runs, so that each run starts alike.
bench_flush_backends() {
  if [ -n "${REDIS_PORT:-}" ]; then
    redis-cli -p "$REDIS_PORT" flushall >/dev/null
  fi
  if [ -n "${POSTGRES_PORT:-}" ]; then
    psql -q -h 127.0.0.1 -p "$POSTGRES_PORT" -U postgres -d postgres \
      -c 'SET client_min_messages = warning' -c 'DROP TABLE IF EXISTS sessionkit_sessions' >/dev/null
  fi
  if [ -n "${MEMCACHED_PORT:-}" ]; then
    exec 7<>"/dev/tcp/127.0.0.1/$MEMCACHED_PORT"
    printf 'flush_all\r\n' >&7
    read -r -t 5 _ <&7 || true
    exec 7>&-
  fi
}

# Server CPU time of PID so far (user + system), in clock ticks.
bench_cpu_ticks() {
  # Fields after "pid (comm) ": state is 1, utime 12, stime 13.
  sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}
