-- promote: move jobs whose retry backoff is over from a queue's delayed set
-- onto the queue.
-- KEYS[1] the queue's delayed zset, KEYS[2] queue list
-- ARGV[1] now (ms since the epoch), ARGV[2] most jobs to move
-- Returns how many were moved.
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, id in ipairs(due) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('LPUSH', KEYS[2], id)
end
return #due
