-- reap: forget, in one partition, a worker whose lease there expired once its
-- processing list there is empty (and its current job there).
-- KEYS[1] the partition's leases zset, KEYS[2] the worker's processing list
-- there, KEYS[3] the alive hash (alive.lua), KEYS[4] the current hash
-- (current.lua); all of one slot
-- ARGV[1] worker id, ARGV[2] lease (ms)
-- Returns 1 when forgotten, 0 when it still holds jobs, renewed its lease, or
-- has not had a whole lease since Redis was last unreachable.
--#include alive.lua
local lease = tonumber(ARGV[2])
local now, since = alive_now(KEYS[3], lease)
if now < since + lease then
  return 0
end
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) > now then
  return 0
end
if redis.call('LLEN', KEYS[2]) > 0 then
  return 0
end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[4], ARGV[1])
return 1
