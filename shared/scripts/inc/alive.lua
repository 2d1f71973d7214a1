-- alive.lua (included by heartbeat, recover and reap): when workers may judge
-- one another, known to Redis itself so that it holds for every worker, on
-- any machine, whatever it saw of an outage. The hash akey holds seen (Redis
-- time, ms, of the latest call of any worker), since (when the current stretch
-- of reachability began) and run_id (the Redis process). A stretch begins
-- anew after a gap longer than half a lease with no call of anyone (Redis
-- stopped, frozen or cut off from every worker), when run_id changed (Redis
-- restarted, with or without its data, or failed over), or when there is no
-- record. alive_now(akey, lease_ms) records this call and returns now and
-- since (ms); nobody is judged lost before since + lease_ms: every worker has
-- had a whole lease, Redis reachable, to renew.
local function alive_now(akey, lease_ms)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local run_id = string.match(redis.call('INFO', 'server'), 'run_id:(%w+)') or ''
  local cur = redis.call('HMGET', akey, 'seen', 'since', 'run_id')
  local seen, since = tonumber(cur[1]), tonumber(cur[2])
  -- a field edited by hand is no record: NaN, or a since before 0 or after
  -- seen (kept as it was, "nan", "inf" or 1e20 would never let anyone be
  -- judged lost again; -1 would judge at once)
  if seen ~= seen then
    seen = nil
  end
  if since and (since ~= since or since < 0 or not seen or since > seen) then
    since = nil
  end
  if not seen or not since or cur[3] ~= run_id or now < seen or now - seen > lease_ms / 2 then
    since = now
  end
  redis.call('HSET', akey, 'seen', string.format('%.0f', now), 'since',
    string.format('%.0f', since), 'run_id', run_id)
  redis.call('PEXPIRE', akey, 2 * lease_ms)
  return now, since
end
