-- reset.lua (included by retry and rerun, after stages.lua):
-- reset_stages(jkey, n, resume, base) sets the unfinished stages of the job
-- (hash jkey, n stages, its offset base: stage_base of its created_at) back
-- to pending, their times and output dropped. With resume, stages that
-- succeeded keep theirs: the next attempt starts at the first that did not
-- (startjob.lua walks the same way).
local function reset_stages(jkey, n, resume, base)
  local ks = {}
  for k = 1, n do
    ks[k] = k
  end
  local st = stages_read(jkey, ks, base)
  local set, del = {}, {}
  for k = 1, n do
    local s = st[k]
    if not (resume and s.state == 'succeeded') then
      if s.state ~= 'pending' or s.t0 or s.t1 or s.old then
        stages_pending(s)
        stages_put(set, del, k, s)
      end
      del[#del + 1] = 'stage.' .. k .. '.output'
    end
  end
  hash_write(jkey, set, del)
end
