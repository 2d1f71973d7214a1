-- takejob.lua (included by take.lua and finish.lua): the take step of a
-- pool serving one or more queues, in one slot (one partition of each).
--
-- take_ids moves up to n job ids off queue onto the worker's processing list
-- plist (LMOVE) and returns them bare (an array, empty when the queue is
-- empty): no job hash is read here, as a script may only touch the keys it is
-- given (KEYS). The worker begins or reserve-reads a taken id in its next
-- call, which names that job's hash (start.lua, finish.lua); until then the
-- id sits on the processing list, so a worker that dies meanwhile has it
-- recovered (queued on a processing list: back on its queue).
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

-- The Redis clock in ms (rate limits: one clock for every worker).
local function redis_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- take_units(plist, first, spec, n): looks at the queues in the order the
-- worker gives (strict priority, or its weighted pick) and takes up to n ids
-- bare from the first that gives any. Each queue has 4 keys from
-- KEYS[first] on: its list, its delayed set, its paused flag, its rate log.
-- spec: "<now ms> <most to promote>" then one line per queue "<its number
-- in the worker> <rate jobs> <rate window ms> <most ids at once> <wake
-- channel>" (jobs 0: no limit; the numbers are 0..m-1, each once; a weighted
-- queue takes at most its share of a batch at once). For each queue looked
-- at, in order:
--   paused (the flag, a string, exists): skipped, nothing moved;
--   its delayed jobs that are due (retries whose backoff is over, scheduled
--   jobs whose time came) go onto its list (LPUSH: behind the backlog), so
--   promotion is this step's, not a sweep's;
--   rate-limited: the log is trimmed to the window (Redis's clock) and the
--   take is cut to what the window has left; a full window skips the queue;
--   then the take, each id taken logged in the rate log.
-- When the promotion filled an empty list and jobs remain after the take,
-- the wake channel is published (other idle workers look).
-- Returns {ids, {u, next_due, rate_wait, looks, promoted}}: the ids taken (oldest
-- first), u the number of their queue (-1: none taken),
-- next_due the earliest due time (ms) among the delayed sets of the queues
-- looked at and not paused (-1: none), rate_wait how long (ms) until a
-- rate-limited queue with jobs may give one again (-1: none), looks one
-- letter per queue, by number: t taken, e empty, p paused, r at its rate limit, - not
-- looked at (a queue before it gave jobs); promoted how many due delayed
-- jobs it moved onto their lists.
local function take_units(plist, first, spec, n)
  local lines = {}
  for line in string.gmatch(spec, '[^\n]+') do
    lines[#lines + 1] = line
  end
  local now, nprom = string.match(lines[1] or '', '^(%d+) (%d+)$')
  now = tonumber(now) or 0
  nprom = tonumber(nprom) or 0
  local tnow
  local taken, u, next_due, rate_wait, looks, promoted = {}, -1, -1, -1, {}, 0
  for pos = 1, #lines - 1 do
    local k = first + 4 * (pos - 1)
    local qk, dk, pk, rk = KEYS[k], KEYS[k + 1], KEYS[k + 2], KEYS[k + 3]
    local num, jobs, win, most, wake =
      string.match(lines[pos + 1], '^(%d+) (%d+) (%d+) (%d+) (%S+)$')
    local i = (tonumber(num) or (pos - 1)) + 1
    jobs, win = tonumber(jobs) or 0, tonumber(win) or 1000
    if u >= 0 then
      looks[i] = '-'
    elseif redis.call('TYPE', pk).ok == 'string' then
      looks[i] = 'p'
    else
      local filled = false
      if nprom > 0 then
        local due = redis.call('ZRANGEBYSCORE', dk, '-inf', now, 'LIMIT', 0, nprom)
        promoted = promoted + #due
        for _, id in ipairs(due) do
          redis.call('ZREM', dk, id)
          if redis.call('LPUSH', qk, id) == 1 then
            filled = true
          end
        end
      end
      local first_due = redis.call('ZRANGE', dk, 0, 0, 'WITHSCORES')
      if first_due[2] then
        local d = tonumber(first_due[2])
        if d and (next_due < 0 or d < next_due) then
          next_due = d
        end
      end
      local want = math.min(n, math.max(1, tonumber(most) or n))
      if jobs > 0 and redis.call('LLEN', qk) > 0 then
        tnow = tnow or redis_ms()
        redis.call('ZREMRANGEBYSCORE', rk, '-inf', tnow - win)
        local used = redis.call('ZCARD', rk)
        if used >= jobs then
          want = 0
          local oldest = redis.call('ZRANGE', rk, 0, 0, 'WITHSCORES')
          local w = math.max(1, (tonumber(oldest[2]) or tnow) + win - tnow)
          if rate_wait < 0 or w < rate_wait then
            rate_wait = w
          end
          looks[i] = 'r'
        elseif want > jobs - used then
          want = jobs - used
        end
      end
      if want > 0 then
        local ids = take_ids(qk, plist, want)
        if #ids > 0 then
          if jobs > 0 then
            for _, id in ipairs(ids) do
              redis.call('ZADD', rk, tnow, tnow .. '.' .. id)
            end
            redis.call('PEXPIRE', rk, win)
          end
          taken, u, looks[i] = ids, i - 1, 't'
        end
      end
      looks[i] = looks[i] or 'e'
      if filled and looks[i] == 't' and redis.call('LLEN', qk) > 0 then
        redis.call('PUBLISH', wake, '1')
      end
    end
  end
  local out = {}
  for i = 1, #lines - 1 do
    out[i] = looks[i] or '-'
  end
  return {taken, {u, next_due, rate_wait, table.concat(out), promoted}}
end
