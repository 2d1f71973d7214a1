-- update: write fields of a running job, fenced by its attempt number.
-- KEYS[1] job hash, KEYS[2..3] the pipeline's stage histogram and ETA hash
-- (see stats.lua), KEYS[4] the events channel (not a key: PUBLISHed to)
-- ARGV[1] attempt the writer runs, ARGV[2] TTL (s), ARGV[3] the stages that
-- succeeded since the last write, a "<k> <ms> <name>" line each, or '',
-- ARGV[4..] field, value ...
-- Returns 'ok' after writing; otherwise writes nothing and returns the job's
-- state ('canceled', ...), 'missing' when it expired, or 'fenced' when another
-- attempt owns it.
--#include stats.lua
--#include fence.lua
local cur = redis.call('HMGET', KEYS[1], 'state', 'attempt', 'id')
local refusal = fence_refusal(cur[1], cur[2], ARGV[1])
if refusal then
  return refusal
end
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
redis.call('EXPIRE', KEYS[1], ARGV[2])
record_stage(KEYS[2], KEYS[3], ARGV[3])
redis.call('PUBLISH', KEYS[4], cur[3] or '')
return 'ok'
