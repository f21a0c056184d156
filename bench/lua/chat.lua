-- wrk script for bench/gateway.py: POST OpenAI chat bodies, report JSON.
--
-- Every 4 requests start a new X-Session-Id (a random per-thread prefix and a
-- counter), so the gateway's sticky routing hashes ever new keys and the
-- candidate's share converges to its weight, as with real users; the body
-- names the session too. done() prints one line
--   WRKJSON {...}
-- with counts and latency percentiles in microseconds, which gateway.py parses.
--
--   wrk -t1 -c16 -d5s -s bench/lua/chat.lua http://127.0.0.1:8080/v1/chat/completions

-- BENCH_STREAM=1 in the environment asks for `stream: true` (SSE) answers.
local REQUESTS_PER_SESSION = 4
local STREAM = os.getenv("BENCH_STREAM") == "1"
local counter = 0
local prefix = ""
local headers = { ["Content-Type"] = "application/json" }

function init(args)
   math.randomseed(os.time() + math.floor(os.clock() * 1e6))
   prefix = string.format("bench-%08x-", math.random(0, 0x7fffffff))
end

function request()
   local session = prefix .. math.floor(counter / REQUESTS_PER_SESSION)
   local turn = counter % REQUESTS_PER_SESSION
   counter = counter + 1
   headers["X-Session-Id"] = session
   -- Each turn asks something new: the same question again in a session is a
   -- regeneration (implicit negative feedback), which real traffic does rarely.
   local body = '{"model":"bench","messages":['
      .. '{"role":"system","content":"You are a helpful assistant. Answer briefly."},'
      .. '{"role":"user","content":"Session ' .. session .. ', turn ' .. turn
      .. ': say hello in five words, please."}'
      .. '],"max_tokens":32' .. (STREAM and ',"stream":true}' or '}')
   return wrk.format("POST", nil, headers, body)
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,'
      .. '"err_connect":%d,"err_read":%d,"err_write":%d,"err_status":%d,"err_timeout":%d,'
      .. '"p50_us":%d,"p90_us":%d,"p99_us":%d,"mean_us":%.1f,"max_us":%d}\n',
      summary.requests, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency.mean, latency.max))
end
