#!/bin/sh
# flood: writes stdout forever; the runner must stop it at max_output.
exec yes "flooding the output"
