-- wrk script for bench/http/run.sh: POST an x-www-form-urlencoded body with client_secret_basic.
-- The URL comes from the wrk command line. Read by every wrk thread:
--   BENCH_BODY  the form body (default grant_type=client_credentials)
--   BENCH_AUTH  base64("client_id:client_secret") for Authorization: Basic
-- done() prints one line: RESULT key=value ... (latencies in ms). Non-2xx answers are counted
-- by wrk as errors.status.
wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY") or "grant_type=client_credentials"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Accept"] = "application/json"
local auth = os.getenv("BENCH_AUTH")
if auth and auth ~= "" then
  wrk.headers["Authorization"] = "Basic " .. auth
end

function done(summary, latency, requests)
  local e = summary.errors
  local secs = summary.duration / 1e6
  io.write(string.format(
    "RESULT requests=%d rps=%.1f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f " ..
    "err_connect=%d err_read=%d err_write=%d err_status=%d err_timeout=%d\n",
    summary.requests, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    e.connect, e.read, e.write, e.status, e.timeout))
end
