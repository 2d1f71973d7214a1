-- submit_many: the jobs of a bulk submit (POST /v1/jobs with an array) that
-- land in one slot, in one call: each created, or refused, exactly as
-- submit.lua would have done it, in the order given (inc/submitjob.lua: a
-- later job sees the earlier ones, so an id given twice is the same request
-- again or a taken id, and a list fills up mid-call). The created ones are
-- pushed with one LPUSH a list, indexed in recent (one ZADD, then the trim)
-- and counted per pipeline.
-- KEYS[1] recent zset, KEYS[2] counters hash, then per template t (1-based,
-- see ARGV): KEYS[2t+1] its queue list, KEYS[2t+2] that queue's delayed zset;
-- then per job j (1-based): KEYS[2T+2+j] its hash (all in the slot of the
-- call). The lists are given once, not per job: fewer arguments per job.
-- ARGV[1] most jobs in the recent index (>= 1), ARGV[2] the events channel,
-- ARGV[3] the jobs' creation time (ms since the epoch: the recent index's
-- score), ARGV[4] T, the number of templates; then T templates: the
-- pipeline's name, the queue's wake channel, the most jobs in the queue's
-- list (0 = no limit), c, then c strings: the fields every job of the
-- template shares (field, value, ...: job_new_fields_shared, then the
-- creation time's, job_new_fields_time); then per job: its template (1..T),
-- its id, TTL (s), when due (ms, 0 = at once), c, then c strings: its own
-- fields (job_new_fields_state).
-- Returns one reply per job, in order, each as submit.lua's: 1 created, the
-- job's state (the same request again), 0 (another job has this id), -1
-- (the queue is full), or the error its keys gave.
--#include stats.lua
--#include submitjob.lua
local recent_max, events, created = tonumber(ARGV[1]), ARGV[2], ARGV[3]
local ntpl = tonumber(ARGV[4])
local tpls, a = {}, 5
for t = 1, ntpl do
  local c = tonumber(ARGV[a + 3])
  tpls[t] = {pipeline = ARGV[a], wake = ARGV[a + 1], max = tonumber(ARGV[a + 2]),
    f = {unpack(ARGV, a + 4, a + 3 + c)}, qkey = KEYS[2 * t + 1], dkey = KEYS[2 * t + 2]}
  a = a + 4 + c
end
local s, out, rec, counts = {push = {}, lists = {}}, {}, {}, {}
for j = 1, #KEYS - 2 - 2 * ntpl do
  local t = tpls[tonumber(ARGV[a])]
  local id, c = ARGV[a + 1], tonumber(ARGV[a + 4])
  -- the job's fields: its own c, then the template's; the table is kept per
  -- template and count (a scheduled job has run_at), only its own rewritten
  local f = t[c]
  if not f then
    f = {}
    for i = 1, #t.f do
      f[c + i] = t.f[i]
    end
    t[c] = f
  end
  for i = 1, c do
    f[i] = ARGV[a + 4 + i]
  end
  -- a job whose keys refuse (a key of the wrong type, edited by hand) is
  -- answered with its error, as its own submit.lua call would be; the others
  -- go on (the first write checks for OOM: then each job gets that error)
  local ok, r = pcall(submit_job, s, KEYS[2 + 2 * ntpl + j], t.qkey, t.dkey, id,
    ARGV[a + 2], t.max, ARGV[a + 3], events, t.wake, f, 1)
  if not ok then
    r = type(r) == 'table' and r.err and r or {err = tostring(r)}
  end
  out[j] = r
  if r == 1 then
    rec[#rec + 1], rec[#rec + 2] = created, id
    counts[t.pipeline] = (counts[t.pipeline] or 0) + 1
  end
  a = a + 5 + c
end
submit_push(s)
if #rec > 0 then
  redis.call('ZADD', KEYS[1], unpack(rec))
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(recent_max + 1))
end
for p, n in pairs(counts) do
  stats_incr('HINCRBY', KEYS[2], 'submitted:' .. p, n)
end
return out
