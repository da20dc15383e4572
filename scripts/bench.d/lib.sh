# shellcheck shell=bash
# scripts/bench.d/lib.sh: helpers shared by the parts of scripts/bench (sourced, not run).
# Sets ROOT (the workspace, also the working directory) and provides logging, package
# installation, free loopback ports, medians and ratios, the machine description, and the
# rewrite of one marked section of docs/PERFORMANCE.md. It sets no traps: each part owns its
# processes and cleans them up itself.

set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ROOT=$PWD
BENCH_PART=${BENCH_PART:-bench}

say() { printf '%s: %s\n' "$BENCH_PART" "$*" >&2; }
die() { say "error: $*"; exit 2; }

# ---- packages -------------------------------------------------------------------------------
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
APT_UPDATED=0
apt_install() {
  command -v apt-get >/dev/null 2>&1 || die "$* missing and apt-get is not available; install it by hand"
  export DEBIAN_FRONTEND=noninteractive
  if ((APT_UPDATED == 0)); then
    $SUDO apt-get update -qq
    APT_UPDATED=1
  fi
  say "installing $* (apt-get)…"
  $SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# Builds shakedown once (unless $SHAKEDOWN names a binary) and sets SHAKEDOWN.
need_shakedown() {
  command -v cargo >/dev/null 2>&1 || die "cargo is needed (https://rustup.rs) to build shakedown"
  if [[ -z ${SHAKEDOWN:-} ]]; then
    say "building shakedown (cargo build --release -p shakedown-cli)…"
    cargo build --release -p shakedown-cli >&2
    SHAKEDOWN=$ROOT/target/release/shakedown
  fi
  [[ -x $SHAKEDOWN ]] || die "shakedown not found at $SHAKEDOWN"
}

# ---- processes ------------------------------------------------------------------------------
# Sends signal $2 (default TERM) to pid $1, waits up to 5 s, then KILL; reaps it when it is
# our child.
stop_pid() {
  local pid=$1 sig=${2:-TERM}
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 0
  kill "-$sig" "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# ---- loopback ports -------------------------------------------------------------------------
# True when something accepts connections on 127.0.0.1:$1.
port_open() { timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

# A port of 127.0.0.1 nothing listens on right now. Another process may still take it before
# the caller binds it; callers retry with a new port when their server fails to start.
free_port() {
  local port
  for _ in $(seq 1 50); do
    port=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
    if ! port_open "$port"; then
      echo "$port"
      return 0
    fi
  done
  die "found no free loopback port"
}

# ---- numbers --------------------------------------------------------------------------------
# Median of the numbers on stdin, one per line.
median() { sort -g | awk '{v[NR] = $1} END {if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", (b > 0 ? a / b : 0)}'; }
at_least() { awk -v a="$1" -v b="$2" 'BEGIN {exit !(a + 0 >= b + 0)}'; }
verdict() { if at_least "$1" "$2"; then echo "met"; else echo "NOT met"; fi; }
fmt0() { printf '%.0f' "$1"; }
is_number() { [[ $1 =~ ^[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?$ ]]; }

# ---- the machine and the code measured ------------------------------------------------------
cpu_model() {
  local m
  m=$(awk -F': *' '/^model name/ {print $2; exit}' /proc/cpuinfo 2>/dev/null || true)
  [[ -n $m ]] || m=$(lscpu 2>/dev/null | awk -F': *' '/^Model name/ {print $2; exit}' || true)
  echo "${m:-unknown}"
}
first_line() { head -n 1 | tr -d '\r'; }
load_avg() { cut -d' ' -f1-3 /proc/loadavg; }
# "commit `abc1234` (with uncommitted changes)" for the results header.
commit_note() {
  local commit dirty=""
  commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
  if [[ -n $(git status --porcelain 2>/dev/null || true) ]]; then dirty=" (with uncommitted changes)"; fi
  echo "commit \`$commit\`$dirty"
}

# Busy and total CPU ticks of the whole machine since boot ("busy total"; idle and iowait
# count as not busy).
machine_ticks() { awk '/^cpu / {t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t; exit}' /proc/stat; }
# CPU ticks spent by process $1 itself (all its threads): utime + stime.
proc_ticks() { awk '{sub(/^.*\) /, ""); print $12 + $13}' "/proc/$1/stat" 2>/dev/null || echo 0; }
# CPU ticks of process $1 plus its reaped children: utime + stime + cutime + cstime.
proc_ticks_with_children() { awk '{sub(/^.*\) /, ""); print $12 + $13 + $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
# shellcheck disable=SC2034 # used by the parts that source this file
CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)

# ---- docs/PERFORMANCE.md --------------------------------------------------------------------
# write_section DOC START_MARK END_MARK BLOCK_FILE: replaces the lines from START_MARK to
# END_MARK (both included) with BLOCK_FILE, which itself begins and ends with the markers; the
# block is appended when the markers are missing. The rest of the file is left as it is.
write_section() {
  local doc=$1 start=$2 end=$3 block=$4 tmp
  tmp=$(mktemp "${TMPDIR:-/tmp}/shakedown-bench-doc.XXXXXX")
  if grep -qF "$start" "$doc" && grep -qF "$end" "$doc"; then
    awk -v start="$start" -v end="$end" -v block="$block" '
      $0 == start { while ((getline line < block) > 0) print line; skip = 1; next }
      $0 == end   { skip = 0; next }
      !skip       { print }
    ' "$doc" >"$tmp"
  else
    { cat "$doc"; echo; cat "$block"; } >"$tmp"
  fi
  cat "$tmp" >"$doc"
  rm -f "$tmp"
}
