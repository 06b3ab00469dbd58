-- POST /samples bodies for wrk, a fresh seed per request:
--   wrk -t1 -c32 -d10s -s benchmarks/serve_wrk.lua http://127.0.0.1:8000 -- N [MODEL]
local n = 1
local model = ""
local seed = 0

function init(args)
  n = tonumber(args[1] or "1")
  model = args[2] or ""
  seed = math.random(1, 1000000) * 1000000 -- threads start far apart
end

function request()
  seed = seed + 1
  local pick = ""
  if model ~= "" then
    pick = ',"model":"' .. model .. '"'
  end
  local body = string.format('{"n":%d,"seed":%d%s}', n, seed, pick)
  return wrk.format("POST", "/samples", { ["Content-Type"] = "application/json" }, body)
end
