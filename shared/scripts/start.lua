-- start: a worker has moved a job id onto its processing list; mark the job
-- running (attempt + 1) with stage ARGV[5] started, and return its hash.
-- KEYS[1] job hash, KEYS[2] the worker's processing list
-- ARGV[1] job id, ARGV[2] worker id, ARGV[3] now (RFC 3339), ARGV[4] TTL (s),
-- ARGV[5] stage to start (1-based)
-- Returns the job's HGETALL array, or {'skip', state} when the job expired
-- ('missing') or is not queued (canceled meanwhile): then the id is dropped
-- from the processing list.
local state = redis.call('HGET', KEYS[1], 'state')
if state ~= 'queued' then
  redis.call('LREM', KEYS[2], 1, ARGV[1])
  return {'skip', state or 'missing'}
end
local k = ARGV[5]
redis.call('HINCRBY', KEYS[1], 'attempt', 1)
local name = redis.call('HGET', KEYS[1], 'stage.' .. k .. '.name') or ''
redis.call('HSET', KEYS[1], 'state', 'running', 'worker', ARGV[2], 'updated_at', ARGV[3],
  'stage', k, 'stage_name', name, 'progress', '0', 'message', '', 'next_attempt_at', '',
  'stage.' .. k .. '.state', 'running', 'stage.' .. k .. '.started_at', ARGV[3])
redis.call('HSETNX', KEYS[1], 'started_at', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return redis.call('HGETALL', KEYS[1])
