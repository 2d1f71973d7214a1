-- finish_many: the ends of several jobs a worker ran unbegun (held jobs of a
-- backlog: finish.lua's fast end, '.begun') in one call, so that the call's
-- own cost and the counter's write are paid once for the lot. A job still as
-- its reservation read it (ends.lua's unbegun_read) and on the worker's
-- processing list gets its start and its end in one HSET, its final TTL, the
-- failed index if it failed, the end counted and its event published, as
-- finish.lua's finish_unbegun writes them. Any other is left as it is and
-- answered 'again': the worker sends its end alone with finish.lua, which
-- fences it (begun elsewhere, recovered meanwhile, canceled, ...).
-- KEYS[1] the worker's processing list, KEYS[2] the counters hash, then for
-- the i-th job KEYS[1 + 2i] its hash and KEYS[2 + 2i] the failed index of
-- its queue: all of one slot (one partition).
-- ARGV[1] worker id, ARGV[2] the events channel (PUBLISHed to), ARGV[3] how
-- many ids a failed index keeps, then per job: its id, its TTL (s), when its
-- first stage began (RFC 3339), how many arguments its fields take (n), and
-- those n: field, value ... (no '.' directive: such an end goes alone).
-- Returns one answer per job, in order: 'ok' (written) or 'again'.
--#include stats.lua
--#include ends.lua
local counts, out = {}, {}
local a = 4
for i = 1, (#KEYS - 2) / 2 do
  local key, id = KEYS[1 + 2 * i], ARGV[a]
  local first, last = a + 4, a + 3 + (tonumber(ARGV[a + 3]) or 0)
  local cur, is_fresh = unbegun_read(key)
  out[i] = 'again'
  if is_fresh and (last < first or string.byte(ARGV[first], 1) ~= 46) and
    redis.call('LREM', KEYS[1], -1, id) == 1 then
    -- the end's fields after the start's (a stage the end names wins)
    redis.call('HSET', key, 'worker', ARGV[1], 'attempt', '1', 'started_at', ARGV[a + 2],
      'stage', '1', unpack(ARGV, first, last))
    redis.call('EXPIRE', key, ARGV[a + 1])
    local st = end_state(first, last, 'queued')
    if st == 'failed' then
      failed_index(KEYS[2 + 2 * i], id, ARGV[3])
    end
    if cur[3] then
      local field = st .. ':' .. cur[3]
      counts[field] = (counts[field] or 0) + 1
    end
    redis.call('PUBLISH', ARGV[2], id)
    out[i] = 'ok'
  end
  a = last + 1
end
for field, n in pairs(counts) do
  stats_incr('HINCRBY', KEYS[2], field, n)
end
return out
