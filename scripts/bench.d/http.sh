#!/usr/bin/env bash
# scripts/bench.d/http.sh, run as `scripts/bench http`: the latency the HTTP fault proxy adds
# when no fault fires. The measured request is what an agent sends: a POST of a realistic Chat
# Completions JSON body (model, system and user messages, sampling settings), so the proxy
# reads the body, parses it, finds the model and matches it against its LLM rule on every call.
# A local nginx answers it with a small Chat Completions JSON body (`return 200`, which reads
# and discards the request body); oha sends a FIXED rate of requests (default 1,000 req/s,
# with latency correction, so a stall counts against the requests it delayed) directly to
# nginx and through `shakedown fault-proxy`, whose config has rules that are evaluated on every
# call and never fire. The medians over the rounds of p50
# and p99, and the differences proxy − direct, are printed and written into
# docs/PERFORMANCE.md between the `bench:http` markers (the rest of that file is left as it is).
#
# Settings (environment):
#   BENCH_ROUNDS       rounds, each measuring direct and proxy once   (default 3)
#   BENCH_RATE         requests per second, fixed                     (default 1000)
#   BENCH_DURATION     length of one run, whole seconds like 10s      (default 10s)
#   BENCH_CONNECTIONS  oha -c: keep-alive connections                 (default 16)
#   BENCH_PAUSE        seconds of rest between two runs               (default 1)
#   BENCH_DOC          file whose results section is rewritten        (default docs/PERFORMANCE.md)
#   BENCH_STRICT=1     exit 1 when the goal (p99 added ≤ 1 ms) is missed
#   SHAKEDOWN, OHA, NGINX  use these binaries instead of building/installing them
#
# Only loopback is ever targeted: the script starts its own nginx and proxy on 127.0.0.1 and
# stops both on exit. Every run is bounded by its duration, and by `timeout` on top.
# shellcheck disable=SC2034 # read by lib.sh
BENCH_PART="bench http"
# shellcheck source=scripts/bench.d/lib.sh
source "$(dirname "$0")/lib.sh"

ROUNDS=${BENCH_ROUNDS:-3}
RATE=${BENCH_RATE:-1000}
DURATION=${BENCH_DURATION:-10s}
CONNECTIONS=${BENCH_CONNECTIONS:-16}
PAUSE=${BENCH_PAUSE:-1}
DOC=${BENCH_DOC:-docs/PERFORMANCE.md}
STRICT=${BENCH_STRICT:-0}
TOOLS_DIR=$ROOT/.bench/tools
# Goal from the issue: p99 added ≤ 1 ms at 1,000 req/s.
GOAL_ADDED_P99_MS=1.0
MARK_START='<!-- bench:http:start -->'
MARK_END='<!-- bench:http:end -->'
BODY='{"id":"chatcmpl-bench","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}]}'
# The measured request: a Chat Completions call as an agent makes it. Its model is one the
# LLM rule below is matched against and never matches.
MODEL=gpt-4o-mini
REQUEST='{"model":"'$MODEL'","messages":[{"role":"system","content":"You are a support agent for an online shop. Answer briefly, cite the order number, and call a tool when you need order data."},{"role":"user","content":"Where is my order 48213? It was due on Monday and the tracking page has not changed since Friday."}],"temperature":0.2,"max_tokens":256,"stream":false}'

# ---- settings -------------------------------------------------------------------------------
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] && ((ROUNDS <= 50)) || die "BENCH_ROUNDS must be 1..50, got '$ROUNDS'"
[[ $RATE =~ ^[1-9][0-9]*$ ]] && ((RATE <= 100000)) || die "BENCH_RATE must be 1..100000, got '$RATE'"
[[ $DURATION =~ ^[1-9][0-9]*s$ ]] && ((${DURATION%s} <= 600)) ||
  die "BENCH_DURATION must be 1s..600s in whole seconds, got '$DURATION'"
[[ $CONNECTIONS =~ ^[1-9][0-9]*$ ]] && ((CONNECTIONS <= 1000)) ||
  die "BENCH_CONNECTIONS must be 1..1000, got '$CONNECTIONS'"
[[ $PAUSE =~ ^[0-9]+$ ]] || die "BENCH_PAUSE must be whole seconds, got '$PAUSE'"
[[ -f $DOC ]] || die "$DOC is missing (it holds the method; the script only fills in results)"
RUN_LIMIT=$((${DURATION%s} + 30))

# ---- tools ----------------------------------------------------------------------------------
NGINX_BIN=${NGINX:-$(command -v nginx || { [[ -x /usr/sbin/nginx ]] && echo /usr/sbin/nginx; } || true)}
if [[ -z $NGINX_BIN ]]; then
  apt_install nginx
  NGINX_BIN=$(command -v nginx || echo /usr/sbin/nginx)
fi
[[ -x $NGINX_BIN ]] || die "nginx not found"
command -v jq >/dev/null 2>&1 || apt_install jq

OHA_BIN=${OHA:-}
if [[ -z $OHA_BIN ]]; then
  if [[ -x $TOOLS_DIR/bin/oha ]]; then
    OHA_BIN=$TOOLS_DIR/bin/oha
  elif command -v oha >/dev/null 2>&1; then
    OHA_BIN=$(command -v oha)
  else
    command -v cargo >/dev/null 2>&1 || die "cargo is needed to build oha"
    say "building oha into $TOOLS_DIR (cargo install, once; cached under .bench/)…"
    command -v cc >/dev/null 2>&1 || apt_install build-essential
    cargo install oha --locked --root "$TOOLS_DIR" >&2
    OHA_BIN=$TOOLS_DIR/bin/oha
  fi
fi
[[ -x $OHA_BIN ]] || die "oha not found at $OHA_BIN"
"$OHA_BIN" --help 2>&1 | grep -q -- '--latency-correction' || die "$OHA_BIN has no --latency-correction (oha ≥ 1.0 needed)"
"$OHA_BIN" --help 2>&1 | grep -qE -- '(^|[ ,])-D' || die "$OHA_BIN has no -D (request body from a file)"
if "$OHA_BIN" --help 2>&1 | grep -q -- '--output-format'; then OHA_JSON=(--output-format json); else OHA_JSON=(-j); fi

need_shakedown
ulimit -n 65536 2>/dev/null || true

# ---- servers --------------------------------------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/shakedown-bench-http.XXXXXX")
NGINX_PID=""
PROXY_PID=""
cleanup() {
  stop_pid "$PROXY_PID" TERM
  stop_pid "$NGINX_PID" QUIT
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
PATH_Q=/v1/chat/completions
printf '%s' "$REQUEST" >"$WORK/request.json"
jq -e --arg m "$MODEL" '.model == $m and (.messages | length) == 2' "$WORK/request.json" >/dev/null ||
  die "the benchmark request is not the Chat Completions JSON it should be"

# The status line, headers and body of one POST of file $3 to port $1, path $2, over bash's
# /dev/tcp (HTTP/1.0, so the server closes after answering).
http_post() {
  timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1
    printf 'POST $2 HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n' \"\$(wc -c <'$3')\" >&3
    cat '$3' >&3
    cat <&3" 2>/dev/null
}

start_nginx() {
  local attempt port
  for attempt in $(seq 1 20); do
    port=$(free_port)
    cat >"$WORK/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 100000000;
    keepalive_timeout 75s;
    client_body_temp_path $WORK/tmp_body;
    proxy_temp_path $WORK/tmp_proxy;
    fastcgi_temp_path $WORK/tmp_fastcgi;
    uwsgi_temp_path $WORK/tmp_uwsgi;
    scgi_temp_path $WORK/tmp_scgi;
    server {
        listen 127.0.0.1:$port;
        location / {
            default_type application/json;
            return 200 '$BODY';
        }
    }
}
EOF
    "$NGINX_BIN" -p "$WORK" -c "$WORK/nginx.conf" -e "$WORK/nginx-error.log" &
    NGINX_PID=$!
    for _ in $(seq 1 50); do
      kill -0 "$NGINX_PID" 2>/dev/null || break
      if http_post "$port" "$PATH_Q" "$WORK/request.json" | grep -qF '"chatcmpl-bench"'; then
        NGINX_PORT=$port
        return 0
      fi
      sleep 0.1
    done
    say "nginx did not come up on port $port (attempt $attempt); trying another port"
    stop_pid "$NGINX_PID" KILL
    NGINX_PID=""
  done
  cat "$WORK/nginx-error.log" >&2 2>/dev/null || true
  die "could not start nginx on a free loopback port"
}

# Rules that are matched against every call and never fire: a tool nobody calls, a model
# nobody asks for, an attack on a URL nobody requests. The proxy still describes each call,
# runs the matchers and counts it; it just never has anything to apply.
cat >"$WORK/faults.yaml" <<'EOF'
name: bench_never_fires
chaos:
  tool_faults:
    - {tool: bench_tool_never_called, mode: error, error_code: 503}
  llm_faults:
    - {mode: rate_limit, model: "bench-model-never-asked-*"}
  context_attacks:
    - {type: indirect_injection, match_url: "http://bench.invalid/*", trigger_probability: 1.0}
EOF

start_proxy() {
  local attempt port
  for attempt in $(seq 1 20); do
    port=$(free_port)
    SHAKEDOWN_DATA_DIR=$WORK/data "$SHAKEDOWN" fault-proxy --config "$WORK/faults.yaml" --listen "127.0.0.1:$port" \
      --route "/=http://127.0.0.1:$NGINX_PORT" --seed 1 --events "$WORK/events.jsonl" \
      >"$WORK/proxy.log" 2>&1 &
    PROXY_PID=$!
    for _ in $(seq 1 100); do
      kill -0 "$PROXY_PID" 2>/dev/null || break
      if http_post "$port" "$PATH_Q" "$WORK/request.json" | grep -qF '"chatcmpl-bench"'; then
        PROXY_PORT=$port
        return 0
      fi
      sleep 0.1
    done
    say "the proxy did not come up on port $port (attempt $attempt); trying another port"
    stop_pid "$PROXY_PID" KILL
    PROXY_PID=""
  done
  cat "$WORK/proxy.log" >&2 2>/dev/null || true
  die "could not start shakedown fault-proxy"
}

NGINX_PORT=""
PROXY_PORT=""
start_nginx
start_proxy
declare -A URL=([direct]="http://127.0.0.1:$NGINX_PORT$PATH_Q" [proxy]="http://127.0.0.1:$PROXY_PORT$PATH_Q")
TARGETS=(direct proxy)
say "nginx on :$NGINX_PORT (pid $NGINX_PID), fault-proxy on :$PROXY_PORT (pid $PROXY_PID)"

# ---- one run --------------------------------------------------------------------------------
# Prints "P50_MS P99_MS RPS NON200 ERRORS" for one fixed-rate run against target $1.
run_oha() {
  local out="$WORK/oha.json"
  timeout "$RUN_LIMIT" "$OHA_BIN" -q "$RATE" -z "$2" -c "$CONNECTIONS" --latency-correction \
    -m POST -T application/json -D "$WORK/request.json" \
    --no-tui "${OHA_JSON[@]}" "${URL[$1]}" >"$out" 2>"$WORK/oha.err" || {
    cat "$WORK/oha.err" >&2
    return 1
  }
  # oha counts the requests still in flight at the deadline as errors; they are not failures.
  jq -r '[(.latencyPercentiles.p50 * 1000), (.latencyPercentiles.p99 * 1000), .rps.mean // .summary.requestsPerSec,
          ([.statusCodeDistribution | to_entries[] | select(.key != "200") | .value] | add // 0),
          ([.errorDistribution | to_entries[] | select(.key != "aborted due to deadline") | .value] | add // 0)]
         | map(tostring) | join(" ")' "$out"
}

# Warm-up: connections, the proxy's pool, caches.
for t in "${TARGETS[@]}"; do run_oha "$t" 2s >/dev/null || die "warm-up against $t failed"; done
# No rule fired: every fired fault would be a line in the events file.
[[ ! -s $WORK/events.jsonl ]] || die "a fault fired during the warm-up: $(head -n 1 "$WORK/events.jsonl")"

# ---- rounds ---------------------------------------------------------------------------------
declare -A RES=() ORDER_OF=()
LOAD_BEFORE=$(load_avg)
START_DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
say "$ROUNDS rounds × 2 targets: oha -q $RATE -z $DURATION -c $CONNECTIONS --latency-correction -m POST -D request.json (${#REQUEST} B)"
for ((r = 1; r <= ROUNDS; r++)); do
  if ((r % 2)); then order=(direct proxy); else order=(proxy direct); fi
  ORDER_OF[$r]="${order[*]}"
  for t in "${order[@]}"; do
    kill -0 "$PROXY_PID" 2>/dev/null || { cat "$WORK/proxy.log" >&2; die "the proxy died"; }
    line=$(run_oha "$t" "$DURATION") || die "oha against $t failed (round $r)"
    RES["$t $r"]=$line
    read -r p50 p99 rps bad errs <<<"$line"
    printf 'round %d/%d  %-6s p50 %.3f ms  p99 %.3f ms  %.0f req/s  non-200 %s  errors %s\n' \
      "$r" "$ROUNDS" "$t" "$p50" "$p99" "$rps" "$bad" "$errs"
    ((bad == 0 && errs == 0)) || die "$t answered $bad non-200 and $errs errors in round $r"
    [[ ! -s $WORK/events.jsonl ]] || die "a fault fired in round $r"
    sleep "$PAUSE"
  done
done
LOAD_AFTER=$(load_avg)

# The LLM rule really was on the measured path: the same request with a model its glob
# matches is answered by the proxy itself (a 429, before nginx is asked) and reported.
sed "s/\"model\":\"$MODEL\"/\"model\":\"bench-model-never-asked-probe\"/" "$WORK/request.json" >"$WORK/probe.json"
probe=$(http_post "$PROXY_PORT" "$PATH_Q" "$WORK/probe.json" | first_line || true)
[[ $probe == *" 429 "* ]] || die "the proxy did not match the request's model against its LLM rule (answered: $probe)"
for _ in $(seq 1 50); do [[ -s $WORK/events.jsonl ]] && break; sleep 0.1; done
grep -qF '"bench-model-never-asked-probe"' "$WORK/events.jsonl" ||
  die "the probe's rate limit was not reported in the events file"
say "checked: the proxy parsed each request's model and matched it against its LLM rule"

# ---- results --------------------------------------------------------------------------------
fields() { for ((r = 1; r <= ROUNDS; r++)); do awk -v n="$2" '{print $n}' <<<"${RES["$1 $r"]}"; done; }
declare -A P50=() P99=() RPS=()
for t in "${TARGETS[@]}"; do
  P50[$t]=$(fields "$t" 1 | median)
  P99[$t]=$(fields "$t" 2 | median)
  RPS[$t]=$(fields "$t" 3 | median)
done
ms() { awk -v v="$1" 'BEGIN {printf "%.3f", v}'; }
ADD50=$(awk -v a="${P50[proxy]}" -v b="${P50[direct]}" 'BEGIN {printf "%.3f", a - b}')
ADD99=$(awk -v a="${P99[proxy]}" -v b="${P99[direct]}" 'BEGIN {printf "%.3f", a - b}')
if awk -v a="$ADD99" -v g="$GOAL_ADDED_P99_MS" 'BEGIN {exit !(a <= g)}'; then V99=met; else V99="NOT met"; fi
printf '\np50: direct %s ms, proxy %s ms, added %s ms\np99: direct %s ms, proxy %s ms, added %s ms (goal ≤ %s ms: %s)\n' \
  "$(ms "${P50[direct]}")" "$(ms "${P50[proxy]}")" "$ADD50" "$(ms "${P99[direct]}")" "$(ms "${P99[proxy]}")" "$ADD99" "$GOAL_ADDED_P99_MS" "$V99"

# ---- docs/PERFORMANCE.md --------------------------------------------------------------------
V_OHA=$("$OHA_BIN" --version 2>&1 | first_line)
V_NGINX=$("$NGINX_BIN" -v 2>&1 | first_line)
V_SHAKEDOWN=$("$SHAKEDOWN" --version 2>&1 | first_line || true)
{
  echo "$MARK_START"
  echo "<!-- Written by scripts/bench http; edits between these markers are overwritten. -->"
  echo
  echo "Last run: **$START_DATE**, $(commit_note)."
  echo
  echo "- Machine: $(nproc) CPUs ($(cpu_model)), Linux $(uname -r); load average before/after: $LOAD_BEFORE / $LOAD_AFTER"
  echo "- Request: \`POST $PATH_Q\`, a ${#REQUEST} B Chat Completions JSON body (model \`$MODEL\`, a system and a user message)"
  echo "- Upstream: $V_NGINX, one worker, answering with a ${#BODY} B JSON body"
  echo "- Proxy: $V_SHAKEDOWN \`fault-proxy\`, route \`/\` → nginx, one rule of each family (tool, LLM, context attack), none of which fires; the request's model is matched against the LLM rule on every call"
  echo "- Load: $V_OHA, \`oha -q $RATE -z $DURATION -c $CONNECTIONS --latency-correction -m POST -T application/json -D request.json\`; $ROUNDS rounds, order alternated, ${PAUSE}s pause"
  echo
  echo "| latency at $RATE req/s | direct | through the proxy | added by the proxy |"
  echo "|---|---:|---:|---:|"
  echo "| p50 | $(ms "${P50[direct]}") ms | $(ms "${P50[proxy]}") ms | **$ADD50 ms** |"
  echo "| p99 | $(ms "${P99[direct]}") ms | $(ms "${P99[proxy]}") ms | **$ADD99 ms** (goal ≤ $GOAL_ADDED_P99_MS ms: **$V99**) |"
  echo
  echo "All rounds (p50 / p99 ms, achieved req/s):"
  echo
  echo "| round | order | direct | proxy |"
  echo "|---:|---|---:|---:|"
  for ((r = 1; r <= ROUNDS; r++)); do
    row="| $r | ${ORDER_OF[$r]// / → } |"
    for t in "${TARGETS[@]}"; do
      row="$row $(awk '{printf "%.3f / %.3f, %.0f", $1, $2, $3}' <<<"${RES["$t $r"]}") |"
    done
    echo "$row"
  done
  if [[ $V99 != met ]]; then
    echo
    echo "**The goal was missed** (marked NOT met above); see *Reading the numbers* above."
  fi
  echo "$MARK_END"
} >"$WORK/results.md"
write_section "$DOC" "$MARK_START" "$MARK_END" "$WORK/results.md"
say "results written to $DOC"

if [[ $STRICT == 1 && $V99 != met ]]; then
  exit 1
fi
