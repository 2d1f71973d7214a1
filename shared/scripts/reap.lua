-- reap: forget a worker whose lease expired once its processing list is empty.
-- KEYS[1] workers zset, KEYS[2] its processing list, KEYS[3] its info hash
-- ARGV[1] worker id, ARGV[2] now (ms since the epoch)
-- Returns 1 when forgotten, 0 when it still holds jobs or renewed its lease.
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) > tonumber(ARGV[2]) then
  return 0
end
if redis.call('LLEN', KEYS[2]) > 0 then
  return 0
end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[3])
return 1
