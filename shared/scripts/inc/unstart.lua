-- unstart.lua (included by requeue.lua and recover.lua): unstart_job puts a
-- job that a worker took and marked running (attempt: the hash's attempt, now
-- charged), but whose stage k never began, back as it was while queued:
-- state queued, stage k pending, the attempt given back. The caller pushes
-- the id onto its queue.
local function unstart_job(jkey, k, attempt, now)
  if k > 0 then
    local s = 'stage.' .. k .. '.'
    redis.call('HDEL', jkey, s .. 'started_at', s .. 'finished_at', s .. 'output')
    redis.call('HSET', jkey, s .. 'state', 'pending')
  end
  local before = (tonumber(attempt) or 1) - 1
  redis.call('HSET', jkey, 'state', 'queued', 'progress', '0', 'message', '',
    'attempt', tostring(before), 'stage', '0', 'stage_name', '', 'overall_progress', '0.0000',
    'resumed_from_stage', '', 'updated_at', now)
  if before == 0 then
    redis.call('HDEL', jkey, 'started_at')
  end
end
