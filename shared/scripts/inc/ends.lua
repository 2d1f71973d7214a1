-- ends.lua (included by finish and finish_many): what a job's end writes
-- besides its fields.
-- end_state(first, last, dflt): the state the field, value pairs
-- ARGV[first..last] write, else dflt.
local function end_state(first, last, dflt)
  local st = dflt
  for i = first, last - 1, 2 do
    if ARGV[i] == 'state' then
      st = ARGV[i + 1]
    end
  end
  return st
end
-- failed_index(key, id, keep): a job that ended failed joins its queue's
-- failed index (key, scored by Redis's clock, ms), which keeps the newest
-- keep (a number's text; 10000 when it is none).
local function failed_index(key, id, keep)
  local t = redis.call('TIME')
  redis.call('ZADD', key, tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000), id)
  redis.call('ZREMRANGEBYRANK', key, 0, -(tonumber(keep) or 10000) - 1)
end
-- unbegun_read(key): for the end of a job the worker ran unbegun, job hash
-- key's {state, attempt, pipeline, worker, started_at}, and whether it is
-- still as its reservation read it (startjob.lua's reserve_fresh): queued,
-- attempt 0, never started, no worker.
local function unbegun_read(key)
  local cur = redis.call('HMGET', key, 'state', 'attempt', 'pipeline', 'worker', 'started_at')
  return cur, cur[1] == 'queued' and (cur[2] or '0') == '0' and not (cur[4] or cur[5])
end
