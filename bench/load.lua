-- wrk load script: `wrk ... -s bench/load.lua URL -- METHOD ORIGIN [BODY]`.
-- Sends the same request each time (browser-like Accept-Encoding) and prints one BENCH line.

function init(args)
  wrk.method = args[1] or "GET"
  wrk.headers["Origin"] = args[2]
  wrk.headers["Accept-Encoding"] = "gzip, deflate, br"
  wrk.headers["User-Agent"] = "crumb-bench (wrk)"
  if args[3] then
    wrk.body = args[3]
    wrk.headers["Content-Type"] = "application/json"
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests":%d,"duration_us":%d,"status":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"timeout":%d,"p50_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
