#!/bin/bash
# healthcheck.sh [api|worker [PID]]: the image's HEALTHCHECK (installed as
# stageq-healthcheck). Needs only bash and coreutils: no curl, no redis-cli.
#   api:    GET /healthz on the address the API listens on (its --listen flag,
#           else STAGEQ_LISTEN; 0.0.0.0 and :: are asked on loopback) answers 200.
#   worker: at least one child of the stageq-worker supervisor holds a live
#           lease in Redis: ZSCORE <prefix>:{w}:workers <hostname>:<child pid> is
#           later than now (the lease is renewed every quarter of STAGEQ_LEASE_S).
#           For a unix:// Redis URL only the children's presence is checked;
#           for a redis-sentinel:// URL the master is the one the first
#           sentinel that knows it names; for a redis-cluster:// URL the first
#           seed that answers, following one MOVED to the registry's master.
# Without arguments it finds the stageq-api or stageq-worker supervisor among
# the processes (in a container: PID 1, or PID 2 under `init: true`). Prints
# one line; exit 0 healthy, 1 not. The whole check is bounded by 5 s.
set -u
if [ -z "${SQ_HC_BOUNDED:-}" ]; then
  SQ_HC_BOUNDED=1 exec timeout 5 bash "$0" "$@"
fi
role=${1:-}
pid=${2:-}

unhealthy() { echo "unhealthy: $*"; exit 1; }

comm_of() { local c; read -r c 2>/dev/null <"/proc/$1/comm" && printf '%s' "$c"; }
ppid_of() { local s; read -r s 2>/dev/null <"/proc/$1/stat" && s=${s##*) } && set -- $s && printf '%s' "$2"; }

# Finds the daemon when not told: stageq-api, or the stageq-worker whose parent
# is not a stageq-worker (the supervisor, not one of its children).
if [ -z "$pid" ]; then
  for d in /proc/[0-9]*; do
    p=${d#/proc/}
    c=$(comm_of "$p")
    if [ "$c" = stageq-api ] && [ "${role:-api}" = api ]; then
      role=api; pid=$p; break
    fi
    if [ "$c" = stageq-worker ] && [ "${role:-worker}" = worker ] &&
       [ "$(comm_of "$(ppid_of "$p")")" != stageq-worker ]; then
      role=worker; pid=$p; break
    fi
  done
  [ -n "$pid" ] || unhealthy "no stageq-api or stageq-worker process found"
fi
[ -d "/proc/$pid" ] || unhealthy "process $pid is gone"

# opt NAME ENV DEFAULT: the daemon's --NAME flag (from its command line), else
# the environment variable, else the default: what the daemon itself uses.
opt() {
  local name=$1 val want="" a
  val=${!2:-$3}
  while IFS= read -r -d '' a; do
    if [ -n "$want" ]; then val=$a; want=""; continue; fi
    case $a in
      "--$name="*) val=${a#*=} ;;
      "--$name") want=1 ;;
    esac
  done <"/proc/$pid/cmdline"
  printf '%s' "$val"
}

case $role in
  api)
    listen=$(opt listen STAGEQ_LISTEN 127.0.0.1:8080)
    port=${listen##*:}
    host=${listen%:*}
    host=${host#[}; host=${host%]}
    case $host in '' | 0.0.0.0) host=127.0.0.1 ;; :: ) host=::1 ;; esac
    if [ "$port" = 0 ]; then # --listen host:0: the port is in the --port-file
      pf=$(opt port-file STAGEQ_PORT_FILE "")
      [ -n "$pf" ] && read -r port 2>/dev/null <"$pf" || unhealthy "listening on port 0 and no port file"
    fi
    { exec 3<>"/dev/tcp/$host/$port"; } 2>/dev/null || unhealthy "cannot connect to $host:$port"
    printf 'GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3
    IFS= read -r -t 3 line <&3 || unhealthy "no answer from $host:$port"
    line=${line%$'\r'}
    case $line in
      "HTTP/1."?" 200"*) echo "healthy: stageq-api (pid $pid) answers /healthz on $host:$port" ;;
      *) unhealthy "/healthz on $host:$port answered '$line'" ;;
    esac
    ;;
  worker)
    kids=""
    for d in /proc/[0-9]*; do
      p=${d#/proc/}
      [ "$(ppid_of "$p")" = "$pid" ] && [ "$(comm_of "$p")" = stageq-worker ] && kids="$kids $p"
    done
    [ -n "$kids" ] || unhealthy "stageq-worker $pid has no child process"
    url=$(opt redis-url STAGEQ_REDIS_URL redis://127.0.0.1:6379/0)
    prefix=$(opt prefix STAGEQ_PREFIX stageq)
    # resp ARG...: sends one command on fd 3, sets REPLY_LINE (first line) and
    # REPLY_VALUE (a bulk reply), or REPLY_ITEMS (an array of bulk strings).
    resp() {
      local a out n i item
      out="*$#"$'\r\n'
      for a in "$@"; do out+="\$${#a}"$'\r\n'"$a"$'\r\n'; done
      printf '%s' "$out" >&3
      IFS= read -r -t 3 REPLY_LINE <&3 || unhealthy "no answer from $host:$port"
      REPLY_LINE=${REPLY_LINE%$'\r'}
      REPLY_VALUE=""
      REPLY_ITEMS=()
      case $REPLY_LINE in
        '$-1' | '*-1') ;;
        '$'*) IFS= read -r -t 3 REPLY_VALUE <&3; REPLY_VALUE=${REPLY_VALUE%$'\r'} ;;
        '*'*)
          n=${REPLY_LINE#\*}
          for ((i = 0; i < n; i++)); do
            IFS= read -r -t 3 item <&3 && IFS= read -r -t 3 item <&3 || unhealthy "short reply from $host:$port"
            REPLY_ITEMS+=("${item%$'\r'}")
          done
          ;;
        '-MOVED '*) [ -n "${RESP_MOVED_OK:-}" ] || unhealthy "$host:$port answered '$REPLY_LINE' to $1" ;;
        '-'*) unhealthy "$host:$port answered '$REPLY_LINE' to $1" ;;
      esac
    }
    pct() { printf '%b' "${1//%/\\x}"; }
    # split_hostport TEXT DEFAULT_PORT: sets host and port ([v6]:port too).
    split_hostport() {
      case $1 in
        \[*\]:*) host=${1%%]*}; host=${host#[}; port=${1##*]:} ;;
        \[*\]) host=${1#[}; host=${host%]}; port=$2 ;;
        *:*) host=${1%:*}; port=${1##*:} ;;
        *) host=$1; port=$2 ;;
      esac
      [ -n "$host" ] || host=127.0.0.1
    }
    # auth USERINFO: AUTH on fd 3 with "[user]:password" (percent-decoded).
    auth() {
      local user=${1%%:*} pass=${1#*:}
      case $1 in *:*) ;; *) user=""; pass=$1 ;; esac
      if [ -n "$user" ]; then resp AUTH "$(pct "$user")" "$(pct "$pass")"; else resp AUTH "$(pct "$pass")"; fi
    }
    case $url in
      unix://*) echo "healthy: stageq-worker $pid has children:$kids (unix socket: lease not read)"; exit 0 ;;
      redis://* | redis-sentinel://* | redis-cluster://*) ;;
      *) unhealthy "cannot read Redis URL '$url'" ;;
    esac
    kind=${url%%://*}
    rest=${url#*://}
    master=""
    if [ "$kind" = redis-sentinel ]; then
      master=${rest#*#}
      rest=${rest%%#*}
      [ -n "$master" ] && [ "$master" != "$rest" ] || unhealthy "no #master name in the Redis URL"
    fi
    query=""
    case $rest in *\?*) query=${rest#*\?}; rest=${rest%%\?*} ;; esac
    userinfo=""
    case ${rest%%/*} in *@*) userinfo=${rest%%@*}; rest=${rest#*@} ;; esac
    hostport=${rest%%/*}
    db=0
    case $rest in */*) db=${rest#*/}; [ -n "$db" ] || db=0 ;; esac
    if [ "$kind" = redis-sentinel ]; then
      # The master as the first sentinel that knows it says (the Sentinel
      # client guidelines' first step; the workers do the rest themselves).
      s_user="" s_pass=""
      for kv in ${query//&/ }; do
        case $kv in
          sentinel_password=*) s_pass=${kv#*=} ;;
          sentinel_user=*) s_user=${kv#*=} ;;
        esac
      done
      found=""
      for s in ${hostport//,/ }; do
        split_hostport "$s" 26379
        { exec 3<>"/dev/tcp/$host/$port"; } 2>/dev/null || continue
        [ -z "$s_pass" ] || auth "$s_user:$s_pass"
        resp SENTINEL get-master-addr-by-name "$master"
        exec 3>&-
        if [ ${#REPLY_ITEMS[@]} = 2 ]; then found="${REPLY_ITEMS[0]}:${REPLY_ITEMS[1]}"; break; fi
      done
      [ -n "$found" ] || unhealthy "no sentinel of $hostport knows master '$master'"
      case $found in *:*:*) hostport="[${found%:*}]:${found##*:}" ;; *) hostport=$found ;; esac
    fi
    if [ "$kind" = redis-cluster ]; then
      # any seed that answers; the registry's slot may be on another master:
      # its MOVED is followed once below
      found=""
      for s in ${hostport//,/ }; do
        split_hostport "$s" 6379
        { exec 3<>"/dev/tcp/$host/$port"; } 2>/dev/null && { found=$s; break; }
      done
      [ -n "$found" ] || unhealthy "cannot connect to any seed of $hostport"
      hostport=$found
    fi
    split_hostport "$hostport" 6379
    { exec 3<>"/dev/tcp/$host/$port"; } 2>/dev/null || unhealthy "cannot connect to Redis at $host:$port"
    [ -z "$userinfo" ] || auth "$userinfo"
    [ "$db" = 0 ] || resp SELECT "$db"
    read -r host_name </proc/sys/kernel/hostname
    # the worker registry (docs/redis-keys.md): one slot, tag {w}
    wkey="$prefix:{w}:workers"
    if [ "$kind" = redis-cluster ]; then
      RESP_MOVED_OK=1 resp ZSCORE "$wkey" "$host_name:${kids%% *}"
      case $REPLY_LINE in
        '-MOVED '*)
          exec 3>&-
          split_hostport "${REPLY_LINE##* }" 6379
          { exec 3<>"/dev/tcp/$host/$port"; } 2>/dev/null || unhealthy "cannot connect to Redis at $host:$port"
          [ -z "$userinfo" ] || auth "$userinfo"
          ;;
      esac
    fi
    now=$(date +%s%3N)
    live=0
    for k in $kids; do
      resp ZSCORE "$wkey" "$host_name:$k"
      v=${REPLY_VALUE%%.*}
      [ -n "$v" ] && [ "$v" -gt "$now" ] 2>/dev/null && live=$((live + 1))
    done
    [ "$live" -gt 0 ] || unhealthy "no child of stageq-worker $pid ($kids ) holds a live lease in $wkey"
    echo "healthy: stageq-worker $pid: $live of $(echo $kids | wc -w) children hold a live lease"
    ;;
  *) unhealthy "unknown role '$role' (api or worker)" ;;
esac
