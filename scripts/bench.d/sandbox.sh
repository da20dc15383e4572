#!/usr/bin/env bash
# scripts/bench.d/sandbox.sh, run as `scripts/bench sandbox`: agent-run sandbox start-up time,
# from `shakedown run` starting the run to the agent's first SQL statement arriving at the
# policing proxy (the report's first `sql_received`, relative to the run's start). Covers the
# template check, the per-run database clone, both proxies, the working directory, the confined
# launch and the agent's own start (python3 + psycopg connect). One cold run (the scenario's
# template seeded first; the managed cluster's one-time initdb and start happen before the run
# starts and are not counted) is reported separately; then warm runs, median and max.
#
# Settings (environment):
#   BENCH_SANDBOX_RUNS   warm runs measured                    (default 7)
#   BENCH_DOC, BENCH_STRICT=1, SHAKEDOWN   as for scripts/bench
# Goal (issue 5): warm start-up ≤ 1 s. No network traffic; every run is bounded by `timeout`.
# shellcheck disable=SC2034 # read by lib.sh
BENCH_PART="bench sandbox"
# shellcheck source=scripts/bench.d/lib.sh
source "$(dirname "$0")/lib.sh"

RUNS=${BENCH_SANDBOX_RUNS:-7}
DOC=${BENCH_DOC:-docs/PERFORMANCE.md}
STRICT=${BENCH_STRICT:-0}
GOAL_MS=1000
MARK_START='<!-- bench:sandbox:start -->'
MARK_END='<!-- bench:sandbox:end -->'
[[ $RUNS =~ ^[1-9][0-9]*$ ]] && ((RUNS <= 50)) || die "BENCH_SANDBOX_RUNS must be 1..50, got '$RUNS'"

need_shakedown
python3 -c 'import psycopg' 2>/dev/null || die "python3 with psycopg is needed (scripts/test installs it)"
DATA=$(mktemp -d "${TMPDIR:-/tmp}/shakedown-bench-sandbox.XXXXXX")
cleanup() {
  "$SHAKEDOWN" --data-dir "$DATA" pg-sandbox destroy >/dev/null 2>&1 || true
  rm -rf "$DATA"
}
trap cleanup EXIT

AGENT="python3 -c \"import os, psycopg; psycopg.connect(os.environ['DATABASE_URL']).execute('select 1'); print('ok')\""
# Milliseconds from the run's start to its first sql_received, read from the JSON report.
one_run() {
  local report=$DATA/report.json
  rm -f "$report"
  timeout 120 "$SHAKEDOWN" --data-dir "$DATA" run --agent "$AGENT" --scenario data_cleanup \
    --chaos none --faults none --policy strict --threshold 0 --output "$report" >/dev/null 2>&1 ||
    die "shakedown run failed (see: $SHAKEDOWN --data-dir $DATA run …)"
  python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
print(next(t["at_ms"] for t in r["timeline"] if t["event_type"] == "sql_received"))
' "$report"
}

say "cold run (template seeded)…"
cold=$(one_run)
warm=()
for ((i = 1; i <= RUNS; i++)); do
  warm+=("$(one_run)")
  say "warm run $i: ${warm[-1]} ms"
done
med=$(printf '%s\n' "${warm[@]}" | median)
max=$(printf '%s\n' "${warm[@]}" | sort -g | tail -n 1)
met=$(awk -v m="$med" -v g="$GOAL_MS" 'BEGIN {print (m <= g ? "met" : "NOT met")}')
say "cold ${cold} ms; warm median ${med} ms, max ${max} ms (goal ≤ ${GOAL_MS} ms: $met)"

block=$(mktemp "${TMPDIR:-/tmp}/shakedown-bench-block.XXXXXX")
{
  echo "$MARK_START"
  echo "## Agent-run sandbox start-up"
  echo
  echo "From \`shakedown run\` starting a run to the agent's first SQL statement reaching the"
  echo "policing proxy (the report's first \`sql_received\`): template check, database clone,"
  echo "PostgreSQL and HTTP fault proxies, working directory, Landlock-confined launch, and the"
  echo "agent's own start (python3, psycopg connect). Scenario \`data_cleanup\`, strict policy,"
  echo "no chaos. $(commit_note)"
  echo
  echo "| | ms |"
  echo "|---|---|"
  echo "| cold (template seeded; the cluster's one-time start is not counted) | $cold |"
  echo "| warm, median of $RUNS | $med |"
  echo "| warm, max | $max |"
  echo
  echo "Goal (issue 5): warm start-up ≤ ${GOAL_MS} ms — **$met**."
  echo "$MARK_END"
} >"$block"
write_section "$DOC" "$MARK_START" "$MARK_END" "$block"
rm -f "$block"
[[ $met == met || $STRICT != 1 ]] || exit 1
