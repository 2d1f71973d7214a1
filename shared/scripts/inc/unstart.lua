-- unstart.lua (included by requeue.lua and recover.lua): unstart_job puts a
-- job that a worker took and marked running (attempt: the hash's attempt, now
-- charged), but whose stage k never began, back as it was while queued:
-- state queued, stage k pending, the attempt given back. The caller pushes
-- the id onto its queue. A job begun as a hop's continuation (hopped) waits
-- for stage k again, its attempt kept (it was not charged).
local function unstart_job(jkey, k, attempt, now)
  if k > 0 then
    local s = 'stage.' .. k .. '.'
    redis.call('HDEL', jkey, s .. 'started_at', s .. 'finished_at', s .. 'output')
    redis.call('HSET', jkey, s .. 'state', 'pending')
  end
  if k > 1 and redis.call('HGET', jkey, 'hopped') == '1' then
    -- begun where the stage before handed it over (hop.lua): it waits for
    -- stage k again, in the same attempt
    redis.call('HSET', jkey, 'state', 'queued', 'progress', '1.0000', 'message', '',
      'stage', tostring(k - 1), 'stage_name', redis.call('HGET', jkey, 'stage.' .. (k - 1) .. '.name'),
      'next_stage', tostring(k), 'hopped', '', 'updated_at', now)
    return
  end
  local before = (tonumber(attempt) or 1) - 1
  redis.call('HSET', jkey, 'state', 'queued', 'progress', '0', 'message', '',
    'attempt', tostring(before), 'stage', '0', 'stage_name', '', 'overall_progress', '0.0000',
    'resumed_from_stage', '', 'updated_at', now)
  if before == 0 then
    redis.call('HDEL', jkey, 'started_at')
  end
end
