-- wrk script: reads of the guestbook with a signature mixed in, one request in 20.
-- The CSRF token and its cookie (name=value) come from bench/run.py through the environment.
local token = os.getenv("BENCH_TOKEN")
local cookie = os.getenv("BENCH_COOKIE")
local count = 0

request = function()
  count = count + 1
  if count % 20 == 0 then
    local body = "csrfmiddlewaretoken=" .. token .. "&name=bench&message=Signed+under+load"
    -- A table of headers replaces wrk's own (-H): the router's and the Origin go in too.
    local headers = {["Content-Type"] = "application/x-www-form-urlencoded", ["Cookie"] = cookie}
    for name, value in pairs(wrk.headers) do
      headers[name] = value
    end
    return wrk.format("POST", "/", headers, body)
  end
  return wrk.format("GET", "/")
end
