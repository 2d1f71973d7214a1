-- reset.lua (included by retry and rerun): reset_stages(jkey, n, resume)
-- sets the unfinished stages of the job (hash jkey, n stages) back to
-- pending, their start, end and output dropped. With resume, stages that
-- succeeded keep their outputs: the next attempt starts at the first that
-- did not (startjob.lua walks the same way).
local function reset_stages(jkey, n, resume)
  for k = 1, n do
    local s = 'stage.' .. k .. '.'
    if not (resume and redis.call('HGET', jkey, s .. 'state') == 'succeeded') then
      redis.call('HDEL', jkey, s .. 'started_at', s .. 'finished_at', s .. 'output')
      redis.call('HSET', jkey, s .. 'state', 'pending')
    end
  end
end
