-- start: a worker has moved a job id onto its processing list (BLMOVE, or
-- take.lua's bare ids), or begins a job it held (reserved, still queued);
-- mark the job running and return its hash (see startjob.lua). A job no
-- longer on the list (a reservation recovered meanwhile: back on its queue)
-- is skipped as 'gone'. In the same call it may reserve-read more ids it
-- took (the jobs it runs next), whose hashes it is given.
-- KEYS[1] job hash, KEYS[2] the worker's processing list, KEYS[3] the
-- partition's current hash (current.lua), KEYS[4..3+n] the hashes of the
-- held ids to read (all of one slot)
-- ARGV[1] job id, ARGV[2] worker id, ARGV[3] now (RFC 3339), ARGV[4] TTL (s),
-- ARGV[5] the events channel (PUBLISHed to), ARGV[6] n, ARGV[7..6+n] the
-- held ids to read
-- Returns start_job's reply when n is 0, else {that reply, {the reads' replies}}.
--#include stages.lua
--#include current.lua
--#include startjob.lua
--#include takejob.lua
local started
if not redis.call('LPOS', KEYS[2], ARGV[1]) then
  started = {'skip', 'gone', ARGV[1]}
else
  started = start_job(KEYS[1], KEYS[2], ARGV[5], ARGV[1], ARGV[2], ARGV[3], ARGV[4], KEYS[3])
end
local n = tonumber(ARGV[6]) or 0
if n == 0 then
  return started
end
return {started, read_held(4, {unpack(ARGV, 7, 6 + n)}, KEYS[2], ARGV[5], ARGV[2], ARGV[3],
  ARGV[4])}
