#!/bin/sh
# sleep_forever: never exits and ignores SIGTERM, so that stopping it needs
# the SIGKILL escalation after kill_grace_ms.
trap '' TERM
while :; do
    sleep 1
done
