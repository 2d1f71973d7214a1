#!/usr/bin/env bash
# calls.sh: the graph "file calls functions defined in file" among the object
# files of each directory given (default: api worker), read exactly from the
# symbol tables: `nm -u` of one object against `nm --defined-only` of the
# others of the same directory. Fails (exit 1) when a directory's graph has a
# circle, and prints each circle; -v prints every edge too.
#
# usage: tests/structure/calls.sh [-v] BUILD_DIR [DIR...]
#   BUILD_DIR holds the objects (build/api/*.o, build/worker/**/*.o); run it
#   from the source tree: an object whose source (DIR/x.c) is gone is stale
#   and left out.
set -euo pipefail

verbose=0
if [ "${1:-}" = "-v" ]; then
    verbose=1
    shift
fi
if [ $# -lt 1 ]; then
    echo "usage: $0 [-v] BUILD_DIR [DIR...]" >&2
    exit 2
fi
build=$1
shift
dirs=("$@")
[ ${#dirs[@]} -gt 0 ] || dirs=(api worker)

status=0
for dir in "${dirs[@]}"; do
    objs=()
    while IFS= read -r o; do
        src=${o#"$build/"}
        [ -f "${src%.o}.c" ] && objs+=("$o")
    done < <(find "$build/$dir" -name '*.o' | sort)
    if [ ${#objs[@]} -eq 0 ]; then
        echo "calls.sh: no object files under $build/$dir (build first)" >&2
        exit 2
    fi
    # "symbol file" for every global symbol defined in the directory
    defs=$(for o in "${objs[@]}"; do
        f=${o#"$build/"}
        f=${f%.o}.c
        nm --defined-only --extern-only "$o" | awk -v f="$f" 'NF == 3 { print $3, f }'
    done)
    # "caller callee" for every call across files, once
    edges=$(for o in "${objs[@]}"; do
        f=${o#"$build/"}
        f=${f%.o}.c
        nm --undefined-only "$o" | awk '{ print $NF }' |
            awk -v f="$f" 'NR == FNR { def[$1] = $2; next }
                           ($1 in def) && def[$1] != f { print f, def[$1] }' \
                <(printf '%s\n' "$defs") -
    done | sort -u)
    if [ $verbose -eq 1 ]; then
        printf '%s\n' "$edges" | sed "s/ / -> /"
    fi
    # tsort names the members of every loop it has to break, on stderr
    loops=$(printf '%s\n' "$edges" | tsort 2>&1 >/dev/null || true)
    if [ -n "$loops" ]; then
        echo "calls.sh: circles among the files of $dir/:" >&2
        # one line per loop: "a -> b -> a"
        printf '%s\n' "$loops" | awk '
            /input contains a loop/ { if (n) print "  " line " -> " first; n = 0; next }
            /^tsort: / { f = $2; if (n++) line = line " -> " f; else { line = f; first = f } }
            END { if (n) print "  " line " -> " first }' >&2
        status=1
    else
        echo "calls.sh: $dir/: $(printf '%s\n' "$edges" | grep -c .) calls across files, no circle"
    fi
done
exit $status
