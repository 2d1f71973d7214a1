#!/usr/bin/env bash
# test_bad_input: hostile HTTP against a real stageq-api, table-driven. Every
# case is one line of a table; after every case the API must still answer
# /healthz 200; at the end the API process is alive and Redis holds exactly
# the keys of the accepted submissions. Then Redis goes away (503 +
# Retry-After) and comes back (the API recovers by itself).
# shellcheck disable=SC2034,SC2059 # tables read variables as ${NAME}; s: bodies are printf formats
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../e2e/lib.sh"
export STAGEQ_PREFIX=tb
sq_redis bad
start_api api
PORT=${API_URL##*:}
T="$STAGEQ_TEST_TMP/bad-input"
mkdir -p "$T"
# the real interpreter once: a version-manager shim (pyenv) costs ~1 s per start
PY=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null)
RAW=("${PY:-python3}" "$here/rawhttp.py" "$PORT")
ACCEPTED=0   # 202 answers to POST /v1/jobs: each wrote one job hash
CASES=0
UNHEALTHY=0

# --- bodies and long values used by the tables (f:NAME is $T/NAME) ------------
rep() { head -c "$2" /dev/zero | tr '\0' "$1"; }   # rep CHAR N
A10K=$(rep a 10000)
ID128=$(rep a 128)
ID129=$(rep a 129)
Q64=$(rep q 64)
Q65=$(rep q 65)
HDR20K="X-Big: $(rep a 20000)"
HDR100K="X-Line: $(rep a 100000)"
ENC10K=$(printf '%%61%.0s' $(seq 1 3334))
CTRL_PATH=$(printf '/v1/jobs/a\001b')
pre='{"pipeline":"echo","input":"' post='"}'
pad=$((1048576 - ${#pre} - ${#post}))
printf '%s%s%s' "$pre" "$(rep a $pad)" "$post" >"$T/limit"          # 1 MiB exactly
printf '%s%s%s' "$pre" "$(rep a $((pad + 1)))" "$post" >"$T/limit+1" # 1 MiB + 1
rep ' ' 2000000 >"$T/2m"   # between the limit and libevent's 4x: our JSON 413
rep ' ' 5000000 >"$T/5m"   # beyond 4x: libevent's own HTML 413
deep() { # deep N OPEN CLOSE: {"pipeline":"echo","input": + N-1 levels (N in all)
  printf '{"pipeline":"echo","input":'
  rep x $(($1 - 1)) | sed "s/x/$2/g"
  printf 'null'
  rep x $(($1 - 1)) | sed "s/x/$3/g"
  printf '}'
}
deep 64 '[' ']' >"$T/deep64"
deep 65 '[' ']' >"$T/deep65"
deep 100000 '[' ']' >"$T/deep100k"
deep 100000 '{"a":' '}' >"$T/deep100k-obj"
{ printf '{"pipeline":"echo","input":'; rep '[' 100000; } >"$T/deep100k-open"
printf '{"pipeline":"echo","input":"%s"}' "$(rep '[' 100000)" >"$T/brackets-in-string"
printf '{"pipeline":"echo","id":"%s"}' "$A10K" >"$T/id10k"
printf '{"pipeline":"echo","id":"%s"}' "$ID128" >"$T/id128"
printf '{"pipeline":"echo","id":"%s"}' "$ID129" >"$T/id129"
printf '{"pipeline":"echo","input":"trickled one byte every 100 ms, then the rest at once"}' >"$T/trickle"
printf '{"pipeline":"echo"}' >"$T/ok"
# a body libevent does not read (HEAD, TRACE, an unknown method) that is itself a request
printf 'GET /nope HTTP/1.1\r\nHost: x\r\n\r\n' >"$T/smuggle"

# The helpers below set R instead of printing: no subshell per column (fast).
# body_file SOURCE: R = the file holding the body ("" for none); s:TEXT has
# \xHH escapes (the only ones: JSON's own \u and \\ stay as they are).
body_file() {
  case $1 in
    -) R="" ;;
    f:*) R="$T/${1#f:}" ;;
    s:*) # printf's format: % and \ escaped, then \xHH made an escape again
         local t=${1#s:}
         t=${t//%/%%}; t=${t//\\/\\\\}; t=${t//\\\\x/\\x}
         printf "$t" >"$T/lit"
         R="$T/lit" ;;
    *) echo "bad body source $1" >&2; R="" ;;
  esac
}

# expand TEXT: R = TEXT with ${NAME} replaced by the value of NAME.
expand() {
  local s=$1 v
  R=""
  while [[ $s =~ ^([^$]*)\$\{([A-Za-z0-9_]+)\}(.*)$ ]]; do
    v=${BASH_REMATCH[2]}
    R+="${BASH_REMATCH[1]}${!v}"
    s=${BASH_REMATCH[3]}
  done
  R+=$s
}

# trim TEXT: R = TEXT without leading and trailing blanks.
trim() { R=${1#"${1%%[![:space:]]*}"}; R=${R%"${R##*[![:space:]]}"}; }

# The methods each route allows (405 must list exactly these in Allow).
allow_for() {
  case $1 in
    /healthz | /readyz | /v1/pipelines) echo "GET HEAD" ;;
    /v1/jobs) echo "GET HEAD POST" ;;
    /v1/jobs/*/events | /v1/events) echo "GET HEAD" ;;
    /v1/jobs/*/retry) echo "POST" ;;
    /v1/jobs/*) echo "DELETE GET HEAD" ;;
    /v1/queues/*/pause | /v1/queues/*/resume) echo "POST" ;;
    /v1/queues | /v1/queues/*) echo "GET HEAD" ;;
  esac
}

# send METHOD PATH VIA ARG BODYFILE HEADERS...: sets HTTP_STATUS/_HEADERS/_BODY.
send() {
  local method=$1 path=$2 via=$3 arg=$4 bf=$5; shift 5
  local hf="$T/resp.h" of="$T/resp.b" nf="$T/resp.n" args=() h
  rm -f "$hf" "$of" "$nf"
  HTTP_NEXT=-
  case $via in
    curl)
      for h in "$@"; do args+=(-H "$h"); done
      [ -n "$bf" ] && args+=(--data-binary @"$bf")
      if [ "$method" = HEAD ]; then args+=(-I); else args+=(-X "$method"); fi
      HTTP_STATUS=$(curl -s --path-as-is -o "$of" -D "$hf" -w '%{http_code}' --max-time 10 \
        "${args[@]}" "$API_URL$path")
      ;;
    hold) # ARG connections hang on half a request line while this request is served
      local ready="$T/hold.ready"
      rm -f "$ready"
      "${RAW[@]}" hold:"$arg" GET / --ready "$ready" >"$T/hold.out" &
      local hp=$!
      wait_for 10 test -s "$ready"
      for h in "$@"; do args+=(-H "$h"); done
      [ -n "$bf" ] && args+=(--data-binary @"$bf")
      HTTP_STATUS=$(curl -s -o "$of" -D "$hf" -w '%{http_code}' --max-time 2 -X "$method" \
        "${args[@]}" "$API_URL$path")
      rm -f "$ready"
      wait "$hp"
      HOLD_OPEN=$(cat "$T/hold.out")
      ;;
    *)
      for h in "$@"; do args+=(-H "$h"); done
      [ -n "$bf" ] && args+=(--body "$bf")
      HTTP_STATUS=$("${RAW[@]}" "$via${arg:+:$arg}" "$method" "$path" -D "$hf" -o "$of" \
        --next "$nf" --timeout 10 "${args[@]}")
      [ -f "$nf" ] && read -r HTTP_NEXT <"$nf"
      ;;
  esac
  HTTP_HEADERS="" HTTP_BODY=""
  [ -f "$hf" ] && IFS= read -r -d '' HTTP_HEADERS <"$hf"
  [ -f "$of" ] && IFS= read -r -d '' HTTP_BODY <"$of"   # up to a NUL, if any
  HTTP_HEADERS=${HTTP_HEADERS//$'\r'/}
}

# run_case NAME METHOD PATH HEADERS BODY STATUS CODE EXTRA (the table's columns)
run_case() {
  local name=$1 method=$2 path=$3 headers=$4 body=$5 status=$6 code=$7 extra=$8
  local via=curl arg="" first hdrs=() parts=() h why="" got ctype want chk
  expand "$path"; path=$R
  first=${body%% *}
  case $first in
    line:*) via=line; arg=${body#line:}; body=- ;;
    plain | http10 | short-body:* | chunked | chunked:* | chunked-bad | expect100 | trickle:* | hold:*)
      via=${first%%:*}; [[ $first == *:* ]] && arg=${first#*:}
      trim "${body#"$first"}"; body=${R:--} ;;
  esac
  if [ "$headers" != - ]; then
    IFS='~' read -r -a parts <<<"$headers"
    for h in "${parts[@]}"; do
      trim "$h"; h=$R
      [ "$h" = J ] && h='Content-Type: application/json'
      [ -n "$h" ] && expand "$h" && hdrs+=("$R")
    done
  fi
  body_file "$body"
  send "$method" "$path" "$via" "$arg" "$R" "${hdrs[@]}"
  CASES=$((CASES + 1))

  [ "$HTTP_STATUS" = "$status" ] || why+=" status $HTTP_STATUS, not $status;"
  if [ "$code" != - ]; then
    got=$(jqr '"\(.error.code) \(.error.message | length > 0)"')
    ctype=""   # the last one: a "100 Continue" block may come first
    while IFS= read -r h; do [[ ${h,,} == content-type:* ]] && ctype=${h#*:}; done <<<"$HTTP_HEADERS"
    trim "$ctype"; ctype=$R
    [ "${got% *}" = "$code" ] || why+=" error code '${got% *}', not $code;"
    [ "${got#* }" = true ] || why+=" no error message;"
    [[ $ctype == application/json* ]] || why+=" content type '$ctype';"
  fi
  if [ "${status#*+}" = 405 ]; then
    got=$(grep -i '^allow:' <<<"$HTTP_HEADERS" | cut -d: -f2- | tr ', ' '\n' | grep . | sort | paste -sd' ')
    want=$(allow_for "$path")
    [ "$got" = "$want" ] || why+=" Allow '$got', not '$want';"
  fi
  if [ "$extra" != - ]; then
    IFS=';' read -r -a parts <<<"$extra"
    for chk in "${parts[@]}"; do
      trim "$chk"; chk=$R
      case $chk in
        msg=*) grep -qF -- "${chk#msg=}" <<<"$(jqr .error.message)" || why+=" message lacks '${chk#msg=}';" ;;
        msgis=*) [ "$(jqr .error.message)" = "${chk#msgis=}" ] || why+=" message is not '${chk#msgis=}';" ;;
        hdr=*) grep -qiE -- "^${chk#hdr=}" <<<"$HTTP_HEADERS" || why+=" no header '${chk#hdr=}';" ;;
        html) grep -qi '^content-type: text/html' <<<"$HTTP_HEADERS" || why+=" not libevent's HTML;" ;;
        open=*) [ "$HOLD_OPEN" = "${chk#open=}" ] || why+=" $HOLD_OPEN slow connections still open, not ${chk#open=};" ;;
        next=*) [ "$HTTP_NEXT" = "${chk#next=}" ] || why+=" then the connection is '$HTTP_NEXT', not ${chk#next=};" ;;
        "") ;;
        *) why+=" unknown check '$chk';" ;;
      esac
    done
  fi
  if [ -z "$why" ]; then
    if [ "$code" = - ]; then ok "$name → $status"; else ok "$name → $status $code"; fi
  else
    not_ok "$name:$why body: $(head -c 200 <<<"$HTTP_BODY")"
  fi
  if [ "$method $path" = "POST /v1/jobs" ] && [ "${status#*+}" = 202 ]; then
    ACCEPTED=$((ACCEPTED + 1))
  fi
  # the API must survive every case
  got=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$API_URL/healthz")
  if [ "$got" != 200 ]; then
    UNHEALTHY=$((UNHEALTHY + 1))
    not_ok "after '$name' /healthz answers $got, not 200"
  fi
}

# run_table: reads "name | method | path | headers | body | status | code [| checks]"
# lines on stdin ('#' comments and blank lines skipped).
run_table() {
  local line name method path headers body status code extra
  local -a cols
  while IFS= read -r line; do
    [[ $line =~ ^[[:space:]]*(#|$) ]] && continue
    IFS='|' read -r -a cols <<<"$line"
    trim "${cols[0]}"; name=$R; trim "${cols[1]}"; method=$R; trim "${cols[2]}"; path=$R
    trim "${cols[3]}"; headers=$R; trim "${cols[4]}"; body=$R; trim "${cols[5]}"; status=$R
    trim "${cols[6]}"; code=$R; trim "${cols[7]:--}"; extra=$R
    run_case "$name" "$method" "$path" "${headers:--}" "${body:--}" "$status" "${code:--}" \
      "${extra:--}" </dev/null
  done
}

# Columns: name | method | path | headers | body | status | code | checks
#   path, headers: ${NAME} is replaced by the shell variable NAME.
#   headers: "-" or "~"-separated header lines; J is Content-Type: application/json.
#   body: "-" (none), s:TEXT (\xHH escapes), f:NAME (a file made above); sent
#     with curl, unless it starts with a rawhttp.py scenario (see rawhttp.py):
#     plain, http10, line:REQUEST, short-body:N, chunked[:N], chunked-bad,
#     expect100, trickle:SECONDS, hold:N (N half-open connections meanwhile).
#   status: 3 digits; 000 = no answer; 100+S = "100 Continue" then S.
#   code: the error.code of the JSON body (then the body must be an error
#     object with a message and Content-Type application/json); "-" = none.
#   checks: ";"-separated: msg=TEXT (in error.message), hdr=REGEX (a header
#     line), html (libevent's own page), open=N (hold: N still waiting),
#     next=closed|open|more (rawhttp.py scenarios: what the connection does
#     after the response; "more" = a body was read as a second request).
#   Every 405 must carry an Allow header with exactly the route's methods.
#   msgis=TEXT: the whole error.message is TEXT (e.g. said once, not twice).
run_table <<'TABLE'
# --- media type, syntax, shape --------------------------------------------------
no content type            | POST | /v1/jobs | Content-Type:    | s:{"pipeline":"echo"}                 | 415 | unsupported_media_type
text/plain                 | POST | /v1/jobs | Content-Type: text/plain | s:{"pipeline":"echo"}         | 415 | unsupported_media_type
application/jsonx          | POST | /v1/jobs | Content-Type: application/jsonx | s:{"pipeline":"echo"}  | 415 | unsupported_media_type
JSON with charset accepted | POST | /v1/jobs | Content-Type: application/json; charset=utf-8 | s:{"pipeline":"echo"} | 202 | -
upper-case type accepted   | POST | /v1/jobs | Content-Type: APPLICATION/JSON | s:{"pipeline":"echo"}   | 202 | -
malformed JSON             | POST | /v1/jobs | J | s:{"pipeline":                                        | 400 | malformed_json | msgis=malformed JSON body: syntax error at byte 11
malformed JSON, blog route | POST | /start_task | J | s:{"data":                                        | 400 | malformed_json | msgis=malformed JSON body: syntax error at byte 7
bad UTF-8, blog route      | POST | /start_task | J | s:{"data":"\xc3\x28"}                              | 400 | malformed_json | msgis=malformed JSON body: invalid UTF-8 at byte 9
empty body                 | POST | /v1/jobs | J | -                                                     | 400 | malformed_json
trailing garbage           | POST | /v1/jobs | J | s:{"pipeline":"echo"} x                               | 400 | malformed_json
leading zero in a number   | POST | /v1/jobs | J | s:{"pipeline":"echo","input":{"n":01}}                | 400 | malformed_json | msg=invalid number at byte 32
number ending in a dot     | POST | /v1/jobs | J | s:{"pipeline":"echo","input":[1.]}                    | 400 | malformed_json | msg=invalid number
body is a string           | POST | /v1/jobs | J | s:"job"                                               | 400 | invalid_request
body is an array of numbers| POST | /v1/jobs | J | s:[1,2]                                               | 207 | -
body is an empty array     | POST | /v1/jobs | J | s:[]                                                  | 400 | invalid_request
array, a bad element       | POST | /v1/jobs | J | s:[{"pipeline":"echo","input":[1.]},null]             | 400 | malformed_json
body is a string           | POST | /v1/jobs | J | s:"x"                                                 | 400 | invalid_request
missing pipeline           | POST | /v1/jobs | J | s:{"input":1}                                         | 422 | missing_field | msg=pipeline
pipeline is a number       | POST | /v1/jobs | J | s:{"pipeline":5}                                      | 422 | invalid_field
unknown pipeline           | POST | /v1/jobs | J | s:{"pipeline":"nope"}                                 | 422 | unknown_pipeline
unknown field              | POST | /v1/jobs | J | s:{"pipeline":"echo","inptu":1}                       | 422 | unknown_field | msg=inptu
result_ttl_s 0             | POST | /v1/jobs | J | s:{"pipeline":"echo","result_ttl_s":0}                | 422 | invalid_field
result_ttl_s 1.5           | POST | /v1/jobs | J | s:{"pipeline":"echo","result_ttl_s":1.5}              | 422 | invalid_field
result_ttl_s string        | POST | /v1/jobs | J | s:{"pipeline":"echo","result_ttl_s":"10"}             | 422 | invalid_field
result_ttl_s huge          | POST | /v1/jobs | J | s:{"pipeline":"echo","result_ttl_s":1e300}            | 422 | invalid_field
queue with a slash         | POST | /v1/jobs | J | s:{"pipeline":"echo","queue":"a/b"}                   | 422 | invalid_field
delay_s negative           | POST | /v1/jobs | J | s:{"pipeline":"echo","delay_s":-0.001}                | 422 | invalid_field | msg=delay_s
delay_s string             | POST | /v1/jobs | J | s:{"pipeline":"echo","delay_s":"10"}                  | 422 | invalid_field | msg=delay_s
delay_s over a year        | POST | /v1/jobs | J | s:{"pipeline":"echo","delay_s":31536000.5}            | 422 | invalid_field | msg=delay_s
delay_s huge               | POST | /v1/jobs | J | s:{"pipeline":"echo","delay_s":1e300}                 | 422 | invalid_field | msg=delay_s
delay_s 0: queued at once | POST | /v1/jobs | J | s:{"pipeline":"echo","delay_s":0}                     | 202 | -
delay_s and run_at         | POST | /v1/jobs | J | s:{"pipeline":"echo","delay_s":1,"run_at":"2020-01-01T00:00:00Z"} | 422 | invalid_field | msgis=give either 'delay_s' or 'run_at', not both
run_at no offset           | POST | /v1/jobs | J | s:{"pipeline":"echo","run_at":"2020-01-01T00:00:00"}  | 422 | invalid_field | msg=RFC 3339
run_at month 13            | POST | /v1/jobs | J | s:{"pipeline":"echo","run_at":"2020-13-01T00:00:00Z"} | 422 | invalid_field | msg=RFC 3339
run_at offset +24:00       | POST | /v1/jobs | J | s:{"pipeline":"echo","run_at":"2020-01-01T00:00:00+24:00"} | 422 | invalid_field | msg=RFC 3339
run_at a number            | POST | /v1/jobs | J | s:{"pipeline":"echo","run_at":1700000000}             | 422 | invalid_field | msg=RFC 3339
run_at year 9999           | POST | /v1/jobs | J | s:{"pipeline":"echo","run_at":"9999-12-31T23:59:59Z"} | 422 | invalid_field | msg=a year
run_at in the past: queued | POST | /v1/jobs | J | s:{"pipeline":"echo","run_at":"1970-01-01T00:00:00.5+00:00"} | 202 | -
# --- nesting -----------------------------------------------------------------------
nesting 64 deep (the limit)    | POST | /v1/jobs | J | f:deep64             | 202 | -
nesting 65 deep                | POST | /v1/jobs | J | f:deep65             | 400 | malformed_json | msg=nesting too deep
nesting 100000 deep (arrays)   | POST | /v1/jobs | J | f:deep100k           | 400 | malformed_json | msg=nesting too deep
nesting 100000 deep (objects)  | POST | /v1/jobs | J | f:deep100k-obj       | 400 | malformed_json | msg=nesting too deep
100000 opening brackets only   | POST | /v1/jobs | J | f:deep100k-open      | 400 | malformed_json
brackets in a string are not nesting | POST | /v1/jobs | J | f:brackets-in-string | 202 | -
# --- UTF-8, NUL, control characters --------------------------------------------------
invalid UTF-8 (C3 28)          | POST | /v1/jobs | J | s:{"pipeline":"echo","input":"\xc3\x28"}           | 400 | malformed_json | msg=invalid UTF-8
lone continuation byte         | POST | /v1/jobs | J | s:{"pipeline":"echo","input":"\x80"}               | 400 | malformed_json | msg=invalid UTF-8
overlong 2-byte /              | POST | /v1/jobs | J | s:{"pipeline":"echo","input":"\xc0\xaf"}           | 400 | malformed_json | msg=invalid UTF-8
overlong 3-byte /              | POST | /v1/jobs | J | s:{"pipeline":"echo","input":"\xe0\x80\xaf"}       | 400 | malformed_json | msg=invalid UTF-8
overlong 4-byte /              | POST | /v1/jobs | J | s:{"pipeline":"echo","input":"\xf0\x80\x80\xaf"}   | 400 | malformed_json | msg=invalid UTF-8
overlong NUL (C0 80)           | POST | /v1/jobs | J | s:{"pipeline":"echo","input":"a\xc0\x80b"}         | 400 | malformed_json | msg=invalid UTF-8
surrogate D800 encoded         | POST | /v1/jobs | J | s:{"pipeline":"echo","input":"\xed\xa0\x80"}       | 400 | malformed_json | msg=invalid UTF-8
surrogate DFFF encoded         | POST | /v1/jobs | J | s:{"pipeline":"echo","input":"\xed\xbf\xbf"}       | 400 | malformed_json | msg=invalid UTF-8
above U+10FFFF                 | POST | /v1/jobs | J | s:{"pipeline":"echo","input":"\xf4\x90\x80\x80"}   | 400 | malformed_json | msg=invalid UTF-8
byte FF                        | POST | /v1/jobs | J | s:{"pipeline":"echo","input":"\xff"}               | 400 | malformed_json | msg=invalid UTF-8
truncated sequence in a string | POST | /v1/jobs | J | s:{"pipeline":"echo","input":"\xe2\x82"}           | 400 | malformed_json | msg=invalid UTF-8
truncated sequence at the end  | POST | /v1/jobs | J | s:{"pipeline":"echo","input":"\xf0\x9f\x98         | 400 | malformed_json | msg=invalid UTF-8
invalid UTF-8 in a key         | POST | /v1/jobs | J | s:{"pipeline":"echo","\xff":1}                     | 400 | malformed_json | msg=invalid UTF-8
invalid byte outside strings   | POST | /v1/jobs | J | s:{"pipeline":"echo"}\xff                          | 400 | malformed_json
lone surrogate escape \ud800   | POST | /v1/jobs | J | s:{"pipeline":"echo","input":"\ud800"}             | 400 | malformed_json
lone surrogate escape \udc00   | POST | /v1/jobs | J | s:{"pipeline":"echo","input":"\udc00x"}            | 400 | malformed_json
valid UTF-8 accepted           | POST | /v1/jobs | J | s:{"pipeline":"echo","input":"\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"} | 202 | -
surrogate pair escape accepted | POST | /v1/jobs | J | s:{"pipeline":"echo","input":"\ud83d\ude00"}       | 202 | -
raw NUL in a string            | POST | /v1/jobs | J | s:{"pipeline":"echo","input":"a\x00b"}             | 400 | malformed_json
raw NUL between tokens         | POST | /v1/jobs | J | s:{"pipeline":\x00"echo"}                          | 400 | malformed_json | msg=NUL byte
raw NUL first                  | POST | /v1/jobs | J | s:\x00{"pipeline":"echo"}                          | 400 | malformed_json
raw NUL after the value        | POST | /v1/jobs | J | s:{"pipeline":"echo"}\x00                          | 400 | malformed_json
escaped NUL \u0000             | POST | /v1/jobs | J | s:{"pipeline":"echo","input":"a\u0000b"}           | 400 | malformed_json | msg=\u0000
escaped NUL in a key           | POST | /v1/jobs | J | s:{"pipeline":"echo","\u0000":1}                   | 400 | malformed_json
escaped backslash + u0000 is text | POST | /v1/jobs | J | s:{"pipeline":"echo","input":"\\u0000"}        | 202 | -
control character 01 in a string | POST | /v1/jobs | J | s:{"pipeline":"echo","input":"a\x01b"}         | 400 | malformed_json | msg=control character
control character 1F in a string | POST | /v1/jobs | J | s:{"pipeline":"echo","input":"\x1f"}           | 400 | malformed_json | msg=control character
raw tab in a string            | POST | /v1/jobs | J | s:{"pipeline":"echo","input":"a\x09b"}             | 400 | malformed_json | msg=control character
raw newline in a string        | POST | /v1/jobs | J | s:{"pipeline":"echo","input":"a\x0ab"}             | 400 | malformed_json | msg=control character
ESC in a key                   | POST | /v1/jobs | J | s:{"pipeline":"echo","\x1b[0m":1}                  | 400 | malformed_json | msg=control character
vertical tab between tokens    | POST | /v1/jobs | J | s:{"pipeline":\x0b"echo"}                          | 400 | malformed_json | msg=invalid character
form feed between tokens       | POST | /v1/jobs | J | s:{"pipeline":"echo"}\x0c                          | 400 | malformed_json | msg=invalid character
DEL (7F) is not a control char | POST | /v1/jobs | J | s:{"pipeline":"echo","input":"\x7f"}               | 202 | -
# --- sizes -----------------------------------------------------------------------------
body of exactly 1 MiB accepted | POST | /v1/jobs | J | f:limit                        | 202 | -
body of 1 MiB + 1              | POST | /v1/jobs | J | f:limit+1                      | 413 | payload_too_large
body of 2 MB                   | POST | /v1/jobs | J | f:2m                           | 413 | payload_too_large
body of 5 MB                   | POST | /v1/jobs | J | f:5m                           | 413 | - | html
body of 5 MB, no Expect        | POST | /v1/jobs | J | plain f:5m                     | 413 | - | html
huge headers (20 KB)           | GET  | /healthz | ${HDR20K}  | -                     | 400 | - | html
a header line of 100 KB        | GET  | /healthz | ${HDR100K} | plain                 | 400 | - | html
10 KB of headers accepted      | GET  | /healthz | X-A: ${ID128} ~ X-Fill: ${A10K}  | - | 200 | -
# --- ids, in the body and in the path ---------------------------------------------------
id ../x                        | POST | /v1/jobs | J | s:{"pipeline":"echo","id":"../x"}             | 400 | invalid_id
id ..                          | POST | /v1/jobs | J | s:{"pipeline":"echo","id":".."}               | 400 | invalid_id
id .                           | POST | /v1/jobs | J | s:{"pipeline":"echo","id":"."}                | 400 | invalid_id
id %2e%2e                      | POST | /v1/jobs | J | s:{"pipeline":"echo","id":"%2e%2e"}           | 400 | invalid_id
id with a space                | POST | /v1/jobs | J | s:{"pipeline":"echo","id":"a b"}              | 400 | invalid_id
id with a slash                | POST | /v1/jobs | J | s:{"pipeline":"echo","id":"a/b"}              | 400 | invalid_id
id with an encoded slash       | POST | /v1/jobs | J | s:{"pipeline":"echo","id":"a%2Fb"}            | 400 | invalid_id
id with unicode                | POST | /v1/jobs | J | s:{"pipeline":"echo","id":"caf\xc3\xa9"}      | 400 | invalid_id
id with unicode escape         | POST | /v1/jobs | J | s:{"pipeline":"echo","id":"caf\u00e9"}        | 400 | invalid_id
id with a tab escape           | POST | /v1/jobs | J | s:{"pipeline":"echo","id":"a\tb"}             | 400 | invalid_id
id empty                       | POST | /v1/jobs | J | s:{"pipeline":"echo","id":""}                 | 400 | invalid_id
id is a number                 | POST | /v1/jobs | J | s:{"pipeline":"echo","id":7}                  | 400 | invalid_id
id of 128 chars accepted       | POST | /v1/jobs | J | f:id128                                        | 202 | -
id of 129 chars                | POST | /v1/jobs | J | f:id129                                        | 400 | invalid_id
id of 10 KB                    | POST | /v1/jobs | J | f:id10k                                        | 400 | invalid_id
unknown job                    | GET  | /v1/jobs/no-such-job               | - | -       | 404 | not_found
path id ..                     | GET  | /v1/jobs/..                        | - | -       | 400 | invalid_id
path id .                      | GET  | /v1/jobs/.                         | - | -       | 400 | invalid_id
path ../x (two segments)       | GET  | /v1/jobs/../x                      | - | -       | 404 | not_found
path ../../etc/passwd          | GET  | /v1/jobs/../../etc/passwd          | - | -       | 404 | not_found
path id %2e%2e                 | GET  | /v1/jobs/%2e%2e                    | - | -       | 400 | invalid_id
path id %2E%2E                 | DELETE | /v1/jobs/%2E%2E                  | - | -       | 400 | invalid_id
path id %2e%2e%2fx             | GET  | /v1/jobs/%2e%2e%2fx                | - | -       | 400 | invalid_id
path id ..%2Fx                 | GET  | /v1/jobs/..%2Fx                    | - | -       | 400 | invalid_id
path id a%2Fb (encoded slash)  | GET  | /v1/jobs/a%2Fb                     | - | -       | 400 | invalid_id
path id %2e%2e%2f..%2fetc%2fpasswd | GET | /v1/jobs/%2e%2e%2f..%2fetc%2fpasswd | - | - | 400 | invalid_id
path id with encoded NUL       | GET  | /v1/jobs/a%00b                     | - | -       | 400 | invalid_id
path id with %20               | GET  | /v1/jobs/a%20b                     | - | -       | 400 | invalid_id
path id with a raw space       | GET  | /v1/jobs/a b                       | - | plain   | 400 | invalid_id
path id with raw unicode       | GET  | /v1/jobs/café                      | - | plain   | 400 | invalid_id
path id with encoded unicode   | GET  | /v1/jobs/caf%C3%A9                 | - | -       | 400 | invalid_id
path id with a control char    | GET  | ${CTRL_PATH}                       | - | plain   | 400 | invalid_id
path id with a lone %          | GET  | /v1/jobs/%                         | - | -       | 400 | invalid_id
path id of 129 chars           | GET  | /v1/jobs/${ID129}                  | - | -       | 400 | invalid_id
path id of 10 KB               | GET  | /v1/jobs/${A10K}                   | - | -       | 400 | invalid_id
path id of 10 KB, %-encoded    | HEAD | /v1/jobs/${ENC10K}                 | - | -       | 400 | -
path id of 10 KB, DELETE       | DELETE | /v1/jobs/${A10K}                 | - | -       | 400 | invalid_id
unknown route                  | GET  | /nope                              | - | -       | 404 | not_found
unknown route under /v1        | GET  | /v1/jobs/x/y/z                     | - | -       | 404 | not_found
route with an encoded letter   | GET  | /heal%74hz                         | - | -       | 404 | not_found
malformed query string         | GET  | /healthz?a=1&b                     | - | -       | 400 | invalid_request
# --- queue names in the path, retry ids (nothing is written: no valid pause here) ------
queue ..                       | POST | /v1/queues/../pause                | - | -       | 400 | invalid_request | msg=queue name
queue %2e%2e                   | POST | /v1/queues/%2e%2e/resume           | - | -       | 400 | invalid_request
queue with %20                 | GET  | /v1/queues/a%20b                   | - | -       | 400 | invalid_request
queue with a raw space         | GET  | /v1/queues/a b                     | - | plain   | 400 | invalid_request
queue a%2Fb (encoded slash)    | POST | /v1/queues/a%2Fb/pause             | - | -       | 400 | invalid_request
queue with encoded NUL         | POST | /v1/queues/a%00b/pause             | - | -       | 400 | invalid_request
queue with encoded unicode     | POST | /v1/queues/caf%C3%A9/pause         | - | -       | 400 | invalid_request
queue of 65 chars              | POST | /v1/queues/${Q65}/pause            | - | -       | 400 | invalid_request
queue of 10 KB                 | GET  | /v1/queues/${A10K}                 | - | -       | 400 | invalid_request
queue of 64 chars read         | GET  | /v1/queues/${Q64}                  | - | -       | 200 | -
queue, unknown action          | POST | /v1/queues/q/stop                  | - | -       | 404 | not_found
queue, a query parameter       | GET  | /v1/queues/q?x=1                   | - | -       | 400 | invalid_request
queues, a query parameter      | GET  | /v1/queues?x=1                     | - | -       | 400 | invalid_request
retry an unknown job           | POST | /v1/jobs/no-such-job/retry         | - | -       | 404 | not_found
retry path id ..               | POST | /v1/jobs/../retry                  | - | -       | 400 | invalid_id
retry path id of 129 chars     | POST | /v1/jobs/${ID129}/retry            | - | -       | 400 | invalid_id
retry a queued job             | POST | /v1/jobs/${ID128}/retry            | - | -       | 409 | not_retryable | msg=queued
retry with a query parameter   | POST | /v1/jobs/abc/retry?x=1             | - | -       | 400 | invalid_request
failed list, bad queue         | GET  | /v1/jobs?state=failed&queue=a%20b  | - | -       | 400 | invalid_request
# --- every method on every route (405 + exact Allow for the wrong ones) ------------------
GET /healthz            | GET     | /healthz      | - | - | 200 | -
HEAD /healthz           | HEAD    | /healthz      | - | - | 200 | -
POST /healthz           | POST    | /healthz      | - | - | 405 | method_not_allowed
PUT /healthz            | PUT     | /healthz      | - | - | 405 | method_not_allowed
DELETE /healthz         | DELETE  | /healthz      | - | - | 405 | method_not_allowed
PATCH /healthz          | PATCH   | /healthz      | - | - | 405 | method_not_allowed
OPTIONS /healthz        | OPTIONS | /healthz      | - | - | 405 | method_not_allowed
TRACE /healthz          | TRACE   | /healthz      | - | - | 405 | method_not_allowed
GET /readyz             | GET     | /readyz       | - | - | 200 | -
HEAD /readyz            | HEAD    | /readyz       | - | - | 200 | -
POST /readyz            | POST    | /readyz       | - | - | 405 | method_not_allowed
PUT /readyz             | PUT     | /readyz       | - | - | 405 | method_not_allowed
DELETE /readyz          | DELETE  | /readyz       | - | - | 405 | method_not_allowed
PATCH /readyz           | PATCH   | /readyz       | - | - | 405 | method_not_allowed
OPTIONS /readyz         | OPTIONS | /readyz       | - | - | 405 | method_not_allowed
GET /v1/jobs            | GET     | /v1/jobs      | - | - | 200 | -
HEAD /v1/jobs           | HEAD    | /v1/jobs      | - | - | 200 | -
POST /v1/jobs (no type) | POST    | /v1/jobs      | - | - | 415 | unsupported_media_type
PUT /v1/jobs            | PUT     | /v1/jobs      | J | s:{"pipeline":"echo"} | 405 | method_not_allowed
DELETE /v1/jobs         | DELETE  | /v1/jobs      | - | - | 405 | method_not_allowed
PATCH /v1/jobs          | PATCH   | /v1/jobs      | J | s:{"pipeline":"echo"} | 405 | method_not_allowed
OPTIONS /v1/jobs        | OPTIONS | /v1/jobs      | - | - | 405 | method_not_allowed
GET /v1/jobs/{id}       | GET     | /v1/jobs/abc  | - | - | 404 | not_found
HEAD /v1/jobs/{id}      | HEAD    | /v1/jobs/abc  | - | - | 404 | -
POST /v1/jobs/{id}      | POST    | /v1/jobs/abc  | J | s:{"pipeline":"echo"} | 405 | method_not_allowed
PUT /v1/jobs/{id}       | PUT     | /v1/jobs/abc  | J | s:{"pipeline":"echo"} | 405 | method_not_allowed
DELETE /v1/jobs/{id}    | DELETE  | /v1/jobs/abc  | - | - | 404 | not_found
PATCH /v1/jobs/{id}     | PATCH   | /v1/jobs/abc  | - | - | 405 | method_not_allowed
OPTIONS /v1/jobs/{id}   | OPTIONS | /v1/jobs/abc  | - | - | 405 | method_not_allowed
HEAD /v1/jobs/{id}/events (its own row) | HEAD | /v1/jobs/abc/events | - | - | 404 | - | hdr=Content-Type: application/json
POST /v1/jobs/{id}/events | POST  | /v1/jobs/abc/events | J | s:{} | 405 | method_not_allowed
DELETE /v1/jobs/{id}/events | DELETE | /v1/jobs/abc/events | - | - | 405 | method_not_allowed
HEAD /v1/events (its own row) | HEAD | /v1/events  | - | - | 200 | - | hdr=Content-Length: 3$; hdr=Content-Type: application/json
POST /v1/events         | POST    | /v1/events    | J | s:{} | 405 | method_not_allowed
GET /v1/queues          | GET     | /v1/queues    | - | - | 200 | -
HEAD /v1/queues         | HEAD    | /v1/queues    | - | - | 200 | -
POST /v1/queues         | POST    | /v1/queues    | J | s:{} | 405 | method_not_allowed
DELETE /v1/queues/{q}   | DELETE  | /v1/queues/q  | - | - | 405 | method_not_allowed
GET /v1/queues/{q}/pause | GET    | /v1/queues/q/pause | - | - | 405 | method_not_allowed
PUT /v1/queues/{q}/resume | PUT   | /v1/queues/q/resume | - | - | 405 | method_not_allowed
DELETE /v1/queues/{q}/pause | DELETE | /v1/queues/q/pause | - | - | 405 | method_not_allowed
GET /v1/jobs/{id}/retry | GET     | /v1/jobs/abc/retry | - | - | 405 | method_not_allowed
DELETE /v1/jobs/{id}/retry | DELETE | /v1/jobs/abc/retry | - | - | 405 | method_not_allowed
GET /v1/pipelines       | GET     | /v1/pipelines | - | - | 200 | -
HEAD /v1/pipelines      | HEAD    | /v1/pipelines | - | - | 200 | -
POST /v1/pipelines      | POST    | /v1/pipelines | - | - | 405 | method_not_allowed
PUT /v1/pipelines       | PUT     | /v1/pipelines | - | - | 405 | method_not_allowed
DELETE /v1/pipelines    | DELETE  | /v1/pipelines | - | - | 405 | method_not_allowed
PATCH /v1/pipelines     | PATCH   | /v1/pipelines | - | - | 405 | method_not_allowed
OPTIONS /v1/pipelines   | OPTIONS | /v1/pipelines | - | - | 405 | method_not_allowed
# --- not quite HTTP (raw sockets) ---------------------------------------------------------
request line is not HTTP       | - | - | - | line:HELLO WORLD\r\n\r\n                             | 400 | - | html
TLS ClientHello                | - | - | - | line:\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n | 400 | - | html
HTTP/2 preface                 | - | - | - | line:PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n               | 400 | - | html
NUL bytes as a request         | - | - | - | line:\x00\x00\x00\x00\r\n\r\n                       | 400 | - | html
unknown protocol version       | - | - | - | line:GET /healthz FOO/1.1\r\n\r\n                   | 400 | - | html
HTTP/9.9                       | - | - | - | line:GET /healthz HTTP/9.9\r\n\r\n                  | 400 | - | html
HTTP/0.9 style request         | - | - | - | line:GET /healthz\r\n\r\n                           | 400 | - | html
header line without a colon    | - | - | - | line:GET /healthz HTTP/1.1\r\nBad Header\r\n\r\n    | 400 | - | html
unknown method                 | - | - | - | line:FOO /healthz HTTP/1.1\r\nHost: x\r\n\r\n       | 501 | not_implemented | msg=case-sensitive; next=open
lower-case method              | - | - | - | line:get /healthz HTTP/1.1\r\nHost: x\r\n\r\n       | 501 | not_implemented | next=open
unknown method on no path      | - | - | - | line:FOO /nope HTTP/1.1\r\nHost: x\r\n\r\n          | 501 | not_implemented
unknown method with a body     | FOO | /healthz | - | plain f:smuggle                                   | 501 | not_implemented | next=closed; hdr=Connection: close
TRACE with a body              | TRACE | /healthz | - | plain f:smuggle                                 | 405 | method_not_allowed | next=closed; hdr=Connection: close
HEAD with a body               | HEAD | /healthz | - | plain f:smuggle                                  | 200 | - | next=closed; hdr=Connection: close
HEAD with a chunked body       | HEAD | /healthz | - | chunked f:smuggle                                | 200 | - | next=closed
HEAD, Content-Length 0         | HEAD | /healthz | - | plain                                            | 200 | - | next=open
GET with a body                | GET | /healthz | - | plain f:smuggle                                   | 200 | - | next=open
CONNECT to a route (origin form) | CONNECT | /healthz | - | plain                                     | 405 | method_not_allowed | hdr=Content-Length: [0-9]+$
CONNECT to a job               | CONNECT | /v1/jobs/abc | - | plain                                   | 405 | method_not_allowed
CONNECT to an unknown path     | CONNECT | /nope | - | plain                                          | 404 | not_found
CONNECT host:port (authority form) | - | - | - | line:CONNECT example.com:443 HTTP/1.1\r\nHost: x\r\n\r\n | 404 | not_found | hdr=Content-Length: [0-9]+$
Expect other than 100-continue (libevent 417) | - | - | - | line:POST /v1/jobs HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 19\r\nExpect: x\r\n\r\n{"pipeline":"echo"} | 417 | - | html
negative Content-Length        | - | - | - | line:POST /v1/jobs HTTP/1.1\r\nContent-Length: -1\r\n\r\n  | 400 | - | html
Content-Length not a number    | - | - | - | line:POST /v1/jobs HTTP/1.1\r\nContent-Length: abc\r\n\r\n | 400 | - | html
HTTP/1.0 without Host: GET     | GET  | /healthz | - | http10                     | 200 | -
HTTP/1.0 without Host: POST    | POST | /v1/jobs | J | http10 f:ok                | 202 | -
HTTP/1.0 without Host: error   | POST | /v1/jobs | J | http10 s:{"pipeline":5}   | 422 | invalid_field
Content-Length 100 more, then close | POST | /v1/jobs | J | short-body:100 f:ok  | 000 | -
Content-Length 1 more, then close   | POST | /v1/jobs | J | short-body:1 f:limit | 000 | -
chunked body                   | POST | /v1/jobs | J | chunked:5 f:ok             | 202 | -
chunked body in one chunk      | POST | /v1/jobs | J | chunked f:ok               | 202 | -
chunked body of 2 MB           | POST | /v1/jobs | J | chunked:65536 f:2m         | 413 | payload_too_large
chunked body of 5 MB           | POST | /v1/jobs | J | chunked:65536 f:5m         | 413 | - | html
chunked malformed JSON         | POST | /v1/jobs | J | chunked:3 s:{"pipeline":   | 400 | malformed_json
chunk size not hex (libevent 413) | POST | /v1/jobs | J | chunked-bad f:ok        | 413 | - | html
Content-Length and chunked     | - | - | - | line:POST /v1/jobs HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 19\r\nTransfer-Encoding: chunked\r\n\r\n13\r\n{"pipeline":"echo"}\r\n0\r\n\r\n | 400 | - | html
Expect: 100-continue           | POST | /v1/jobs | J | expect100 f:ok             | 100+202 | -
Expect: 100-continue, refused type | POST | /v1/jobs | Content-Type: text/plain | expect100 f:ok | 100+415 | unsupported_media_type
Expect: 100-continue, 2 MB     | POST | /v1/jobs | J | expect100 f:2m             | 100+413 | payload_too_large
Expect: 100-continue, 5 MB     | POST | /v1/jobs | J | expect100 f:5m             | 413 | - | html
# --- slow clients ---------------------------------------------------------------------------
healthz while 20 connections hang | GET  | /healthz | - | hold:20                | 200 | - | open=20
submit while 20 connections hang  | POST | /v1/jobs | J | hold:20 f:ok           | 202 | - | open=20
body trickled over 2 s            | POST | /v1/jobs | J | trickle:2 f:trickle    | 202 | -
TABLE

check_eq "the API answered /healthz 200 after each of the $CASES cases" 0 "$UNHEALTHY"
check "the API process is alive" kill -0 "$API_PID"
check_eq "one job hash per accepted submission ($ACCEPTED)" "$ACCEPTED" \
  "$(scan_keys "$(job_key '*')" | wc -l)"
check_eq "the queue holds exactly the accepted jobs" "$ACCEPTED" "$(rcli LLEN "$(queue_key default)")"
check_eq "DBSIZE = accepted submissions + the queue list + the recent index + the counters: no key from a refused request" \
  "$((ACCEPTED + 3))" "$(rcli_sum DBSIZE)"
check_eq "no other key" "" "$(scan_keys '*' | grep -vxF -e "$(queue_key default)" -e "$(recent_key)" -e "$(counters_key)" |
  grep -vF "$(job_key '')")"
check_eq "the counters count the accepted submissions" "$ACCEPTED" \
  "$(rcli HGETALL "$(counters_key)" | paste - - | awk '$1 ~ /^submitted:/ { s += $2 } END { print s + 0 }')"
check_eq "the recent index holds exactly the accepted jobs" "$ACCEPTED" "$(rcli ZCARD "$(recent_key)")"

# --- Redis goes away, then comes back ---------------------------------------
sq_redis_down bad
run_table <<'TABLE'
submit with Redis down  | POST | /v1/jobs     | J | s:{"pipeline":"echo"} | 503 | redis_unavailable | hdr=Retry-After: 1
status with Redis down  | GET  | /v1/jobs/abc | - | -                     | 503 | redis_unavailable | hdr=Retry-After: 1
cancel with Redis down  | DELETE | /v1/jobs/abc | - | -                   | 503 | redis_unavailable | hdr=Retry-After: 1
retry with Redis down   | POST | /v1/jobs/abc/retry | - | -               | 503 | redis_unavailable | hdr=Retry-After: 1
queues with Redis down  | GET  | /v1/queues   | - | -                     | 503 | redis_unavailable | hdr=Retry-After: 1
pause with Redis down   | POST | /v1/queues/q/pause | - | -               | 503 | redis_unavailable | hdr=Retry-After: 1
readyz with Redis down  | GET  | /readyz      | - | -                     | 503 | redis_unavailable | hdr=Retry-After: 1
healthz needs no Redis  | GET  | /healthz     | - | -                     | 200 | -
bad input still 400 with Redis down | POST | /v1/jobs | J | s:{"pipeline": | 400 | malformed_json
TABLE
sq_redis_up bad
ready() { http GET /readyz; [ "$HTTP_STATUS" = 200 ]; }
check "the API reconnects by itself" wait_for 10 ready
post_json /v1/jobs '{"pipeline":"echo","id":"after-outage"}'
check_eq "submit works again" 202 "$HTTP_STATUS"
check_eq "and the job is in Redis" queued "$(rcli HGET "$(job_key after-outage)" state)"
check "the API process is still alive" kill -0 "$API_PID"
finish
