#!/usr/bin/env bash
# test_python: the Python package (clients/python) — its own unittest suite
# (stage helper in both modes, client against a scripted server, and client +
# helper against the real API and worker started here, every test on the same
# stages one-shot and "serve": true), then
# `pip install ./clients/python` into a venv, offline, and the same unit tests
# against the installed copy.
source "$(dirname "$0")/lib.sh"
export STAGEQ_PREFIX=tpy
flush_prefix tpy
# Every pipeline of pipelines-python.json also as NAME-serve, the same stages
# declared "serve": true: the package's tests run in both modes and must get the
# same results.
P="$STAGEQ_TEST_TMP/pipelines-python.json"
jq '.pipelines |= (. + with_entries(.key += "-serve" | .value.stages |= map(. + {serve: true})))' \
  tests/e2e/pipelines-python.json >"$P"
TOKEN="py-suite-token"
start_api api-py --pipelines "$P"
url=$API_URL
start_api api-py-token --pipelines "$P" --api-token "$TOKEN"
token_url=$API_URL
start_worker worker-py --pipelines "$P" --concurrency 2

# unittest's summary is on stderr: "Ran N tests", then "OK" or "FAILED (...)",
# "(skipped=N)" when a test was skipped, which fails the suite too.
run_unittest() { # NAME LOG PYTHON MODULES [env...]
  local name=$1 log=$2 py=$3 modules=$4 summary; shift 4
  # shellcheck disable=SC2086
  (cd clients/python/tests && env "$@" "$py" -m unittest -v $modules) >"$log" 2>&1
  local rc=$?
  summary=$(grep -E '^(Ran [0-9]+ tests|OK|FAILED)' "$log" | tr '\n' ' ')
  if [ "$rc" -eq 0 ] && ! grep -q 'skipped' <<<"$summary"; then
    ok "$name: $summary"
  else
    not_ok "$name: $summary"
    grep -E '^(FAIL|ERROR):|skipped' "$log" | head -20
    tail -40 "$log"
  fi
}

run_unittest "the package's tests pass from PYTHONPATH, none skipped" "$STAGEQ_TEST_TMP/py-unit.log" python3 \
  "test_stage test_client test_api" \
  PYTHONPATH="$PWD/clients/python" STAGEQ_TEST_API_URL="$url" STAGEQ_TEST_SERVE=1 \
  STAGEQ_TEST_TOKEN_URL="$token_url" STAGEQ_TEST_TOKEN="$TOKEN"
ran=$(sed -n 's/^Ran \([0-9]*\) tests.*/\1/p' "$STAGEQ_TEST_TMP/py-unit.log")
check "they are 35 tests or more (got ${ran:-none})" test "${ran:-0}" -ge 35

# --- pip install, offline ----------------------------------------------------------
# Debian's python3 with its python3-setuptools and python3-wheel: a venv that
# sees them (--system-site-packages) builds the package with no index and no
# build isolation, so no network is needed. The build runs on a copy: pip
# writes build/ and *.egg-info next to the sources.
venv="$STAGEQ_TEST_TMP/venv"
src="$STAGEQ_TEST_TMP/pysrc"
rm -rf "$venv" "$src"
cp -r clients/python "$src"
rm -rf "$src/tests"
check "a venv is created (python3 -m venv)" /usr/bin/python3 -m venv --system-site-packages "$venv"
check "pip install ./clients/python works offline" \
  "$venv/bin/pip" install -q --no-index --no-build-isolation "$src"
where=$(cd / && "$venv/bin/python" -c 'import stageq; print(stageq.__file__)' 2>&1)
check "the venv imports the installed copy ($where)" \
  grep -Eq "^$venv/lib/python3[.0-9]*/site-packages/stageq/__init__.py\$" <<<"$where"
run_unittest "the helper's and client's tests pass against the installed copy" \
  "$STAGEQ_TEST_TMP/py-installed.log" "$venv/bin/python" "test_stage test_client" STAGEQ_TEST_INSTALLED=1
check "the source tree stays clean (no build/ or egg-info)" \
  test ! -e clients/python/build -a -z "$(ls -d clients/python/*.egg-info 2>/dev/null)"

stop_pid "$WORKER_PID" 20
check_eq "SIGTERM: the worker exits 0" 0 "$STOP_RC"
check_eq "no stage program of this suite is left" "" \
  "$(pgrep -f 'clients/python/tests/programs/' | while read -r p; do
       [ "$(readlink "/proc/$p/cwd" 2>/dev/null)" = "$(pwd -P)" ] && echo "$p"; done)"
finish
