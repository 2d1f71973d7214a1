-- fence.lua (included by update, finish, retry, requeue and hop): why a writer
-- running attempt `want` may not change a job whose hash holds state and
-- attempt: 'missing' (it expired), its state when not running ('canceled',
-- ...), 'fenced' when another attempt owns it; nil when the write may go on.
-- Every attempt stageq writes is an integer: one that is not (edited by hand)
-- names no other owner, so it fences nobody (else the job would stay running,
-- its worker alive, and nobody would ever end it).
local function fence_refusal(state, attempt, want)
  if not state then
    return 'missing'
  end
  if state ~= 'running' then
    return state
  end
  if attempt ~= want and tonumber(attempt) ~= nil then
    return 'fenced'
  end
  return nil
end

-- fence_leave(jkey, plist, id, attempt, reads): the end of job id for the
-- worker whose processing list is plist (retry, hop): the id leaves the list
-- (from the tail, as finish.lua: takes push at the head), then the job's
-- fields reads are read (state and attempt first); returns the refusal (nil
-- when the write may go on) and that HMGET.
local function fence_leave(jkey, plist, id, attempt, reads)
  redis.call('LREM', plist, -1, id)
  local cur = redis.call('HMGET', jkey, unpack(reads))
  return fence_refusal(cur[1], cur[2], attempt), cur
end
