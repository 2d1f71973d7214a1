-- submitjob.lua (included): one job's submit, shared by submit.lua (one job
-- a call) and submit_many.lua (the jobs of a bulk array that share a slot).
-- submit_job(s, key, qkey, dkey, id, ttl, max, due, events, wake, f, first):
-- the job whose hash is key (its fields f[first..], field, value, ...) goes
-- on the list qkey, or, when due (ms since the epoch, a string) is not '0',
-- into the delayed zset dkey scored by due; the hash lives ttl s; max (> 0)
-- bounds the list's length (scheduled jobs too). s is the call's memory of
-- list lengths (s[qkey]), kept exact by the pushes, so that a call of many
-- jobs reads each list's length once; with s.push (a call of many jobs) the
-- ids are gathered there per list and pushed by submit_push, one LPUSH a list
-- (the same list in the end: LPUSH of several ids pushes them in turn).
-- PUBLISHes id on events, and on wake when the push made the list non-empty
-- or the job is the earliest of dkey.
-- Returns 1 when created, the job's state when the same request (pipeline,
-- queue, input) created it before, 0 when another job has this id, -1 when
-- the list holds max jobs already. The caller indexes and counts created
-- jobs (recent, counters).
local function submit_job(s, key, qkey, dkey, id, ttl, max, due, events, wake, f, first)
  if redis.call('EXISTS', key) == 1 then
    for i = first, #f - 1, 2 do
      local name = f[i]
      -- the queue it was submitted to: its first stage's, where it may have
      -- moved on from (hop.lua)
      local have = name == 'queue' and redis.call('HGET', key, 'stage.1.queue') or nil
      if (name == 'pipeline' or name == 'queue' or name == 'input') and
          (have or redis.call('HGET', key, name)) ~= f[i + 1] then
        return 0
      end
    end
    return redis.call('HGET', key, 'state') or 'queued'
  end
  if max > 0 then
    local len = s[qkey] or redis.call('LLEN', qkey)
    s[qkey] = len
    if len >= max then
      return -1
    end
  end
  redis.call('HSET', key, unpack(f, first))
  redis.call('EXPIRE', key, ttl)
  local wake_it
  if due ~= '0' then
    redis.call('ZADD', dkey, due, id)
    wake_it = redis.call('ZRANGE', dkey, 0, 0)[1] == id
  elseif s.push then
    local len = (s[qkey] or redis.call('LLEN', qkey)) + 1
    s[qkey] = len
    wake_it = len == 1
    local ids = s.push[qkey]
    if not ids then
      ids = {}
      s.push[qkey] = ids
      s.lists[#s.lists + 1] = qkey
    end
    ids[#ids + 1] = id
  else
    local len = redis.call('LPUSH', qkey, id)
    s[qkey] = len
    wake_it = len == 1
  end
  redis.call('PUBLISH', events, id)
  if wake_it then
    redis.call('PUBLISH', wake, id)
  end
  return 1
end

-- submit_push(s): the ids submit_job gathered in s.push, one LPUSH a list, in
-- the order the lists were first pushed to.
local function submit_push(s)
  for _, qkey in ipairs(s.lists) do
    redis.call('LPUSH', qkey, unpack(s.push[qkey]))
  end
end
