-- jobwrite.lua (included after stages.lua by the scripts that write a job's
-- fields themselves: unstart, requeue, recover, rerun; not by the hot ones,
-- which write what the worker sends: fields_apply): a write that stores no
-- field that says nothing (stages.lua's layout).

-- A write of the scripts to a job (one HSET, and one HDEL when a field goes
-- away): w = job_write(), filled with jw_set, sent by job_write_send(jkey,
-- w, have, del, final). have (field -> value or false) tells which fields
-- the job has of those the write empties (JOB_EMPTY, overall_progress): the
-- caller reads them with what it reads anyway.
local function job_write()
  return {f = {}, v = {}, at = {}}
end

-- jw_set(w, field, value): later values win.
local function jw_set(w, f, v)
  local i = w.at[f]
  if not i then
    i = #w.f + 1
    w.f[i], w.at[f] = f, i
  end
  w.v[i] = v
end

-- Sends w to jkey: a field that says nothing (JOB_EMPTY: '', progress 0, or
-- 1 when final is 'succeeded') is deleted when have[f], else not written;
-- overall_progress (stored by the older layout) is deleted when have has
-- it; del: more fields to delete (or nil).
local function job_write_send(jkey, w, have, del, final)
  -- the fields a write of '' (progress: of its default) removes (a table
  -- made here: every call of a script would build it, most never use it)
  local JOB_EMPTY = {message = true, next_attempt_at = true, resumed_from_stage = true,
    next_stage = true, hopped = true, progress = true}
  local set = {}
  del = del or {}
  for i, f in ipairs(w.f) do
    local v = w.v[i]
    local empty = false
    if f == 'stage_name' then
      empty = true -- the name in its stage's field
    elseif f == 'progress' then
      local p = tonumber(v)
      empty = p == 0 or (final == 'succeeded' and p == 1)
    elseif JOB_EMPTY[f] then
      empty = v == ''
    end
    if not empty then
      set[#set + 1], set[#set + 2] = f, v
    elseif have[f] then
      del[#del + 1] = f
    end
  end
  if have.overall_progress then
    del[#del + 1] = 'overall_progress'
  end
  if have.stage_name and not w.at.stage_name then
    del[#del + 1] = 'stage_name'
  end
  hash_write(jkey, set, del)
end

-- have_of(names, vals, from): field -> value (false when missing) of an
-- HMGET whose replies for names start at vals[from].
local function have_of(names, vals, from)
  local have = {}
  for i, f in ipairs(names) do
    have[f] = vals[from + i - 1] or false
  end
  return have
end
