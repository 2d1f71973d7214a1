-- stages.lua (included first by every script that writes a job): the job
-- hash's layout, in one place (its C side: shared/stagefield.c).
-- Per stage k, one field: stage.<k> = '<name> <state> [<time>] [<time>]'
-- (single spaces). The state is a letter: p pending, r running, s succeeded,
-- f failed, c canceled (another word as it is). A time is in ms after the
-- job's created_at (after the epoch when created_at is not a time stageq
-- writes), '-' unknown. One time is a running stage's start, the end of
-- another; a start not given is at the end of the stage before (stage 1: at
-- the job's started_at), as most are: 'transform s 5311', 'sort r'; two times
-- are the start and the end. In Lua a stage is {name, state (the word), t0,
-- t1}, t0 '=' for such a start, nil unknown.
-- Its output stays in stage.<k>.output, its queue in stage.<k>.queue. A job
-- written before this layout has stage.<k>.name, .state, .started_at and
-- .finished_at instead: read as the same facts, and replaced by stage.<k>
-- when a script writes stage k (start_job replaces them all).
-- Fields are not stored when they say nothing: an empty message,
-- stage_name, next_attempt_at, resumed_from_stage, next_stage, hopped;
-- progress 0 (1 once succeeded); overall_progress (derived); the last
-- stage's output once the job succeeded (it is the result).
-- docs/redis-keys.md, "The job hash".

-- ms since the epoch of t as clock.c writes it ('2026-11-25T16:48:14.123Z',
-- the fraction optional) and reads it (clock_parse_rfc3339), or nil.
local function stage_time_ms(t)
  if not t then
    return nil
  end
  local y, mo, d, h, mi, s, rest = string.match(t,
    '^(%d%d%d%d)%-(%d%d)%-(%d%d)T(%d%d):(%d%d):(%d%d)(.*)$')
  if not y then
    return nil
  end
  local ms = 0
  if rest ~= 'Z' then
    ms = string.match(rest, '^%.(%d%d%d)Z$')
    if not ms then
      return nil
    end
  end
  y, mo, d, h, mi, s = tonumber(y), tonumber(mo), tonumber(d), tonumber(h), tonumber(mi), tonumber(s)
  if y < 1970 or mo < 1 or mo > 12 or d < 1 or d > 31 or h > 23 or mi > 59 or s > 60 then
    return nil
  end
  -- H. Hinnant's days_from_civil, as clock.c
  if mo <= 2 then
    y = y - 1
  end
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local doy = math.floor((153 * ((mo + 9) % 12) + 2) / 5) + d - 1
  local days = era * 146097 + yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy - 719468
  return ((days * 24 + h) * 60 + mi) * 60000 + s * 1000 + tonumber(ms)
end

-- The offset base of a job whose created_at is c (nil: missing).
local function stage_base(c)
  return stage_time_ms(c) or 0
end

-- The time token of RFC 3339 time t: its offset from base, nil when t is
-- not a time.
local function stage_off(t, base)
  local v = stage_time_ms(t)
  return v and tostring(v - base)
end

local STAGE_WORD = {p = 'pending', r = 'running', s = 'succeeded', f = 'failed', c = 'canceled'}
local STAGE_LETTER = {pending = 'p', running = 'r', succeeded = 's', failed = 'f', canceled = 'c'}

-- A time token as a record keeps it: nil when it is '' or '-' (unknown).
local function stage_tok(t)
  if t == '' or t == '-' then
    return nil
  end
  return t
end

-- The stage record of a stage.<k> value (shared/stagefield.c reads it the
-- same way).
local function stage_parse(v)
  local name, state, a, b = string.match(v, '^([^ ]*) ([^ ]*) ?([^ ]*) ?([^ ]*)$')
  if not name then
    return {name = v, state = 'pending'}
  end
  state = STAGE_WORD[state] or state
  if b ~= '' then
    return {name = name, state = state, t0 = stage_tok(a), t1 = stage_tok(b)}
  elseif state == 'running' then
    return {name = name, state = state, t0 = a == '' and '=' or stage_tok(a)}
  elseif a ~= '' then
    return {name = name, state = state, t0 = '=', t1 = stage_tok(a)}
  end
  return {name = name, state = state}
end

local function stage_value(s)
  local v = s.name .. ' ' .. (STAGE_LETTER[s.state] or string.gsub(s.state, ' ', '_'))
  if s.t1 then
    if s.t0 == '=' then
      return v .. ' ' .. s.t1
    end
    return v .. ' ' .. (s.t0 or '-') .. ' ' .. s.t1
  elseif s.state == 'running' then
    if s.t0 == '=' then
      return v
    end
    return v .. ' ' .. (s.t0 or '-')
  elseif s.t0 and s.t0 ~= '=' then
    return v .. ' ' .. s.t0 .. ' -'
  end
  return v
end

-- stages_read(jkey, ks, base, vals): the stages ks (indices) of the job at
-- jkey, a table k -> record; vals[i] is stage.<ks[i]> when read already
-- (nil: read here). A stage of the older layout is read from its fields
-- (one HMGET for all such), its times turned into offsets from base, and
-- marked old (its fields go when it is written: stages_put).
local function stages_read(jkey, ks, base, vals)
  if not vals then
    local f = {}
    for i, k in ipairs(ks) do
      f[i] = 'stage.' .. k
    end
    vals = #f > 0 and redis.call('HMGET', jkey, unpack(f)) or {}
  end
  local out, old, of = {}, {}, {}
  for i, k in ipairs(ks) do
    if vals[i] then
      out[k] = stage_parse(vals[i])
    else
      old[#old + 1] = k
      local s = 'stage.' .. k .. '.'
      local m = #of
      of[m + 1], of[m + 2], of[m + 3], of[m + 4] = s .. 'name', s .. 'state', s .. 'started_at',
        s .. 'finished_at'
    end
  end
  if #old > 0 then
    local v = redis.call('HMGET', jkey, unpack(of))
    for i, k in ipairs(old) do
      local j = 4 * (i - 1)
      out[k] = {name = v[j + 1] and string.gsub(v[j + 1], ' ', '_') or '', state = v[j + 2] or 'pending',
        t0 = stage_off(v[j + 3], base), t1 = stage_off(v[j + 4], base), old = true}
    end
  end
  return out
end

-- stages_put(set, del, k, s): stage k's field and value appended to set
-- (field, value, ...); a stage read from the older layout has its fields
-- appended to del.
local function stages_put(set, del, k, s)
  local m = #set
  set[m + 1], set[m + 2] = 'stage.' .. k, stage_value(s)
  if s.old then
    local p = 'stage.' .. k .. '.'
    m = #del
    del[m + 1], del[m + 2], del[m + 3], del[m + 4] = p .. 'name', p .. 'state', p .. 'started_at',
      p .. 'finished_at'
  end
end

-- hash_write(jkey, set, del): HSET of the pairs set and HDEL of the fields
-- del, each only when it has any.
local function hash_write(jkey, set, del)
  if #set > 0 then
    redis.call('HSET', jkey, unpack(set))
  end
  if #del > 0 then
    redis.call('HDEL', jkey, unpack(del))
  end
end

-- stages_pending(s): stage record s back to pending, its times dropped.
local function stages_pending(s)
  s.state, s.t0, s.t1 = 'pending', nil, nil
end

-- fields_apply(jkey, argv, first, pre): writes the field, value pairs a
-- worker sends (update, finish, retry, hop), argv[first..], already in this
-- layout (shared/stagefield.c), after pre's pairs: one HSET. They may begin
-- with directives: '.keep' 'k ...' (the name and start of these stages are
-- the ones stored: the worker did not know them), '.del' 'f ...' (fields to
-- delete: one HDEL).
local function fields_apply(jkey, argv, first, pre)
  local i, keep, del = first, nil, nil
  while argv[i] and string.byte(argv[i], 1) == 46 do -- '.'
    if argv[i] == '.keep' then
      keep = argv[i + 1]
    elseif argv[i] == '.del' then
      del = argv[i + 1]
    end
    i = i + 2
  end
  local set = pre or {}
  if not keep and #set == 2 then -- finish.lua's success_count: no copy of the pairs
    redis.call('HSET', jkey, set[1], set[2], unpack(argv, i))
  elseif keep then
    local stored = {}
    for k in string.gmatch(keep, '[^ ]+') do
      local v = redis.call('HGET', jkey, 'stage.' .. k)
      stored['stage.' .. k] = v and stage_parse(v)
    end
    for j = i, #argv - 1, 2 do
      local v, was = argv[j + 1], stored[argv[j]]
      if was then
        local s = stage_parse(v)
        s.name, s.t0 = was.name, was.t0
        v = stage_value(s)
      end
      set[#set + 1], set[#set + 2] = argv[j], v
    end
    redis.call('HSET', jkey, unpack(set))
  elseif #set > 0 then
    for j = i, #argv do
      set[#set + 1] = argv[j]
    end
    redis.call('HSET', jkey, unpack(set))
  elseif i <= #argv then
    redis.call('HSET', jkey, unpack(argv, i))
  end
  if del then
    local names = {}
    for name in string.gmatch(del, '[^ ]+') do
      names[#names + 1] = name
    end
    if #names > 0 then
      redis.call('HDEL', jkey, unpack(names))
    end
  end
end
