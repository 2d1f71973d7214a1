#!/bin/sh
# install-deps.sh build|test|fuzz|valgrind|bench|lint: installs the Debian packages stageq needs that are
# missing (as root, with apt-get). Does nothing when all are present.
set -eu
what=${1:-build}
# tzdata: /usr/share/zoneinfo, the timezones of cron schedules (and their tests)
pkgs="gcc make libc6-dev pkg-config libhiredis-dev libevent-dev libcjson-dev uuid-dev redis-server redis-tools python3 tzdata"
case $what in
  # chromium + node/npm: tests/e2e/test_dashboard.sh drives the dashboard in a
  # headless browser (npm installs playwright-core into tests/browser/node_modules);
  # node/npm also for test_eventsource (npm eventsource, tests/eventsource) and
  # test_openapi (@redocly/cli, tests/openapi): each suite runs npm ci itself
  # prometheus: promtool, for tests/e2e/test_metrics.sh
  # docker-compose: `docker-compose config` only (tests/e2e/test_deploy.sh)
  # python3-venv/-pip/-setuptools/-wheel: test_python builds and installs
  # clients/python into a venv offline (pip --no-index --no-build-isolation)
  test) pkgs="$pkgs libcmocka-dev curl jq procps chromium nodejs npm fonts-dejavu-core prometheus python3-yaml docker-compose python3-venv python3-pip python3-setuptools python3-wheel" ;;
  fuzz) pkgs="$pkgs clang libclang-rt-14-dev llvm" ;;  # libFuzzer + sanitizers, llvm-symbolizer
  valgrind) pkgs="$pkgs valgrind" ;;                  # make test-valgrind
  bench) pkgs="$pkgs wrk curl jq procps" ;;            # make bench (wrk -s Lua, redis-benchmark)
  lint) pkgs="cppcheck clang-format" ;;                # make lint, make format-check
esac
# tests/openapi/check.py (test_openapi) needs jsonschema and yaml; it uses the
# OpenAPI validators where the distribution has them (Debian 13 does, 12 not).
if [ "$what" = test ]; then
  pkgs="$pkgs python3-jsonschema python3-yaml"
  for p in python3-openapi-spec-validator python3-openapi-schema-validator; do
    if apt-cache policy "$p" 2>/dev/null | grep -q 'Candidate: [0-9]'; then
      pkgs="$pkgs $p"
    fi
  done
fi
missing=""
for p in $pkgs; do
  # a nodejs from NodeSource ships npm itself and conflicts with Debian's npm
  [ "$p" = npm ] && command -v npm >/dev/null 2>&1 && continue
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing="$missing $p"
  fi
done
[ -z "$missing" ] && exit 0
echo "install-deps: installing:$missing"
if [ "$(id -u)" != 0 ]; then
  echo "install-deps: not root; run: sudo apt-get install -y$missing" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
# Debian's package starts a system redis-server where systemd runs; stageq
# starts its own and never relies on it.
