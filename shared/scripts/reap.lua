-- reap: forget a worker whose lease expired once its processing list is empty.
-- KEYS[1] workers zset, KEYS[2] its processing list, KEYS[3] its info hash,
-- KEYS[4] the alive hash (alive.lua)
-- ARGV[1] worker id, ARGV[2] lease (ms)
-- Returns 1 when forgotten, 0 when it still holds jobs, renewed its lease, or
-- has not had a whole lease since Redis was last unreachable.
--#include alive.lua
local lease = tonumber(ARGV[2])
local now, since = alive_now(KEYS[4], lease)
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
redis.call('DEL', KEYS[3])
return 1
