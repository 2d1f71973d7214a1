-- stats.lua (included): the cluster-wide figures /metrics and the ETA read.
-- count(counters, event, pipeline): one more <event>:<pipeline> in the
-- counters hash (submitted, succeeded, failed, canceled, retried).
-- stats_incr(cmd, key, field, by): HINCRBY or HINCRBYFLOAT; a field that
-- holds no number it can add to (edited by hand: "x", "nan", "1e400", beyond
-- 64 bits) starts again from by, so that one bad figure never fails the
-- script that counts (a submit's job would be written, yet answered 503).
local function stats_incr(cmd, key, field, by)
  local r = redis.pcall(cmd, key, field, by)
  if type(r) == 'table' and r.err then
    redis.call('HSET', key, field, by)
  end
end

local function count(counters, event, pipeline)
  if pipeline then
    stats_incr('HINCRBY', counters, event .. ':' .. pipeline, 1)
  end
end

-- record_stats(first, spec): stage runs that succeeded, as a worker gathered
-- them since its last flush (it sends them at most about once a second while
-- it has a backlog, at once when it goes idle). One line per pipeline and
-- stage: "<pipeline> <k> <name> <runs> <hist>", runs its newest durations
-- (ms, newest first, comma-separated, at most 20), hist every duration it saw
-- as "<ms>:<times>" pairs (comma-separated); the lines of one pipeline are
-- consecutive. The keys of the i-th pipeline the spec names are
-- KEYS[first + 2i - 2] (its histogram, <p>:{t}:stagehist:<pipeline>) and
-- KEYS[first + 2i - 1] (its ETA, <p>:{t}:eta:<pipeline>), in the slot of the
-- call (the API sums the partitions). Writes, per pipeline:
-- the histogram: per stage name, Prometheus buckets
-- (non-cumulative counts), sum (s) and count;
-- the ETA: per stage number k, "<k>.runs" its last 20
-- durations (ms, newest first), "<k>" their mean and "<k>.n" how many.
-- Both live 30 days after the last run.
local STATS_BUCKETS = {'0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '5',
  '10', '30', '60', '120', '300', '600', '1800', '3600'}
local STATS_TTL = 2592000
local STATS_RUNS = 20

local function stats_bucket(s)
  for _, b in ipairs(STATS_BUCKETS) do
    if s <= tonumber(b) then
      return b
    end
  end
  return '+Inf'
end

-- the ETA of one pipeline: every stage's runs in one read and one write
local function stats_eta(eta, ks, newruns)
  local fields = {}
  for i, k in ipairs(ks) do
    fields[i] = k .. '.runs'
  end
  local olds = redis.call('HMGET', eta, unpack(fields))
  local out = {}
  for i, k in ipairs(ks) do
    local runs = {}
    for x in string.gmatch(newruns[i] .. ',' .. (olds[i] or ''), '%d+') do
      if #runs >= STATS_RUNS then
        break
      end
      runs[#runs + 1] = x
    end
    local sum = 0
    for _, x in ipairs(runs) do
      sum = sum + tonumber(x)
    end
    local n = #out
    out[n + 1], out[n + 2] = k, tostring(math.floor(sum / #runs + 0.5))
    out[n + 3], out[n + 4] = k .. '.n', tostring(#runs)
    out[n + 5], out[n + 6] = k .. '.runs', table.concat(runs, ',')
  end
  redis.call('HSET', eta, unpack(out))
  redis.call('EXPIRE', eta, STATS_TTL)
end

local function record_stats(first, spec)
  local pl, ks, runs = nil, {}, {}
  local hkey, ekey = nil, nil
  local nextkey = first
  local function flush()
    if pl then
      stats_eta(ekey, ks, runs)
      redis.call('EXPIRE', hkey, STATS_TTL)
    end
  end
  for p, k, name, r, seen in string.gmatch(spec or '', '(%S+) (%d+) (%S+) ([%d,]+) ([%d:,]+)') do
    if p ~= pl then
      flush()
      pl, ks, runs = p, {}, {}
      hkey, ekey = KEYS[nextkey], KEYS[nextkey + 1]
      nextkey = nextkey + 2
      if not hkey or not ekey then
        return -- fewer keys than pipelines: the caller's mistake, nothing more recorded
      end
    end
    ks[#ks + 1], runs[#runs + 1] = k, r
    local per, n, sum = {}, 0, 0
    for ms, times in string.gmatch(seen, '(%d+):(%d+)') do
      local le = stats_bucket(tonumber(ms) / 1000)
      per[le] = (per[le] or 0) + tonumber(times)
      n = n + tonumber(times)
      sum = sum + tonumber(ms) * tonumber(times)
    end
    for le, times in pairs(per) do
      stats_incr('HINCRBY', hkey, name .. '|' .. le, times)
    end
    stats_incr('HINCRBY', hkey, name .. '|count', n)
    stats_incr('HINCRBYFLOAT', hkey, name .. '|sum', sum / 1000)
  end
  flush()
end
