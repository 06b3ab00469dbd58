-- Paced POST /samples for wrk, counting statuses and refusals without Retry-After:
--   wrk -t1 -cC -dDs -s benchmarks/overload_wrk.lua URL -- N MODEL PACE_MS
-- Each connection waits a random 0..2 x PACE_MS before each request, so C connections offer
-- about C / PACE_MS * 1000 requests per second, spread out rather than in bursts, while
-- answers come back quickly.
local n, model, pace, seed = 64, "", 0, 0
local threads = {}
statuses, no_retry_after = {}, 0 -- globals: done() reads them through thread:get()

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  n = tonumber(args[1] or "64")
  model = args[2] or ""
  pace = tonumber(args[3] or "0")
  math.randomseed(os.time())
  seed = math.random(1, 1000000) * 1000000
end

function delay()
  return math.random(0, 2 * pace)
end

function request()
  seed = seed + 1
  local body = string.format('{"n":%d,"seed":%d,"model":"%s","format":"npy"}', n, seed, model)
  return wrk.format("POST", "/samples", { ["Content-Type"] = "application/json" }, body)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if status == 429 or status == 503 then
    if headers["retry-after"] == nil and headers["Retry-After"] == nil then
      no_retry_after = no_retry_after + 1
    end
  end
end

function done(summary, latency, requests)
  local total, missing = {}, 0
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      total[status] = (total[status] or 0) + count
    end
    missing = missing + thread:get("no_retry_after")
  end
  for status, count in pairs(total) do
    io.write(string.format("STATUS %d %d\n", status, count))
  end
  io.write(string.format("NO_RETRY_AFTER %d\n", missing))
end
