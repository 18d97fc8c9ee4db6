-- wrk script: reused sessions. Usage:
--   wrk -t1 -c32 -d10s --latency -s session.lua URL -- WORKLOAD SESSIONS [COOKIE]
-- WORKLOAD: reuse (GET /incr with a session cookie) or readonly (GET /get
-- with a session cookie, each session created by one GET /incr first).
-- SESSIONS: how many sessions to keep; pass the connection count.
-- COOKIE: for a server that sets no cookie (bare): send this one on every
-- request instead, so that it parses the same request bytes as the session
-- modes (and `readonly` really asks for /get).
--
-- One session per connection, as near as wrk allows: wrk keeps one Lua
-- state per thread, not per connection, and response() does not say which
-- connection answered. So the script keeps SESSIONS cookies, taken from the
-- Set-Cookie of the first SESSIONS requests (sent without a cookie, to
-- GET /incr), and hands them out from a free list: a cookie is taken when a
-- request is built and put back when a response carries it again in its
-- Set-Cookie. With one request in flight per connection (wrk does not
-- pipeline) no session is then used by two requests at once. A server that
-- does not re-send the cookie on a read (tower-sessions on GET /get) empties
-- the free list; the script then hands the cookies out in rotation, which
-- with as many sessions as connections comes close to the same.

local path, creates
local target = 32
local free, nfree = {}, 0
local ring, known = {}, {}
local reqs = {}
local rr = 0
local fixed = nil
creating = 0       -- globals, read by done() through thread:get()
sessions_seen = 0

function init(args)
  local workload = args[1] or "reuse"
  target = tonumber(args[2] or "32")
  if workload == "reuse" then
    path = "/incr"
  elseif workload == "readonly" then
    path = "/get"
  else
    error("session.lua: unknown workload " .. tostring(workload))
  end
  creates = wrk.format("GET", "/incr")
  if args[3] and args[3] ~= "" then
    fixed = wrk.format("GET", path, { ["Cookie"] = args[3] })
  end
end

local function with_cookie(c)
  local r = reqs[c]
  if not r then
    r = wrk.format("GET", path, { ["Cookie"] = c })
    reqs[c] = r
  end
  return r
end

function request()
  if fixed then
    return fixed
  end
  if nfree > 0 then
    local c = free[nfree]
    free[nfree] = nil
    nfree = nfree - 1
    return with_cookie(c)
  end
  if creating < target or sessions_seen == 0 then
    creating = creating + 1
    return creates
  end
  rr = rr % sessions_seen + 1
  return with_cookie(ring[rr])
end

function response(status, headers, body)
  local sc = headers["set-cookie"] or headers["Set-Cookie"]
  if sc then
    local c = sc:match("^%s*([^;]+)")
    if c then
      if not known[c] then
        known[c] = true
        sessions_seen = sessions_seen + 1
        ring[sessions_seen] = c
      end
      nfree = nfree + 1
      free[nfree] = c
    end
  end
end

-- Results, one machine-readable line (see also plain.lua).
local threads = {}

function setup(thread)
  threads[#threads + 1] = thread
end

function done(summary, latency, requests)
  local e = summary.errors
  local seen, created = 0, 0
  for _, t in ipairs(threads) do
    seen = seen + (t:get("sessions_seen") or 0)
    created = created + (t:get("creating") or 0)
  end
  io.write(string.format(
    "BENCH_RESULT requests=%d duration_us=%d errors=%d p50_us=%d p99_us=%d sessions=%d creating_requests=%d\n",
    summary.requests, summary.duration,
    e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50.0), latency:percentile(99.0), seen, created))
end
