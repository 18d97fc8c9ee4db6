-- wrk script: every connection on one session, half the requests writing.
-- Usage: wrk -t1 -c32 -d10s --latency -s contend.lua URL -- COOKIE [KEYS]
-- COOKIE: the one session's `name=value`, created before the run.
-- KEYS: how many different keys the writes go to (default 16).
-- Requests alternate between GET /get (reads the counter) and
-- GET /put/k<i> (adds one to key k<i>), with i going round KEYS keys, so
-- concurrent writes of the session change different keys, and the server's
-- conditional saves find each other's writes and merge them.

local read
local writes = {}
local keys = 16
local n = 0

function init(args)
  local cookie = args[1]
  if not cookie or cookie == "" then
    error("contend.lua: the session cookie is required")
  end
  keys = tonumber(args[2] or "16")
  read = wrk.format("GET", "/get", { ["Cookie"] = cookie })
  for i = 0, keys - 1 do
    writes[i] = wrk.format("GET", "/put/k" .. i, { ["Cookie"] = cookie })
  end
end

function request()
  n = n + 1
  if n % 2 == 0 then
    return read
  end
  return writes[math.floor(n / 2) % keys]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH_RESULT requests=%d duration_us=%d errors=%d p50_us=%d p99_us=%d sessions=1 creating_requests=0\n",
    summary.requests, summary.duration,
    e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50.0), latency:percentile(99.0)))
end
