#!/usr/bin/env bash
# test_calls: calls.sh finds a circle between two object files and passes a
# graph without one (so that `make lint-structure` can fail at all).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cc=${CC:-cc}
# src/ is the source tree, obj/ the build directory, as calls.sh expects them
mkdir -p "$tmp/src/circle/sub" "$tmp/src/line" "$tmp/obj/circle/sub" "$tmp/obj/line"
printf 'int b(int);\nint a(int x) { return x > 0 ? b(x - 1) : 0; }\n' >"$tmp/src/circle/a.c"
printf 'int a(int);\nint b(int x) { return a(x); }\n' >"$tmp/src/circle/sub/b.c"
printf 'int c(int x) { return x; }\n' >"$tmp/src/line/c.c"
printf 'int c(int);\nint d(int x) { return c(x); }\n' >"$tmp/src/line/d.c"
printf 'int d(int);\nint e(int x) { return d(x); }\n' >"$tmp/src/line/e.c"
for f in circle/a circle/sub/b line/c line/d line/e; do
    $cc -c -o "$tmp/obj/$f.o" "$tmp/src/$f.c"
done
rm "$tmp/src/line/e.c" # a stale object (its source is gone) is left out
cd "$tmp/src"
fail=0
if out=$(bash "$here/calls.sh" "$tmp/obj" circle 2>&1); then
    echo "not ok: a.c <-> sub/b.c is not reported"
    fail=1
elif ! printf '%s\n' "$out" | grep -q 'circle/a.c -> circle/sub/b.c -> circle/a.c\|circle/sub/b.c -> circle/a.c -> circle/sub/b.c'; then
    echo "not ok: the circle is not named: $out"
    fail=1
else
    echo "ok: a circle is reported"
fi
if out=$(bash "$here/calls.sh" -v "$tmp/obj" line 2>&1) && ! grep -q 'e\.c' <<<"$out"; then
    echo "ok: d.c -> c.c passes, the stale e.o is left out"
else
    echo "not ok: a graph without a circle fails"
    fail=1
fi
exit $fail
