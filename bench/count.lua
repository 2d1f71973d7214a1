-- count.lua (EVAL, after a phase: never while measuring): over every job hash
-- whose name matches ARGV[1] (a KEYS pattern, from tests/tools' sq-keys: on a
-- cluster, run it on each master), counts succeeded jobs, those finished inside
-- [ARGV[2], ARGV[3]] (RFC 3339 UTC ms strings compare as text), and returns
-- {succeeded, in_window, earliest started_at, latest finished_at, not finished}.
-- A job stores no finished_at: it ended at its updated_at (docs/redis-keys.md;
-- a job of the older layout has it).
local keys = redis.call('KEYS', ARGV[1])
local ok, win, other = 0, 0, 0
local first, last = '', ''
for _, k in ipairs(keys) do
  local v = redis.call('HMGET', k, 'state', 'started_at', 'finished_at', 'updated_at')
  if v[1] == 'succeeded' then
    ok = ok + 1
    local s, f = v[2] or '', v[3] or v[4] or ''
    if f >= ARGV[2] and f <= ARGV[3] then win = win + 1 end
    if first == '' or (s ~= '' and s < first) then first = s end
    if f > last then last = f end
  else
    other = other + 1
  end
end
if first == '' then first = '-' end
if last == '' then last = '-' end
return {ok, win, first, last, other}
