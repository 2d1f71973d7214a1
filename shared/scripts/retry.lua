-- retry: an attempt failed and attempts remain: put the job back on its queue
-- (now, or in the queue's delayed set until its backoff is over), fenced by
-- the attempt number like finish.lua, and reset its unfinished stages.
-- KEYS[1] job hash, KEYS[2] the worker's processing list, KEYS[3] queue list,
-- KEYS[4] the queue's delayed zset, KEYS[5] the counters hash, KEYS[6] the
-- partition's current hash (current.lua); all of the job's slot
-- ARGV[1] attempt, ARGV[2] TTL (s), ARGV[3] job id, ARGV[4] due time (ms since
-- the epoch; 0 = now), ARGV[5] stage count, ARGV[6] the held job the worker
-- runs next, or '' (idle): its current job (current.lua), ARGV[7] worker id,
-- ARGV[8] the events channel, ARGV[9] the queue's wake channel (published
-- when the push makes the list non-empty), ARGV[10..] field, value ...
-- (stages.lua's fields_apply)
-- Returns 'ok', or (nothing written but the list entry) the reason as update.lua.
--#include stages.lua
--#include stats.lua
--#include fence.lua
--#include current.lua
--#include reset.lua
local refusal, cur = fence_leave(KEYS[1], KEYS[2], ARGV[3], ARGV[1],
  {'state', 'attempt', 'pipeline', 'resume', 'created_at'})
set_current(KEYS[6], ARGV[7], ARGV[6])
if refusal then
  return refusal
end
-- With resume, stages that succeeded keep their outputs: the next attempt
-- starts at the one that failed.
reset_stages(KEYS[1], tonumber(ARGV[5]), cur[4] ~= '0', stage_base(cur[5]))
fields_apply(KEYS[1], ARGV, 10)
redis.call('EXPIRE', KEYS[1], ARGV[2])
if ARGV[4] == '0' then
  if redis.call('LPUSH', KEYS[3], ARGV[3]) == 1 then
    redis.call('PUBLISH', ARGV[9], '1')
  end
else
  redis.call('ZADD', KEYS[4], ARGV[4], ARGV[3])
end
count(KEYS[5], 'retried', cur[3])
redis.call('PUBLISH', ARGV[8], ARGV[3])
return 'ok'
