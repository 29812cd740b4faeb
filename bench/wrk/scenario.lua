-- One benchmark scenario for wrk, set up from the environment by bench/run:
--   BENCH_METHOD, BENCH_PATH, BENCH_TOKEN (a bearer token), BENCH_BODY_FILE and
--   BENCH_CONTENT_TYPE (a fixed body), BENCH_KIND=register (a new email on every request,
--   unique across runs through BENCH_TAG).
-- done() prints one line "BENCH_JSON {...}" with the counts, the latency percentiles and
-- every kind of error; wrk counts an answer of 400 or more as a status error.

local token = os.getenv("BENCH_TOKEN")
local body_file = os.getenv("BENCH_BODY_FILE")
local kind = os.getenv("BENCH_KIND") or "fixed"
local tag = os.getenv("BENCH_TAG") or "0"
local password = os.getenv("BENCH_PASSWORD") or ""

wrk.method = os.getenv("BENCH_METHOD") or "GET"
wrk.path = os.getenv("BENCH_PATH") or "/"
if token and token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end
if os.getenv("BENCH_CONTENT_TYPE") then
  wrk.headers["Content-Type"] = os.getenv("BENCH_CONTENT_TYPE")
end
if body_file and body_file ~= "" then
  local f = assert(io.open(body_file, "rb"))
  wrk.body = f:read("*a")
  f:close()
end

local threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("id", #threads)
end

if kind == "register" then
  local counter = 0
  wrk.headers["Content-Type"] = "application/json"
  function request()
    counter = counter + 1
    local body = string.format(
      '{"email":"r%s-%d-%d@bench.example","password":"%s"}', tag, id, counter, password)
    return wrk.format(nil, nil, nil, body)
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,' ..
    '"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
