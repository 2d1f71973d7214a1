#!/usr/bin/env python3
# big_stdin: reads all of stdin and prints how many bytes it got; with a
# multi-megabyte input this checks that feeding stdin cannot deadlock.
import json, sys

print(json.dumps({"len": len(sys.stdin.buffer.read())}))
