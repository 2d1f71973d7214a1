-- record: stage runs a worker gathered, recorded on their own (it is about to
-- wait for work, or to exit). See stats.lua.
-- KEYS the stage statistics keys of each pipeline the spec names (histogram
-- and ETA hash, in the order the spec names them; all of one slot)
-- ARGV[1] the spec
--#include stats.lua
record_stats(1, ARGV[1])
return 'ok'
