-- rerun: POST /v1/jobs/{id}/retry. A failed or canceled job goes back to
-- queued, on the queue of its first unfinished stage, with a fresh attempt
-- budget (attempt 0: its next start is attempt 1). With resume (the default)
-- the stages that succeeded keep their outputs and the job restarts at the
-- first one that did not; without, every stage is reset (as retry.lua does).
-- Its errors are kept; error, finished_at and result are cleared; it leaves
-- its queue's failed index. Every key is in the job's slot (the caller
-- builds them there from what it read; a hash that changed since is refused
-- as 'moved', nothing written).
-- KEYS[1] job hash, KEYS[2] the list of the queue it goes back to (its
-- first unfinished stage's), KEYS[3] the failed index of the queue it is on
-- (its `queue` field), KEYS[4] the counters hash, KEYS[5] the processing
-- list of the worker that ran it last (KEYS[1] again when none)
-- ARGV[1] job id, ARGV[2] now (RFC 3339), ARGV[3] active TTL (s), ARGV[4]
-- the events channel, ARGV[5] the wake channel of KEYS[2]'s queue (published
-- when the push makes the list non-empty), ARGV[6] that queue's name,
-- ARGV[7] the job's `queue` field the caller read, ARGV[8] its `worker`
-- field ('' when none)
-- Returns the job's hash (HGETALL) once requeued; else 'missing', 'moved'
-- (the hash is not what the caller read: read it again), 'busy' (a worker
-- still holds it on its processing list: a canceled job whose stage is being
-- stopped), or 'state:<state>' when the job is neither failed nor canceled.
--#include stages.lua
--#include jobwrite.lua
--#include stats.lua
--#include reset.lua
local names = {'state', 'queue', 'worker', 'pipeline', 'stage_count', 'resume', 'created_at',
  'progress', 'message', 'next_attempt_at', 'next_stage', 'hopped', 'overall_progress'}
local cur = redis.call('HMGET', KEYS[1], unpack(names))
local st = cur[1]
if not st then
  return 'missing'
end
if st ~= 'failed' and st ~= 'canceled' then
  return 'state:' .. st
end
if (cur[2] or '') ~= ARGV[7] or (cur[3] or '') ~= ARGV[8] then
  return 'moved'
end
if ARGV[8] ~= '' and redis.call('LPOS', KEYS[5], ARGV[1]) then
  return 'busy'
end
local n = tonumber(cur[5]) or 1
local resume = cur[6] ~= '0'
-- the first unfinished stage: where the job starts again (startjob.lua
-- walks the same way)
local base = stage_base(cur[7])
local k = 1
while resume and k < n and stages_read(KEYS[1], {k}, base)[k].state == 'succeeded' do
  k = k + 1
end
local target = redis.call('HGET', KEYS[1], 'stage.' .. k .. '.queue') or cur[2]
if target ~= ARGV[6] then
  return 'moved'
end
reset_stages(KEYS[1], n, resume, base)
local w = job_write()
jw_set(w, 'state', 'queued')
jw_set(w, 'attempt', '0')
jw_set(w, 'queue', target)
jw_set(w, 'progress', '0')
jw_set(w, 'message', '')
jw_set(w, 'next_attempt_at', '')
jw_set(w, 'next_stage', '')
jw_set(w, 'hopped', '')
jw_set(w, 'updated_at', ARGV[2])
job_write_send(KEYS[1], w, have_of(names, cur, 1), {'error', 'finished_at', 'result'}, 'queued')
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('ZREM', KEYS[3], ARGV[1])
if redis.call('LPUSH', KEYS[2], ARGV[1]) == 1 then
  redis.call('PUBLISH', ARGV[5], '1')
end
count(KEYS[4], 'retried', cur[4])
redis.call('PUBLISH', ARGV[4], ARGV[1])
return redis.call('HGETALL', KEYS[1])
