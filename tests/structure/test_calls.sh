#!/usr/bin/env bash
# test_calls: calls.sh finds a circle between two object files and passes a
# graph without one (so that `make lint-structure` can fail at all).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/circle/sub" "$tmp/line"
cc=${CC:-cc}
printf 'int b(int);\nint a(int x) { return x > 0 ? b(x - 1) : 0; }\n' >"$tmp/a.c"
printf 'int a(int);\nint b(int x) { return a(x); }\n' >"$tmp/b.c"
printf 'int c(int x) { return x; }\n' >"$tmp/c.c"
printf 'int c(int);\nint d(int x) { return c(x); }\n' >"$tmp/d.c"
$cc -c -o "$tmp/circle/a.o" "$tmp/a.c"
$cc -c -o "$tmp/circle/sub/b.o" "$tmp/b.c"
$cc -c -o "$tmp/line/c.o" "$tmp/c.c"
$cc -c -o "$tmp/line/d.o" "$tmp/d.c"
fail=0
if out=$(bash "$here/calls.sh" "$tmp" circle 2>&1); then
    echo "not ok: a.c <-> sub/b.c is not reported"
    fail=1
elif ! printf '%s\n' "$out" | grep -q 'circle/a.c -> circle/sub/b.c -> circle/a.c\|circle/sub/b.c -> circle/a.c -> circle/sub/b.c'; then
    echo "not ok: the circle is not named: $out"
    fail=1
else
    echo "ok: a circle is reported"
fi
if bash "$here/calls.sh" "$tmp" line >/dev/null; then
    echo "ok: d.c -> c.c passes"
else
    echo "not ok: a graph without a circle fails"
    fail=1
fi
exit $fail
