#!/usr/bin/env bash
# test_partitions_api: the API side of a partitioned queue ("queues": {"pq":
# {"partitions": 6}}), no worker running. Submitted jobs land on the
# partition lists their ids hash to; every route that takes an id (GET,
# cancel, SSE, ?wait, the blog's routes) finds a job in any partition, client
# ids too; GET /v1/jobs merges the partitions' recent indexes newest first
# with exact paging (ties across partitions included); /v1/stats and /metrics
# sum the partitions as redis-cli reads them; a job of an undeclared queue
# lives in slot 8192 ({8209}). With STAGEQ_TEST_TOPOLOGY=cluster the same runs
# against a real 3+3 Redis Cluster (tests/e2e/cluster.sh).
source "$(dirname "$0")/lib.sh"
export STAGEQ_PREFIX=tp
PARTS=6

if [ "${STAGEQ_TEST_TOPOLOGY:-single}" = cluster ] && [ -z "${SQ_REDIS_URL:-}" ]; then
  # a test library without the topology parameter: start the cluster here
  source "$(dirname "$0")/cluster.sh"
  cl_start c
  REDIS_PORT=$CL_PORT
  SQ_REDIS_URL=$CL_URL
  rcli() { redis-cli -c -p "$REDIS_PORT" "$@"; }
else
  flush_prefix tp
fi
URL=${SQ_REDIS_URL:-redis://127.0.0.1:$REDIS_PORT/0}

# the layout of keys.h recomputed independently (partition.py: FNV-1a of the
# id modulo P, slot ((2j+1)*16384)/(2P), the smallest number of that slot)
declare -A TAG
remember_tags() { # ID...: fills TAG[ID] with the tag of each in pq (one python run)
  local id t _p
  while read -r id t _p; do TAG[$id]=$t; done < <(python3 tests/e2e/partition.py tags $PARTS "$@")
}
tag_of() { echo "${TAG[$1]}"; } # ID: its tag in pq, once remembered

# the six partitions' tags, partition j at slot ((2j+1)*16384)/12
part_tags=()
for j in $(seq 0 $((PARTS - 1))); do part_tags+=("$(python3 tests/e2e/partition.py ptag "$j" $PARTS)"); done
check_eq "six distinct partition tags" 6 "$(printf '%s\n' "${part_tags[@]}" | sort -u | wc -l)"

cat >"$STAGEQ_TEST_TMP/pq.json" <<'EOF'
{"queues": {"pq": {"partitions": 6}},
 "pipelines": {
   "pp": {"queue": "pq", "stages": [{"name": "e", "builtin": "echo"}]}
 }}
EOF
start_api api --redis-url "$URL" --pipelines "$STAGEQ_TEST_TMP/pq.json" --default-pipeline pp

# --- submit: 24 client ids and 12 generated ones into pq, 3 echo jobs --------
ids=()
for i in $(seq 1 24); do
  post_json /v1/jobs "{\"pipeline\":\"pp\",\"id\":\"c-$i\",\"input\":{\"n\":$i}}"
  [ "$HTTP_STATUS" = 202 ] || not_ok "submit c-$i answered $HTTP_STATUS: $HTTP_BODY"
  ids+=("c-$i")
done
for i in $(seq 1 12); do
  post_json /v1/jobs "{\"pipeline\":\"pp\",\"input\":{\"g\":$i}}"
  [ "$HTTP_STATUS" = 202 ] || not_ok "submit g$i answered $HTTP_STATUS: $HTTP_BODY"
  ids+=("$(jqr .id)")
done
check_eq "the last generated submit answers 202" 202 "$HTTP_STATUS"
echo_ids=()
for i in 1 2 3; do
  post_json /v1/jobs "{\"pipeline\":\"echo\",\"id\":\"e-$i\",\"input\":{}}"
  echo_ids+=("e-$i")
done
check_eq "an echo job answers 202" 202 "$HTTP_STATUS"

# each job's hash is in its id's partition, and its id on that partition's list
remember_tags "${ids[@]}" blog-1 w-1
declare -A want_len
misplaced=0
for id in "${ids[@]}"; do
  t=$(tag_of "$id")
  want_len[$t]=$((${want_len[$t]:-0} + 1))
  [ "$(rcli EXISTS "tp:$t:job:$id")" = 1 ] || { misplaced=$((misplaced + 1)); echo "# $id not in $t"; }
  [ -n "$(rcli LPOS "tp:$t:queue:pq" "$id")" ] || { misplaced=$((misplaced + 1)); echo "# $id not on $t's list"; }
done
check_eq "every job's hash and list entry are in its id's partition" 0 "$misplaced"
lens=""
wants=""
total=0
for t in "${part_tags[@]}"; do
  lens="$lens $(rcli LLEN "tp:$t:queue:pq")"
  wants="$wants ${want_len[$t]:-0}"
  total=$((total + $(rcli LLEN "tp:$t:queue:pq")))
done
check_eq "the six partition lists hold what the ids hash to" "$wants" "$lens"
check_eq "the six lists hold every pq job" 36 "$total"
check "at least four partitions got jobs" test "$(printf '%s\n' $lens | grep -vc '^0$')" -ge 4
check_eq "a job of an undeclared queue lives in slot 8192" 1 "$(rcli EXISTS 'tp:{8209}:job:e-1')"
check_eq "its queue list too" 3 "$(rcli LLEN 'tp:{8209}:queue:default')"
check_eq "nothing of pq in the default partition" 0 "$(rcli LLEN 'tp:{8209}:queue:pq')"

# --- find a job from its id: GET, the blog's status ---------------------------
found=0
for id in "${ids[@]}" "${echo_ids[@]}"; do
  http GET "/v1/jobs/$id"
  [ "$HTTP_STATUS" = 200 ] && [ "$(jqr .id)" = "$id" ] && found=$((found + 1))
done
check_eq "GET /v1/jobs/{id} finds the job in every partition" 39 "$found"
found=0
for id in c-1 c-2 c-3 c-4 c-5 c-6 "${ids[30]}"; do
  http GET "/task_status/$id"
  [ "$HTTP_STATUS" = 200 ] && [ "$(jqr .task_id)" = "$id" ] && found=$((found + 1))
done
check_eq "GET /task_status/{id} finds them too" 7 "$found"
http GET /v1/jobs/nope-1
check_eq "an id in no partition is 404" 404 "$HTTP_STATUS"
post_json /start_task/blog-1 '{"data":{"x":1}}'
check_eq "POST /start_task/{id} answers 200" 200 "$HTTP_STATUS"
check_eq "its job is in its id's partition" 1 "$(rcli EXISTS "tp:$(tag_of blog-1):job:blog-1")"
ids+=("blog-1")
post_json /v1/jobs '{"pipeline":"pp","id":"c-3","input":{"n":3}}'
check_eq "the same request again (a retry) is accepted" "202 queued" "$HTTP_STATUS $(jqr .state)"
post_json /v1/jobs '{"pipeline":"pp","id":"c-3","input":{"n":4}}'
check_eq "another job with that id is refused" 409 "$HTTP_STATUS"

# --- /v1/stats and /metrics sum the partitions -------------------------------
sum_llen() { # QUEUE: LLEN summed over the six partitions
  local t s=0
  for t in "${part_tags[@]}"; do s=$((s + $(rcli LLEN "tp:$t:queue:$1"))); done
  echo "$s"
}
sum_counter() { # FIELD: the counters hashes summed over the six partitions
  local t s=0 v
  for t in "${part_tags[@]}"; do v=$(rcli HGET "tp:$t:counters" "$1"); s=$((s + ${v:-0})); done
  echo "$s"
}
http GET /v1/stats
check_eq "stats: pq queued is the sum of the partition lists" "$(sum_llen pq)" "$(jqr .queues.pq.queued)"
check_eq "stats: pq shows its 6 partitions" 6 "$(jqr .queues.pq.partitions)"
check_eq "stats: default shows 1 partition and its 3 jobs" "1 3" \
  "$(jqr '"\(.queues.default.partitions) \(.queues.default.queued)"')"
check_eq "stats: the recent indexes of every partition" 40 "$(jqr .recent_jobs.indexed)"
check_eq "stats: all queued" 40 "$(jqr .recent_jobs.by_state.queued)"
http GET /metrics
mval() { printf '%s\n' "$HTTP_BODY" | awk -v k="$1" '$1 == k {print $2}'; }
check_eq "metrics: pq depth is the sum of the partition lists" "$(sum_llen pq)" \
  "$(mval 'stageq_queue_depth{queue="pq"}')"
check_eq "metrics: submitted is the sum of the partitions' counters" \
  "$(sum_counter submitted:pp)" "$(mval 'stageq_jobs_submitted_total{pipeline="pp"}')"
check_eq "metrics: 37 pp jobs submitted" 37 "$(mval 'stageq_jobs_submitted_total{pipeline="pp"}')"
check_eq "metrics: the echo jobs of the default partition" 3 \
  "$(mval 'stageq_jobs_submitted_total{pipeline="echo"}')"

# --- /v1/jobs: every partition, newest first, exact paging --------------------
# ties across partitions: eight jobs of several partitions get the same score
tie=$(($(date +%s) * 1000 - 5000))
for id in c-1 c-2 c-3 c-4 c-5 c-6 c-7 c-8; do
  rcli ZADD "tp:$(tag_of "$id"):recent" XX "$tie" "$id" >/dev/null
done
http GET "/v1/jobs?limit=500"
full=$(jqr '[.jobs[].id] | join(" ")')
check_eq "GET /v1/jobs lists every job of every partition" 40 "$(jqr '.jobs | length')"
# the order: score descending, then id descending (what one index gives)
expect=$(for id in "${ids[@]}" "${echo_ids[@]}"; do
  t=$(tag_of "$id")
  [[ $id == e-* ]] && t='{8209}'
  printf '%s %s\n' "$(rcli ZSCORE "tp:$t:recent" "$id")" "$id"
done | LC_ALL=C sort -k1,1nr -k2,2r | awk '{printf "%s%s", sep, $2; sep=" "}')
check_eq "newest first across partitions, ties by id" "$expect" "$full"
for limit in 2 7; do
  paged=""
  cursor=""
  pages=0
  while [ $pages -lt 60 ]; do
    http GET "/v1/jobs?limit=$limit${cursor:+&cursor=$cursor}"
    [ "$HTTP_STATUS" = 200 ] || break
    paged="$paged $(jqr '[.jobs[].id] | join(" ")')"
    cursor=$(jqr .next_cursor)
    pages=$((pages + 1))
    [ "$cursor" = null ] && break
  done
  check_eq "pages of $limit give the same list exactly" "$full" "$(echo $paged)"
done
http GET "/v1/jobs?pipeline=echo"
check_eq "a filter finds the default partition's jobs" "e-3 e-2 e-1" "$(jqr '[.jobs[].id] | join(" ")')"

# --- cancel, SSE and ?wait find the job in its partition ----------------------
victim=c-10
vt=$(tag_of $victim)
before=$(rcli LLEN "tp:$vt:queue:pq")
curl -sN --max-time 20 "$API_URL/v1/jobs/$victim/events" >"$STAGEQ_TEST_TMP/sse.out" 2>/dev/null &
sse_pid=$!
check "the stream sends the job's status" poll 10 grep -q '"state":"queued"' "$STAGEQ_TEST_TMP/sse.out"
http DELETE "/v1/jobs/$victim"
check_eq "DELETE finds the job in its partition" "200 queued" "$HTTP_STATUS $(jqr .previous_state)"
check_eq "it left its partition's list" $((before - 1)) "$(rcli LLEN "tp:$vt:queue:pq")"
check_eq "its hash says canceled" canceled "$(rcli HGET "tp:$vt:job:$victim" state)"
check "the stream sees it canceled" poll 10 grep -q '"state":"canceled"' "$STAGEQ_TEST_TMP/sse.out"
check "the stream ends" poll 10 grep -q '^event: end' "$STAGEQ_TEST_TMP/sse.out"
wait "$sse_pid" 2>/dev/null
check_eq "metrics: the cancel counted in the job's partition" 1 "$(sum_counter canceled:pp)"
http DELETE "/v1/jobs/$victim"
check_eq "a second DELETE is 409" 409 "$HTTP_STATUS"

curl -s --max-time 30 -H 'content-type: application/json' -o "$STAGEQ_TEST_TMP/wait.out" \
  -w '%{http_code}' --data-binary '{"pipeline":"pp","id":"w-1","input":{}}' \
  "$API_URL/v1/jobs?wait=20" >"$STAGEQ_TEST_TMP/wait.code" &
wait_pid=$!
wt=$(tag_of w-1)
held_written() { [ "$(rcli EXISTS "tp:$wt:job:w-1")" = 1 ]; }
check "the held job is written in its partition" poll 10 held_written
sleep 0.5 # held: the API watches it
http DELETE /v1/jobs/w-1
check_eq "the held job is canceled" 200 "$HTTP_STATUS"
wait "$wait_pid" 2>/dev/null
check_eq "?wait answers once the job in its partition ends" "200 canceled" \
  "$(cat "$STAGEQ_TEST_TMP/wait.code") $(jq -r .state "$STAGEQ_TEST_TMP/wait.out")"

finish
