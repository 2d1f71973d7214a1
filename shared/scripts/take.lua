-- take: pop the next job id off the queue onto the worker's processing list
-- (LMOVE) and start it (startjob.lua), in one round trip. A worker calls it
-- first and waits with BLMOVE + start.lua only when the queue is empty.
-- KEYS[1] queue list, KEYS[2] the worker's processing list, KEYS[3] the
-- events channel (not a key: PUBLISHed to)
-- ARGV[1] the job key prefix ("<p>:job:"), ARGV[2] worker id, ARGV[3] now
-- (RFC 3339), ARGV[4] TTL (s), ARGV[5] the longest valid job id
-- Returns false (nil) when the queue is empty; {'invalid', id} for an id
-- stageq never writes (left on the processing list for the worker to drop);
-- else as start_job. The job hash's key is built here from the popped id: one
-- Redis (not a cluster) holds every key.
--#include startjob.lua
local id = redis.call('LMOVE', KEYS[1], KEYS[2], 'RIGHT', 'LEFT')
if not id then
  return false
end
if #id > tonumber(ARGV[5]) or id == '.' or id == '..' or not string.match(id, '^[%w._:-]+$') then
  return {'invalid', id}
end
return start_job(ARGV[1] .. id, KEYS[2], KEYS[3], id, ARGV[2], ARGV[3], ARGV[4])
