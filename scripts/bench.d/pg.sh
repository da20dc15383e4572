#!/usr/bin/env bash
# scripts/bench.d/pg.sh, run as `scripts/bench pg`: pgbench select-only throughput against one
# throwaway PostgreSQL server, three ways in the same run: direct, through `shakedown pg-proxy
# --policy strict` (no --events), and through pgbouncer in session mode. Rounds alternate the
# three targets in a rotating order; the median TPS per target and the ratios proxy/direct and
# proxy/pgbouncer are printed and written into docs/PERFORMANCE.md between the `bench:pg`
# markers, with the CPU each process spent per transaction.
#
# Settings (environment):
#   BENCH_PG_ROUNDS    rounds, each running every target once per mode   (default 5)
#   BENCH_PG_DURATION  pgbench -T, whole seconds                         (default 10)
#   BENCH_PG_CLIENTS   pgbench -c                                        (default 8)
#   BENCH_PG_JOBS      pgbench -j                                        (default 2)
#   BENCH_PG_SCALE     pgbench -i -s                                     (default 10)
#   BENCH_PG_MODES     pgbench -M values, space-separated                (default "simple extended")
#   BENCH_PAUSE        seconds of rest between two runs                  (default 1)
#   BENCH_PG_PROXY_WORKERS  the proxy's tokio worker threads (TOKIO_WORKER_THREADS); empty
#                      for tokio's default, one per CPU                  (default 1, like
#                      pgbouncer's single process)
#   BENCH_DOC, BENCH_STRICT=1, SHAKEDOWN   as for scripts/bench
#   PG_BIN             PostgreSQL server binaries          (default /usr/lib/postgresql/15/bin)
#   PGBOUNCER          a pgbouncer binary (default: installed with apt-get when missing)
#
# Only loopback is used: the server, the proxy and pgbouncer listen on free ports of 127.0.0.1
# and are stopped when the script exits, whatever the reason (trap). Every pgbench run is
# bounded by -T and by `timeout` on top.
# shellcheck disable=SC2034 # read by lib.sh
BENCH_PART="bench pg"
# shellcheck source=scripts/bench.d/lib.sh
source "$(dirname "$0")/lib.sh"

ROUNDS=${BENCH_PG_ROUNDS:-5}
DURATION=${BENCH_PG_DURATION:-10}
CLIENTS=${BENCH_PG_CLIENTS:-8}
JOBS=${BENCH_PG_JOBS:-2}
SCALE=${BENCH_PG_SCALE:-10}
read -r -a MODES <<<"${BENCH_PG_MODES:-simple extended}"
PAUSE=${BENCH_PAUSE:-1}
PROXY_WORKERS=${BENCH_PG_PROXY_WORKERS-1}
DOC=${BENCH_DOC:-docs/PERFORMANCE.md}
STRICT=${BENCH_STRICT:-0}
# Goals from issue 3: at least 85 % of direct, at least pgbouncer's TPS.
GOAL_DIRECT=0.85
GOAL_BOUNCER=1.0
MARK_START='<!-- bench:pg:start -->'
MARK_END='<!-- bench:pg:end -->'
BENCH_USER=bench
BENCH_DB=bench

# ---- settings -------------------------------------------------------------------------------
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] && ((ROUNDS <= 50)) || die "BENCH_PG_ROUNDS must be 1..50, got '$ROUNDS'"
[[ $DURATION =~ ^[1-9][0-9]*$ ]] && ((DURATION <= 600)) ||
  die "BENCH_PG_DURATION must be 1..600 (seconds), got '$DURATION'"
[[ $CLIENTS =~ ^[1-9][0-9]*$ ]] && ((CLIENTS <= 40)) || die "BENCH_PG_CLIENTS must be 1..40, got '$CLIENTS'"
[[ $JOBS =~ ^[1-9][0-9]*$ ]] && ((JOBS <= CLIENTS)) ||
  die "BENCH_PG_JOBS must be 1..BENCH_PG_CLIENTS, got '$JOBS'"
[[ $SCALE =~ ^[1-9][0-9]*$ ]] && ((SCALE <= 1000)) || die "BENCH_PG_SCALE must be 1..1000, got '$SCALE'"
((${#MODES[@]})) || die "BENCH_PG_MODES is empty"
for m in "${MODES[@]}"; do
  [[ $m == simple || $m == extended || $m == prepared ]] ||
    die "BENCH_PG_MODES holds '$m'; pgbench -M takes simple, extended or prepared"
done
[[ $PAUSE =~ ^[0-9]+$ ]] || die "BENCH_PAUSE must be whole seconds, got '$PAUSE'"
[[ -z $PROXY_WORKERS || ($PROXY_WORKERS =~ ^[1-9][0-9]*$ && $PROXY_WORKERS -le 64) ]] ||
  die "BENCH_PG_PROXY_WORKERS must be empty or 1..64, got '$PROXY_WORKERS'"
[[ -f $DOC ]] || die "$DOC is missing (it holds the method; the script only fills in results)"
# A run that takes this much longer than asked is stuck; `timeout` ends it.
RUN_LIMIT=$((DURATION + 60))

# ---- tools ----------------------------------------------------------------------------------
find_pg_bin() {
  if [[ -n ${PG_BIN:-} ]]; then echo "$PG_BIN"; return; fi
  if [[ -x /usr/lib/postgresql/15/bin/initdb ]]; then echo /usr/lib/postgresql/15/bin; return; fi
  # Otherwise the newest installed major version.
  find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin 2>/dev/null | sort -V | tail -n 1
}
PG_BIN=$(find_pg_bin)
if [[ -z $PG_BIN || ! -x $PG_BIN/initdb ]]; then
  apt_install postgresql postgresql-contrib
  PG_BIN=$(find_pg_bin)
fi
[[ -x $PG_BIN/initdb && -x $PG_BIN/pg_ctl ]] || die "PostgreSQL server binaries not found (set PG_BIN)"
# pgbench and psql of the server's own version.
PGBENCH=$PG_BIN/pgbench
[[ -x $PGBENCH ]] || PGBENCH=$(command -v pgbench || true)
PSQL=$PG_BIN/psql
[[ -x $PSQL ]] || PSQL=$(command -v psql || true)
[[ -x $PGBENCH && -x $PSQL ]] || die "pgbench and psql are needed (package postgresql-client)"

find_pgbouncer() {
  if [[ -n ${PGBOUNCER:-} ]]; then echo "$PGBOUNCER"; return; fi
  command -v pgbouncer 2>/dev/null || { [[ -x /usr/sbin/pgbouncer ]] && echo /usr/sbin/pgbouncer; } || true
}
PGBOUNCER_BIN=$(find_pgbouncer)
if [[ -z $PGBOUNCER_BIN ]]; then
  # Debian's package registers a service but does not start it here; we run our own anyway.
  apt_install pgbouncer
  PGBOUNCER_BIN=$(find_pgbouncer)
fi
[[ -x $PGBOUNCER_BIN ]] || die "pgbouncer not found"

need_shakedown

# initdb, the server and pgbouncer refuse to run as root: as root they run as `postgres`.
if [[ $(id -u) -eq 0 ]]; then
  getent passwd postgres >/dev/null || die "running as root needs a 'postgres' user to run the server as"
  as_pg() { runuser -u postgres -- "$@"; }
  PG_OWNER=postgres
else
  as_pg() { "$@"; }
  PG_OWNER=""
fi

# ---- cleanup --------------------------------------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/shakedown-bench-pg.XXXXXX")
chmod 755 "$WORK"
if [[ -n $PG_OWNER ]]; then chown "$PG_OWNER" "$WORK"; fi
PGDATA_DIR=$WORK/data
PG_STARTED=0
PROXY_PID=""
BOUNCER_WRAPPER=""

cleanup() {
  stop_pid "$PROXY_PID"
  wait "$PROXY_PID" 2>/dev/null || true
  if [[ -f $WORK/pgbouncer.pid ]]; then stop_pid "$(cat "$WORK/pgbouncer.pid" 2>/dev/null || true)"; fi
  stop_pid "$BOUNCER_WRAPPER"
  wait "$BOUNCER_WRAPPER" 2>/dev/null || true
  if ((PG_STARTED)); then
    as_pg "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" -m immediate -w -t 10 stop >/dev/null 2>&1 || true
    if [[ -f $PGDATA_DIR/postmaster.pid ]]; then
      stop_pid "$(head -n 1 "$PGDATA_DIR/postmaster.pid" 2>/dev/null || true)"
    fi
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Clients get their settings from the environment; nothing inherited may change them.
unset PGSERVICE PGOPTIONS PGPASSWORD PGPASSFILE PGSSLCERT PGSSLKEY PGTARGETSESSIONATTRS
export PGHOST=127.0.0.1 PGUSER=$BENCH_USER PGDATABASE=$BENCH_DB PGSSLMODE=disable PGCONNECT_TIMEOUT=5

# ---- PostgreSQL -----------------------------------------------------------------------------
admin_sql() {
  "$PSQL" -X -q -A -t -v ON_ERROR_STOP=1 -h "$WORK" -p "$PG_PORT" -U postgres -d postgres -c "$1"
}

start_postgres() {
  say "initdb in $PGDATA_DIR…"
  as_pg "$PG_BIN/initdb" -D "$PGDATA_DIR" -U postgres -A trust -E UTF8 --locale=C --no-sync \
    >"$WORK/initdb.log" 2>&1 || { cat "$WORK/initdb.log" >&2; die "initdb failed"; }
  # A throwaway cluster: durability off. shared_buffers holds the whole scale-10 data set.
  cat >>"$PGDATA_DIR/postgresql.conf" <<EOF

# scripts/bench pg
listen_addresses = '127.0.0.1'
unix_socket_directories = '$WORK'
fsync = off
synchronous_commit = off
full_page_writes = off
shared_buffers = 256MB
max_connections = 60
log_min_messages = warning
logging_collector = off
EOF
  # The bench role logs in from 127.0.0.1 without a password, directly and from pgbouncer
  # (which then needs no password either); the superuser only over the unix socket.
  cat >"$PGDATA_DIR/pg_hba.conf" <<EOF
local all postgres trust
host $BENCH_DB $BENCH_USER 127.0.0.1/32 trust
EOF
  local attempt
  for attempt in 1 2 3 4 5; do
    PG_PORT=$(free_port)
    if as_pg "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" -l "$WORK/postgres.log" -w -t 30 \
      -o "-p $PG_PORT" start >/dev/null 2>&1; then
      PG_STARTED=1
      break
    fi
    say "PostgreSQL did not start on port $PG_PORT (attempt $attempt); trying another port"
    PG_STARTED=1 # a half-started server is stopped by cleanup
  done
  admin_sql 'select 1' >/dev/null 2>&1 || { cat "$WORK/postgres.log" >&2; die "PostgreSQL did not start"; }
  PM_PID=$(head -n 1 "$PGDATA_DIR/postmaster.pid")
  admin_sql "CREATE ROLE $BENCH_USER LOGIN" >/dev/null
  admin_sql "CREATE DATABASE $BENCH_DB OWNER $BENCH_USER" >/dev/null
}

# CPU ticks of the server: the postmaster, its reaped children and its live children.
server_ticks() {
  local total child
  total=$(proc_ticks_with_children "$PM_PID")
  for child in $(ps -o pid= --ppid "$PM_PID" 2>/dev/null || true); do
    total=$((total + $(proc_ticks "$child")))
  done
  echo "$total"
}

# ---- the proxy and pgbouncer ----------------------------------------------------------------
# Waits until $1 accepts connections or process $2 is gone; true when it listens.
wait_listening() {
  local port=$1 pid=$2
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || return 1
    port_open "$port" && return 0
    sleep 0.1
  done
  return 1
}

# How many worker threads the proxy ran with, for the results.
workers_note() {
  if [[ -n $PROXY_WORKERS ]]; then
    echo "$PROXY_WORKERS tokio worker thread$([[ $PROXY_WORKERS == 1 ]] || echo s) (\`TOKIO_WORKER_THREADS=$PROXY_WORKERS\`)"
  else
    echo "tokio's default $(nproc) worker threads"
  fi
}

start_proxy() {
  local attempt port
  for attempt in 1 2 3 4 5; do
    port=$(free_port)
    # An empty TOKIO_WORKER_THREADS would be an error to tokio: only set it when asked.
    env ${PROXY_WORKERS:+TOKIO_WORKER_THREADS=$PROXY_WORKERS} \
      "$SHAKEDOWN" pg-proxy --listen "127.0.0.1:$port" --upstream "127.0.0.1:$PG_PORT" \
      --policy strict >"$WORK/proxy.log" 2>&1 &
    PROXY_PID=$!
    if wait_listening "$port" "$PROXY_PID"; then
      PROXY_PORT=$port
      return 0
    fi
    say "the proxy did not come up on port $port (attempt $attempt)"
    cat "$WORK/proxy.log" >&2 || true
    stop_pid "$PROXY_PID"
    wait "$PROXY_PID" 2>/dev/null || true
    PROXY_PID=""
  done
  die "could not start shakedown pg-proxy on a free loopback port"
}

start_pgbouncer() {
  local attempt port
  # auth_type trust: pgbouncer asks the client for no password but still wants the user in
  # auth_file; it logs in to the server as that user, which pg_hba trusts from 127.0.0.1.
  printf '"%s" ""\n' "$BENCH_USER" >"$WORK/userlist.txt"
  for attempt in 1 2 3 4 5; do
    port=$(free_port)
    cat >"$WORK/pgbouncer.ini" <<EOF
[databases]
$BENCH_DB = host=127.0.0.1 port=$PG_PORT dbname=$BENCH_DB

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = trust
auth_file = $WORK/userlist.txt
pool_mode = session
max_client_conn = 100
default_pool_size = $((CLIENTS + 4))
logfile = $WORK/pgbouncer.log
pidfile = $WORK/pgbouncer.pid
log_connections = 0
log_disconnections = 0
EOF
    if [[ -n $PG_OWNER ]]; then chown "$PG_OWNER" "$WORK/pgbouncer.ini" "$WORK/userlist.txt"; fi
    rm -f "$WORK/pgbouncer.pid"
    as_pg "$PGBOUNCER_BIN" "$WORK/pgbouncer.ini" >>"$WORK/pgbouncer.out" 2>&1 &
    BOUNCER_WRAPPER=$!
    if wait_listening "$port" "$BOUNCER_WRAPPER"; then
      BOUNCER_PORT=$port
      for _ in $(seq 1 50); do [[ -s $WORK/pgbouncer.pid ]] && break; sleep 0.1; done
      BOUNCER_PID=$(cat "$WORK/pgbouncer.pid" 2>/dev/null || true)
      [[ $BOUNCER_PID =~ ^[0-9]+$ ]] || die "pgbouncer wrote no pid file"
      return 0
    fi
    say "pgbouncer did not come up on port $port (attempt $attempt)"
    cat "$WORK/pgbouncer.out" "$WORK/pgbouncer.log" >&2 2>/dev/null || true
    stop_pid "$BOUNCER_WRAPPER"
    wait "$BOUNCER_WRAPPER" 2>/dev/null || true
    BOUNCER_WRAPPER=""
  done
  die "could not start pgbouncer on a free loopback port"
}

# ---- setup ----------------------------------------------------------------------------------
start_postgres
say "PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PG_PORT; pgbench -i -s $SCALE…"
PGPORT=$PG_PORT timeout 900 "$PGBENCH" -i -s "$SCALE" -q >"$WORK/init.log" 2>&1 ||
  { cat "$WORK/init.log" >&2; die "pgbench -i failed"; }
start_proxy
start_pgbouncer
say "pg-proxy (strict) on 127.0.0.1:$PROXY_PORT (pid $PROXY_PID), pgbouncer (session) on 127.0.0.1:$BOUNCER_PORT (pid $BOUNCER_PID)"

TARGETS=(direct proxy pgbouncer)
declare -A PORT_OF=([direct]=$PG_PORT [proxy]=$PROXY_PORT [pgbouncer]=$BOUNCER_PORT)
declare -A MIDDLE_PID=([direct]="" [proxy]=$PROXY_PID [pgbouncer]=$BOUNCER_PID)

# Every target must serve the data set, and the proxy must really enforce the policy.
for t in "${TARGETS[@]}"; do
  n=$(PGPORT=${PORT_OF[$t]} "$PSQL" -X -A -t -c 'select count(*) from pgbench_branches' 2>&1) ||
    die "$t: cannot query pgbench_branches: $n"
  [[ $n == "$SCALE" ]] || die "$t: pgbench_branches holds '$n' rows, expected $SCALE"
done
if blocked=$(PGPORT=$PROXY_PORT "$PSQL" -X -v VERBOSITY=verbose -c 'DELETE FROM pgbench_history' 2>&1); then
  die "the proxy let 'DELETE FROM pgbench_history' (no WHERE) through: the strict policy is not in force"
fi
grep -q 42501 <<<"$blocked" || die "the proxy refused the DELETE without SQLSTATE 42501: $blocked"
say "checked: all three targets serve the data; the proxy blocks a DELETE without WHERE (42501)"

# ---- one pgbench run ------------------------------------------------------------------------
# Prints "tps failed latency_ms processed pgbench_s middle_s server_s busy_s window_s".
run_pgbench() {
  local target=$1 mode=$2 secs=$3 out=$WORK/pgbench.out err=$WORK/pgbench.err
  local mid=${MIDDLE_PID[$target]} rc=0
  local m0 m1 mid0=0 mid1=0 srv0 srv1 tps failed lat processed cpu
  read -r -a m0 < <(machine_ticks)
  srv0=$(server_ticks)
  [[ -z $mid ]] || mid0=$(proc_ticks "$mid")
  local TIMEFORMAT='%3U %3S'
  { time PGPORT=${PORT_OF[$target]} timeout "$RUN_LIMIT" "$PGBENCH" -n -S -M "$mode" \
    -c "$CLIENTS" -j "$JOBS" -T "$secs" >"$out" 2>"$err"; } 2>"$WORK/time" || rc=$?
  read -r -a m1 < <(machine_ticks)
  [[ -z $mid ]] || mid1=$(proc_ticks "$mid")
  # Backends exit just after pgbench disconnects; their CPU is counted once they are reaped.
  sleep 0.3
  srv1=$(server_ticks)
  if ((rc != 0)); then
    cat "$out" "$err" >&2
    say "pgbench through $target (-M $mode) exited with $rc"
    return 1
  fi
  tps=$(awk '/^tps = / {print $3; exit}' "$out")
  failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$out")
  lat=$(sed -n 's/^latency average = \([0-9.]*\) ms.*/\1/p' "$out")
  processed=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$out")
  is_number "${tps:-x}" && [[ $processed =~ ^[0-9]+$ ]] || { cat "$out" "$err" >&2; return 1; }
  cpu=$(awk '{print $1 + $2}' "$WORK/time")
  awk -v tps="$tps" -v f="${failed:-0}" -v lat="${lat:-0}" -v n="$processed" -v pgb="$cpu" \
    -v mid=$((mid1 - mid0)) -v srv=$((srv1 - srv0)) -v busy=$((m1[0] - m0[0])) \
    -v total=$((m1[1] - m0[1])) -v hz="$CLK_TCK" -v cpus="$(nproc)" \
    'BEGIN {printf "%s %s %s %s %.3f %.3f %.3f %.3f %.3f\n", tps, f, lat, n, pgb, mid / hz, srv / hz, busy / hz, total / hz / cpus}'
}

# Warm-up: caches, connection paths and the proxy's and pgbouncer's first sessions.
for t in "${TARGETS[@]}"; do
  run_pgbench "$t" "${MODES[0]}" 3 >/dev/null || die "warm-up through $t failed"
done

# ---- rounds ---------------------------------------------------------------------------------
declare -A RES=()     # "target mode round" -> the run_pgbench line
declare -A ORDER_OF=() # "mode round" -> order the targets ran in
LOAD_BEFORE=$(load_avg)
START_DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
say "$ROUNDS rounds × ${#MODES[@]} modes × ${#TARGETS[@]} targets: pgbench -S -c $CLIENTS -j $JOBS -T $DURATION"
for ((r = 1; r <= ROUNDS; r++)); do
  for mode in "${MODES[@]}"; do
    order=()
    for ((i = 0; i < ${#TARGETS[@]}; i++)); do
      order+=("${TARGETS[$(((r - 1 + i) % ${#TARGETS[@]}))]}")
    done
    ORDER_OF["$mode $r"]="${order[*]}"
    for t in "${order[@]}"; do
      kill -0 "$PROXY_PID" 2>/dev/null || { cat "$WORK/proxy.log" >&2; die "the proxy died"; }
      kill -0 "$BOUNCER_PID" 2>/dev/null || { cat "$WORK/pgbouncer.log" >&2; die "pgbouncer died"; }
      line=$(run_pgbench "$t" "$mode" "$DURATION") || die "the $t run failed (round $r, -M $mode)"
      RES["$t $mode $r"]=$line
      read -r tps failed lat _ <<<"$line"
      printf 'round %d/%d  -M %-8s %-9s %9.0f tps  %6s ms%s\n' "$r" "$ROUNDS" "$mode" "$t" "$tps" "$lat" \
        "$( ((failed == 0)) || echo "  ($failed failed)")"
      sleep "$PAUSE"
    done
  done
done
LOAD_AFTER=$(load_avg)

# ---- results --------------------------------------------------------------------------------
# field N of every round's line for target/mode, one per line.
fields() { for ((r = 1; r <= ROUNDS; r++)); do awk -v n="$3" '{print $n}' <<<"${RES["$1 $2 $r"]}"; done; }
# Per-transaction CPU in microseconds (field N ÷ processed), one per round.
per_txn() { for ((r = 1; r <= ROUNDS; r++)); do awk -v n="$3" '{printf "%.3f\n", ($4 > 0 ? $n / $4 * 1e6 : 0)}' <<<"${RES["$1 $2 $r"]}"; done; }
declare -A TPS=() LAT=() FAILED=() CPU_PGB=() CPU_MID=() CPU_SRV=() BUSY=()
for mode in "${MODES[@]}"; do
  for t in "${TARGETS[@]}"; do
    k="$t $mode"
    TPS[$k]=$(fields "$t" "$mode" 1 | median)
    FAILED[$k]=$(fields "$t" "$mode" 2 | awk '{s += $1} END {print s + 0}')
    LAT[$k]=$(fields "$t" "$mode" 3 | median)
    CPU_PGB[$k]=$(per_txn "$t" "$mode" 5 | median)
    CPU_MID[$k]=$(per_txn "$t" "$mode" 6 | median)
    CPU_SRV[$k]=$(per_txn "$t" "$mode" 7 | median)
    BUSY[$k]=$(for ((r = 1; r <= ROUNDS; r++)); do awk '{printf "%.1f\n", ($9 > 0 ? $8 / $9 * 100 / '"$(nproc)"' : 0)}' <<<"${RES["$t $mode $r"]}"; done | median)
  done
done

declare -A R_DIRECT=() R_BOUNCER=() R_BD=() V_DIRECT=() V_BOUNCER=()
any_missed=0
for mode in "${MODES[@]}"; do
  R_DIRECT[$mode]=$(ratio "${TPS[proxy $mode]}" "${TPS[direct $mode]}")
  R_BOUNCER[$mode]=$(ratio "${TPS[proxy $mode]}" "${TPS[pgbouncer $mode]}")
  R_BD[$mode]=$(ratio "${TPS[pgbouncer $mode]}" "${TPS[direct $mode]}")
  V_DIRECT[$mode]=$(verdict "${R_DIRECT[$mode]}" "$GOAL_DIRECT")
  V_BOUNCER[$mode]=$(verdict "${R_BOUNCER[$mode]}" "$GOAL_BOUNCER")
  [[ ${V_DIRECT[$mode]} == met && ${V_BOUNCER[$mode]} == met ]] || any_missed=1
  printf '\n-M %s: median tps direct %.0f, proxy %.0f, pgbouncer %.0f\n' "$mode" \
    "${TPS[direct $mode]}" "${TPS[proxy $mode]}" "${TPS[pgbouncer $mode]}"
  printf '  proxy/direct = %s (goal ≥ %s: %s), proxy/pgbouncer = %s (goal ≥ %s: %s)\n' \
    "${R_DIRECT[$mode]}" "$GOAL_DIRECT" "${V_DIRECT[$mode]}" "${R_BOUNCER[$mode]}" "$GOAL_BOUNCER" "${V_BOUNCER[$mode]}"
  printf '  CPU µs/txn (pgbench / middle / server): direct %s/-/%s, proxy %s/%s/%s, pgbouncer %s/%s/%s\n' \
    "${CPU_PGB[direct $mode]}" "${CPU_SRV[direct $mode]}" \
    "${CPU_PGB[proxy $mode]}" "${CPU_MID[proxy $mode]}" "${CPU_SRV[proxy $mode]}" \
    "${CPU_PGB[pgbouncer $mode]}" "${CPU_MID[pgbouncer $mode]}" "${CPU_SRV[pgbouncer $mode]}"
done

# ---- docs/PERFORMANCE.md --------------------------------------------------------------------
V_PG=$("$PG_BIN/postgres" --version | first_line)
V_PGBENCH=$("$PGBENCH" --version | first_line)
V_BOUNCER_TOOL=$("$PGBOUNCER_BIN" --version 2>&1 | first_line)
V_SHAKEDOWN=$("$SHAKEDOWN" --version 2>&1 | first_line || true)
fmt1() { printf '%.1f' "$1"; }
{
  echo "$MARK_START"
  echo "<!-- Written by scripts/bench pg; edits between these markers are overwritten. -->"
  echo
  echo "Last run: **$START_DATE**, $(commit_note)."
  echo
  echo "- Machine: $(nproc) CPUs ($(cpu_model)), Linux $(uname -r); load average before/after: $LOAD_BEFORE / $LOAD_AFTER"
  echo "- Server: $V_PG (fsync off, shared_buffers 256MB), data set \`pgbench -i -s $SCALE\`"
  echo "- Client: $V_PGBENCH, \`pgbench -n -S -c $CLIENTS -j $JOBS -T $DURATION -M MODE\`, $ROUNDS rounds, ${PAUSE}s pause between runs"
  echo "- Middles: $V_SHAKEDOWN \`pg-proxy --policy strict\` (no \`--events\`; $(workers_note)); $V_BOUNCER_TOOL, \`pool_mode = session\`, \`default_pool_size = $((CLIENTS + 4))\`, one process"
  echo
  echo "| -M | direct TPS | proxy TPS | pgbouncer TPS | proxy ÷ direct (goal ≥ $GOAL_DIRECT) | proxy ÷ pgbouncer (goal ≥ $GOAL_BOUNCER) | pgbouncer ÷ direct |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  for mode in "${MODES[@]}"; do
    echo "| $mode | $(fmt0 "${TPS[direct $mode]}") | $(fmt0 "${TPS[proxy $mode]}") | $(fmt0 "${TPS[pgbouncer $mode]}") | ${R_DIRECT[$mode]}: **${V_DIRECT[$mode]}** | ${R_BOUNCER[$mode]}: **${V_BOUNCER[$mode]}** | ${R_BD[$mode]} |"
  done
  echo
  echo "Where the CPU went (medians over the rounds; µs of CPU per transaction, from /proc):"
  echo
  echo "| -M | target | avg latency | pgbench | middle | server | machine busy |"
  echo "|---|---|---:|---:|---:|---:|---:|"
  for mode in "${MODES[@]}"; do
    for t in "${TARGETS[@]}"; do
      mid="$(fmt1 "${CPU_MID[$t $mode]}")"
      [[ $t != direct ]] || mid="–"
      echo "| $mode | $t | ${LAT[$t $mode]} ms | $(fmt1 "${CPU_PGB[$t $mode]}") | $mid | $(fmt1 "${CPU_SRV[$t $mode]}") | ${BUSY[$t $mode]} % |"
    done
  done
  echo
  echo "All rounds (TPS; the order is the order the targets ran in that round and mode):"
  echo
  echo "| round | -M | order | direct | proxy | pgbouncer |"
  echo "|---:|---|---|---:|---:|---:|"
  for ((r = 1; r <= ROUNDS; r++)); do
    for mode in "${MODES[@]}"; do
      row="| $r | $mode | ${ORDER_OF["$mode $r"]// / → } |"
      for t in "${TARGETS[@]}"; do
        read -r tps failed _ <<<"${RES["$t $mode $r"]}"
        cell=$(fmt0 "$tps")
        ((failed == 0)) || cell="$cell ($failed failed)"
        row="$row $cell |"
      done
      echo "$row"
    done
  done
  echo
  total_failed=0
  for k in "${!FAILED[@]}"; do total_failed=$((total_failed + FAILED[$k])); done
  if ((total_failed == 0)); then
    echo "No transaction failed in any run. Before the rounds the script checked that all three targets serve the data set and that the proxy refuses \`DELETE FROM pgbench_history\` (no WHERE) with SQLSTATE 42501, so the strict policy was in force for every statement measured."
  else
    echo "**$total_failed transactions failed** (in brackets above); those runs are suspect."
  fi
  if ((any_missed)); then
    echo
    echo "**A goal was missed** (marked NOT met above); see *Reading the numbers* above for what the CPU columns say about why."
  fi
  echo "$MARK_END"
} >"$WORK/results.md"
write_section "$DOC" "$MARK_START" "$MARK_END" "$WORK/results.md"
say "results written to $DOC"

if [[ $STRICT == 1 ]] && ((any_missed)); then
  exit 1
fi
