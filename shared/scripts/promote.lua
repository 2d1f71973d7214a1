-- promote: move jobs whose retry backoff is over from a queue partition's
-- delayed set onto its list; the first push onto an empty list publishes the
-- queue's wake channel (idle workers serving several partitions wait on it).
-- KEYS[1] the queue's delayed zset, KEYS[2] queue list (same slot)
-- ARGV[1] now (ms since the epoch), ARGV[2] most jobs to move, ARGV[3] the
-- queue's wake channel
-- Returns how many were moved.
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, id in ipairs(due) do
  redis.call('ZREM', KEYS[1], id)
  if redis.call('LPUSH', KEYS[2], id) == 1 then
    redis.call('PUBLISH', ARGV[3], '1')
  end
end
return #due
