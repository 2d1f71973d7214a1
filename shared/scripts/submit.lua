-- submit: create a queued job and push its id, atomically, or a scheduled
-- job (ARGV[8] > 0) and add its id to the queue's delayed zset, due at
-- ARGV[8] ms; refuse when the queue is full (backpressure: the list's length
-- counts, whichever way the job goes in). Indexes the job in the recent
-- zset, trimmed to the newest ARGV[5] entries (bounded memory; expired jobs
-- read as missing).
-- Every key is in the slot of the job's queue partition (keys.h).
-- KEYS[1] job hash, KEYS[2] queue list (the partition's), KEYS[3] recent
-- zset, KEYS[4] the counters hash, KEYS[5] the queue partition's delayed zset
-- ARGV[1] job id, ARGV[2] TTL (s), ARGV[3] most queued jobs in this
-- partition list (0 = no limit), ARGV[4] creation time (ms since the epoch),
-- ARGV[5] most jobs in the recent index (>= 1), ARGV[6] the events channel,
-- ARGV[7] the queue's wake channel (channels are not keys: PUBLISHed to; the
-- wake when the push made the list non-empty, or when the scheduled job is
-- the earliest of the delayed zset: idle workers then wait less), ARGV[8]
-- when a scheduled job is due (ms since the epoch), 0 for a queued one,
-- ARGV[9..] field, value, field, value ...
-- Returns 1 when the job was created, the job's state when the same request
-- (pipeline, queue, input) created it before (a retry after a lost reply or
-- a 503: safe), 0 when another job has this id, -1 when the queue holds
-- ARGV[3] jobs already.
--#include stats.lua
if redis.call('EXISTS', KEYS[1]) == 1 then
  for i = 9, #ARGV - 1, 2 do
    local f = ARGV[i]
    -- the queue it was submitted to: its first stage's, where it may have
    -- moved on from (hop.lua)
    local have = f == 'queue' and redis.call('HGET', KEYS[1], 'stage.1.queue') or nil
    if (f == 'pipeline' or f == 'queue' or f == 'input') and
        (have or redis.call('HGET', KEYS[1], f)) ~= ARGV[i + 1] then
      return 0
    end
  end
  return redis.call('HGET', KEYS[1], 'state') or 'queued'
end
local max = tonumber(ARGV[3])
if max > 0 and redis.call('LLEN', KEYS[2]) >= max then
  return -1
end
redis.call('HSET', KEYS[1], unpack(ARGV, 9))
redis.call('EXPIRE', KEYS[1], ARGV[2])
local wake = false
if ARGV[8] ~= '0' then
  redis.call('ZADD', KEYS[5], ARGV[8], ARGV[1])
  wake = redis.call('ZRANGE', KEYS[5], 0, 0)[1] == ARGV[1]
else
  wake = redis.call('LPUSH', KEYS[2], ARGV[1]) == 1
end
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])
redis.call('ZREMRANGEBYRANK', KEYS[3], 0, -(tonumber(ARGV[5]) + 1))
count(KEYS[4], 'submitted', redis.call('HGET', KEYS[1], 'pipeline'))
redis.call('PUBLISH', ARGV[6], ARGV[1])
if wake then
  redis.call('PUBLISH', ARGV[7], ARGV[1])
end
return 1
