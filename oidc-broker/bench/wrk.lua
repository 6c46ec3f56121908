-- The load of `npm run bench:broker -- --load wrk` (exchange.ts): wrk sends each body of BENCH_BODIES (one JSON body
-- per line) once, thread i taking lines i, i + n, ... (n threads, one per broker instance) to the instance on the
-- i-th port of BENCH_PORTS; a thread whose bodies are spent stops. done() prints one line for exchange.ts to read.
local ports = {}
for p in string.gmatch(os.getenv("BENCH_PORTS") or "", "%d+") do
  ports[#ports + 1] = p
end
local threads = {}

wrk.method = "POST"
wrk.path = os.getenv("BENCH_PATH")
wrk.headers["content-type"] = "application/json"

function setup(thread)
  local i = #threads
  thread.addr = wrk.lookup("127.0.0.1", ports[i % #ports + 1])[1]
  thread:set("index", i)
  threads[#threads + 1] = thread
end

local bodies = {}
local next_body = 0

function init(args)
  local n = tonumber(os.getenv("BENCH_THREADS"))
  local line = 0
  for body in io.lines(os.getenv("BENCH_BODIES")) do
    if line % n == index then
      bodies[#bodies + 1] = body
    end
    line = line + 1
  end
  sent = 0
  spent = 0
end

function request()
  next_body = next_body + 1
  local body = bodies[next_body]
  if body == nil then
    spent = 1
    wrk.thread:stop()
    body = "{}"
  else
    sent = sent + 1
  end
  return wrk.format(nil, nil, nil, body)
end

function done(summary, latency, requests)
  local sent_all, spent_any = 0, 0
  for _, t in ipairs(threads) do
    sent_all = sent_all + t:get("sent")
    spent_any = math.max(spent_any, t:get("spent"))
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests":%d,"sent":%d,"spent":%d,"durationUs":%d,"status":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d,"p50Us":%d,"p99Us":%d}\n',
    summary.requests, sent_all, spent_any, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
