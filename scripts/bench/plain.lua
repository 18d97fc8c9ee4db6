-- wrk script: a new visitor every request (GET /incr, no cookie ever sent).
-- Usage: wrk -t1 -c32 -d10s --latency -s plain.lua URL/incr
-- No request() or response(): wrk sends its one static request and skips
-- parsing headers, so the client does as little as possible. done() prints
-- the same machine-readable line as session.lua.

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH_RESULT requests=%d duration_us=%d errors=%d p50_us=%d p99_us=%d sessions=0 creating_requests=%d\n",
    summary.requests, summary.duration,
    e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50.0), latency:percentile(99.0), summary.requests))
end
