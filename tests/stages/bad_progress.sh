#!/bin/sh
# bad_progress: four invalid progress lines on fd 3 (not JSON, out of range,
# wrong type, a 10 KB line) and one valid one, then valid output.
echo 'not json at all' >&3
echo '{"progress": 2}' >&3
echo '{"progress": "x"}' >&3
head -c 10240 /dev/zero | tr '\0' 'a' >&3
echo >&3
echo '{"progress": 0.5, "message": "half"}' >&3
echo '{"ok": true}'
