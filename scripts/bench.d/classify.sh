#!/usr/bin/env bash
# scripts/bench.d/classify.sh, run as `scripts/bench classify`: statement classification
# throughput of shakedown (crates/sql, `classify`) against SQLGlot, the parser ChaosTrace uses,
# on one shared corpus (scripts/bench.d/classify_corpus.sql). Rounds alternate the tools in a
# rotating order; each run reports its median time for one pass over the corpus; the medians,
# statements/s and the ratio SQLGlot time ÷ shakedown time are printed and written into
# docs/PERFORMANCE.md between the `bench:classify` markers.
#
# Tools measured, one process each, single-threaded:
#   shakedown   crates/sql/examples/classify_bench.rs, release build (also reports sqlparser
#               alone on the same corpus, for reference)
#   sqlglot     scripts/bench.d/classify_sqlglot.py with pure-Python SQLGlot, what ChaosTrace
#               installs (`sqlglot>=20`); in a venv under .bench/
#   sqlglot[c]  the same script with SQLGlot's optional compiled build (`sqlglot[c]`), when it
#               installs; the fastest SQLGlot there is
#
# Settings (environment):
#   BENCH_CLASSIFY_ROUNDS   rounds, each running every tool once          (default 5)
#   BENCH_CLASSIFY_SECONDS  minimum measuring time of one run, seconds    (default 3)
#   BENCH_SQLGLOT_VERSION   SQLGlot release to install                    (default 30.30.0)
#   BENCH_SQLGLOT_C=0       skip the compiled SQLGlot
#   BENCH_CLASSIFY_CORPUS   corpus file        (default scripts/bench.d/classify_corpus.sql)
#   BENCH_PAUSE, BENCH_DOC, BENCH_STRICT=1   as for scripts/bench
#   PYTHON                  interpreter for the venvs                     (default python3)
# No network traffic besides installing SQLGlot from PyPI once; every run is bounded by its
# pass count and time, and by `timeout` on top.
# shellcheck disable=SC2034 # read by lib.sh
BENCH_PART="bench classify"
# shellcheck source=scripts/bench.d/lib.sh
source "$(dirname "$0")/lib.sh"

ROUNDS=${BENCH_CLASSIFY_ROUNDS:-5}
SECONDS_PER_RUN=${BENCH_CLASSIFY_SECONDS:-3}
SQLGLOT_VERSION=${BENCH_SQLGLOT_VERSION:-30.30.0}
WITH_C=${BENCH_SQLGLOT_C:-1}
CORPUS=${BENCH_CLASSIFY_CORPUS:-scripts/bench.d/classify_corpus.sql}
PAUSE=${BENCH_PAUSE:-1}
DOC=${BENCH_DOC:-docs/PERFORMANCE.md}
STRICT=${BENCH_STRICT:-0}
PYTHON_BIN=${PYTHON:-python3}
# Goal from issue 3: at least 50 times SQLGlot's throughput.
GOAL=50
MARK_START='<!-- bench:classify:start -->'
MARK_END='<!-- bench:classify:end -->'

[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] && ((ROUNDS <= 50)) || die "BENCH_CLASSIFY_ROUNDS must be 1..50, got '$ROUNDS'"
[[ $SECONDS_PER_RUN =~ ^[1-9][0-9]*$ ]] && ((SECONDS_PER_RUN <= 120)) ||
  die "BENCH_CLASSIFY_SECONDS must be 1..120, got '$SECONDS_PER_RUN'"
[[ $SQLGLOT_VERSION =~ ^[0-9][0-9A-Za-z.+-]*$ ]] || die "BENCH_SQLGLOT_VERSION looks wrong: '$SQLGLOT_VERSION'"
[[ $PAUSE =~ ^[0-9]+$ ]] || die "BENCH_PAUSE must be whole seconds, got '$PAUSE'"
[[ -f $CORPUS ]] || die "corpus $CORPUS not found"
[[ -f $DOC ]] || die "$DOC is missing (it holds the method; the script only fills in results)"
RUN_LIMIT=$((SECONDS_PER_RUN * 3 + 120))

# ---- tools ----------------------------------------------------------------------------------
command -v jq >/dev/null 2>&1 || apt_install jq
command -v cargo >/dev/null 2>&1 || die "cargo is needed (https://rustup.rs)"
say "building the classifier bench (cargo build --release -p shakedown-sql --example classify_bench)…"
cargo build --release -p shakedown-sql --example classify_bench >&2
RUST_BENCH=$ROOT/target/release/examples/classify_bench
[[ -x $RUST_BENCH ]] || die "classify_bench was not built at $RUST_BENCH"

command -v "$PYTHON_BIN" >/dev/null 2>&1 || apt_install python3 python3-venv
# Makes a venv at $1 with pip spec $2 installed (once; cached under .bench/). False when the
# spec does not install.
make_venv() {
  local dir=$1 spec=$2
  if [[ -x $dir/bin/python ]] && "$dir/bin/python" -c 'import sqlglot' 2>/dev/null; then return 0; fi
  rm -rf "$dir"
  if ! "$PYTHON_BIN" -m venv "$dir" >/dev/null 2>&1; then
    apt_install python3-venv
    "$PYTHON_BIN" -m venv "$dir" >&2 || die "cannot create a venv with $PYTHON_BIN"
  fi
  say "installing $spec into $dir (pip, once)…"
  "$dir/bin/pip" install --quiet --disable-pip-version-check "$spec" >&2
}
VENV_PURE=$ROOT/.bench/sqlglot-$SQLGLOT_VERSION
VENV_C=$ROOT/.bench/sqlglot-c-$SQLGLOT_VERSION
make_venv "$VENV_PURE" "sqlglot==$SQLGLOT_VERSION" || die "pip could not install sqlglot==$SQLGLOT_VERSION"
TOOLS=(shakedown sqlglot)
C_NOTE=""
if [[ $WITH_C == 1 ]]; then
  if make_venv "$VENV_C" "sqlglot[c]==$SQLGLOT_VERSION"; then
    TOOLS+=(sqlglot-c)
  else
    C_NOTE="The compiled SQLGlot (\`sqlglot[c]==$SQLGLOT_VERSION\`) did not install here, so it was not measured."
    rm -rf "$VENV_C"
  fi
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/shakedown-bench-classify.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM

run_tool() {
  local tool=$1 out=$WORK/$1.json
  local args=("$CORPUS" --seconds "$SECONDS_PER_RUN" --min-passes 5)
  case $tool in
    shakedown) timeout "$RUN_LIMIT" "$RUST_BENCH" "${args[@]}" >"$out" ;;
    sqlglot) timeout "$RUN_LIMIT" "$VENV_PURE/bin/python" scripts/bench.d/classify_sqlglot.py "${args[@]}" >"$out" ;;
    sqlglot-c) timeout "$RUN_LIMIT" "$VENV_C/bin/python" scripts/bench.d/classify_sqlglot.py "${args[@]}" >"$out" ;;
  esac
  cat "$out"
}

# ---- rounds ---------------------------------------------------------------------------------
declare -A JSON_OF=()  # "tool round" -> the run's JSON
declare -A ORDER_OF=() # round -> order
LOAD_BEFORE=$(load_avg)
START_DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
say "$ROUNDS rounds × ${#TOOLS[@]} tools (${TOOLS[*]}), ≥ ${SECONDS_PER_RUN}s and ≥ 5 passes per run, corpus $CORPUS"
for ((r = 1; r <= ROUNDS; r++)); do
  order=()
  for ((i = 0; i < ${#TOOLS[@]}; i++)); do order+=("${TOOLS[$(((r - 1 + i) % ${#TOOLS[@]}))]}"); done
  ORDER_OF[$r]="${order[*]}"
  for tool in "${order[@]}"; do
    json=$(run_tool "$tool") || die "the $tool run failed (round $r)"
    pass=$(jq -r '.median_pass_seconds' <<<"$json")
    is_number "$pass" && at_least "$pass" 0.000000001 || die "$tool reported no pass time: $json"
    # The labels must be true: the pure build must not be the compiled one, and vice versa.
    case $tool in
      sqlglot) [[ $(jq -r .compiled <<<"$json") == false ]] || die "$VENV_PURE runs a compiled SQLGlot" ;;
      sqlglot-c) [[ $(jq -r .compiled <<<"$json") == true ]] || die "$VENV_C runs pure-Python SQLGlot" ;;
    esac
    JSON_OF["$tool $r"]=$json
    printf 'round %d/%d  %-10s %9.3f ms per pass (%d passes)\n' "$r" "$ROUNDS" "$tool" \
      "$(awk -v p="$pass" 'BEGIN {print p * 1000}')" "$(jq -r .passes <<<"$json")"
    sleep "$PAUSE"
  done
done
LOAD_AFTER=$(load_avg)

# ---- results --------------------------------------------------------------------------------
field() { for ((r = 1; r <= ROUNDS; r++)); do jq -r "$2" <<<"${JSON_OF["$1 $r"]}"; done; }
declare -A PASS=()
for tool in "${TOOLS[@]}"; do PASS[$tool]=$(field "$tool" .median_pass_seconds | median); done
PASS_PARSER=$(field shakedown .sqlparser_only.median_pass_seconds | median)
first="${JSON_OF["shakedown 1"]}"
first_glot="${JSON_OF["sqlglot 1"]}"
ENTRIES=$(jq -r .entries <<<"$first")
STMTS=$(jq -r .statements <<<"$first")
UNPARSED=$(jq -r .unparsed <<<"$first")
FAST=$(jq -r '.fast_path_statements // 0' <<<"$first")
GLOT_STMTS=$(jq -r .statements <<<"$first_glot")
GLOT_FAILED=$(jq -r .failed_entries <<<"$first_glot")
per_sec() { awk -v n="$STMTS" -v p="$1" 'BEGIN {printf "%.0f", n / p}'; }
us_per() { awk -v n="$STMTS" -v p="$1" 'BEGIN {printf "%.1f", p / n * 1e6}'; }

R_GLOT=$(ratio "${PASS[sqlglot]}" "${PASS[shakedown]}")
V_GLOT=$(verdict "$R_GLOT" "$GOAL")
R_PARSER=$(ratio "${PASS[sqlglot]}" "$PASS_PARSER")
missed=0
[[ $V_GLOT == met ]] || missed=1
if [[ -n ${PASS[sqlglot-c]:-} ]]; then
  R_C=$(ratio "${PASS[sqlglot-c]}" "${PASS[shakedown]}")
  V_C=$(verdict "$R_C" "$GOAL")
  R_PARSER_C=$(ratio "${PASS[sqlglot-c]}" "$PASS_PARSER")
  [[ $V_C == met ]] || missed=1
fi

printf '\nstatements/s (%s statements per pass): shakedown %s, sqlglot %s%s; sqlparser alone %s\n' "$STMTS" \
  "$(per_sec "${PASS[shakedown]}")" "$(per_sec "${PASS[sqlglot]}")" \
  "${PASS[sqlglot-c]:+, sqlglot[c] $(per_sec "${PASS[sqlglot-c]}")}" "$(per_sec "$PASS_PARSER")"
printf 'shakedown ÷ sqlglot = %s× (goal ≥ %s×: %s)\n' "$R_GLOT" "$GOAL" "$V_GLOT"
if [[ -n ${R_C:-} ]]; then printf 'shakedown ÷ sqlglot[c] = %s× (goal ≥ %s×: %s)\n' "$R_C" "$GOAL" "$V_C"; fi

# ---- docs/PERFORMANCE.md --------------------------------------------------------------------
V_RUSTC=$(rustc --version 2>/dev/null | first_line || echo rustc)
V_PY=$(jq -r .python <<<"$first_glot")
V_GLOT_TOOL=$(jq -r .version <<<"$first_glot")
# A JSON array of statements on stdin as a Markdown list of code spans, on one line.
md_list() { jq -r 'map("`" + (gsub("\n"; " ") | gsub("`"; "'"'"'")) + "`") | join(", ")'; }
x1() { printf '%.1f×' "$1"; }
{
  echo "$MARK_START"
  echo "<!-- Written by scripts/bench classify; edits between these markers are overwritten. -->"
  echo
  echo "Last run: **$START_DATE**, $(commit_note)."
  echo
  echo "- Machine: $(nproc) CPUs ($(cpu_model)), Linux $(uname -r); load average before/after: $LOAD_BEFORE / $LOAD_AFTER"
  echo "- shakedown: \`classify\` with default options, $V_RUSTC, release profile (thin LTO, 1 codegen unit)"
  echo "- SQLGlot $V_GLOT_TOOL on Python $V_PY: pure Python$([[ -n ${PASS[sqlglot-c]:-} ]] && echo ", and the compiled \`sqlglot[c]\` build")"
  echo "- Corpus: \`$CORPUS\`, $ENTRIES query strings = $STMTS statements as shakedown splits them ($GLOT_STMTS as SQLGlot does); $ROUNDS rounds, each run ≥ ${SECONDS_PER_RUN} s and ≥ 5 passes after a warm-up pass"
  echo
  echo "| tool | median time per pass | statements/s | µs per statement | shakedown ÷ tool | goal |"
  echo "|---|---:|---:|---:|---:|---|"
  echo "| shakedown \`classify\` | $(awk -v p="${PASS[shakedown]}" 'BEGIN {printf "%.2f", p * 1000}') ms | $(per_sec "${PASS[shakedown]}") | $(us_per "${PASS[shakedown]}") | | |"
  echo "| SQLGlot (pure Python; what ChaosTrace installs) | $(awk -v p="${PASS[sqlglot]}" 'BEGIN {printf "%.2f", p * 1000}') ms | $(per_sec "${PASS[sqlglot]}") | $(us_per "${PASS[sqlglot]}") | $(x1 "$R_GLOT") | ≥ ${GOAL}×: **$V_GLOT** |"
  if [[ -n ${PASS[sqlglot-c]:-} ]]; then
    echo "| SQLGlot \`[c]\` (compiled) | $(awk -v p="${PASS[sqlglot-c]}" 'BEGIN {printf "%.2f", p * 1000}') ms | $(per_sec "${PASS[sqlglot-c]}") | $(us_per "${PASS[sqlglot-c]}") | $(x1 "$R_C") | ≥ ${GOAL}×: **$V_C** |"
  fi
  echo
  echo "For reference, sqlparser alone (\`Parser::parse_sql\`, PostgreSQL dialect, no classification) on the same corpus: $(awk -v p="$PASS_PARSER" 'BEGIN {printf "%.2f", p * 1000}') ms per pass, $(per_sec "$PASS_PARSER") statements/s, $(x1 "$R_PARSER") pure SQLGlot${R_PARSER_C:+ and $(x1 "$R_PARSER_C") SQLGlot \`[c]\`}. The whole of \`classify\` (splitting, comment stripping, normalising, SHA-256, the fast path or the parse and tree walk, risk) takes $(awk -v a="${PASS[shakedown]}" -v b="$PASS_PARSER" 'BEGIN {printf "%.0f", a / b * 100}') % of that time: $FAST of the $STMTS statements take the fast path (simple shapes classified without sqlparser), and the others are parsed from tokens of shakedown's own tokenizer where the text is plain."
  echo
  echo "All rounds (median ms per pass; the order is the order the tools ran in that round):"
  echo
  header="| round | order |"
  rule="|---:|---|"
  for tool in "${TOOLS[@]}"; do header="$header $tool |"; rule="$rule---:|"; done
  echo "$header"
  echo "$rule"
  for ((r = 1; r <= ROUNDS; r++)); do
    row="| $r | ${ORDER_OF[$r]// / → } |"
    for tool in "${TOOLS[@]}"; do
      row="$row $(jq -r '.median_pass_seconds * 1000 | . * 1000 | round / 1000' <<<"${JSON_OF["$tool $r"]}") |"
    done
    echo "$row"
  done
  echo
  echo "Statements shakedown classifies \`UNPARSED\` ($UNPARSED; sqlparser cannot read them, the keyword guess is kept and a strict policy blocks them): $(jq -c .unparsed_statements <<<"$first" | md_list)."
  echo
  echo "Query strings SQLGlot refuses with an error ($GLOT_FAILED; timed all the same, as an interceptor would spend that time too): $(jq -c .failed <<<"$first_glot" | md_list)."
  if [[ -n $C_NOTE ]]; then echo; echo "$C_NOTE"; fi
  if ((missed)); then
    echo
    echo "**The ≥ ${GOAL}× goal is not met** (see *Reading the numbers* above)."
  fi
  echo "$MARK_END"
} >"$WORK/results.md"
write_section "$DOC" "$MARK_START" "$MARK_END" "$WORK/results.md"
say "results written to $DOC"

if [[ $STRICT == 1 ]] && ((missed)); then
  exit 1
fi
