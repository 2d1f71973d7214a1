-- submit: create a queued job and push its id, atomically, or a scheduled
-- job (ARGV[8] > 0) and add its id to the queue's delayed zset, due at
-- ARGV[8] ms; refuse when the queue is full (backpressure: the list's length
-- counts, whichever way the job goes in). Indexes the job in the recent
-- zset, trimmed to the newest ARGV[5] entries (bounded memory; expired jobs
-- read as missing). The job itself: inc/submitjob.lua (as submit_many.lua).
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
--#include submitjob.lua
local r = submit_job({}, KEYS[1], KEYS[2], KEYS[5], ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[8],
  ARGV[6], ARGV[7], ARGV, 9)
if r ~= 1 then
  return r
end
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])
redis.call('ZREMRANGEBYRANK', KEYS[3], 0, -(tonumber(ARGV[5]) + 1))
count(KEYS[4], 'submitted', redis.call('HGET', KEYS[1], 'pipeline'))
return 1
