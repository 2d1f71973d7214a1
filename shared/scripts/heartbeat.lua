-- heartbeat: a worker process publishes what it does in the worker registry
-- (display: GET /v1/workers, /v1/stats, /metrics). Its leases, which
-- recovery judges, are per partition (lease.lua); the registry's score only
-- tells a live worker from a gone one for display, and an entry long expired
-- is dropped by the workers (reaping).
-- KEYS[1] workers zset (member: worker id, score: expiry in ms since the
-- epoch, Redis's clock), KEYS[2] the worker's info hash (one slot, {w})
-- ARGV[1] worker id, ARGV[2] lease (ms), ARGV[3] info TTL (s),
-- ARGV[4..] info field, value ...
-- Returns Redis time (ms), as a string.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], string.format('%.0f', now + tonumber(ARGV[2])), ARGV[1])
redis.call('HSET', KEYS[2], unpack(ARGV, 4))
redis.call('EXPIRE', KEYS[2], ARGV[3])
return string.format('%.0f', now)
