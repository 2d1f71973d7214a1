-- start: a worker has moved a job id onto its processing list (BLMOVE), or
-- begins a job it held (reserved, still queued); mark the job running and
-- return its hash (see startjob.lua). A job no longer on the list (a
-- reservation recovered meanwhile: back on its queue) is skipped as 'gone'.
-- KEYS[1] job hash, KEYS[2] the worker's processing list, KEYS[3] the events
-- channel (not a key: PUBLISHed to), KEYS[4] the worker's info hash (its
-- job field names the started job: current.lua)
-- ARGV[1] job id, ARGV[2] worker id, ARGV[3] now (RFC 3339), ARGV[4] TTL (s)
--#include current.lua
--#include startjob.lua
if not redis.call('LPOS', KEYS[2], ARGV[1]) then
  return {'skip', 'gone', ARGV[1]}
end
return start_job(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2], ARGV[3], ARGV[4], KEYS[4])
