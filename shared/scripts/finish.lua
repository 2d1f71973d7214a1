-- finish: write the final fields of a job, set its final TTL and drop it from
-- the worker's processing list, atomically; fenced like update (and by the
-- worker: a job another worker began is not ours). Then, in the same call,
-- it begins the held job the worker runs next, and takes the worker's next
-- jobs (take.lua): one round trip per batch of jobs while there is a backlog.
-- Taken jobs are reserved (held, still queued: startjob.lua), except the
-- first one started when the worker holds none: it runs it at once.
-- KEYS[1] job hash, KEYS[2] the worker's processing list, KEYS[3] the
-- counters hash, KEYS[4] the events channel (not a key: PUBLISHed to),
-- KEYS[5] the queue to take from, KEYS[6] the worker's info hash
-- ARGV[1] attempt, ARGV[2] TTL (s), ARGV[3] job id, ARGV[4..5] the stage
-- histogram and ETA key prefixes ("<p>:stagehist:", "<p>:eta:"), ARGV[6]
-- stage runs to record (stats.lua's spec, or ''), ARGV[7] when to record
-- them: 'now', or 'idle' (only when no job was taken: the worker is about to
-- wait), ARGV[8] how many jobs to take (0: none), ARGV[9..12] as take.lua's ARGV[1..4] (job
-- key prefix, worker id, now, active TTL), ARGV[13] the longest valid job id,
-- ARGV[14] the held job the worker runs next ('' when none): begun now
-- (running, attempt + 1) and named in its info hash, else the first job
-- taken now, else none (idle; current.lua),
-- ARGV[15..] field, value ...
-- Returns {result, recorded, taken}: result 'ok', or (nothing written but the
-- list entry) the reason as update.lua; recorded 1 when the stage runs were
-- recorded, else 0; taken: false without a take, else an array of take_job
-- replies, fewer than asked when the queue ran empty.
-- The stage runs are recorded whatever the fence says: they ran.
--#include stats.lua
--#include fence.lua
--#include current.lua
--#include startjob.lua
--#include takejob.lua
local function finish_job()
  local cur = redis.call('HMGET', KEYS[1], 'state', 'attempt', 'pipeline', 'success_count',
    'worker')
  if cur[1] == 'queued' and tostring((tonumber(cur[2]) or 0) + 1) == ARGV[1] and
    redis.call('LPOS', KEYS[2], ARGV[3]) then
    -- a job we held, ended before the end that began it was written (that
    -- one was refused, NOSCRIPT, and is sent again): begin it here
    start_job(KEYS[1], KEYS[2], KEYS[4], ARGV[3], ARGV[10], ARGV[11], ARGV[12])
    cur = redis.call('HMGET', KEYS[1], 'state', 'attempt', 'pipeline', 'success_count', 'worker')
  end
  -- from the tail: takes push at the head, so the job ending is the oldest
  redis.call('LREM', KEYS[2], -1, ARGV[3])
  local refusal = fence_refusal(cur[1], cur[2], ARGV[1])
  if refusal then
    return refusal
  end
  if cur[5] and cur[5] ~= ARGV[10] then
    return 'fenced' -- begun by another worker (ours was recovered before it began)
  end
  local st = cur[1]
  for i = 15, #ARGV - 1, 2 do
    if ARGV[i] == 'state' then
      st = ARGV[i + 1]
    end
  end
  -- Counted so that a job reported succeeded twice would show (fault tests).
  if st == 'succeeded' then
    redis.call('HSET', KEYS[1], 'success_count', tostring((tonumber(cur[4]) or 0) + 1),
      unpack(ARGV, 15))
  else
    redis.call('HSET', KEYS[1], unpack(ARGV, 15))
  end
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  count(KEYS[3], st, cur[3])
  redis.call('PUBLISH', KEYS[4], ARGV[3])
  return 'ok'
end
-- Begins held job id: 'ok', or why not (it is not ours to run any more).
local function begin_held(id)
  local jkey = ARGV[9] .. id
  local cur = redis.call('HMGET', jkey, 'state', 'worker')
  if cur[1] == 'running' and cur[2] == ARGV[10] then
    return 'ok' -- begun already: this end is sent again after a lost reply
  end
  if not redis.call('LPOS', KEYS[2], id) then
    return 'gone' -- recovered meanwhile: back on its queue
  end
  local t = start_job(jkey, KEYS[2], KEYS[4], id, ARGV[10], ARGV[11], ARGV[12], KEYS[6])
  if t[1] == 'skip' then
    return t[2]
  end
  return 'ok'
end

local result = finish_job()
local begun = ''
if ARGV[14] ~= '' then
  begun = begin_held(ARGV[14])
end
if begun ~= 'ok' then
  set_current(KEYS[6], '')
end
local taken = false
local want = tonumber(ARGV[8]) or 0
if want > 0 then
  taken = {}
  -- held, except the first job started when the worker holds none
  local hold = ARGV[14] ~= ''
  for i = 1, want do
    local t = take_job(KEYS[5], KEYS[2], KEYS[4], ARGV[9], ARGV[10], ARGV[11], ARGV[12], ARGV[13],
      KEYS[6], hold)
    if not t then
      break
    end
    hold = hold or (t[1] ~= 'skip' and t[1] ~= 'invalid')
    taken[i] = t
  end
end
local recorded = 0
if ARGV[6] ~= '' and (ARGV[7] == 'now' or not (taken and taken[1])) then
  record_stats(ARGV[4], ARGV[5], ARGV[6])
  recorded = 1
end
return {result, recorded, taken}
