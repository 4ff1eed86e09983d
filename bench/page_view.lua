-- wrk script: a browser's page views, each the page, then every /static/ file and the image it
-- links, on the same keep-alive connections. The paths come from bench/run.py (BENCH_PATHS).
local paths = {}
for path in string.gmatch(os.getenv("BENCH_PATHS"), "%S+") do
  table.insert(paths, path)
end
local count = 0

request = function()
  count = count + 1
  return wrk.format("GET", paths[(count - 1) % #paths + 1])
end
