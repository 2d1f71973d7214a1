-- submit: create a queued job and push its id, atomically.
-- KEYS[1] job hash, KEYS[2] queue list
-- ARGV[1] job id, ARGV[2] TTL (s), ARGV[3..] field, value, field, value ...
-- Returns 1 when the job was created, 0 when a job with this id exists.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('LPUSH', KEYS[2], ARGV[1])
return 1
