-- start: a worker has moved a job id onto its processing list; mark the job
-- running (attempt + 1) and start its first unfinished stage, and return its
-- hash. With resume (the default) a job that ran before restarts at the stage
-- that did not finish, its predecessors' outputs kept; without, at stage 1.
-- KEYS[1] job hash, KEYS[2] the worker's processing list, KEYS[3] the events
-- channel (not a key: PUBLISHed to)
-- ARGV[1] job id, ARGV[2] worker id, ARGV[3] now (RFC 3339), ARGV[4] TTL (s)
-- Returns the job's HGETALL array, or {'skip', state} when the job expired
-- ('missing') or is not queued (canceled meanwhile): then the id is dropped
-- from the processing list.
local cur = redis.call('HMGET', KEYS[1], 'state', 'stage_count', 'resume')
local state = cur[1]
if state ~= 'queued' then
  redis.call('LREM', KEYS[2], 1, ARGV[1])
  return {'skip', state or 'missing'}
end
local n = tonumber(cur[2]) or 1
local k = 1
if cur[3] ~= '0' then
  while k < n and redis.call('HGET', KEYS[1], 'stage.' .. k .. '.state') == 'succeeded' do
    k = k + 1
  end
else
  for j = 1, n do
    local s = 'stage.' .. j .. '.'
    redis.call('HDEL', KEYS[1], s .. 'started_at', s .. 'finished_at', s .. 'output')
    redis.call('HSET', KEYS[1], s .. 'state', 'pending')
  end
end
redis.call('HINCRBY', KEYS[1], 'attempt', 1)
local name = redis.call('HGET', KEYS[1], 'stage.' .. k .. '.name') or ''
redis.call('HSET', KEYS[1], 'state', 'running', 'worker', ARGV[2], 'updated_at', ARGV[3],
  'stage', k, 'stage_name', name, 'progress', '0', 'message', '', 'next_attempt_at', '',
  'overall_progress', string.format('%.4f', (k - 1) / n),
  'resumed_from_stage', k > 1 and k or '',
  'stage.' .. k .. '.state', 'running', 'stage.' .. k .. '.started_at', ARGV[3])
redis.call('HSETNX', KEYS[1], 'started_at', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('PUBLISH', KEYS[3], ARGV[1])
return redis.call('HGETALL', KEYS[1])
