#!/usr/bin/env python3
"""jsontext.py [PATH]: reads one JSON value on stdin and prints the value at
PATH (".result", ".stages.1.output", "" for the whole) compactly, every number
as the text it had in the input (json.loads alone would turn
9007199254740993 into a float or 1e400 into inf). Exit 1 when PATH is absent."""
import json
import sys


class Num(str):
    """A number, kept as its text."""


def load(text):
    return json.loads(text, parse_int=Num, parse_float=Num, parse_constant=Num)


def dump(v):
    if isinstance(v, Num):
        return str(v)
    if isinstance(v, dict):
        return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + dump(x)
                              for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "[" + ",".join(dump(x) for x in v) + "]"
    return json.dumps(v, ensure_ascii=False)


def main():
    v = load(sys.stdin.read())
    path = sys.argv[1] if len(sys.argv) > 1 else ""
    for part in [p for p in path.split(".") if p]:
        try:
            v = v[int(part)] if isinstance(v, list) else v[part]
        except (KeyError, IndexError, ValueError, TypeError):
            return 1
    print(dump(v))
    return 0


if __name__ == "__main__":
    sys.exit(main())
