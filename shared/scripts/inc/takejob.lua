-- takejob.lua (included by take.lua and finish.lua, after startjob.lua):
-- take_job pops the next job id off queue onto the worker's processing list
-- plist (LMOVE) and starts it (start_job). Returns false when the queue is
-- empty; {'invalid', id} for an id stageq never writes (left on the
-- processing list for the worker to drop); else as start_job. The job hash's
-- key is built from the popped id (jprefix is "<p>:job:"): one Redis (not a
-- cluster) holds every key. info and is_hold as start_job's.
local function take_job(queue, plist, events, jprefix, wid, now, ttl, maxlen, info, is_hold)
  local id = redis.call('LMOVE', queue, plist, 'RIGHT', 'LEFT')
  if not id then
    return false
  end
  if #id > tonumber(maxlen) or id == '.' or id == '..' or not string.match(id, '^[%w._:-]+$') then
    return {'invalid', id}
  end
  return start_job(jprefix .. id, plist, events, id, wid, now, ttl, info, is_hold)
end
