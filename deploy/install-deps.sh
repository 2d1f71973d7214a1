#!/bin/sh
# install-deps.sh build|test|fuzz|valgrind: installs the Debian packages stageq needs that are
# missing (as root, with apt-get). Does nothing when all are present.
set -eu
what=${1:-build}
pkgs="gcc make libc6-dev pkg-config libhiredis-dev libevent-dev libcjson-dev uuid-dev redis-server redis-tools python3"
case $what in
  test) pkgs="$pkgs libcmocka-dev curl jq procps python3-yaml docker-compose" ;; # docker-compose: `config` only
  fuzz) pkgs="$pkgs clang libclang-rt-14-dev llvm" ;;  # libFuzzer + sanitizers, llvm-symbolizer
  valgrind) pkgs="$pkgs valgrind" ;;                  # make test-valgrind
esac
missing=""
for p in $pkgs; do
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
