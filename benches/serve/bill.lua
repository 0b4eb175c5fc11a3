-- wrk script: POST one Portland FY23-24 quarterly bill per request.
-- Responses other than 200 are counted and printed at the end.
wrk.method = "POST"
wrk.path = os.getenv("RATEBOOK_PATH") or "/v1/packs/portland/decisions/bill"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"account":{"id":"A-2001","class":"residential","billing_frequency":"quarterly"},"period":{"from":"2023-09-01","to":"2023-11-30"},"usage_ccf":15,"winter_average_ccf":12}'

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  not_ok = 0
end

function response(status, headers, body)
  if status ~= 200 then
    not_ok = not_ok + 1
  end
end

function done(summary, latency, requests)
  local bad = 0
  for _, t in ipairs(threads) do
    bad = bad + t:get("not_ok")
  end
  io.write(string.format("requests %d\nnon_200 %d\nsocket_errors %d\n", summary.requests, bad,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status + summary.errors.timeout))
  io.write(string.format("rps %.0f\np50_ms %.3f\np90_ms %.3f\np99_ms %.3f\nmax_ms %.3f\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
