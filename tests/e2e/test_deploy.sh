#!/usr/bin/env bash
# test_deploy: the container deployment's contract, without a Docker engine.
# docker-compose.yml must pass `docker-compose config`; its services, images,
# ports, healthchecks, grace periods and STAGEQ_* names must match what the
# binaries read (their --help) and what deploy/Dockerfile builds; the
# Dockerfile's runtime packages must provide every shared library the binaries
# link (ldd + dpkg -S); the entrypoint and the healthcheck are run for real
# against a live API and worker pool.
source "$(dirname "$0")/lib.sh"
export STAGEQ_PREFIX=td
COMPOSE=docker-compose.yml
DOCKERFILE=deploy/Dockerfile

# --- docker-compose config ----------------------------------------------------------
if command -v docker-compose >/dev/null 2>&1; then
  out=$(docker-compose -f "$COMPOSE" config 2>&1)
  rc=$?
  [ $rc -eq 0 ] || printf '%s\n' "$out" | head -20 | sed 's/^/# /'
  check_eq "docker-compose config accepts $COMPOSE ($(docker-compose version --short 2>/dev/null))" 0 "$rc"
  check_eq "docker-compose config lists the services api, redis, worker" "api redis worker " \
    "$(printf '%s\n' "$out" | sed -n '/^services:/,/^[^ ]/p' | sed -n 's/^  \([a-z0-9_-]*\):$/\1/p' | sort | tr '\n' ' ')"
else
  not_ok "docker-compose is installed (deploy/install-deps.sh test installs it)"
fi

# cq PYTHON_EXPR: evaluates the expression over c (docker-compose.yml as parsed by
# PyYAML, anchors and << merges resolved), s (= c["services"]), env(name) (a
# service's environment as a dict, list or mapping form), dur("45s") (seconds)
# and pipelines (deploy/pipelines.json); prints the result (True/False for
# booleans, one line per list item). One python3 process answers them all (a
# coprocess: python's start-up is slow on a loaded machine).
coproc CQ { python3 -u -c '
import json, re, sys, yaml
c = yaml.safe_load(open(sys.argv[1]))
s = c.get("services", {})
pipelines = json.load(open(sys.argv[2]))["pipelines"]
def env(name):
    e = s[name].get("environment") or {}
    if isinstance(e, list):
        e = dict(x.split("=", 1) if "=" in x else (x, "") for x in e)
    return {k: ("" if v is None else str(v)) for k, v in e.items()}
def dur(t):
    if isinstance(t, (int, float)):
        return float(t)
    m = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?(?:(\d+)ms)?", str(t).strip())
    if not m or not any(m.groups()):
        return -1.0
    h, mi, se, ms = (int(g or 0) for g in m.groups())
    return h * 3600 + mi * 60 + se + ms / 1000
for line in sys.stdin:
    try:
        v = eval(line)
        if isinstance(v, (list, tuple, set)):
            v = "\n".join(str(x) for x in v)
        print(v)
    except Exception as e:
        print("ERROR: %s: %s" % (type(e).__name__, e))
    print("\x1e")
' "$COMPOSE" deploy/pipelines.json 2>&1; }
cq() {
  local line
  printf '%s\n' "$1" >&"${CQ[1]}"
  while IFS= read -r line <&"${CQ[0]}"; do
    [ "$line" = $'\x1e' ] && break
    printf '%s\n' "$line"
  done
}

# --- the compose file's contract ----------------------------------------------------
check_eq "compose: redis uses the official redis:7.0 image" "redis:7.0" "$(cq 's["redis"]["image"]')"
check "compose: redis mounts deploy/redis.conf and starts with it" \
  test "$(cq 'any(str(v).split(":")[0] in ("./deploy/redis.conf", "deploy/redis.conf") for v in s["redis"].get("volumes", [])) and any("redis.conf" in str(a) for a in s["redis"].get("command", []))')" = True
conf_aof=$(grep -cE '^appendonly yes' deploy/redis.conf)
check "compose: redis has AOF on (its command, else deploy/redis.conf)" \
  test "$(cq '(lambda cmd: cmd[cmd.index("--appendonly") + 1] == "yes" if "--appendonly" in cmd else '"$conf_aof"' > 0)(s["redis"].get("command", []))')" = True
check "compose: redis keeps /data on a named volume" \
  test "$(cq 'any(str(v).split(":")[1] == "/data" and str(v).split(":")[0] in (c.get("volumes") or {}) for v in s["redis"].get("volumes", []))')" = True
check "compose: redis listens beyond loopback inside the compose network" \
  test "$(cq '"--bind" in s["redis"]["command"] and s["redis"]["command"][s["redis"]["command"].index("--bind") + 1] != "127.0.0.1"')" = True
check "compose: redis publishes no port" test "$(cq '"ports" not in s["redis"]')" = True
check "compose: redis healthcheck is redis-cli ping" \
  test "$(cq '"redis-cli ping" in " ".join(s["redis"]["healthcheck"]["test"])')" = True

for svc in api worker; do
  check_eq "compose: $svc builds with context . and deploy/Dockerfile" ". deploy/Dockerfile" \
    "$(cq "s['$svc']['build']['context'] + ' ' + s['$svc']['build']['dockerfile']")"
  check "compose: $svc waits for a healthy redis" \
    test "$(cq "s['$svc']['depends_on']['redis']['condition']")" = service_healthy
  check "compose: $svc has a healthcheck (stageq-healthcheck $svc)" \
    test "$(cq "' '.join(s['$svc']['healthcheck']['test'][1:])")" = "stageq-healthcheck $svc"
  check_eq "compose: $svc runs the image's '$svc' command" True "$(cq "s['$svc']['command'] == ['$svc']")"
  url=$(cq "env('$svc').get('STAGEQ_REDIS_URL', '')")
  check "compose: $svc reaches Redis by its service name ($url)" \
    test "${url#redis://redis:6379/}" != "$url"
done
check "compose: api and worker run the same image" \
  test "$(cq 's["api"]["image"] == s["worker"]["image"] and bool(s["api"]["image"])')" = True

# Every STAGEQ_* name the compose file sets must be read by a binary (its --help
# lists its options table) or by a stage program of deploy/pipelines.json.
known=$( { sq_run stageq-api --help; sq_run stageq-worker --help; sq_run stageq --help; } |
  grep -oE '\bSTAGEQ_[A-Z0-9_]+' | sort -u)
# the files the exec stages run: the script after an interpreter, else argv[0]
stage_files=$(cq 'sorted({(e[1] if e[0] in ("sh", "bash", "python3") else e[0]) for p in pipelines.values() for e in (st.get("exec") for st in p["stages"]) if e})')
stage_known=$(cat $stage_files 2>/dev/null | grep -oE '\bSTAGEQ_[A-Z0-9_]+' | sort -u)
used=$(cq 'sorted({k for n in s for k in env(n) if k.startswith("STAGEQ_")})')
unknown=$(comm -23 <(echo "$used") <(printf '%s\n%s\n' "$known" "$stage_known" | sort -u) | tr '\n' ' ')
echo "# compose sets: $(echo $used)"
check_eq "compose: every STAGEQ_* name it sets is read by a binary or a stage program" "" "$unknown"
check "compose: the binaries' --help lists the names (sanity: STAGEQ_REDIS_URL, STAGEQ_GRACE_S)" \
  test -n "$(echo "$known" | grep -x STAGEQ_REDIS_URL)" -a -n "$(echo "$known" | grep -x STAGEQ_GRACE_S)"
check "compose: STAGEQ_EXAMPLE_DIR (stage programs only) is what the examples read" \
  test -n "$(echo "$stage_known" | grep -x STAGEQ_EXAMPLE_DIR)"

listen=$(cq 'env("api").get("STAGEQ_LISTEN", "")')
check_eq "compose: the api listens on 0.0.0.0 inside its container" "0.0.0.0" "${listen%:*}"
check_eq "compose: the api's port 8080 is published to its listen port" "8080:${listen##*:}" \
  "$(cq '[p for p in s["api"].get("ports", []) if str(p).startswith("8080:")]')"
check_eq "compose: worker has no container_name (scalable)" False "$(cq '"container_name" in s["worker"]')"
check_eq "compose: worker publishes no port (scalable)" False "$(cq '"ports" in s["worker"]')"
check_eq "compose: worker sets no hostname (each container's own makes worker ids unique)" False \
  "$(cq '"hostname" in s["worker"]')"

# Grace: the supervisor SIGKILLs its children STAGEQ_GRACE_S + STAGEQ_KILL_GRACE_MS
# + SUP_KILL_MARGIN_MS after SIGTERM (a stage stopped at the end of the grace
# gets its kill grace, then the child hands the job back); Docker must wait
# longer than that before its own SIGKILL.
margin_ms=$(sed -n 's/^#define SUP_KILL_MARGIN_MS *\([0-9]*\).*/\1/p' worker/supervisor.c)
check "the supervisor's kill margin is found in worker/supervisor.c ($margin_ms ms)" test -n "$margin_ms"
def_grace=$(sq_run stageq-worker --help | awk '$2 == "STAGEQ_GRACE_S" { print $3 }')
def_kg=$(sq_run stageq-worker --help | awk '$2 == "STAGEQ_KILL_GRACE_MS" { print $3 }')
grace=$(cq 'env("worker").get("STAGEQ_GRACE_S", "")')
check "compose: worker sets STAGEQ_GRACE_S explicitly (default $def_grace)" test -n "$grace"
kg=$(cq "env(\"worker\").get(\"STAGEQ_KILL_GRACE_MS\", \"${def_kg:-5000}\")")
stop=$(cq 'dur(s["worker"].get("stop_grace_period", "10s"))')
echo "# worker grace ${grace:-$def_grace} s + kill grace $kg ms + supervisor margin $((margin_ms / 1000)) s; stop_grace_period $stop s"
check_eq "compose: worker stop_grace_period > STAGEQ_GRACE_S + STAGEQ_KILL_GRACE_MS + the supervisor's margin" True \
  "$(cq "$stop > ${grace:-$def_grace} + (${kg:-5000} + ${margin_ms:-5000}) / 1000")"
check_eq "compose: api stop_grace_period covers its drain (Redis timeout + 1 s)" True \
  "$(cq 'dur(s["api"].get("stop_grace_period", "10s")) >= 3')"
check "compose: the work volume of the example stages is shared by every worker" \
  test "$(cq 'any(str(v).split(":")[0] in (c.get("volumes") or {}) and str(v).split(":")[1] == env("worker").get("STAGEQ_EXAMPLE_DIR") for v in s["worker"].get("volumes", []))')" = True

# --- the HA variant: docker-compose.ha.yml on top of the base file -------------------
# Checked on what `docker-compose config` makes of the two files together; the
# contract of the base file above still holds for its services.
# overlay_config FILE OUT: `docker-compose config` of the base file plus FILE
# into OUT, checked to pass; sets SERVICES to the names of its services, sorted.
overlay_config() {
  local rc
  docker-compose -f "$COMPOSE" -f "$1" config >"$2" 2>"$2.err"
  rc=$?
  [ $rc -eq 0 ] || head -20 "$2.err" | sed 's/^/# /'
  check_eq "docker-compose config accepts $COMPOSE + $1" 0 "$rc"
  SERVICES=$(sed -n '/^services:/,/^[^ ]/p' "$2" | sed -n 's/^  \([a-z0-9_-]*\):$/\1/p' | sort | tr '\n' ' ')
}
ha_cfg="$STAGEQ_TEST_TMP/compose-ha.yml"
overlay_config docker-compose.ha.yml "$ha_cfg"
check_eq "HA: the services are a master, 2 replicas, 3 sentinels, api and worker" \
  "api redis redis-replica-1 redis-replica-2 sentinel-1 sentinel-2 sentinel-3 worker " "$SERVICES"
monitor=$(awk '$1 == "sentinel" && $2 == "monitor" { print $3, $4, $5, $6 }' deploy/sentinel.conf)
echo "# deploy/sentinel.conf monitors: $monitor"
# One python3 process: "True|name" or "False|name" per check (the merged
# config as PyYAML reads it; m = the master name deploy/sentinel.conf monitors).
while IFS='|' read -r res name; do
  check_eq "HA: $name" True "$res"
done < <(python3 - "$ha_cfg" $monitor 2>&1 <<'PY'
import sys, yaml
c = yaml.safe_load(open(sys.argv[1]))
m, mhost, mport, quorum = sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
s = c["services"]
vols = c.get("volumes") or {}
def vol_of(svc, target):
    for v in s[svc].get("volumes", []):
        v = v if isinstance(v, str) else "%s:%s" % (v.get("source"), v.get("target"))
        src, dst = v.split(":")[0], v.split(":")[1]
        if dst == target:
            return src
    return None
def mounts(svc, name):
    return any(name in (v if isinstance(v, str) else str(v.get("source"))) for v in s[svc].get("volumes", []))
checks = []
def check(name, ok):
    checks.append((bool(ok), name))
check("the monitored master is the redis service (%s %s)" % (mhost, mport), mhost == "redis" and mport == "6379")
sentinels = sorted(n for n in s if n.startswith("sentinel-"))
check("quorum %d of %d sentinels is a majority" % (quorum, len(sentinels)), len(sentinels) // 2 < quorum <= len(sentinels))
datavols = []
for r in ("redis-replica-1", "redis-replica-2"):
    cmd = [str(a) for a in s[r].get("command", [])]
    check("%s runs redis:7.0 with deploy/redis.conf and AOF" % r,
          s[r].get("image") == "redis:7.0" and mounts(r, "deploy/redis.conf") and
          "--appendonly" in cmd and cmd[cmd.index("--appendonly") + 1] == "yes")
    check("%s is a replica of redis:6379" % r,
          "--replicaof" in cmd and cmd[cmd.index("--replicaof") + 1:cmd.index("--replicaof") + 3] == ["redis", "6379"])
    datavols.append(vol_of(r, "/data"))
for n in sentinels:
    cmd = " ".join(str(a) for a in s[n].get("command", []))
    check("%s runs redis:7.0 --sentinel from deploy/sentinel.conf copied into its volume" % n,
          s[n].get("image") == "redis:7.0" and "--sentinel" in cmd and mounts(n, "deploy/sentinel.conf") and
          "/data/sentinel.conf" in cmd)
    check("%s has a healthcheck asking for master %s" % (n, m),
          ("get-master-addr-by-name %s" % m) in " ".join(s[n].get("healthcheck", {}).get("test", [])))
    datavols.append(vol_of(n, "/data"))
datavols.append(vol_of("redis", "/data"))
check("every data node and sentinel keeps /data on a named volume of its own",
      None not in datavols and len(set(datavols)) == len(datavols) and all(v in vols for v in datavols))
check("no replica or sentinel publishes a port", all("ports" not in s[n] for n in sentinels + ["redis-replica-1", "redis-replica-2"]))
want = "redis-sentinel://" + ",".join("%s:26379" % n for n in sentinels)
for svc in ("api", "worker"):
    url = str((s[svc].get("environment") or {}).get("STAGEQ_REDIS_URL", ""))
    check("%s uses %s/...#%s (%s)" % (svc, want, m, url),
          url.startswith(want + "/") and url.endswith("#" + m))
    check("%s waits for healthy sentinels" % svc,
          all((s[svc].get("depends_on") or {}).get(n, {}).get("condition") == "service_healthy" for n in sentinels))
    check("%s sets STAGEQ_MIN_REPLICAS to 1 or more" % svc,
          int(str((s[svc].get("environment") or {}).get("STAGEQ_MIN_REPLICAS", "0")) or 0) >= 1)
print("\n".join("%s|%s" % c for c in checks))
ha_env = sorted({k for n in ("api", "worker") for k in (s[n].get("environment") or {}) if k.startswith("STAGEQ_")})
open(sys.argv[1] + ".env", "w").write("\n".join(ha_env) + "\n")
PY
)
check_eq "HA: every STAGEQ_* name it sets is read by a binary" "" \
  "$(comm -23 <(sort -u "$ha_cfg.env") <(printf '%s\n%s\n' "$known" "$stage_known" | sort -u) | tr '\n' ' ')"

# --- the Cluster variant: docker-compose.cluster.yml on top of the base file ---------
# Checked on what `docker-compose config` makes of the two files together.
cl_cfg="$STAGEQ_TEST_TMP/compose-cluster.yml"
overlay_config docker-compose.cluster.yml "$cl_cfg"
check_eq "cluster: the services are 6 nodes, the one-shot create, api and worker" \
  "api redis redis-cluster-create redis-node-2 redis-node-3 redis-node-4 redis-node-5 redis-node-6 worker " "$SERVICES"
# One python3 process: "True|name" or "False|name" per check (the merged config).
while IFS='|' read -r res name; do
  check_eq "cluster: $name" True "$res"
done < <(python3 - "$cl_cfg" 2>&1 <<'PY'
import sys, yaml
c = yaml.safe_load(open(sys.argv[1]))
s = c["services"]
checks = []
def check(name, ok):
    checks.append((bool(ok), name))
nodes = ["redis"] + ["redis-node-%d" % i for i in range(2, 7)]
def arg(cmd, flag):
    return cmd[cmd.index(flag) + 1] if flag in cmd else None
datavols = []
for n in nodes:
    cmd = [str(a) for a in s[n].get("command", [])]
    vols = [v if isinstance(v, str) else "%s:%s" % (v.get("source"), v.get("target")) for v in s[n].get("volumes", [])]
    check("%s runs redis:7.0 with deploy/redis.conf, AOF and cluster-enabled" % n,
          s[n].get("image") == "redis:7.0" and any("deploy/redis.conf" in v for v in vols) and
          arg(cmd, "--appendonly") == "yes" and arg(cmd, "--cluster-enabled") == "yes")
    check("%s has a healthcheck and publishes no port" % n, "healthcheck" in s[n] and "ports" not in s[n])
    datavols += [v.split(":")[0] for v in vols if v.split(":")[1] == "/data"]
check("every node keeps /data (AOF, nodes.conf) on a named volume of its own",
      len(datavols) == len(nodes) and len(set(datavols)) == len(nodes) and
      all(v in (c.get("volumes") or {}) for v in datavols))
cr = s["redis-cluster-create"]
script = " ".join(str(a) for a in cr.get("command", []))
check("redis-cluster-create runs once (restart no) after every node is healthy",
      str(cr.get("restart")) == "no" and
      all((cr.get("depends_on") or {}).get(n, {}).get("condition") == "service_healthy" for n in nodes))
check("redis-cluster-create joins all 6 nodes with --cluster create --cluster-replicas 1",
      "--cluster create" in script and "--cluster-replicas 1" in script and all(n in script for n in nodes))
check("redis-cluster-create does nothing when the cluster is already ok", "cluster_state:ok" in script)
for svc in ("api", "worker"):
    env = s[svc].get("environment") or {}
    url = str(env.get("STAGEQ_REDIS_URL", ""))
    hosts = url[len("redis-cluster://"):].split("/")[0].split(",") if url.startswith("redis-cluster://") else []
    check("%s uses a redis-cluster:// URL of cluster nodes (%s)" % (svc, url),
          hosts and all(h.rsplit(":", 1)[0] in nodes and h.rsplit(":", 1)[1] == "6379" for h in hosts))
    check("%s waits until redis-cluster-create has completed" % svc,
          (s[svc].get("depends_on") or {}).get("redis-cluster-create", {}).get("condition") ==
          "service_completed_successfully")
    check("%s sets STAGEQ_MIN_REPLICAS to 1 or more" % svc, int(str(env.get("STAGEQ_MIN_REPLICAS", "0")) or 0) >= 1)
print("\n".join("%s|%s" % c for c in checks))
cl_env = sorted({k for n in ("api", "worker") for k in (s[n].get("environment") or {}) if k.startswith("STAGEQ_")})
open(sys.argv[1] + ".env", "w").write("\n".join(cl_env) + "\n")
PY
)
check_eq "cluster: every STAGEQ_* name it sets is read by a binary" "" \
  "$(comm -23 <(sort -u "$cl_cfg.env") <(printf '%s\n%s\n' "$known" "$stage_known" | sort -u) | tr '\n' ' ')"

# --- the Dockerfile -----------------------------------------------------------------
df() { grep -vE '^\s*#' "$DOCKERFILE"; }
check "Dockerfile: a build stage FROM debian:bookworm" \
  test -n "$(df | grep -E '^FROM debian:bookworm( |$)' | grep -i ' AS ')"
check "Dockerfile: the build stage runs make" test -n "$(df | grep -E '^\s*(RUN\s+)?make\b|\bmake -j')"
last_from=$(df | grep -E '^FROM ' | tail -1)
check_eq "Dockerfile: the final stage is FROM debian:bookworm-slim" "debian:bookworm-slim" \
  "$(echo "$last_from" | awk '{ print $2 }')"
user=$(df | grep -E '^USER ' | tail -1 | awk '{ print $2 }')
check "Dockerfile: USER is not root ($user)" test -n "$user" -a "${user%%:*}" != root -a "${user%%:*}" != 0
check "Dockerfile: HEALTHCHECK" test -n "$(df | grep -E '^HEALTHCHECK ' | grep -v 'NONE')"
check "Dockerfile: STOPSIGNAL SIGTERM" test -n "$(df | grep -E '^STOPSIGNAL SIGTERM$')"
check "Dockerfile: ENTRYPOINT stageq-entrypoint" test -n "$(df | grep -E '^ENTRYPOINT \["stageq-entrypoint"\]')"
check "Dockerfile: the image ships the three binaries" \
  test -n "$(df | grep -E 'build/stageq-api' | grep 'build/stageq-worker' | grep -E 'build/stageq( |$)')"
check "Dockerfile: the image ships deploy/pipelines.json" test -n "$(df | grep -E '^COPY .*deploy/pipelines.json')"
# Each program deploy/pipelines.json runs is copied and kept by .dockerignore.
missing=""
for f in $stage_files; do
  d=${f%%/*}
  df | grep -qE "^COPY ($d/|$f)" || missing="$missing $f"
  grep -qxE "/?$d/?|/?$f" .dockerignore && missing="$missing $f(.dockerignore)"
done
check_eq "Dockerfile: every stage program of deploy/pipelines.json is in the image" "" "$missing"
check "Dockerfile: exec stages find their interpreters (python3 installed)" \
  test -n "$(df | sed -n '/^FROM debian:bookworm-slim/,$p' | grep -wE 'python3')"
check ".dockerignore keeps local build trees out of the context" \
  test -n "$(grep -xE '/?build/?' .dockerignore)" -a -n "$(grep -xE '/?\.git/?' .dockerignore)"
for f in shared api worker cli Makefile deploy examples; do
  grep -qxE "/?$f/?" .dockerignore && not_ok ".dockerignore must not exclude $f"
done

# Runtime packages: those the last stage installs, plus libc6 (in every Debian
# image), must own every shared library the binaries link.
runtime_pkgs=$(df | sed -n '/^FROM debian:bookworm-slim/,$p' | sed -e ':a' -e '/\\$/N; s/\\\n//; ta' |
  grep -E 'apt-get install' | sed -e 's/.*apt-get install//' -e 's/&&.*//' | tr ' ' '\n' |
  grep -E '^[A-Za-z0-9][A-Za-z0-9.+-]+$' | sort -u)
echo "# runtime packages: $(echo $runtime_pkgs)"
lib_pkgs=""
unowned=""
for lib in $(ldd "$BUILD/stageq-api" "$BUILD/stageq-worker" "$BUILD/stageq" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// && $1 !~ /:$/ { print $1 }' | sort -u); do
  owner=$(dpkg -S "$lib" 2>/dev/null || dpkg -S "$(readlink -f "$lib")" 2>/dev/null ||
          dpkg -S "/usr$lib" 2>/dev/null || dpkg -S "/usr$(readlink -f "$lib")" 2>/dev/null)
  pkg=$(echo "$owner" | head -1 | cut -d: -f1)
  [ -n "$pkg" ] || { unowned="$unowned $lib"; continue; }
  echo "# $lib <- $pkg"
  lib_pkgs="$lib_pkgs $pkg"
done
check_eq "every linked library has a Debian package (dpkg -S)" "" "$unowned"
# A sanitizer build (make test-asan) links the ASan/UBSan runtimes and what
# they need; the image is built without them.
skip="libc6"
if echo "$lib_pkgs" | grep -qwE 'libasan[0-9]*|libubsan[0-9]*'; then
  echo "# $BUILD is a sanitizer build: its runtimes (libasan, libubsan, libstdc++6, libgcc-s1) are not the image's"
  skip="$skip $(echo $lib_pkgs | tr ' ' '\n' | grep -E '^(libasan[0-9]*|libubsan[0-9]*|libstdc\+\+6|libgcc-s1)$' | tr '\n' ' ')"
fi
absent=""
for p in $(echo $lib_pkgs | tr ' ' '\n' | sort -u); do
  [[ " $skip " == *" $p "* ]] && continue
  echo "$runtime_pkgs" | grep -qx "$p" || absent="$absent $p"
done
check_eq "Dockerfile: the runtime stage installs the package of every linked library" "" "$absent"
# apt-cache policy: one "pkg:" line per name, with "Candidate: (none)" when
# no Debian 12 source has it (and no line at all for an unknown name).
known_pkgs=$(apt-cache policy $runtime_pkgs 2>/dev/null |
  awk '/^[^ ].*:$/ { p = substr($1, 1, length($1) - 1) } /Candidate:/ && $2 != "(none)" { print p }')
check_eq "Dockerfile: every runtime package exists in Debian 12 (apt-cache policy)" "" \
  "$(comm -23 <(echo "$runtime_pkgs") <(echo "$known_pkgs" | sort -u) | tr '\n' ' ')"
check "Dockerfile: no -dev package in the runtime stage" test -z "$(echo "$runtime_pkgs" | grep -- '-dev$')"

# --- the entrypoint and the healthcheck, run for real -------------------------------
bin="$STAGEQ_TEST_TMP/deploy-bin"
mkdir -p "$bin"
for b in stageq-api stageq-worker stageq; do ln -sf "$(cd "$BUILD" && pwd)/$b" "$bin/$b"; done
ln -sf "$PWD/deploy/healthcheck.sh" "$bin/stageq-healthcheck"
ep() { PATH="$bin:$PATH" sh deploy/docker-entrypoint.sh "$@"; }
check "entrypoint: 'api --help' runs stageq-api" test -n "$(ep api --help | grep '^usage: stageq-api')"
check "entrypoint: 'worker --help' runs stageq-worker" test -n "$(ep worker --help | grep '^usage: stageq-worker')"
check "entrypoint: 'stageq --help' runs the CLI" test -n "$(ep stageq --help 2>&1 | grep -i 'stageq')"
check "entrypoint: no argument runs the api (the image's CMD)" \
  test "$(grep -E '^CMD ' "$DOCKERFILE")" = 'CMD ["api"]'
check_eq "entrypoint: anything else runs as given" "hello" "$(ep echo hello)"
check "entrypoint: a bad flag exits 2 (the daemon's usage code)" \
  bash -c "PATH='$bin:$PATH' sh deploy/docker-entrypoint.sh worker --nope 2>/dev/null; test \$? = 2"

redis_url="redis://127.0.0.1:$REDIS_PORT/0"
apiport=$(free_port)
STAGEQ_LISTEN=0.0.0.0:$apiport start_api api-hc --listen "0.0.0.0:$apiport"
HC_API=$API_PID
start_worker worker-hc --concurrency 2 --lease 2 --prefix td
HC_W=$WORKER_PID
# hc_url URL ROLE [PID]: the healthcheck with STAGEQ_REDIS_URL=URL; hc: with the suites' Redis.
hc_url() { local u=$1; shift; PATH="$bin:$PATH" STAGEQ_REDIS_URL="$u" "$bin/stageq-healthcheck" "$@" >>"$STAGEQ_TEST_TMP/hc.out" 2>&1; }
hc() { hc_url "$redis_url" "$@"; }
check "healthcheck api: healthy (GET /healthz on 127.0.0.1 for --listen 0.0.0.0)" wait_for 10 hc api "$HC_API"
check "healthcheck worker: healthy once the children hold leases" wait_for 10 hc worker "$HC_W"
kids=$(pgrep -P "$HC_W" | tr '\n' ' ')
kill -STOP $kids
not_hc() { ! hc "$@"; }
check "healthcheck worker: unhealthy when no child renews its lease (frozen)" wait_for 10 not_hc worker "$HC_W"
kill -CONT $kids
check "healthcheck worker: healthy again when they renew" wait_for 10 hc worker "$HC_W"
stop_pid "$HC_API" 10
check "healthcheck api: unhealthy when the api is gone" not_hc api "$HC_API"
sed 's/^/# /' "$STAGEQ_TEST_TMP/hc.out"
stop_pid "$HC_W" 10
flush_prefix td

# --- the HA variant, run: deploy/sentinel.conf and the worker healthcheck ----------
# A sentinel started from a copy of deploy/sentinel.conf (its port free, the
# master's host and port those of the suites' Redis) knows the master; a worker
# pool given only that redis-sentinel:// URL holds its leases there, and the
# healthcheck finds them through the sentinel.
sdir="$STAGEQ_TEST_TMP/redis-ha-sentinel"
mkdir -p "$sdir"
sport=$(free_port)
sed -e "s/^port .*/port $sport/" -e "s/^\(sentinel monitor [^ ]*\) redis 6379 /\1 127.0.0.1 $REDIS_PORT /" \
  deploy/sentinel.conf >"$sdir/sentinel.conf"
printf 'bind 127.0.0.1\ndaemonize yes\npidfile %s/redis.pid\nlogfile %s/redis.log\ndir %s\n' \
  "$sdir" "$sdir" "$sdir" >>"$sdir/sentinel.conf"
redis-server "$sdir/sentinel.conf" --sentinel >/dev/null
SQ_REDIS_NAMES="$SQ_REDIS_NAMES ha-sentinel"
mname=${monitor%% *}
ha_knows() { [ "$(redis-cli -p "$sport" SENTINEL get-master-addr-by-name "$mname" 2>/dev/null | sed -n 2p)" = "$REDIS_PORT" ]; }
check "HA: a sentinel started from deploy/sentinel.conf knows master '$mname'" wait_for 10 ha_knows
ha_url="redis-sentinel://127.0.0.1:$sport/0#$mname"
(export STAGEQ_REDIS_URL="$ha_url" && exec "${SQ_WRAP[@]}" "$BUILD/stageq-worker" --concurrency 1 --lease 2 \
  --prefix tdha) >>"$STAGEQ_TEST_TMP/worker-hc-ha.log" 2>&1 &
HA_W=$!
SQ_PIDS="$SQ_PIDS $HA_W"
not_hc_url() { ! hc_url "$@"; }
: >"$STAGEQ_TEST_TMP/hc.out"
check "HA: healthcheck worker: healthy, its lease found on the master its sentinel names" \
  poll 20 hc_url "$ha_url" worker "$HA_W"
check "HA: healthcheck worker: unhealthy when no sentinel knows the master" \
  not_hc_url "${ha_url%#*}#nope" worker "$HA_W"
sed 's/^/# /' "$STAGEQ_TEST_TMP/hc.out"
stop_pid "$HA_W" 10
redis_stop ha-sentinel
flush_prefix tdha

# --- the image's layout runs the default pipelines ----------------------------------
# The runtime stage's COPY lines (not --from) rebuilt under a temp WORKDIR; the
# API and a worker started there with no STAGEQ_PIPELINES find
# deploy/pipelines.json and its stage programs, and run a small train job with
# STAGEQ_EXAMPLE_DIR as compose sets it.
root="$STAGEQ_TEST_TMP/image-workdir"
mkdir -p "$root"
df | sed -n '/^FROM debian:bookworm-slim/,$p' | grep -E '^COPY ' | grep -v -- '--from' |
  while read -r _ src dst; do
    if [ -d "$src" ]; then
      mkdir -p "$root/$dst" && cp -R "$src/." "$root/$dst/"
    else
      case $dst in */) mkdir -p "$root/$dst" && cp "$src" "$root/$dst" ;;
        *) mkdir -p "$root/$(dirname "$dst")" && cp "$src" "$root/$dst" ;; esac
    fi
  done
check "image layout: WORKDIR holds deploy/pipelines.json" test -f "$root/deploy/pipelines.json"
absbuild=$(cd "$BUILD" && pwd)
pf="$STAGEQ_TEST_TMP/img-api.port"
(cd "$root" && unset STAGEQ_PIPELINES && exec "${SQ_WRAP[@]}" "$absbuild/stageq-api" --listen 127.0.0.1:0 \
  --port-file "$pf" --redis-url "$redis_url" --prefix tdimg) >>"$STAGEQ_TEST_TMP/img-api.log" 2>&1 &
IMG_API=$!
SQ_PIDS="$SQ_PIDS $IMG_API"
(cd "$root" && unset STAGEQ_PIPELINES && STAGEQ_EXAMPLE_DIR="$STAGEQ_TEST_TMP/example-work" \
  exec "${SQ_WRAP[@]}" "$absbuild/stageq-worker" --concurrency 1 --redis-url "$redis_url" --prefix tdimg) \
  >>"$STAGEQ_TEST_TMP/img-worker.log" 2>&1 &
IMG_W=$!
SQ_PIDS="$SQ_PIDS $IMG_W"
wait_for $((10 * SQ_SLOW)) test -s "$pf"
API_URL="http://127.0.0.1:$(cat "$pf" 2>/dev/null)"
check "image layout: the worker loads deploy/pipelines.json from its WORKDIR" \
  wait_for 10 grep -q 'pipeline(s) from deploy/pipelines.json' "$STAGEQ_TEST_TMP/img-worker.log"
post_json /v1/jobs '{"pipeline":"train","input":{"rows":2000,"train":{"epochs":3}}}'
check_eq "image layout: the API accepts a job of the default pipeline 'train'" 202 "$HTTP_STATUS"
img_job=$(jqr .id)
img_done() { http GET "/v1/jobs/$img_job"; [ "$(jqr .state)" != queued ] && [ "$(jqr .state)" != running ]; }
wait_for 120 img_done
check_eq "image layout: the train job succeeds (4 exec stages: python3, sh)" succeeded "$(jqr .state)"
[ "$(jqr .state)" = succeeded ] || echo "# $(jqr -c .error)"
art=$(jqr .result.artifact)
check "image layout: its model is in STAGEQ_EXAMPLE_DIR" test "${art#"$STAGEQ_TEST_TMP/example-work/"}" != "$art" -a -f "$art"
stop_pid "$IMG_W" 20
stop_pid "$IMG_API" 10
flush_prefix tdimg

# --- docs and deps ------------------------------------------------------------------
check "README: a 'Deploy with compose' section with the scale-out command" \
  test -n "$(sed -n '/^## Deploy with compose/,/^## /p' README.md | grep -- '--scale worker=')"
check "install-deps.sh test installs docker-compose" \
  test -n "$(grep -E '^\s*test\)' deploy/install-deps.sh | grep -w docker-compose)"

exec {CQ[1]}>&- # python3 sees EOF and exits
finish
