-- fence.lua (included by update, finish, retry and requeue): why a writer
-- running attempt `want` may not change a job whose hash holds state and
-- attempt: 'missing' (it expired), its state when not running ('canceled',
-- ...), 'fenced' when another attempt owns it; nil when the write may go on.
local function fence_refusal(state, attempt, want)
  if not state then
    return 'missing'
  end
  if state ~= 'running' then
    return state
  end
  if attempt ~= want then
    return 'fenced'
  end
  return nil
end
