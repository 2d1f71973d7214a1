#!/bin/sh
# linger: leaves a background child that keeps stdout open (and writes its
# pid to $STAGEQ_TEST_PIDFILE), prints valid JSON and exits 0. The runner must
# return promptly anyway and kill the lingering child.
sleep 300 &
echo $! > "$STAGEQ_TEST_PIDFILE"
echo '{"lingered": true}'
exit 0
