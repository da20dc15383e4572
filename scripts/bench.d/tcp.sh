#!/usr/bin/env bash
# scripts/bench.d/tcp.sh, run as `scripts/bench tcp`: the TCP fault proxy (`shakedown tcp-proxy`,
# no toxics) against the direct path on loopback, in the same run: bulk throughput with iperf3
# in both directions (client → server crosses the proxy's upstream pipe, `-R` its downstream
# one), and the latency of small ping-pong round trips (p50/p99). Rounds alternate direct and
# proxy in a rotating order; medians, the ratio proxy/direct and the added latency are printed
# and written into docs/PERFORMANCE.md between the `bench:tcp` markers.
#
# Settings (environment):
#   BENCH_TCP_ROUNDS     rounds, each running both targets once per test   (default 5)
#   BENCH_TCP_DURATION   iperf3 -t, whole seconds                          (default 5)
#   BENCH_TCP_STREAMS    iperf3 -P, parallel streams                       (default 1)
#   BENCH_TCP_PINGS      measured round trips per ping-pong run            (default 20000)
#   BENCH_TCP_PING_SIZE  bytes per ping (and per pong)                     (default 64)
#   BENCH_PAUSE          seconds of rest between two runs                  (default 1)
#   BENCH_DOC, BENCH_STRICT=1, SHAKEDOWN   as for scripts/bench
#   IPERF3               an iperf3 binary (default: installed with apt-get when missing)
#
# Only loopback is used: iperf3's server, the echo server, the proxy and its admin API listen
# on 127.0.0.1 and are stopped when the script exits, whatever the reason (trap). Every client
# run is bounded by its own length and by `timeout` on top.
# shellcheck disable=SC2034 # read by lib.sh
BENCH_PART="bench tcp"
# shellcheck source=scripts/bench.d/lib.sh
source "$(dirname "$0")/lib.sh"

ROUNDS=${BENCH_TCP_ROUNDS:-5}
DURATION=${BENCH_TCP_DURATION:-5}
STREAMS=${BENCH_TCP_STREAMS:-1}
PINGS=${BENCH_TCP_PINGS:-20000}
PING_SIZE=${BENCH_TCP_PING_SIZE:-64}
PAUSE=${BENCH_PAUSE:-1}
DOC=${BENCH_DOC:-docs/PERFORMANCE.md}
STRICT=${BENCH_STRICT:-0}
# Goal from issue 4: bulk throughput through the proxy at least 90 % of direct.
GOAL_THROUGHPUT=0.9
MARK_START='<!-- bench:tcp:start -->'
MARK_END='<!-- bench:tcp:end -->'
PINGPONG=$ROOT/scripts/bench.d/tcp_pingpong.py
PING_WARMUP=500

# ---- settings -------------------------------------------------------------------------------
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] && ((ROUNDS <= 50)) || die "BENCH_TCP_ROUNDS must be 1..50, got '$ROUNDS'"
[[ $DURATION =~ ^[1-9][0-9]*$ ]] && ((DURATION <= 600)) ||
  die "BENCH_TCP_DURATION must be 1..600 (seconds), got '$DURATION'"
[[ $STREAMS =~ ^[1-9][0-9]*$ ]] && ((STREAMS <= 64)) || die "BENCH_TCP_STREAMS must be 1..64, got '$STREAMS'"
[[ $PINGS =~ ^[1-9][0-9]*$ ]] && ((PINGS >= 100 && PINGS <= 1000000)) ||
  die "BENCH_TCP_PINGS must be 100..1000000, got '$PINGS'"
[[ $PING_SIZE =~ ^[1-9][0-9]*$ ]] && ((PING_SIZE <= 65536)) ||
  die "BENCH_TCP_PING_SIZE must be 1..65536 (bytes), got '$PING_SIZE'"
[[ $PAUSE =~ ^[0-9]+$ ]] || die "BENCH_PAUSE must be whole seconds, got '$PAUSE'"
[[ -f $DOC ]] || die "$DOC is missing (it holds the method; the script only fills in results)"
# A run that takes this much longer than asked is stuck; `timeout` ends it.
RUN_LIMIT=$((DURATION + 30))
PING_LIMIT=$((60 + PINGS / 1000))

# ---- tools ----------------------------------------------------------------------------------
IPERF3_BIN=${IPERF3:-$(command -v iperf3 || true)}
if [[ -z $IPERF3_BIN ]]; then
  apt_install iperf3
  IPERF3_BIN=$(command -v iperf3 || true)
fi
[[ -x $IPERF3_BIN ]] || die "iperf3 not found (set IPERF3)"
command -v curl >/dev/null 2>&1 || apt_install curl
PYTHON=$(command -v python3 || true)
if [[ -z $PYTHON ]]; then
  apt_install python3
  PYTHON=$(command -v python3 || true)
fi
[[ -x $PYTHON ]] || die "python3 is needed for the ping-pong client and echo server"
need_shakedown

# ---- cleanup --------------------------------------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/shakedown-bench-tcp.XXXXXX")
PROXY_PID=""
IPERF_PID=""
ECHO_PID=""

cleanup() {
  local pid
  for pid in "$PROXY_PID" "$IPERF_PID" "$ECHO_PID"; do
    stop_pid "$pid"
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- servers --------------------------------------------------------------------------------
wait_listening() {
  local port=$1 pid=$2
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || return 1
    port_open "$port" && return 0
    sleep 0.1
  done
  return 1
}

# start_server NAME LOG CMD… (CMD holds the literal PORT where the port goes): starts CMD on a
# free port, retrying with another port when it does not come up; sets STARTED_PID and
# STARTED_PORT.
start_server() {
  local name=$1 log=$2 attempt port
  shift 2
  for attempt in 1 2 3 4 5; do
    port=$(free_port)
    "${@//PORT/$port}" >"$log" 2>&1 &
    STARTED_PID=$!
    if wait_listening "$port" "$STARTED_PID"; then
      STARTED_PORT=$port
      return 0
    fi
    say "$name did not come up on port $port (attempt $attempt)"
    cat "$log" >&2 || true
    stop_pid "$STARTED_PID"
    wait "$STARTED_PID" 2>/dev/null || true
  done
  die "could not start $name on a free loopback port"
}

start_server "iperf3 -s" "$WORK/iperf3.log" "$IPERF3_BIN" -s -B 127.0.0.1 -p PORT
IPERF_PID=$STARTED_PID IPERF_PORT=$STARTED_PORT
start_server "the echo server" "$WORK/echo.log" "$PYTHON" "$PINGPONG" serve PORT
ECHO_PID=$STARTED_PID ECHO_PORT=$STARTED_PORT
start_server "shakedown tcp-proxy" "$WORK/proxy.log" "$SHAKEDOWN" tcp-proxy --api 127.0.0.1:PORT
PROXY_PID=$STARTED_PID API_PORT=$STARTED_PORT
API=http://127.0.0.1:$API_PORT

# create_proxy NAME UPSTREAM_PORT: creates a proxy on a free port through the admin API (the
# way a Toxiproxy client does) and prints the port it listens on.
create_proxy() {
  local body out port
  body=$(printf '{"name": "%s", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:%s"}' "$1" "$2")
  out=$(curl -sS --max-time 5 -X POST -H 'Content-Type: application/json' -d "$body" "$API/proxies") ||
    die "creating proxy $1 failed: $out"
  port=$(sed -n 's/.*"listen":"127\.0\.0\.1:\([0-9]*\)".*/\1/p' <<<"$out")
  [[ $port =~ ^[0-9]+$ ]] || die "creating proxy $1: unexpected answer $out"
  echo "$port"
}
BULK_PORT=$(create_proxy bulk "$IPERF_PORT")
PING_PORT=$(create_proxy ping "$ECHO_PORT")
# The measured path must be the plain one: no toxic on either proxy.
for p in bulk ping; do
  toxics=$(curl -sS --max-time 5 "$API/proxies/$p/toxics") || die "reading the toxics of $p failed"
  [[ $toxics == "[]" ]] || die "proxy $p has toxics: $toxics"
done
say "iperf3 -s on 127.0.0.1:$IPERF_PORT, echo on :$ECHO_PORT; tcp-proxy (pid $PROXY_PID, API :$API_PORT): bulk :$BULK_PORT → :$IPERF_PORT, ping :$PING_PORT → :$ECHO_PORT"

declare -A BULK_TO=([direct]=$IPERF_PORT [proxy]=$BULK_PORT)
declare -A PING_TO=([direct]=$ECHO_PORT [proxy]=$PING_PORT)
TARGETS=(direct proxy)
DIRECTIONS=(up down)

# ---- one iperf3 run -------------------------------------------------------------------------
# run_iperf TARGET DIRECTION SECS: prints "mbit_s proxy_cpu_s busy_s window_s".
run_iperf() {
  local target=$1 dir=$2 secs=$3 out=$WORK/iperf.out rc attempt mbit
  local m0 m1 p0=0 p1=0 rev=()
  [[ $dir == down ]] && rev=(-R)
  for attempt in 1 2 3; do
    read -r -a m0 < <(machine_ticks)
    p0=$(proc_ticks "$PROXY_PID")
    rc=0
    timeout "$RUN_LIMIT" "$IPERF3_BIN" -c 127.0.0.1 -p "${BULK_TO[$target]}" -t "$secs" \
      -P "$STREAMS" -f m "${rev[@]}" >"$out" 2>&1 || rc=$?
    read -r -a m1 < <(machine_ticks)
    p1=$(proc_ticks "$PROXY_PID")
    ((rc == 0)) && break
    # iperf3's server takes one test at a time and may still be closing the last one.
    grep -q 'server is busy' "$out" || { cat "$out" >&2; return 1; }
    sleep 1
  done
  ((rc == 0)) || { cat "$out" >&2; return 1; }
  # The last receiver line is the total ([SUM] with several streams).
  mbit=$(awk '/receiver/ {for (i = 1; i < NF; i++) if ($(i + 1) == "Mbits/sec") v = $i} END {print v}' "$out")
  is_number "${mbit:-x}" || { cat "$out" >&2; return 1; }
  # Only the proxy's run counts its CPU; the direct run leaves it idle.
  [[ $target == proxy ]] || p1=$p0
  awk -v mb="$mbit" -v p=$((p1 - p0)) -v busy=$((m1[0] - m0[0])) -v total=$((m1[1] - m0[1])) \
    -v hz="$CLK_TCK" -v cpus="$(nproc)" \
    'BEGIN {printf "%s %.3f %.3f %.3f\n", mb, p / hz, busy / hz, total / hz / cpus}'
}

# ---- one ping-pong run ----------------------------------------------------------------------
# run_ping TARGET: prints "p50_us p99_us mean_us count".
run_ping() {
  timeout "$PING_LIMIT" "$PYTHON" "$PINGPONG" client "${PING_TO[$1]}" "$PINGS" "$PING_SIZE" "$PING_WARMUP"
}

# Warm-up: first connections, the proxy's buffers, iperf3's and Python's start-up.
for t in "${TARGETS[@]}"; do
  run_iperf "$t" up 1 >/dev/null || die "warm-up iperf3 through $t failed"
  run_ping "$t" >/dev/null || die "warm-up ping-pong through $t failed"
done

# ---- rounds ---------------------------------------------------------------------------------
declare -A RES=()      # "test target round" -> the run's line (test: up, down or ping)
declare -A ORDER_OF=() # round -> order the targets ran in
LOAD_BEFORE=$(load_avg)
START_DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
say "$ROUNDS rounds × 2 targets: iperf3 -t $DURATION -P $STREAMS up and down (-R), ping-pong $PINGS × $PING_SIZE B"
for ((r = 1; r <= ROUNDS; r++)); do
  order=()
  for ((i = 0; i < ${#TARGETS[@]}; i++)); do order+=("${TARGETS[$(((r - 1 + i) % ${#TARGETS[@]}))]}"); done
  ORDER_OF[$r]="${order[*]}"
  for t in "${order[@]}"; do
    for d in "${DIRECTIONS[@]}"; do
      kill -0 "$PROXY_PID" 2>/dev/null || { cat "$WORK/proxy.log" >&2; die "the proxy died"; }
      line=$(run_iperf "$t" "$d" "$DURATION") || die "iperf3 $d through $t failed (round $r)"
      RES["$d $t $r"]=$line
      printf 'round %d/%d  iperf3 %-4s %-6s %9.0f Mbit/s\n' "$r" "$ROUNDS" "$d" "$t" "${line%% *}"
      sleep "$PAUSE"
    done
    line=$(run_ping "$t") || die "ping-pong through $t failed (round $r)"
    RES["ping $t $r"]=$line
    read -r p50 p99 _ <<<"$line"
    printf 'round %d/%d  ping   %-6s p50 %7s µs  p99 %7s µs\n' "$r" "$ROUNDS" "$t" "$p50" "$p99"
    sleep "$PAUSE"
  done
done
LOAD_AFTER=$(load_avg)

# ---- results --------------------------------------------------------------------------------
# field N of every round's line for test/target, one per line.
fields() { for ((r = 1; r <= ROUNDS; r++)); do awk -v n="$3" '{print $n}' <<<"${RES["$1 $2 $r"]}"; done; }
declare -A MBIT=() CPU_GB=() BUSY=() P50=() P99=() MEAN=() R_TP=() V_TP=()
for d in "${DIRECTIONS[@]}"; do
  for t in "${TARGETS[@]}"; do
    MBIT["$d $t"]=$(fields "$d" "$t" 1 | median)
    BUSY["$d $t"]=$(for ((r = 1; r <= ROUNDS; r++)); do awk -v c="$(nproc)" '{printf "%.1f\n", ($4 > 0 ? $3 / $4 * 100 / c : 0)}' <<<"${RES["$d $t $r"]}"; done | median)
  done
  # The proxy's CPU seconds per GB moved (GB = 8000 Mbit).
  CPU_GB[$d]=$(for ((r = 1; r <= ROUNDS; r++)); do awk -v s="$DURATION" '{printf "%.3f\n", ($1 > 0 ? $2 / ($1 * s / 8000) : 0)}' <<<"${RES["$d proxy $r"]}"; done | median)
  R_TP[$d]=$(ratio "${MBIT[$d proxy]}" "${MBIT[$d direct]}")
  V_TP[$d]=$(verdict "${R_TP[$d]}" "$GOAL_THROUGHPUT")
done
for t in "${TARGETS[@]}"; do
  P50[$t]=$(fields ping "$t" 1 | median)
  P99[$t]=$(fields ping "$t" 2 | median)
  MEAN[$t]=$(fields ping "$t" 3 | median)
done
ADD50=$(awk -v a="${P50[proxy]}" -v b="${P50[direct]}" 'BEGIN {printf "%.1f", a - b}')
ADD99=$(awk -v a="${P99[proxy]}" -v b="${P99[direct]}" 'BEGIN {printf "%.1f", a - b}')
any_missed=0
for d in "${DIRECTIONS[@]}"; do
  [[ ${V_TP[$d]} == met ]] || any_missed=1
  printf '\niperf3 %s: median direct %.0f Mbit/s, proxy %.0f Mbit/s; proxy/direct = %s (goal ≥ %s: %s); proxy CPU %s s/GB\n' \
    "$d" "${MBIT[$d direct]}" "${MBIT[$d proxy]}" "${R_TP[$d]}" "$GOAL_THROUGHPUT" "${V_TP[$d]}" "${CPU_GB[$d]}"
done
printf '\nping-pong %s B: p50 direct %s µs, proxy %s µs (+%s); p99 direct %s µs, proxy %s µs (+%s)\n' \
  "$PING_SIZE" "${P50[direct]}" "${P50[proxy]}" "$ADD50" "${P99[direct]}" "${P99[proxy]}" "$ADD99"

# ---- docs/PERFORMANCE.md --------------------------------------------------------------------
V_IPERF=$("$IPERF3_BIN" --version 2>&1 | first_line)
V_PY=$("$PYTHON" --version 2>&1 | first_line)
V_SHAKEDOWN=$("$SHAKEDOWN" --version 2>&1 | first_line || true)
{
  echo "$MARK_START"
  echo "<!-- Written by scripts/bench tcp; edits between these markers are overwritten. -->"
  echo
  echo "Last run: **$START_DATE**, $(commit_note)."
  echo
  echo "- Machine: $(nproc) CPUs ($(cpu_model)), Linux $(uname -r); load average before/after: $LOAD_BEFORE / $LOAD_AFTER"
  echo "- Proxy: $V_SHAKEDOWN \`tcp-proxy\`, proxies created through the admin API, no toxics (checked before measuring)"
  echo "- Throughput: $V_IPERF, \`iperf3 -c 127.0.0.1 -t $DURATION -P $STREAMS -f m\` (up) and with \`-R\` (down); receiver's Mbit/s"
  echo "- Round trips: \`scripts/bench.d/tcp_pingpong.py\` ($V_PY, TCP_NODELAY): $PINGS measured round trips of $PING_SIZE B after $PING_WARMUP unmeasured ones, one connection"
  echo "- $ROUNDS rounds, order rotated each round, ${PAUSE}s pause between runs"
  echo
  echo "| iperf3 | direct Mbit/s | proxy Mbit/s | proxy ÷ direct (goal ≥ $GOAL_THROUGHPUT) | proxy CPU s per GB | machine busy direct / proxy |"
  echo "|---|---:|---:|---:|---:|---:|"
  for d in "${DIRECTIONS[@]}"; do
    label="up (client → server)"
    [[ $d == up ]] || label="down (\`-R\`, server → client)"
    echo "| $label | $(fmt0 "${MBIT[$d direct]}") | $(fmt0 "${MBIT[$d proxy]}") | ${R_TP[$d]}: **${V_TP[$d]}** | ${CPU_GB[$d]} | ${BUSY[$d direct]} % / ${BUSY[$d proxy]} % |"
  done
  echo
  echo "| ping-pong ($PING_SIZE B) | direct | proxy | added by the proxy |"
  echo "|---|---:|---:|---:|"
  echo "| p50 | ${P50[direct]} µs | ${P50[proxy]} µs | **$ADD50 µs** |"
  echo "| p99 | ${P99[direct]} µs | ${P99[proxy]} µs | **$ADD99 µs** |"
  echo "| mean | ${MEAN[direct]} µs | ${MEAN[proxy]} µs | $(awk -v a="${MEAN[proxy]}" -v b="${MEAN[direct]}" 'BEGIN {printf "%.1f", a - b}') µs |"
  echo
  echo "All rounds (iperf3 Mbit/s up / down; ping-pong p50 / p99 µs):"
  echo
  echo "| round | order | direct up / down | proxy up / down | direct ping | proxy ping |"
  echo "|---:|---|---:|---:|---:|---:|"
  for ((r = 1; r <= ROUNDS; r++)); do
    row="| $r | ${ORDER_OF[$r]// / → } |"
    for t in "${TARGETS[@]}"; do
      row="$row $(fmt0 "$(awk '{print $1}' <<<"${RES["up $t $r"]}")") / $(fmt0 "$(awk '{print $1}' <<<"${RES["down $t $r"]}")") |"
    done
    for t in "${TARGETS[@]}"; do
      row="$row $(awk '{print $1 " / " $2}' <<<"${RES["ping $t $r"]}") |"
    done
    echo "$row"
  done
  if ((any_missed)); then
    echo
    echo "**A goal was missed** (marked NOT met above); see *Reading the numbers* above."
  fi
  echo "$MARK_END"
} >"$WORK/results.md"
write_section "$DOC" "$MARK_START" "$MARK_END" "$WORK/results.md"
say "results written to $DOC"

if [[ $STRICT == 1 ]] && ((any_missed)); then
  exit 1
fi
