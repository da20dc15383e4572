#!/usr/bin/env bash
# scripts/bench.d/burst.sh, run as `scripts/bench burst`: raw throughput of shakedown's burst
# engine (`shakedown load`) against wrk and oha, side by side, on the same local nginx. Every
# round runs the three tools with the same connection count and duration, in a rotating order;
# the medians and the ratios shakedown/oha and shakedown/wrk are printed and written into
# docs/PERFORMANCE.md between the `bench:burst` markers (the rest of that file is left as it is).
#
# Settings (environment):
#   BENCH_ROUNDS       rounds, each running every tool once        (default 5)
#   BENCH_CONNECTIONS  concurrent keep-alive connections per tool  (default 50)
#   BENCH_DURATION     length of one run, whole seconds like 5s    (default 5s)
#   BENCH_WRK_THREADS  wrk -t                                      (default: nproc)
#   BENCH_PAUSE        seconds of rest between two runs            (default 1)
#   BENCH_DOC          file whose results section is rewritten     (default docs/PERFORMANCE.md)
#   BENCH_STRICT=1     exit 1 when a goal is missed
#   SHAKEDOWN, OHA, WRK, NGINX  use these binaries instead of building/installing them
#
# Only loopback is ever targeted: the script starts its own nginx on 127.0.0.1 and stops it
# on exit. Every run is bounded by its duration, and by `timeout` on top.
# shellcheck disable=SC2034 # read by lib.sh
BENCH_PART="bench burst"
# shellcheck source=scripts/bench.d/lib.sh
source "$(dirname "$0")/lib.sh"

ROUNDS=${BENCH_ROUNDS:-5}
CONNECTIONS=${BENCH_CONNECTIONS:-50}
DURATION=${BENCH_DURATION:-5s}
WRK_THREADS=${BENCH_WRK_THREADS:-$(nproc)}
PAUSE=${BENCH_PAUSE:-1}
DOC=${BENCH_DOC:-docs/PERFORMANCE.md}
STRICT=${BENCH_STRICT:-0}
TOOLS_DIR=$ROOT/.bench/tools
# Goals from the issue: at least as fast as oha, at least 80 % of wrk.
GOAL_OHA=1.0
GOAL_WRK=0.8
MARK_START='<!-- bench:burst:start -->'
MARK_END='<!-- bench:burst:end -->'

# ---- settings -------------------------------------------------------------------------------
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] && ((ROUNDS >= 1 && ROUNDS <= 100)) ||
  die "BENCH_ROUNDS must be 1..100, got '$ROUNDS'"
[[ $CONNECTIONS =~ ^[1-9][0-9]*$ ]] && ((CONNECTIONS >= 1 && CONNECTIONS <= 20000)) ||
  die "BENCH_CONNECTIONS must be 1..20000, got '$CONNECTIONS'"
[[ $DURATION =~ ^[1-9][0-9]*s$ ]] && ((${DURATION%s} >= 1 && ${DURATION%s} <= 600)) ||
  die "BENCH_DURATION must be 1s..600s in whole seconds, got '$DURATION'"
[[ $WRK_THREADS =~ ^[1-9][0-9]*$ ]] && ((WRK_THREADS >= 1)) ||
  die "BENCH_WRK_THREADS must be a positive number, got '$WRK_THREADS'"
((WRK_THREADS <= CONNECTIONS)) || WRK_THREADS=$CONNECTIONS # wrk needs connections >= threads
[[ $PAUSE =~ ^[0-9]+$ ]] || die "BENCH_PAUSE must be whole seconds, got '$PAUSE'"
[[ -f $DOC ]] || die "$DOC is missing (it holds the method; the script only fills in results)"
SECS=${DURATION%s}
# A run that takes this much longer than asked is stuck; `timeout` ends it.
RUN_LIMIT=$((SECS + 30))

# ---- tools ----------------------------------------------------------------------------------
find_nginx() {
  if [[ -n ${NGINX:-} ]]; then echo "$NGINX"; return; fi
  command -v nginx 2>/dev/null || { [[ -x /usr/sbin/nginx ]] && echo /usr/sbin/nginx; } || true
}
NGINX_BIN=$(find_nginx)
if [[ -z $NGINX_BIN ]]; then
  # The package may start a system nginx on :80; this script runs its own on a free port.
  apt_install nginx
  NGINX_BIN=$(find_nginx)
fi
[[ -x $NGINX_BIN ]] || die "nginx not found"

WRK_BIN=${WRK:-$(command -v wrk || true)}
if [[ -z $WRK_BIN ]]; then
  apt_install wrk
  WRK_BIN=$(command -v wrk)
fi

command -v jq >/dev/null 2>&1 || apt_install jq

command -v cargo >/dev/null 2>&1 || die "cargo is needed (https://rustup.rs) to build shakedown and oha"

OHA_BIN=${OHA:-}
if [[ -z $OHA_BIN ]]; then
  if [[ -x $TOOLS_DIR/bin/oha ]]; then
    OHA_BIN=$TOOLS_DIR/bin/oha
  elif command -v oha >/dev/null 2>&1; then
    OHA_BIN=$(command -v oha)
  else
    say "building oha into $TOOLS_DIR (cargo install, once; cached under .bench/)…"
    command -v cc >/dev/null 2>&1 || apt_install build-essential
    cargo install oha --locked --root "$TOOLS_DIR" >&2
    OHA_BIN=$TOOLS_DIR/bin/oha
  fi
fi
[[ -x $OHA_BIN ]] || die "oha not found at $OHA_BIN"

need_shakedown

# oha >= 1.5 writes JSON with `--output-format json`; older releases had `-j`.
if "$OHA_BIN" --help 2>&1 | grep -q -- '--output-format'; then
  OHA_JSON=(--output-format json)
else
  OHA_JSON=(-j)
fi

# Many sockets per run; give the tools room (best effort).
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# ---- nginx ----------------------------------------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/shakedown-bench.XXXXXX")
NGINX_PID=""
cleanup() {
  if [[ -n $NGINX_PID ]] && kill -0 "$NGINX_PID" 2>/dev/null; then
    kill -QUIT "$NGINX_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$NGINX_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$NGINX_PID" 2>/dev/null || true
    wait "$NGINX_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# One HTTP/1.0 GET over bash's /dev/tcp; prints the raw response.
http_get() {
  timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1; printf 'GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3; cat <&3" 2>/dev/null
}

write_nginx_conf() {
  local port=$1 nofile worker_connections=65536
  # Stay within the open-file limit, so nginx does not warn about it.
  nofile=$(ulimit -n)
  if [[ $nofile =~ ^[0-9]+$ ]] && ((nofile < worker_connections)); then worker_connections=$nofile; fi
  cat >"$WORK/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/error.log warn;
events { worker_connections $worker_connections; }
http {
    access_log off;
    # Every tool keeps its connections for the whole run; nginx's default (1000 requests per
    # connection) would make all three reconnect constantly and measure connects instead.
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
            default_type text/plain;
            return 200 "ok";
        }
    }
}
EOF
}

# Picks a free loopback port and starts nginx on it; retries when the port was taken.
start_nginx() {
  local attempt port
  for attempt in $(seq 1 20); do
    port=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
    port_open "$port" && continue
    write_nginx_conf "$port"
    "$NGINX_BIN" -p "$WORK" -c "$WORK/nginx.conf" -e "$WORK/error.log" &
    NGINX_PID=$!
    for _ in $(seq 1 50); do
      kill -0 "$NGINX_PID" 2>/dev/null || break
      if port_open "$port"; then
        if http_get "$port" | tail -n 1 | grep -qx 'ok'; then
          PORT=$port
          return 0
        fi
      fi
      sleep 0.1
    done
    say "nginx did not come up on port $port (attempt $attempt); trying another port"
    kill -KILL "$NGINX_PID" 2>/dev/null || true
    wait "$NGINX_PID" 2>/dev/null || true
    NGINX_PID=""
  done
  cat "$WORK/error.log" >&2 2>/dev/null || true
  die "could not start nginx on a free loopback port"
}

PORT=""
start_nginx
URL="http://127.0.0.1:$PORT/"
say "nginx $NGINX_BIN (pid $NGINX_PID) serving $URL"

# ---- one run per tool -----------------------------------------------------------------------
# Each prints "RPS<TAB>NOTE", NOTE being empty when every request got a 200.
run_shakedown() {
  local out="$WORK/shakedown.json"
  timeout "$RUN_LIMIT" "$SHAKEDOWN" load "$URL" -c "$CONNECTIONS" -z "$DURATION" --json >"$out" ||
    return 1
  jq -r '[.rps,
          ([(.status_histogram | to_entries[] | select(.key != "200") | "\(.key)×\(.value)"),
            (.errors | to_entries[] | "\(.key)×\(.value)")] | join(" "))] | @tsv' "$out"
}

run_wrk() {
  local out="$WORK/wrk.txt" rps note
  timeout "$RUN_LIMIT" "$WRK_BIN" -t "$WRK_THREADS" -c "$CONNECTIONS" -d "$DURATION" "$URL" >"$out" ||
    return 1
  rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")
  [[ -n $rps ]] || { cat "$out" >&2; return 1; }
  note=$(grep -E 'Non-2xx|Socket errors' "$out" | sed 's/^ *//' | paste -sd ' ' - || true)
  printf '%s\t%s\n' "$rps" "$note"
}

run_oha() {
  local out="$WORK/oha.json"
  timeout "$RUN_LIMIT" "$OHA_BIN" --no-tui "${OHA_JSON[@]}" -c "$CONNECTIONS" -z "$DURATION" "$URL" >"$out" ||
    return 1
  # oha counts in-flight requests cut off at the deadline as errors; that is not a failure.
  jq -r '[(.summary.requestsPerSec // .metrics.requests_per_sec),
          ([(.statusCodeDistribution // {} | to_entries[] | select(.key != "200") | "\(.key)×\(.value)"),
            (.errorDistribution // {} | to_entries[]
               | select(.key | test("aborted due to deadline") | not) | "\(.key)×\(.value)")]
           | join(" "))] | @tsv' "$out"
}

TOOLS=(shakedown wrk oha)
declare -A RPS_OF=()   # "tool round" -> req/s
declare -A NOTE_OF=()  # "tool round" -> anything but clean 200s
declare -A ORDER_OF=() # round -> order the tools ran in
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
START_DATE=$(date -u '+%Y-%m-%d %H:%M UTC')

say "$ROUNDS rounds × ${#TOOLS[@]} tools, $CONNECTIONS connections, $DURATION each (wrk -t $WRK_THREADS)"
for ((r = 1; r <= ROUNDS; r++)); do
  order=()
  for ((i = 0; i < ${#TOOLS[@]}; i++)); do
    order+=("${TOOLS[$(((r - 1 + i) % ${#TOOLS[@]}))]}")
  done
  ORDER_OF[$r]="${order[*]}"
  for tool in "${order[@]}"; do
    kill -0 "$NGINX_PID" 2>/dev/null || die "nginx died (see its error log above)"
    line=$("run_$tool") || die "the $tool run failed (round $r)"
    rps=${line%%$'\t'*}
    note=${line#*$'\t'}
    [[ $rps =~ ^[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?$ ]] || die "$tool reported no req/s ('$rps')"
    RPS_OF["$tool $r"]=$rps
    NOTE_OF["$tool $r"]=$note
    printf 'round %d/%d  %-9s %10.0f req/s%s\n' "$r" "$ROUNDS" "$tool" "$rps" "${note:+  ($note)}"
    sleep "$PAUSE"
  done
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- results --------------------------------------------------------------------------------
declare -A MEDIAN=()
for tool in "${TOOLS[@]}"; do
  MEDIAN[$tool]=$(for ((r = 1; r <= ROUNDS; r++)); do echo "${RPS_OF["$tool $r"]}"; done | median)
done
R_OHA=$(ratio "${MEDIAN[shakedown]}" "${MEDIAN[oha]}")
R_WRK=$(ratio "${MEDIAN[shakedown]}" "${MEDIAN[wrk]}")
V_OHA=$(verdict "$R_OHA" "$GOAL_OHA")
V_WRK=$(verdict "$R_WRK" "$GOAL_WRK")

printf '\nmedian req/s: shakedown %.0f, wrk %.0f, oha %.0f\n' \
  "${MEDIAN[shakedown]}" "${MEDIAN[wrk]}" "${MEDIAN[oha]}"
printf 'shakedown/oha = %s (goal ≥ %s: %s)\n' "$R_OHA" "$GOAL_OHA" "$V_OHA"
printf 'shakedown/wrk = %s (goal ≥ %s: %s)\n' "$R_WRK" "$GOAL_WRK" "$V_WRK"

# ---- docs/PERFORMANCE.md --------------------------------------------------------------------
CPU_MODEL=$(cpu_model)
V_SHAKEDOWN=$("$SHAKEDOWN" --version 2>&1 | first_line || true)
V_WRK_TOOL=$("$WRK_BIN" -v 2>&1 | first_line | sed 's/ Copyright.*//' || true)
V_OHA_TOOL=$("$OHA_BIN" --version 2>&1 | first_line || true)
V_NGINX=$("$NGINX_BIN" -v 2>&1 | first_line | sed 's/^nginx version: //' || true)

{
  echo "$MARK_START"
  echo "<!-- Written by scripts/bench; edits between these markers are overwritten. -->"
  echo
  echo "Last run: **$START_DATE**, $(commit_note)."
  echo
  echo "- Machine: $(nproc) CPUs ($CPU_MODEL), Linux $(uname -r); load average before/after: $LOAD_BEFORE / $LOAD_AFTER"
  echo "- Tools: $V_SHAKEDOWN (\`shakedown load\`), $V_WRK_TOOL, $V_OHA_TOOL; target $V_NGINX (1 worker)"
  echo "- Settings: $ROUNDS rounds, $CONNECTIONS connections, $DURATION per run, ${PAUSE}s pause between runs;"
  echo "  wrk \`-t $WRK_THREADS\`, oha \`--no-tui ${OHA_JSON[*]}\` (default worker threads), shakedown's tokio runtime with its default worker threads ($(nproc))"
  echo
  echo "| tool | median req/s | shakedown ÷ tool | goal |"
  echo "|---|---:|---:|---|"
  echo "| shakedown | $(fmt0 "${MEDIAN[shakedown]}") | | |"
  echo "| oha | $(fmt0 "${MEDIAN[oha]}") | $R_OHA | ≥ $GOAL_OHA: **$V_OHA** |"
  echo "| wrk | $(fmt0 "${MEDIAN[wrk]}") | $R_WRK | ≥ $GOAL_WRK: **$V_WRK** |"
  echo
  echo "All rounds (req/s; the order is the order the tools ran in that round):"
  echo
  echo "| round | order | shakedown | wrk | oha |"
  echo "|---:|---|---:|---:|---:|"
  for ((r = 1; r <= ROUNDS; r++)); do
    row="| $r | ${ORDER_OF[$r]// / → } |"
    for tool in "${TOOLS[@]}"; do
      cell=$(fmt0 "${RPS_OF["$tool $r"]}")
      if [[ -n ${NOTE_OF["$tool $r"]} ]]; then cell="$cell (${NOTE_OF["$tool $r"]})"; fi
      row="$row $cell |"
    done
    echo "$row"
  done
  echo
  any_note=0
  for key in "${!NOTE_OF[@]}"; do
    if [[ -n ${NOTE_OF[$key]} ]]; then any_note=1; fi
  done
  if ((any_note)); then
    echo "Some runs saw non-200 responses or errors (in brackets above); those rounds are suspect."
  else
    echo "Every counted request of every run was answered with a 200."
  fi
  echo "$MARK_END"
} >"$WORK/results.md"

write_section "$DOC" "$MARK_START" "$MARK_END" "$WORK/results.md"
say "results written to $DOC"

if [[ $STRICT == 1 && ($V_OHA != met || $V_WRK != met) ]]; then
  exit 1
fi
