-- startjob.lua (included by start.lua and finish.lua, after stages.lua
-- and current.lua): start_job marks job id (hash jkey, on the worker's
-- processing list plist) running —
-- attempt + 1 — and starts its first unfinished stage; it returns the fields
-- the worker needs as a field, value array (id, attempt, stage, stage.<k> as
-- written, stage_count, max_attempts, result_ttl_s, queue, errors, pipeline,
-- created_at, and the stage's input: input, or stage.<k-1>.output when it
-- resumes at k), or {'skip', state, id}
-- when the job expired ('missing') or is not queued (canceled meanwhile; a
-- scheduled job, moved onto the list once due, begins as a queued one):
-- then the id is dropped from the processing list. With cur (the
-- partition's current hash), the job is named the worker's current one
-- (set_current).
-- With is_hold the job is only reserved (a worker takes it to hold behind the
-- one it runs): nothing is written, it stays queued, and the reply is what
-- the start will be (attempt + 1, the stage, its input) plus reserved = 1.
-- The worker begins it later (finish.lua's begin, or start.lua), so a job it
-- never began is not charged an attempt.
-- With resume (the default) a job that ran before restarts at the stage that
-- did not finish, its predecessors' outputs kept; without, at stage 1.
-- A job its stage before handed over from another queue (hop.lua: next_stage
-- set) goes on at next_stage in the same attempt (not charged again; marked
-- hopped, so that unstart.lua hands it back as it was); a job whose stages
-- name queues (stage.<k>.queue) gets every stage's queue in the reply.
-- A first start costs one HMGET and one HSET (the hot path of a backlog):
-- stage k's field (stages.lua) and the job's, nothing empty written.
local function start_job(jkey, plist, events, id, wid, now, ttl, cur_hash, is_hold)
  -- what the worker needs is read with the rest: start_job writes none of it
  local want = {'max_attempts', 'result_ttl_s', 'queue', 'errors', 'pipeline', 'created_at',
    'input'}
  local cur = redis.call('HMGET', jkey, 'state', 'stage_count', 'resume', 'attempt', 'started_at',
    'stage.1', want[1], want[2], want[3], want[4], want[5], want[6], want[7],
    -- for a job whose stages move between queues (the route), then the
    -- fields the start empties (stages.lua: not stored when they say nothing)
    'stage.1.queue', 'next_stage', 'hopped', 'resumed_from_stage', 'progress', 'message',
    'next_attempt_at', 'overall_progress')
  local state = cur[1]
  if state ~= 'queued' and state ~= 'scheduled' then
    redis.call('LREM', plist, 1, id)
    return {'skip', state or 'missing', id}
  end
  local nwant = #want
  local next_stage, hopped, resumed_from = cur[15], cur[16], cur[17]
  local n = tonumber(cur[2]) or 1
  local base
  local st, set, del = {}, {}, {}
  if cur[6] then
    st[1] = stage_parse(cur[6])
  else
    -- a job of the older layout: every stage is written in this one now
    local ks = {}
    for j = 1, n do
      ks[j] = j
    end
    base = stage_base(cur[6 + 6])
    st = stages_read(jkey, ks, base)
    del[#del + 1] = 'stage_name' -- in the name of its stage now
  end
  local k = 1
  local hop = tonumber(next_stage or '')
  if hop and not (hop >= 1 and hop <= n) then
    hop = nil
  end
  if hop then
    -- handed over by the stage before (hop.lua): the same attempt goes on
    k = hop
    st[k] = st[k] or stages_read(jkey, {k}, 0)[k]
    set[1], set[2] = 'hopped', '1'
  elseif cur[3] ~= '0' then
    if n > 1 and st[1].state == 'succeeded' then
      k = 2
      st[k] = st[k] or stages_read(jkey, {k}, 0)[k]
      while k < n and st[k].state == 'succeeded' do
        k = k + 1
        st[k] = st[k] or stages_read(jkey, {k}, 0)[k]
      end
    end
  else
    -- without resume every stage starts again: pending, outputs dropped
    local ks = {}
    for j = 2, n do
      if not st[j] then
        ks[#ks + 1] = j
      end
    end
    for j, s in pairs(stages_read(jkey, ks, 0)) do
      st[j] = s
    end
    for j = 1, n do
      if st[j].state ~= 'pending' or st[j].t0 or st[j].t1 then
        stages_pending(st[j])
        st[j].write = true
      end
      del[#del + 1] = 'stage.' .. j .. '.output'
    end
  end
  local s = st[k]
  if cur[5] or k > 1 then
    s.t0 = stage_off(now, base or stage_base(cur[6 + 6]))
  else
    s.t0 = '=' -- a first start at stage 1: at the job's started_at (no time to compute)
    set[#set + 1], set[#set + 2] = 'started_at', now
  end
  local attempt = tostring((tonumber(cur[4]) or 0) + (hop and 0 or 1))
  local resumed = k > 1 and tostring(k) or ''
  if hop then
    resumed = resumed_from or ''
  end
  s.state, s.t1, s.write = 'running', nil, true
  local m = #set
  set[m + 1], set[m + 2], set[m + 3], set[m + 4] = 'state', 'running', 'worker', wid
  set[m + 5], set[m + 6], set[m + 7], set[m + 8] = 'updated_at', now, 'attempt', attempt
  set[m + 9], set[m + 10] = 'stage', tostring(k)
  if resumed ~= '' then
    set[m + 11], set[m + 12] = 'resumed_from_stage', resumed
  elseif resumed_from then
    del[#del + 1] = 'resumed_from_stage'
  end
  -- what says nothing now: next_stage, hopped (begun by a hop: '1' above),
  -- progress, message, next_attempt_at; overall_progress (older layout)
  if next_stage then
    del[#del + 1] = 'next_stage'
  end
  if hopped and not hop then
    del[#del + 1] = 'hopped'
  end
  for i = 18, 21 do
    if cur[i] then
      del[#del + 1] = ({'progress', 'message', 'next_attempt_at', 'overall_progress'})[i - 17]
    end
  end
  for j = 1, n do
    if st[j] and (st[j].write or st[j].old) then
      stages_put(set, del, j, st[j])
    end
  end
  if not is_hold then
    redis.call('HSET', jkey, unpack(set))
    if #del > 0 then
      redis.call('HDEL', jkey, unpack(del))
    end
    redis.call('EXPIRE', jkey, ttl)
    redis.call('PUBLISH', events, id)
    if cur_hash then
      set_current(cur_hash, wid, id)
    end
  end
  -- the stage's field as written: the worker writes it on (stagefield.c)
  local out = {'id', id, 'attempt', attempt, 'stage', tostring(k), 'stage.' .. k, stage_value(s)}
  if is_hold then
    out[9], out[10] = 'reserved', '1'
  end
  if cur[2] then
    m = #out
    out[m + 1], out[m + 2] = 'stage_count', cur[2]
  end
  if k > 1 then -- resumed: its input is the output of the stage before
    want[nwant] = 'stage.' .. (k - 1) .. '.output'
    cur[6 + nwant] = redis.call('HGET', jkey, want[nwant])
  end
  for i = 1, nwant do
    local v = cur[6 + i]
    if v then
      m = #out
      out[m + 1], out[m + 2] = want[i], v
    end
  end
  if cur[14] then -- every stage's queue (stage.1.queue): the worker hands the job over
    local qf = {}
    for j = 1, n do
      qf[j] = 'stage.' .. j .. '.queue'
    end
    local qs = redis.call('HMGET', jkey, unpack(qf))
    for j = 1, n do
      if qs[j] then
        m = #out
        out[m + 1], out[m + 2] = qf[j], qs[j]
      end
    end
  end
  return out
end

-- reserve_fresh(jkey, id): the reservation of a job as submitted (queued,
-- attempt 0, never started, today's layout, no stage of another queue): what
-- start_job with is_hold answers for it, read with fewer fields and none of
-- its walk, plus fresh = 1: the worker may run it unbegun (finish.lua's
-- '.begun'). nil for any other job.
local function reserve_fresh(jkey, id)
  local c = redis.call('HMGET', jkey, 'state', 'attempt', 'started_at', 'next_stage',
    'stage.1.queue', 'stage.1', 'stage_count', 'max_attempts', 'result_ttl_s', 'queue', 'errors',
    'pipeline', 'created_at', 'input')
  if c[1] ~= 'queued' or (c[2] or '0') ~= '0' or c[3] or c[4] or c[5] or not c[6] then
    return nil
  end
  local name = string.match(c[6], '^([^ ]+) [^ ]+$')
  if not name then
    return nil -- times in a pending stage, or edited by hand: start_job reads it
  end
  local out = {'id', id, 'attempt', '1', 'stage', '1', 'stage.1', name .. ' r', 'reserved', '1',
    'fresh', '1'}
  local names = {'stage_count', 'max_attempts', 'result_ttl_s', 'queue', 'errors', 'pipeline',
    'created_at', 'input'}
  local m = #out
  for i = 1, 8 do
    local v = c[6 + i]
    if v then
      out[m + 1], out[m + 2] = names[i], v
      m = m + 2
    end
  end
  return out
end

-- read_held(first, ids, plist, events, wid, now, ttl): reserve-reads the
-- held ids (reserve_fresh, else start_job with is_hold: nothing written),
-- ids[i]'s hash being KEYS[first + i - 1]; returns their replies in order.
local function read_held(first, ids, plist, events, wid, now, ttl)
  local out = {}
  for i, id in ipairs(ids) do
    local key = KEYS[first + i - 1]
    out[i] = reserve_fresh(key, id) or
      start_job(key, plist, events, id, wid, now, ttl, nil, true)
  end
  return out
end
