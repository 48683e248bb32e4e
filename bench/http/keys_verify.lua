-- wrk script for bench/http/keys.sh: POST {"key":"<key>","scopes":["read"]} with a bearer
-- token, the key taken round-robin from a file of keys (each wrk thread starts at its own
-- offset), and count the answers that contain an expected text.
-- The URL comes from the wrk command line. Read by every wrk thread:
--   BENCH_KEYS    file with one key a line (required unless BENCH_METHOD=GET)
--   BENCH_TOKEN   bearer token for Authorization (optional)
--   BENCH_EXPECT  text every answer must contain (default "valid":true); the others are
--                 counted as unexpected
--   BENCH_METHOD  POST (default) or GET (no body: the trivial-200 reference on /healthz)
--   BENCH_THREADS wrk's -t, so that the threads start evenly apart in the key file
--   BENCH_WALK    use only the first N keys of the file (default: all)
-- done() prints one line: RESULT key=value ... (latencies in ms; expected/unexpected answers).
-- Non-2xx answers are also counted by wrk as errors.status.
local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

local keys = {}
local index = 1
local method = os.getenv("BENCH_METHOD") or "POST"
local expect = os.getenv("BENCH_EXPECT") or '"valid":true'
local headers = { ["Accept"] = "application/json" }
expected = 0
unexpected = 0

function init(args)
  local token = os.getenv("BENCH_TOKEN")
  if token and token ~= "" then headers["Authorization"] = "Bearer " .. token end
  if method == "GET" then return end
  headers["Content-Type"] = "application/json"
  local path = os.getenv("BENCH_KEYS") or error("BENCH_KEYS is not set")
  local f = assert(io.open(path, "r"))
  local walk = tonumber(os.getenv("BENCH_WALK") or "0") or 0
  for line in f:lines() do
    if line ~= "" then keys[#keys + 1] = line end
    if walk > 0 and #keys >= walk then break end
  end
  f:close()
  if #keys == 0 then error("no keys in BENCH_KEYS") end
  -- Threads start apart so that together they walk the whole set.
  local n = tonumber(os.getenv("BENCH_THREADS") or "1") or 1
  index = (math.floor(#keys * id / n) % #keys) + 1
end

function request()
  if method == "GET" then return wrk.format("GET", nil, headers) end
  local key = keys[index]
  index = index + 1
  if index > #keys then index = 1 end
  return wrk.format("POST", nil, headers, '{"key":"' .. key .. '","scopes":["read"]}')
end

function response(status, hdrs, body)
  if status == 200 and body and string.find(body, expect, 1, true) then
    expected = expected + 1
  else
    unexpected = unexpected + 1
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  local secs = summary.duration / 1e6
  local good, bad = 0, 0
  for _, t in ipairs(threads) do
    good = good + (t:get("expected") or 0)
    bad = bad + (t:get("unexpected") or 0)
  end
  io.write(string.format(
    "RESULT requests=%d rps=%.1f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f " ..
    "err_connect=%d err_read=%d err_write=%d err_status=%d err_timeout=%d " ..
    "expected=%d unexpected=%d\n",
    summary.requests, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    e.connect, e.read, e.write, e.status, e.timeout, good, bad))
end
