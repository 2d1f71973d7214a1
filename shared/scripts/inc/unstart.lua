-- unstart.lua (included by requeue.lua and recover.lua, after stages.lua and
-- jobwrite.lua):
-- unstart_job puts a job that a worker took and marked running (attempt: the
-- hash's attempt, now charged), but whose stage k never began, back as it
-- was while queued: state queued, stage k pending, the attempt given back.
-- The caller pushes the id onto its queue. A job begun as a hop's
-- continuation (hopped) waits for stage k again, its attempt kept (it was
-- not charged).
local function unstart_job(jkey, k, attempt, now)
  local names = {'hopped', 'created_at', 'progress', 'message', 'resumed_from_stage',
    'overall_progress', 'next_stage', 'stage_name'}
  local have = have_of(names, redis.call('HMGET', jkey, unpack(names)), 1)
  local w, del = job_write(), {}
  local ks = {}
  if k > 0 then
    ks[1] = k
  end
  local st = stages_read(jkey, ks, stage_base(have.created_at or nil))
  if k > 0 then
    stages_pending(st[k])
    local set = {}
    stages_put(set, del, k, st[k])
    jw_set(w, set[1], set[2])
    del[#del + 1] = 'stage.' .. k .. '.output'
  end
  if k > 1 and have.hopped == '1' then
    -- begun where the stage before handed it over (hop.lua): it waits for
    -- stage k again, in the same attempt
    jw_set(w, 'state', 'queued')
    jw_set(w, 'progress', '1.0000')
    jw_set(w, 'message', '')
    jw_set(w, 'stage', tostring(k - 1))
    jw_set(w, 'next_stage', tostring(k))
    jw_set(w, 'hopped', '')
    jw_set(w, 'updated_at', now)
    job_write_send(jkey, w, have, del, 'queued')
    return
  end
  local before = (tonumber(attempt) or 1) - 1
  jw_set(w, 'state', 'queued')
  jw_set(w, 'progress', '0')
  jw_set(w, 'message', '')
  jw_set(w, 'attempt', tostring(before))
  jw_set(w, 'stage', '0')
  jw_set(w, 'resumed_from_stage', '')
  jw_set(w, 'updated_at', now)
  if before == 0 then
    del[#del + 1] = 'started_at'
  end
  job_write_send(jkey, w, have, del, 'queued')
end
