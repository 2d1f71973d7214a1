-- recover: a job found on the processing list of a worker whose lease has
-- expired. Whoever removes it from that list first owns the recovery, so only
-- one live worker can win per job. A running job goes back to the front of its
-- queue while attempts remain (it resumes at the stage that did not finish),
-- else it fails with worker_lost.
-- The judgement is made here, atomically with the recovery, on Redis's
-- clock: the worker's lease must still be expired, and Redis must have been
-- reachable for a whole lease (alive.lua) — a worker that waited through an
-- outage has had a lease to renew before anybody judges it.
-- Everything is judged in the job's partition (one slot): its leases and
-- alive record, on that partition's Redis clock.
-- KEYS[1] job hash, KEYS[2] the dead worker's processing list, KEYS[3] queue list,
-- KEYS[4] the counters hash, KEYS[5] the partition's leases zset, KEYS[6] its
-- alive hash, KEYS[7] its current hash (current.lua), KEYS[8] the failed
-- index of the job's queue in this partition (<p>:{t}:failed:<q>); all of
-- one slot
-- ARGV[1] job id, ARGV[2] now (RFC 3339), ARGV[3] the dead worker's id,
-- ARGV[4] failed-job TTL factor, ARGV[5] '1' when the list is the caller's
-- own (a take whose reply it lost): its jobs never began there, so a running
-- one is put back unstarted, its attempt given back (unstart.lua); no
-- judgement then. ARGV[6] the lease (ms), ARGV[7] the events channel
-- (PUBLISHed to when the job changes), ARGV[8] the queue's wake channel
-- (published when a push makes its list non-empty), ARGV[9] how many ids
-- the failed index keeps (a job failed here joins it)
-- A queued (or scheduled: due, moved onto the list) job on the list was
-- popped but never started: back on its queue.
-- Returns 'grace' (Redis has not been reachable for a lease yet) or 'alive'
-- (the lease was renewed) with nothing changed; 'gone' (not on the list any
-- more), 'missing', the job's state when it had ended (only the list entry
-- is dropped), 'requeued' or 'failed'.
--#include stages.lua
--#include jobwrite.lua
--#include stats.lua
--#include unstart.lua
--#include alive.lua
if ARGV[5] ~= '1' then
  local lease = tonumber(ARGV[6])
  local now, since = alive_now(KEYS[6], lease)
  if now < since + lease then
    return 'grace'
  end
  local score = redis.call('ZSCORE', KEYS[5], ARGV[3])
  if score and tonumber(score) > now then
    return 'alive'
  end
end
if redis.call('LREM', KEYS[2], 1, ARGV[1]) == 0 then
  return 'gone'
end
if redis.call('HGET', KEYS[7], ARGV[3]) == ARGV[1] then
  redis.call('HDEL', KEYS[7], ARGV[3])
end
local function push()
  if redis.call('RPUSH', KEYS[3], ARGV[1]) == 1 then
    redis.call('PUBLISH', ARGV[8], '1')
  end
end
local names = {'state', 'attempt', 'max_attempts', 'stage', 'stage_name', 'errors',
  'result_ttl_s', 'queue', 'pipeline', 'created_at', 'progress', 'message', 'next_attempt_at',
  'overall_progress'}
local cur = redis.call('HMGET', KEYS[1], unpack(names))
if not cur[1] then
  return 'missing'
end
if cur[1] == 'queued' or cur[1] == 'scheduled' then
  -- popped but never started (the worker died between BLMOVE and start.lua)
  push()
  return 'requeued'
end
if cur[1] ~= 'running' then
  return cur[1]
end
if ARGV[5] == '1' then
  unstart_job(KEYS[1], tonumber(cur[4]) or 0, cur[2], ARGV[2])
  push()
  redis.call('PUBLISH', ARGV[7], ARGV[1])
  return 'requeued'
end
local attempt = tonumber(cur[2]) or 1
local max = tonumber(cur[3]) or 1
local k = tonumber(cur[4]) or 0
local have = have_of(names, cur, 1)
local base = stage_base(have.created_at or nil)
local w, set, del = job_write(), {}, {}
local s = k > 0 and stages_read(KEYS[1], {k}, base)[k]
-- the stage's name: its field's (an older job's stage_name)
local err = {code = 'worker_lost', stage = cur[5] or (s and s.name), stage_index = k,
  attempt = attempt, retryable = true, at = ARGV[2],
  message = 'worker ' .. ARGV[3] .. ' stopped renewing its lease during stage ' .. k}
local ok, errors = pcall(cjson.decode, cur[6] or '[]')
if not ok or type(errors) ~= 'table' then
  errors = {}
end
errors[#errors + 1] = err
local et, est = cjson.encode(err), cjson.encode(errors)
if attempt < max then
  if s then
    s.state, s.t0 = 'pending', nil
    stages_put(set, del, k, s)
  end
  jw_set(w, 'state', 'queued')
  jw_set(w, 'progress', '0')
  jw_set(w, 'message', '')
  jw_set(w, 'error', et)
  jw_set(w, 'errors', est)
  jw_set(w, 'next_attempt_at', '')
  jw_set(w, 'updated_at', ARGV[2])
  for i = 1, #set, 2 do
    jw_set(w, set[i], set[i + 1])
  end
  job_write_send(KEYS[1], w, have, del, 'queued')
  push()
  count(KEYS[4], 'retried', cur[9])
  redis.call('PUBLISH', ARGV[7], ARGV[1])
  return 'requeued'
end
if s then
  s.state, s.t1 = 'failed', stage_off(ARGV[2], base)
  stages_put(set, del, k, s)
end
if have.overall_progress then -- a job of the older layout: it keeps finished_at
  set[#set + 1], set[#set + 2] = 'finished_at', ARGV[2]
end
redis.call('HSET', KEYS[1], 'state', 'failed', 'error', et, 'errors', est, 'updated_at', ARGV[2],
  unpack(set))
if #del > 0 then
  redis.call('HDEL', KEYS[1], unpack(del))
end
redis.call('EXPIRE', KEYS[1], (tonumber(cur[7]) or 86400) * tonumber(ARGV[4]))
local t = redis.call('TIME')
redis.call('ZADD', KEYS[8], tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000), ARGV[1])
redis.call('ZREMRANGEBYRANK', KEYS[8], 0, -(tonumber(ARGV[9]) or 10000) - 1)
count(KEYS[4], 'failed', cur[9])
redis.call('PUBLISH', ARGV[7], ARGV[1])
return 'failed'
