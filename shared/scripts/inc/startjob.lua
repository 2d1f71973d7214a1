-- startjob.lua (included by start.lua and finish.lua, after
-- current.lua): start_job marks job id (hash jkey, on the worker's
-- processing list plist) running —
-- attempt + 1 — and starts its first unfinished stage; it returns the fields
-- the worker needs as a field, value array (id, attempt, stage_count, stage,
-- max_attempts, result_ttl_s, queue, errors, pipeline, and the stage's input:
-- input, or stage.<k-1>.output when it resumes at k), or {'skip', state, id}
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
-- A first start costs one HMGET and one HSET (the hot path of a backlog).
local function start_job(jkey, plist, events, id, wid, now, ttl, cur_hash, is_hold)
  -- what the worker needs is read with the rest: start_job writes none of it
  local want = {'id', 'max_attempts', 'result_ttl_s', 'queue', 'errors', 'pipeline', 'input'}
  -- then, for a job whose stages move between queues: stage.1.queue,
  -- next_stage, hopped, resumed_from_stage (route below)
  local nwant = #want
  want[nwant + 1], want[nwant + 2] = 'stage.1.queue', 'next_stage'
  want[nwant + 3], want[nwant + 4] = 'hopped', 'resumed_from_stage'
  local cur = redis.call('HMGET', jkey, 'state', 'stage_count', 'resume', 'attempt', 'started_at',
    'stage.1.state', 'stage.1.name', unpack(want))
  local route = {cur[8 + nwant], cur[9 + nwant], cur[10 + nwant], cur[11 + nwant]}
  for j = nwant + 1, nwant + 4 do
    want[j] = nil
  end
  local state = cur[1]
  if state ~= 'queued' and state ~= 'scheduled' then
    redis.call('LREM', plist, 1, id)
    return {'skip', state or 'missing', id}
  end
  local function write(cmd, ...)
    if not is_hold then
      redis.call(cmd, ...)
    end
  end
  local n = tonumber(cur[2]) or 1
  local k, name = 1, cur[7]
  local set = {}
  local hop = tonumber(route[2] or '')
  if hop and not (hop >= 1 and hop <= n) then
    hop = nil
  end
  if hop then
    -- handed over by the stage before (hop.lua): the same attempt goes on
    k = hop
    name = redis.call('HGET', jkey, 'stage.' .. k .. '.name')
    set[1], set[2], set[3], set[4] = 'next_stage', '', 'hopped', '1'
  elseif cur[3] ~= '0' then
    if n > 1 and cur[6] == 'succeeded' then
      k = 2
      while k < n and redis.call('HGET', jkey, 'stage.' .. k .. '.state') == 'succeeded' do
        k = k + 1
      end
      name = redis.call('HGET', jkey, 'stage.' .. k .. '.name')
    end
  else
    local del = {}
    for j = 1, n do
      local s = 'stage.' .. j .. '.'
      local d, m = #del, #set
      del[d + 1], del[d + 2], del[d + 3] = s .. 'started_at', s .. 'finished_at', s .. 'output'
      set[m + 1], set[m + 2] = s .. 'state', 'pending'
    end
    write('HDEL', jkey, unpack(del))
  end
  if not cur[5] then
    local m = #set
    set[m + 1], set[m + 2] = 'started_at', now
  end
  if route[3] == '1' and not hop then
    local m = #set
    set[m + 1], set[m + 2] = 'hopped', ''
  end
  local attempt = tostring((tonumber(cur[4]) or 0) + (hop and 0 or 1))
  local resumed = k > 1 and k or ''
  if hop then
    resumed = route[4] or ''
  end
  -- later fields win: stage k's 'running' overrides its 'pending' above
  local s, m = 'stage.' .. k .. '.', #set
  set[m + 1], set[m + 2], set[m + 3], set[m + 4] = s .. 'state', 'running', s .. 'started_at', now
  write('HSET', jkey, 'state', 'running', 'worker', wid, 'updated_at', now,
    'attempt', attempt,
    'stage', k, 'stage_name', name or '', 'progress', '0', 'message', '', 'next_attempt_at', '',
    'overall_progress', string.format('%.4f', (k - 1) / n),
    'resumed_from_stage', resumed, unpack(set))
  write('EXPIRE', jkey, ttl)
  write('PUBLISH', events, id)
  if cur_hash and not is_hold then
    set_current(cur_hash, wid, id)
  end
  local out = {'attempt', attempt, 'stage', tostring(k)}
  if is_hold then
    out[5], out[6] = 'reserved', '1'
  end
  if cur[2] then
    local m = #out
    out[m + 1], out[m + 2] = 'stage_count', cur[2]
  end
  if k > 1 then -- resumed: its input is the output of the stage before
    want[7] = 'stage.' .. (k - 1) .. '.output'
    cur[7 + 7] = redis.call('HGET', jkey, want[7])
  end
  for i, f in ipairs(want) do
    local v = cur[7 + i]
    if v then
      local m = #out
      out[m + 1], out[m + 2] = f, v
    end
  end
  if route[1] then -- every stage's queue: the worker hands the job over
    local qf = {}
    for j = 1, n do
      qf[j] = 'stage.' .. j .. '.queue'
    end
    local qs = redis.call('HMGET', jkey, unpack(qf))
    for j = 1, n do
      if qs[j] then
        local m = #out
        out[m + 1], out[m + 2] = qf[j], qs[j]
      end
    end
  end
  return out
end

-- read_held(first, ids, plist, events, wid, now, ttl): reserve-reads the
-- held ids (start_job with is_hold: nothing written), ids[i]'s hash being
-- KEYS[first + i - 1]; returns their replies in order.
local function read_held(first, ids, plist, events, wid, now, ttl)
  local out = {}
  for i, id in ipairs(ids) do
    out[i] = start_job(KEYS[first + i - 1], plist, events, id, wid, now, ttl, nil, true)
  end
  return out
end
