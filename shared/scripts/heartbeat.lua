-- heartbeat: a worker process renews its lease and publishes what it does.
-- KEYS[1] workers zset (member: worker id, score: lease expiry in ms since
-- the epoch), KEYS[2] the worker's info hash
-- ARGV[1] worker id, ARGV[2] lease expiry (ms), ARGV[3] info TTL (s),
-- ARGV[4..] info field, value ...
-- Returns 1.
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('HSET', KEYS[2], unpack(ARGV, 4))
redis.call('EXPIRE', KEYS[2], ARGV[3])
return 1
