-- requeue: a stopping worker hands its job back at once (graceful shutdown):
-- to the front of its queue, resuming at the stage that did not finish;
-- fenced by the attempt number like finish.lua.
-- KEYS[1] job hash, KEYS[2] the worker's processing list, KEYS[3] queue list,
-- KEYS[4] the partition's current hash (current.lua); all of the job's slot
-- ARGV[1] attempt, ARGV[2] job id, ARGV[3] now (RFC 3339), ARGV[4] the stage
-- that was interrupted (0 = none), ARGV[5] '1' when the job was taken but
-- never began (the worker held it behind another): a reservation (still
-- queued, or scheduled when it was due) goes back to the front of its queue; a job begun (running) but
-- not run has its attempt given back, as if it had never been taken; ARGV[6] '1' when it is the job the
-- worker runs (it is idle here again: current.lua), '0' for a held one,
-- ARGV[7] worker id, ARGV[8] the events channel, ARGV[9] the queue's wake
-- channel (published when the push makes the list non-empty)
-- Returns 'ok', or (nothing written but the list entry) the reason as update.lua.
--#include stages.lua
--#include jobwrite.lua
--#include fence.lua
--#include unstart.lua
--#include current.lua
local removed = redis.call('LREM', KEYS[2], 1, ARGV[2])
if ARGV[6] == '1' then
  set_current(KEYS[4], ARGV[7], '')
end
local cur = redis.call('HMGET', KEYS[1], 'state', 'attempt')
if ARGV[5] == '1' and (cur[1] == 'queued' or cur[1] == 'scheduled') then
  -- a reservation (taken to hold, never begun): back as it was
  if removed == 0 then
    return 'gone'
  end
  if redis.call('RPUSH', KEYS[3], ARGV[2]) == 1 then
    redis.call('PUBLISH', ARGV[9], '1')
  end
  return 'ok'
end
local refusal = fence_refusal(cur[1], cur[2], ARGV[1])
if refusal then
  return refusal
end
local k = tonumber(ARGV[4]) or 0
if ARGV[5] == '1' then
  unstart_job(KEYS[1], k, cur[2], ARGV[3])
else
  local names = {'created_at', 'progress', 'overall_progress'}
  local have = have_of(names, redis.call('HMGET', KEYS[1], unpack(names)), 1)
  local w, del = job_write(), {}
  if k > 0 then
    local s = stages_read(KEYS[1], {k}, stage_base(have.created_at or nil))[k]
    local set = {}
    stages_pending(s)
    stages_put(set, del, k, s)
    jw_set(w, set[1], set[2])
    del[#del + 1] = 'stage.' .. k .. '.output'
  end
  jw_set(w, 'state', 'queued')
  jw_set(w, 'progress', '0')
  jw_set(w, 'message', 'requeued: its worker was shutting down')
  jw_set(w, 'updated_at', ARGV[3])
  job_write_send(KEYS[1], w, have, del, 'queued')
end
if redis.call('RPUSH', KEYS[3], ARGV[2]) == 1 then
  redis.call('PUBLISH', ARGV[9], '1')
end
redis.call('PUBLISH', ARGV[8], ARGV[2])
return 'ok'
