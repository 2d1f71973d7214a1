-- cancel: a queued or scheduled job never starts (its id leaves the list and
-- the delayed zset, wherever it is); a running one is marked canceled (its
-- worker sees it within a second, stops the stage and drops the job).
-- Every key is in the job's slot (the caller builds the queue keys there).
-- KEYS[1] job hash, KEYS[2] its queue list, KEYS[3] the queue's delayed zset,
-- KEYS[4] the counters hash
-- ARGV[1] job id, ARGV[2] now (RFC 3339), ARGV[3] the queue the caller read,
-- ARGV[4] the events channel (not a key: PUBLISHed to)
-- Returns 'missing'; the final state when already finished; 'moved' when the
-- job's queue is not ARGV[3]; else 'was:<queued|scheduled|running>' after
-- canceling.
--#include stages.lua
--#include stats.lua
local cur = redis.call('HMGET', KEYS[1], 'state', 'queue', 'stage', 'result_ttl_s', 'pipeline',
  'created_at', 'overall_progress')
local st = cur[1]
if not st then
  return 'missing'
end
local waiting = st == 'queued' or st == 'scheduled'
if not waiting and st ~= 'running' then
  return st
end
if cur[2] ~= ARGV[3] then
  return 'moved'
end
if waiting then
  redis.call('LREM', KEYS[2], 0, ARGV[1])
  redis.call('ZREM', KEYS[3], ARGV[1])
end
local k = tonumber(cur[3] or '0') or 0
local set, del = {}, {}
if st == 'running' and k > 0 then
  local base = stage_base(cur[6])
  local s = stages_read(KEYS[1], {k}, base)[k]
  s.state, s.t1 = 'canceled', stage_off(ARGV[2], base)
  stages_put(set, del, k, s)
end
if cur[7] then -- a job of the older layout: it keeps finished_at (stages.lua)
  set[#set + 1], set[#set + 2] = 'finished_at', ARGV[2]
end
redis.call('HSET', KEYS[1], 'state', 'canceled', 'updated_at', ARGV[2], unpack(set))
if #del > 0 then
  redis.call('HDEL', KEYS[1], unpack(del))
end
redis.call('EXPIRE', KEYS[1], tonumber(cur[4] or '86400') or 86400)
count(KEYS[4], 'canceled', cur[5])
redis.call('PUBLISH', ARGV[4], ARGV[1])
return 'was:' .. st
