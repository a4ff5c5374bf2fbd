-- wrk script of bench/gateway.sh: the same image request for every target, and a
-- machine-readable result line (latencies in microseconds).
wrk.method = "POST"
wrk.path = "/api/v1/txt2img"
wrk.body = '{"model": "txt2img", "prompt": "a lighthouse at dusk", "image_num": 1}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["x-api-key"] = "sk-bench"

function done(summary, latency, requests)
  local seconds = summary.duration / 1000000
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d rps=%.1f p50_us=%d p90_us=%d p99_us=%d max_us=%d socket_errors=%d non_2xx=%d\n",
    summary.requests, summary.requests / seconds,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    e.connect + e.read + e.write + e.timeout, e.status))
end
