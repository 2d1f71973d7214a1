-- lease: a worker process renews its lease in one partition it takes from
-- (the heartbeat sends one per partition, pipelined). The lease runs on the
-- clock of that partition's Redis (TIME), the same for every worker, and is
-- judged there (recover.lua, reap.lua).
-- KEYS[1] the partition's leases zset (member: worker id, score: lease expiry
-- in ms since the epoch), KEYS[2] its alive hash (alive.lua)
-- ARGV[1] worker id, ARGV[2] lease (ms)
-- Returns {now, judge_at}: that Redis's time (ms) and when workers may be
-- judged lost there (alive.lua), as strings.
--#include alive.lua
local lease = tonumber(ARGV[2])
local now, since = alive_now(KEYS[2], lease)
redis.call('ZADD', KEYS[1], string.format('%.0f', now + lease), ARGV[1])
return {string.format('%.0f', now), string.format('%.0f', since + lease)}
