-- wrk script: a JD Cloud v1.1 record_done callback with a unique downloadUrl
-- per request, so that every request stores an event AND creates a job.
local thread_no = 0
local threads = {}

function setup(thread)
  thread:set("tid", thread_no)
  thread_no = thread_no + 1
end

local n = 0
local headers = { ["Content-Type"] = "application/json" }

function request()
  n = n + 1
  local body = string.format(
    '{"version":"v1.1","publishDomain":"push.example.com","appName":"live","streamName":"s%d",' ..
    '"event":"record_done","status":"success","format":"flv","duration":"18439.0",' ..
    '"beginTime":1553741853968,"endTime":1553741935867,' ..
    '"downloadUrl":"http://s3.example.com/rec/%d/%d.flv"}',
    n % 100, tid, n)
  return wrk.format("POST", path_with_token, headers, body)
end
