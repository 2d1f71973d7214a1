# side_by_side.sh (sourced): runs a suite's scenarios in groups side by side.
# side_by_side VAR SCRIPT GROUP...: runs `VAR="GROUP" bash SCRIPT` for each
# group at once, prints their output one group after the other, then one line
# "N passed, N failed" summing theirs (a group that printed none counts as a
# failure). Returns non-zero when a group failed.
side_by_side() {
  local var=$1 script=$2 out g n=0 line passed=0 failed=0 rc=0
  shift 2
  out=$(mktemp -d /tmp/stageq-groups.XXXXXX)
  local pids=()
  for g in "$@"; do
    n=$((n + 1))
    env "$var=$g" bash "$script" >"$out/$n" 2>&1 &
    pids+=("$!")
  done
  for g in "${pids[@]}"; do wait "$g" || rc=1; done
  for g in $(seq 1 "$n"); do
    grep -vE '^[0-9]+ passed, [0-9]+ failed$' "$out/$g"
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out/$g" | tail -1)
    if [ -n "$line" ]; then
      passed=$((passed + ${line%% *})); line=${line#*, }; failed=$((failed + ${line%% *}))
    else
      failed=$((failed + 1)); echo "# group $g ended without a summary"
    fi
  done
  rm -rf "$out"
  echo "$passed passed, $failed failed"
  [ "$failed" = 0 ] && [ "$rc" = 0 ]
}
