#!/bin/sh
# exit3: fails with status 3 after explaining itself on stderr.
echo "first line of the failure" >&2
echo "something went wrong: exit 3" >&2
exit 3
