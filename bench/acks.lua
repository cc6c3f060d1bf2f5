-- wrk script for the durability part: `wrk ... -s bench/acks.lua URL -- ORIGIN BODY OUTDIR`.
-- POSTs consents and appends the consent_id of every 201 response (an acknowledgement)
-- to OUTDIR/acks-<thread>.txt, flushed at once, so a killed server cannot hide one.

local counter = 0
local threads = {}

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end

function init(args)
  wrk.method = "POST"
  wrk.headers["Origin"] = args[1]
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["User-Agent"] = "crumb-bench (wrk durability)"
  wrk.body = args[2]
  out = io.open(args[3] .. "/acks-" .. id .. ".txt", "a")
end

function response(status, headers, body)
  if status == 201 then
    local cid = body:match('"consent_id":"([^"]+)"')
    if cid then
      out:write(cid, "\n")
      out:flush()
    end
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
