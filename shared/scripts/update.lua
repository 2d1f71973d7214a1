-- update: write fields of a running job, fenced by its attempt number.
-- KEYS[1] job hash, KEYS[2..] the stage statistics keys of each pipeline the
-- spec names (stats.lua: histogram and ETA hash, in the job's slot)
-- ARGV[1] attempt the writer runs, ARGV[2] TTL (s), ARGV[3] the events
-- channel (PUBLISHed to), ARGV[4] the job id, ARGV[5] stage runs to record
-- (stats.lua's spec, or ''; recorded whatever the fence says: they ran),
-- ARGV[6] the writer's worker id (a held job another worker began is not
-- its: 'fenced'), ARGV[7..] field, value ... (stages.lua's fields_apply)
-- Returns 'ok' after writing; otherwise writes nothing and returns the job's
-- state ('canceled', ...), 'missing' when it expired, or 'fenced' when another
-- attempt owns it.
--#include stages.lua
--#include stats.lua
--#include fence.lua
if ARGV[5] ~= '' then
  record_stats(2, ARGV[5])
end
local cur = redis.call('HMGET', KEYS[1], 'state', 'attempt', 'worker')
local refusal = fence_refusal(cur[1], cur[2], ARGV[1])
if refusal then
  return refusal
end
if cur[3] and cur[3] ~= ARGV[6] then
  return 'fenced'
end
fields_apply(KEYS[1], ARGV, 7)
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 'ok'
