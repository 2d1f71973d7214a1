-- submit: create a queued job and push its id, atomically; refuse when the
-- queue is full (backpressure).
-- KEYS[1] job hash, KEYS[2] queue list
-- ARGV[1] job id, ARGV[2] TTL (s), ARGV[3] most queued jobs (0 = no limit),
-- ARGV[4..] field, value, field, value ...
-- Returns 1 when the job was created, 0 when a job with this id exists, -1
-- when the queue holds ARGV[3] jobs already.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
local max = tonumber(ARGV[3])
if max > 0 and redis.call('LLEN', KEYS[2]) >= max then
  return -1
end
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('LPUSH', KEYS[2], ARGV[1])
return 1
