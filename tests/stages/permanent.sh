#!/bin/sh
# permanent: exits 65 (EX_DATAERR), the "do not retry" status.
echo "bad input, retrying will not help" >&2
exit 65
