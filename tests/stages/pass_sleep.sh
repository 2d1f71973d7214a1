#!/bin/sh
# pass_sleep: prints its input unchanged after 0.2 s (input.sleep is not read).
# For the failover scenarios: a stage of a few hundred ms that costs almost no
# CPU and starts few processes, so that the drain's pace is set by the stages,
# not by a loaded machine.
cat
sleep 0.2
