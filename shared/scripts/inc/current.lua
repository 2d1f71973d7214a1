-- current.lua (included by start, finish, retry, requeue, hop, recover and
-- reap): set_current(cur, wid, id) names the job worker wid runs from this
-- partition in the partition's current hash (<p>:{t}:current, field: the
-- worker id), or forgets it with id '' (idle, or its job ended here), written
-- by the step that starts or ends a job, so GET /v1/workers and /v1/stats
-- show it from the moment it runs, at no extra round trip. The API merges the
-- partitions' hashes.
local function set_current(cur, wid, id)
  if id == '' then
    redis.call('HDEL', cur, wid)
  else
    redis.call('HSET', cur, wid, id)
  end
end
