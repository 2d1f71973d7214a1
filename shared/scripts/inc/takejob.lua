-- takejob.lua (included by take.lua and finish.lua): take_ids moves up to n
-- job ids off queue onto the worker's processing list plist (LMOVE) and
-- returns them bare (an array, empty when the queue is empty): no job hash is
-- read here, as a script may only touch the keys it is given (KEYS). The
-- worker begins or reserve-reads a taken id in its next call, which names
-- that job's hash (start.lua, finish.lua); until then the id sits on the
-- processing list, so a worker that dies meanwhile has it recovered (queued
-- on a processing list: back on its queue).
local function take_ids(queue, plist, n)
  local ids = {}
  for i = 1, n do
    local id = redis.call('LMOVE', queue, plist, 'RIGHT', 'LEFT')
    if not id then
      break
    end
    ids[i] = id
  end
  return ids
end
