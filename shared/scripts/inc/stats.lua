-- stats.lua (included): the cluster-wide figures /metrics and the ETA read.
-- count(counters, event, pipeline): one more <event>:<pipeline> in the
-- counters hash (submitted, succeeded, failed, canceled, retried).
local function count(counters, event, pipeline)
  if pipeline then
    redis.call('HINCRBY', counters, event .. ':' .. pipeline, 1)
  end
end

-- record_stage(hist, eta, times, spec): a stage run that succeeded, spec
-- "<k> <ms> <name>" (its number, duration in ms, name), or '' for none.
-- hist: per stage name, Prometheus buckets (non-cumulative counts), sum and
-- count; times: stage k's last 20 durations (ms); eta: field <k> their mean
-- and <k>.n how many. All three live 30 days after the last run.
local STATS_BUCKETS = {'0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '5',
  '10', '30', '60', '120', '300', '600', '1800', '3600'}
local STATS_TTL = 2592000
local function record_stage(hist, eta, times, spec)
  local k, ms, name = string.match(spec or '', '^(%d+) (%d+) (.+)$')
  if not k then
    return
  end
  local s = tonumber(ms) / 1000
  local le = '+Inf'
  for _, b in ipairs(STATS_BUCKETS) do
    if s <= tonumber(b) then
      le = b
      break
    end
  end
  redis.call('HINCRBY', hist, name .. '|' .. le, 1)
  redis.call('HINCRBY', hist, name .. '|count', 1)
  redis.call('HINCRBYFLOAT', hist, name .. '|sum', s)
  redis.call('LPUSH', times, ms)
  redis.call('LTRIM', times, 0, 19)
  local xs = redis.call('LRANGE', times, 0, -1)
  local sum = 0
  for _, x in ipairs(xs) do
    sum = sum + tonumber(x)
  end
  redis.call('HSET', eta, k, tostring(math.floor(sum / #xs + 0.5)), k .. '.n', tostring(#xs))
  redis.call('EXPIRE', hist, STATS_TTL)
  redis.call('EXPIRE', eta, STATS_TTL)
  redis.call('EXPIRE', times, STATS_TTL)
end
