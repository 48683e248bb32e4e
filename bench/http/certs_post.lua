-- wrk script for bench/http/certs.sh: POST /v1/certificates with one fixed JSON body
-- ({"csr": <a pre-made PEM CSR>}) and a bearer token, so every request asks the server for
-- the same work, and count the answers that are not an issued certificate.
-- The URL comes from the wrk command line. Read by every wrk thread:
--   BENCH_BODY_FILE  file holding the JSON body (required)
--   BENCH_TOKEN      bearer token for Authorization (required)
-- done() prints one line: RESULT key=value ... (latencies in ms; issued/unexpected answers).
-- Non-2xx answers are also counted by wrk as errors.status.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

local expect = '"certificate":"-----BEGIN CERTIFICATE-----'
issued = 0
unexpected = 0

function init(args)
  local path = os.getenv("BENCH_BODY_FILE") or error("BENCH_BODY_FILE is not set")
  local token = os.getenv("BENCH_TOKEN") or error("BENCH_TOKEN is not set")
  local f = assert(io.open(path, "r"))
  local body = f:read("*a")
  f:close()
  if body == nil or body == "" then error("BENCH_BODY_FILE is empty") end
  wrk.method = "POST"
  wrk.body = body
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Accept"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. token
end

function response(status, headers, body)
  if status == 201 and body and string.find(body, expect, 1, true) then
    issued = issued + 1
  else
    unexpected = unexpected + 1
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  local secs = summary.duration / 1e6
  local good, bad = 0, 0
  for _, t in ipairs(threads) do
    good = good + (t:get("issued") or 0)
    bad = bad + (t:get("unexpected") or 0)
  end
  io.write(string.format(
    "RESULT requests=%d rps=%.1f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f " ..
    "err_connect=%d err_read=%d err_write=%d err_status=%d err_timeout=%d " ..
    "issued=%d unexpected=%d\n",
    summary.requests, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    e.connect, e.read, e.write, e.status, e.timeout, good, bad))
end
