-- record: stage runs a worker gathered, recorded on their own (it is about to
-- wait for work, or to exit). See stats.lua.
-- ARGV[1..2] the stage histogram and ETA key prefixes ("<p>:stagehist:",
-- "<p>:eta:"), ARGV[3] the spec
--#include stats.lua
record_stats(ARGV[1], ARGV[2], ARGV[3])
return 'ok'
