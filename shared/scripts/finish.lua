-- finish: write the final fields of a job, set its final TTL and drop it from
-- the worker's processing list, atomically; fenced like update (and by the
-- worker: a job another worker began is not ours). Then, in the same call,
-- it begins the held job the worker runs next, reserve-reads the held ids it
-- took bare (the jobs after that one) and takes the next ids bare
-- (takejob.lua's take step over the queues the worker serves): one round
-- trip per job while there is a backlog, every key given in KEYS, all of one
-- slot (the partition of the job ending: held and taken jobs are of the same
-- partition).
-- KEYS[1] job hash, KEYS[2] the worker's processing list, KEYS[3] the
-- counters hash, KEYS[4] the partition's current hash (current.lua), KEYS[5]
-- the hash of the held job to begin (KEYS[1] again when none), KEYS[6] the
-- failed index of the job's queue in this partition (<p>:{t}:failed:<q>: a
-- job that ends failed is added, the index trimmed to its newest
-- ARGV[14+n]), KEYS[7..6+n] the hashes of the held ids to read, then the
-- stage statistics keys of each pipeline ARGV[6] names (stats.lua: histogram
-- and ETA hash, in the order the spec names them), then (last) the take
-- step's 4 keys per queue (take_units)
-- ARGV[1] attempt, ARGV[2] TTL (s), ARGV[3] job id, ARGV[4] the events
-- channel (PUBLISHed to), ARGV[5] n, ARGV[6] stage runs to record (stats.lua's
-- spec, or ''), ARGV[7] when to record them: 'now', or 'idle' (only when no
-- job was taken: the worker is about to wait), ARGV[8] how many ids to take
-- (0: none), ARGV[9] worker id, ARGV[10] now (RFC 3339), ARGV[11] active TTL,
-- ARGV[12] the held job the worker runs next ('' when none): begun now
-- (running, attempt + 1) and named current, else the worker is idle here
-- (current.lua), ARGV[13] the take step's spec (take_units; '' without a
-- take), ARGV[14..13+n] the held ids to read, ARGV[14+n] how many ids the
-- failed index keeps, ARGV[15+n..] field, value ... (stages.lua's
-- fields_apply; '.begun' <time> first: the job ran unbegun, finish_unbegun)
-- Returns {result, recorded, taken, read, meta}: result 'ok', or (nothing
-- written but the list entry) the reason as update.lua; recorded 1 when the
-- stage runs were recorded, else 0; taken: false without a take, else the ids
-- taken (fewer than asked when the queues ran empty); read: the reserve
-- replies of the held ids (startjob.lua's, is_hold), in order; meta: the
-- take's (take_units), false without one.
-- The stage runs are recorded whatever the fence says: they ran.
--#include stages.lua
--#include stats.lua
--#include ends.lua
--#include fence.lua
--#include current.lua
--#include startjob.lua
--#include takejob.lua
local nread = tonumber(ARGV[5]) or 0
local FIELDS = 15 + nread
-- ended(st, pipeline): after an end is written: a failed job joins the
-- failed index, the end is counted, the event published; 'ok'.
local function ended(st, pipeline)
  if st == 'failed' then
    failed_index(KEYS[6], ARGV[3], ARGV[14 + nread])
  end
  count(KEYS[3], st, pipeline)
  redis.call('PUBLISH', ARGV[4], ARGV[3])
  return 'ok'
end
-- '.begun' <time> first among the fields: the worker ran this job unbegun
-- (a held job of a backlog, begun in Redis only once it runs longer than
-- WORKER_PROGRESS_MIN_MS: it ended first), its first stage from <time>.
local begun_at = ARGV[FIELDS] == '.begun' and ARGV[FIELDS + 1] or nil
-- The fast end of a job run unbegun: when it is still as its reservation
-- read it (startjob.lua's reserve_fresh: as submitted; the worker sends
-- '.begun' only for such a one) — queued, attempt 0, never started, no
-- worker — and on our list, its start and its end are one write: one HSET,
-- one EXPIRE, one PUBLISH. Else nil: the end goes on as below (begun first,
-- if still ours).
local function finish_unbegun()
  local cur, is_fresh = unbegun_read(KEYS[1])
  if not (is_fresh and ARGV[1] == '1') then
    return nil
  end
  if redis.call('LREM', KEYS[2], -1, ARGV[3]) == 0 then
    return nil -- recovered meanwhile: refused below
  end
  local first = FIELDS + 2
  if string.byte(ARGV[first] or '', 1) == 46 then -- '.keep', '.del': as any end
    fields_apply(KEYS[1], ARGV, first,
      {'worker', ARGV[9], 'attempt', ARGV[1], 'started_at', begun_at, 'stage', '1'})
  else -- the end's fields after the start's (a stage the end names wins)
    redis.call('HSET', KEYS[1], 'worker', ARGV[9], 'attempt', ARGV[1], 'started_at', begun_at,
      'stage', '1', unpack(ARGV, first))
  end
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  return ended(end_state(first, #ARGV, 'queued'), cur[3])
end
local function finish_job()
  -- result: a job holds one once it succeeded (nil, nothing copied, before)
  local cur = redis.call('HMGET', KEYS[1], 'state', 'attempt', 'pipeline', 'success_count',
    'worker', 'result')
  if (cur[1] == 'queued' or cur[1] == 'scheduled') and
    tostring((tonumber(cur[2]) or 0) + 1) == ARGV[1] and
    redis.call('LPOS', KEYS[2], ARGV[3]) then
    -- a job we held, ended before the end that began it was written (that
    -- one was refused, NOSCRIPT, and is sent again): begin it here
    start_job(KEYS[1], KEYS[2], ARGV[4], ARGV[3], ARGV[9], begun_at or ARGV[10], ARGV[11])
    cur = redis.call('HMGET', KEYS[1], 'state', 'attempt', 'pipeline', 'success_count', 'worker',
      'result')
  end
  -- from the tail: takes push at the head, so the job ending is the oldest
  redis.call('LREM', KEYS[2], -1, ARGV[3])
  local refusal = fence_refusal(cur[1], cur[2], ARGV[1])
  if refusal then
    return refusal
  end
  if cur[5] and cur[5] ~= ARGV[9] then
    return 'fenced' -- begun by another worker (ours was recovered before it began)
  end
  local st = end_state(FIELDS, #ARGV, cur[1])
  -- Counted so that a job reported succeeded twice would show (fault tests):
  -- success_count is written from the second success on (absent: 1 once
  -- succeeded), a job that succeeded before holding its result.
  if st == 'succeeded' and (cur[4] or cur[6]) then
    fields_apply(KEYS[1], ARGV, FIELDS, {'success_count', tostring((tonumber(cur[4]) or 1) + 1)})
  else
    fields_apply(KEYS[1], ARGV, FIELDS)
  end
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  return ended(st, cur[3])
end
-- Begins held job id (hash KEYS[5]): 'ok', or why not (it is not ours to
-- run any more).
local function begin_held(id)
  local cur = redis.call('HMGET', KEYS[5], 'state', 'worker')
  if cur[1] == 'running' and cur[2] == ARGV[9] then
    return 'ok' -- begun already: this end is sent again after a lost reply
  end
  if not redis.call('LPOS', KEYS[2], id) then
    return 'gone' -- recovered meanwhile: back on its queue
  end
  local t = start_job(KEYS[5], KEYS[2], ARGV[4], id, ARGV[9], ARGV[10], ARGV[11], KEYS[4])
  if t[1] == 'skip' then
    return t[2]
  end
  return 'ok'
end

local fast = begun_at and finish_unbegun()
local result = fast or finish_job()
local begun = ''
if ARGV[12] ~= '' then
  begun = begin_held(ARGV[12])
end
if begun ~= 'ok' and not fast then
  -- a job ended fast was never named current: the end before it, which
  -- began none, has forgotten the one it ended
  set_current(KEYS[4], ARGV[9], '')
end
local read = read_held(7, {unpack(ARGV, 14, 13 + nread)}, KEYS[2], ARGV[4], ARGV[9], ARGV[10],
  ARGV[11])
local taken, meta = false, false
local want = tonumber(ARGV[8]) or 0
if want > 0 and ARGV[13] ~= '' then
  local _, lines = string.gsub(ARGV[13], '\n', '')
  local t = take_units(KEYS[2], #KEYS - 4 * (lines - 1) + 1, ARGV[13], want)
  taken, meta = t[1], t[2]
end
local recorded = 0
if ARGV[6] ~= '' and (ARGV[7] == 'now' or not (taken and taken[1])) then
  record_stats(7 + nread, ARGV[6])
  recorded = 1
end
return {result, recorded, taken, read, meta}
