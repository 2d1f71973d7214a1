-- submit.lua (wrk -s): POST /v1/jobs of the bench4 pipeline (4 echo stages;
-- env BENCH_PIPELINE names another), keep-alive, the same body each time (the
-- static request: no Lua per request; BENCH_BATCH=N: arrays of N). Prints one JSON line at the end: rps,
-- non-2xx, p50/p99 in ms.
wrk.method = "POST"
wrk.path = "/v1/jobs"
local job = '{"pipeline":"' .. (os.getenv("BENCH_PIPELINE") or "bench4") ..
  '","input":{"n":1,"s":"bench"}}'
-- BENCH_BATCH=N: each request an array of N such jobs (bulk submit)
local batch = tonumber(os.getenv("BENCH_BATCH") or "0")
if batch > 0 then
  wrk.body = "[" .. string.rep(job .. ",", batch - 1) .. job .. "]"
else
  wrk.body = job
end
wrk.headers["Content-Type"] = "application/json"

function done(summary, latency, requests)
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"rps":%.1f,"non2xx":%d,"errors":%d,' ..
    '"p50_ms":%.3f,"p99_ms":%.3f,"max_ms":%.3f}\n',
    summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write +
    summary.errors.timeout, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000))
end
