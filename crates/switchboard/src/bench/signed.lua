-- wrk script of `switchboard bench webhooks`: sends pre-signed webhook bodies, one
-- line of the request file each ("<signature> <form body>"), every line once while it
-- lasts. Thread t takes lines OFFSET + t, OFFSET + t + STRIDE, ...: one wrk of two
-- threads takes every line with STRIDE 2 and OFFSET 0; two wrk at once split them with
-- STRIDE 4 and OFFSETs 0 and 2.
-- Usage: wrk -t2 -s signed.lua URL -- FILE STRIDE OFFSET
local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local requests = {}
local next_request = 0

function init(args)
  local file, stride, offset = args[1], tonumber(args[2]), tonumber(args[3])
  local line_no = 0
  for line in io.lines(file) do
    if line_no % stride == offset + id then
      local signature, body = line:match("^(%S+) (.*)$")
      requests[#requests + 1] = wrk.format("POST", nil, {
        ["Content-Type"] = "application/x-www-form-urlencoded",
        ["X-Twilio-Signature"] = signature,
      }, body)
    end
    line_no = line_no + 1
  end
  wrapped = 0
end

function request()
  next_request = next_request + 1
  if next_request > #requests then
    next_request = 1
    wrapped = wrapped + 1
  end
  return requests[next_request]
end

function done(summary, latency, requests)
  local wraps = 0
  for _, t in ipairs(threads) do
    wraps = wraps + (t:get("wrapped") or 0)
  end
  io.write(string.format("wrapped: %d\n", wraps))
end
