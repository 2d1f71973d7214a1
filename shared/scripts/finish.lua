-- finish: write the final fields of a job, set its final TTL and drop it from
-- the worker's processing list, atomically; fenced like update.
-- KEYS[1] job hash, KEYS[2] the worker's processing list, KEYS[3] the
-- counters hash, KEYS[4..5] as update.lua's KEYS[2..3], KEYS[6] the events
-- channel (not a key: PUBLISHed to)
-- ARGV[1] attempt, ARGV[2] TTL (s), ARGV[3] job id, ARGV[4] the stages that
-- succeeded since the last write (as update.lua's ARGV[3]), ARGV[5..] field,
-- value ...
-- Returns 'ok', or (nothing written but the list entry) the reason as update.
--#include stats.lua
--#include fence.lua
redis.call('LREM', KEYS[2], 1, ARGV[3])
local cur = redis.call('HMGET', KEYS[1], 'state', 'attempt', 'pipeline')
local refusal = fence_refusal(cur[1], cur[2], ARGV[1])
if refusal then
  return refusal
end
redis.call('HSET', KEYS[1], unpack(ARGV, 5))
redis.call('EXPIRE', KEYS[1], ARGV[2])
local st = redis.call('HGET', KEYS[1], 'state')
-- Counted so that a job reported succeeded twice would show (fault tests).
if st == 'succeeded' then
  redis.call('HINCRBY', KEYS[1], 'success_count', 1)
end
count(KEYS[3], st, cur[3])
record_stage(KEYS[4], KEYS[5], ARGV[4])
redis.call('PUBLISH', KEYS[6], ARGV[3])
return 'ok'
