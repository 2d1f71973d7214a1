-- current.lua (included by start, take, finish, retry and requeue):
-- set_current(info, id) names the job a worker process runs in its info
-- hash (field job; '' when idle), written by the step that starts or ends a
-- job, so GET /v1/workers and /v1/stats show it from the moment it runs, at
-- no extra round trip. Only while the hash exists (the heartbeat creates it
-- with its TTL): never a hash that would not expire.
local function set_current(info, id)
  if redis.call('EXISTS', info) == 1 then
    redis.call('HSET', info, 'job', id)
  end
end
