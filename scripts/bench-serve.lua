-- wrk request generator for scripts/bench-serve.sh: GET /v1/verify with a varying address.
--   wrk ... -s scripts/bench-serve.lua URL -- MODE LEVEL [N] [DOMAINS]
-- MODE  unique: every request a new address (u<thread>x<counter>@<domain>): the server's result
--               cache never answers, every request runs the check;
--       rotate: N addresses (r<i>@<domain>, i = counter mod N), the same list in every thread: after
--               the first pass the result cache answers (many keys, as a busy form would give);
--       fixed:  always ann@example.com (one cached answer).
-- LEVEL syntax, dns or smtp. N: addresses for rotate (default 5000).
-- DOMAINS: comma-separated domains to spread the addresses over (default 2,000 generated names).
-- With BENCH_COUNT=1 in the environment, every answer is read: statuses, reason check_pending and
-- non-200 answers are counted and printed at the end (costs wrk time: only for slow levels).
local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  mode = args[1] or "unique"
  level = args[2] or "syntax"
  n = tonumber(args[3]) or 5000
  domains = {}
  for d in string.gmatch(args[4] or "", "[^,]+") do
    domains[#domains + 1] = d
  end
  if #domains == 0 then
    for i = 0, 1999 do
      domains[#domains + 1] = string.format("d%04d.bench-%d.com", i, i % 7)
    end
  end
  counter = 0
  valid, invalid, risky, unknown, pending, other = 0, 0, 0, 0, 0, 0
  tid = tid or 0
end

function request()
  counter = counter + 1
  local email
  if mode == "fixed" then
    email = "ann@example.com"
  elseif mode == "rotate" then
    local i = counter % n
    email = string.format("r%d@%s", i, domains[i % #domains + 1])
  else
    email = string.format("u%dx%d@%s", tid, counter, domains[counter % #domains + 1])
  end
  return wrk.format("GET", "/v1/verify?email=" .. email .. "&level=" .. level)
end

if os.getenv("BENCH_COUNT") == "1" then
  function response(status, headers, body)
    if status ~= 200 then
      other = other + 1
      return
    end
    local s = string.match(body, '"status":"(%a+)"')
    if s == "valid" then valid = valid + 1
    elseif s == "invalid" then invalid = invalid + 1
    elseif s == "risky" then risky = risky + 1
    else unknown = unknown + 1 end
    if string.find(body, '"reason":"check_pending"', 1, true) then pending = pending + 1 end
  end

  function done(summary, latency, requests)
    local t = {valid = 0, invalid = 0, risky = 0, unknown = 0, pending = 0, other = 0}
    for _, thread in ipairs(threads) do
      for k, _ in pairs(t) do
        t[k] = t[k] + (thread:get(k) or 0)
      end
    end
    io.write(string.format("COUNTS valid=%d invalid=%d risky=%d unknown=%d check_pending=%d non200=%d\n",
      t.valid, t.invalid, t.risky, t.unknown, t.pending, t.other))
  end
end
