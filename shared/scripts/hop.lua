-- hop: stage k of a running job ended and stage k+1 runs on another queue:
-- store the stage's end and hand the job over to that queue, atomically. The
-- job waits there (state queued, stage k, queue the next stage's, next_stage
-- k+1) until a pool serving that queue takes it; that start continues the
-- same attempt (startjob.lua). Fenced like finish.lua: by the attempt and by
-- the worker. It is the end of the job for this worker (its processing list
-- and info hash), so it is never on two queues nor lost in between.
-- KEYS[1] job hash, KEYS[2] the worker's processing list, KEYS[3] the next
-- stage's queue list in the job's own partition (the queues of a pipeline
-- have the same partition count: the same slot), KEYS[4] the partition's
-- current hash (current.lua), KEYS[5..] the stage statistics keys of each
-- pipeline ARGV[8] names (stats.lua)
-- ARGV[1] attempt, ARGV[2] TTL (s), ARGV[3] job id, ARGV[4] worker id,
-- ARGV[5] the held job the worker runs next, or '' (idle): its current job
-- (current.lua), ARGV[6] the events channel, ARGV[7] the next queue's wake
-- channel (published when the push makes its list non-empty),
-- ARGV[8] stage runs to record (stats.lua's spec, or ''; recorded whatever
-- the fence says: they ran), ARGV[9..] field, value ... (the worker's: stage
-- k succeeded with its output, state queued, queue, next_stage: stages.lua's
-- fields_apply)
-- Returns 'ok', or (nothing written but the list entry) the reason as
-- update.lua.
--#include stages.lua
--#include stats.lua
--#include fence.lua
--#include current.lua
if ARGV[8] ~= '' then
  record_stats(5, ARGV[8])
end
local refusal, cur = fence_leave(KEYS[1], KEYS[2], ARGV[3], ARGV[1],
  {'state', 'attempt', 'worker', 'hopped'})
set_current(KEYS[4], ARGV[4], ARGV[5])
if refusal then
  return refusal
end
if cur[3] and cur[3] ~= ARGV[4] then
  return 'fenced' -- begun by another worker
end
fields_apply(KEYS[1], ARGV, 9)
if cur[4] then -- begun as a hop's continuation: this hand-over ends that
  redis.call('HDEL', KEYS[1], 'hopped')
end
redis.call('EXPIRE', KEYS[1], ARGV[2])
if redis.call('LPUSH', KEYS[3], ARGV[3]) == 1 then
  redis.call('PUBLISH', ARGV[7], '1')
end
redis.call('PUBLISH', ARGV[6], ARGV[3])
return 'ok'
