-- heartbeat: a worker process renews its lease and publishes what it does.
-- The lease runs on Redis's clock (TIME), the same for every worker.
-- KEYS[1] workers zset (member: worker id, score: lease expiry in ms since
-- the epoch), KEYS[2] the worker's info hash, KEYS[3] the alive hash
-- (alive.lua)
-- ARGV[1] worker id, ARGV[2] lease (ms), ARGV[3] info TTL (s),
-- ARGV[4..] info field, value ...
-- Returns {now, judge_at}: Redis time (ms) and when workers may be judged
-- lost (alive.lua), as strings.
--#include alive.lua
local lease = tonumber(ARGV[2])
local now, since = alive_now(KEYS[3], lease)
redis.call('ZADD', KEYS[1], string.format('%.0f', now + lease), ARGV[1])
redis.call('HSET', KEYS[2], unpack(ARGV, 4))
redis.call('EXPIRE', KEYS[2], ARGV[3])
return {string.format('%.0f', now), string.format('%.0f', since + lease)}
