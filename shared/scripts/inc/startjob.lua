-- startjob.lua (included by start.lua and take.lua): start_job marks job id
-- (hash jkey, on the worker's processing list plist) running — attempt + 1 —
-- and starts its first unfinished stage; it returns the job's HGETALL array,
-- or {'skip', state, id} when the job expired ('missing') or is not queued
-- (canceled meanwhile): then the id is dropped from the processing list.
-- With resume (the default) a job that ran before restarts at the stage that
-- did not finish, its predecessors' outputs kept; without, at stage 1.
local function start_job(jkey, plist, events, id, wid, now, ttl)
  local cur = redis.call('HMGET', jkey, 'state', 'stage_count', 'resume')
  local state = cur[1]
  if state ~= 'queued' then
    redis.call('LREM', plist, 1, id)
    return {'skip', state or 'missing', id}
  end
  local n = tonumber(cur[2]) or 1
  local k = 1
  if cur[3] ~= '0' then
    while k < n and redis.call('HGET', jkey, 'stage.' .. k .. '.state') == 'succeeded' do
      k = k + 1
    end
  else
    for j = 1, n do
      local s = 'stage.' .. j .. '.'
      redis.call('HDEL', jkey, s .. 'started_at', s .. 'finished_at', s .. 'output')
      redis.call('HSET', jkey, s .. 'state', 'pending')
    end
  end
  redis.call('HINCRBY', jkey, 'attempt', 1)
  local name = redis.call('HGET', jkey, 'stage.' .. k .. '.name') or ''
  redis.call('HSET', jkey, 'state', 'running', 'worker', wid, 'updated_at', now,
    'stage', k, 'stage_name', name, 'progress', '0', 'message', '', 'next_attempt_at', '',
    'overall_progress', string.format('%.4f', (k - 1) / n),
    'resumed_from_stage', k > 1 and k or '',
    'stage.' .. k .. '.state', 'running', 'stage.' .. k .. '.started_at', now)
  redis.call('HSETNX', jkey, 'started_at', now)
  redis.call('EXPIRE', jkey, ttl)
  redis.call('PUBLISH', events, id)
  return redis.call('HGETALL', jkey)
end
