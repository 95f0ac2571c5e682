-- wrk script: a JD Cloud v1.1 publish_started callback (stream goes live):
-- stores an event and updates the stream's liveness; no job.
local headers = { ["Content-Type"] = "application/json" }
local n = 0

function request()
  n = n + 1
  local body = string.format(
    '{"version":"v1.1","publishDomain":"push.example.com","appName":"live","streamName":"s%d",' ..
    '"event":"publish_started","status":"success","clientIp":"12.11.112.34",' ..
    '"eventTime":1700000000000,"pushParams":{"a":"aaa"}}', n % 500)
  return wrk.format("POST", path_with_token, headers, body)
end
