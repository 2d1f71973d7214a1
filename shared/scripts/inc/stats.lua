-- stats.lua (included): the cluster-wide figures /metrics and the ETA read.
-- count(counters, event, pipeline): one more <event>:<pipeline> in the
-- counters hash (submitted, succeeded, failed, canceled, retried).
local function count(counters, event, pipeline)
  if pipeline then
    redis.call('HINCRBY', counters, event .. ':' .. pipeline, 1)
  end
end

-- record_stage(hist, eta, spec): stage runs that succeeded, spec one line
-- "<k> <ms> <name>" per stage (its number, duration in ms, name), or ''.
-- hist: per stage name, Prometheus buckets (non-cumulative counts), sum and
-- count; eta: per stage number k, "<k>.runs" its last 20 durations (ms,
-- newest first, comma-separated), "<k>" their mean and "<k>.n" how many.
-- Both live 30 days after the last run.
local STATS_BUCKETS = {'0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '5',
  '10', '30', '60', '120', '300', '600', '1800', '3600'}
local STATS_TTL = 2592000
local STATS_RUNS = 20
local function record_stage(hist, eta, spec)
  local ks, mss = {}, {}
  for k, ms, name in string.gmatch(spec or '', '(%d+) (%d+) ([^\n]+)') do
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
    ks[#ks + 1] = k
    mss[#mss + 1] = ms
  end
  if #ks == 0 then
    return
  end
  -- every stage's runs in one read and one write
  local fields = {}
  for i, k in ipairs(ks) do
    fields[i] = k .. '.runs'
  end
  local olds = redis.call('HMGET', eta, unpack(fields))
  local out = {}
  for i, k in ipairs(ks) do
    local runs = {mss[i]}
    if olds[i] then
      for x in string.gmatch(olds[i], '%d+') do
        if #runs >= STATS_RUNS then
          break
        end
        runs[#runs + 1] = x
      end
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
  redis.call('EXPIRE', hist, STATS_TTL)
  redis.call('EXPIRE', eta, STATS_TTL)
end
