#!/bin/sh
# docker-entrypoint.sh: the image's ENTRYPOINT. The first argument picks the
# program, the rest are its flags (STAGEQ_* environment variables work too):
#   docker run IMAGE api [--flags]            stageq-api
#   docker run IMAGE worker --concurrency 4   stageq-worker
#   docker run IMAGE stageq status ID         the CLI (also: cli)
#   docker run IMAGE healthcheck [api|worker] what HEALTHCHECK runs
#   docker run IMAGE sh                       anything else runs as given
# The daemon replaces this shell (exec), so SIGTERM from `docker stop` reaches
# it directly.
set -eu
[ $# -gt 0 ] || set -- api
cmd=$1
case $cmd in
  api) shift; exec stageq-api "$@" ;;
  worker) shift; exec stageq-worker "$@" ;;
  stageq | cli) shift; exec stageq "$@" ;;
  healthcheck) shift; exec stageq-healthcheck "$@" ;;
  -*) exec stageq-api "$@" ;; # `docker run IMAGE --help`: flags of the default (api)
  *) exec "$@" ;;
esac
