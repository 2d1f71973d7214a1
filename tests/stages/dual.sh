#!/usr/bin/env bash
# dual.sh: a shell stage for both modes of the stage protocol. Output:
# {"wrapped": <input>, "by": "sh"}; an input holding the word "refuse" is a
# permanent error (exit 65 one-shot, "retryable": false warm). One progress
# line per job. Warm mode (STAGEQ_SERVE=1): the request's input is its last
# member, so it is the text after "input": without the final brace.
answer() { # INPUT → the output JSON, or status 65
  case "$1" in *refuse*) return 65 ;; esac
  printf '{"wrapped":%s,"by":"sh"}' "$1"
}
if [ "${STAGEQ_SERVE:-}" = 1 ]; then
  exec 4>&1 1>&2 # answers on fd 4; stray writes to stdout go to stderr
  while IFS= read -r line; do
    input=${line#*\"input\":}
    input=${input%\}}
    echo '{"progress":0.5,"message":"shell"}' >&3
    if out=$(answer "$input"); then
      printf '{"output":%s}\n' "$out" >&4
    else
      echo "refused: $input" >&2
      printf '{"error":{"message":"refused","retryable":false}}\n' >&4
    fi
  done
  exit 0
fi
input=$(cat)
echo '{"progress":0.5,"message":"shell"}' >&3
if out=$(answer "$input"); then
  printf '%s\n' "$out"
else
  echo "refused: $input" >&2
  exit 65
fi
