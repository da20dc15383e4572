"""SQLGlot's side of `scripts/bench classify`: parse the shared corpus with SQLGlot.

Usage: classify_sqlglot.py CORPUS [--seconds S] [--min-passes N]

Reads the corpus exactly as crates/sql/examples/classify_bench.rs does (entries separated by
blank lines, `--!` lines dropped). One pass runs, for every entry,
`sqlglot.parse(entry, read="postgres")` and collects the table names of every statement with
`find_all(exp.Table)`: the least work a classifier built on SQLGlot does (ChaosTrace's
interceptor walks the tree about a dozen more times per statement). A ParseError is caught and
counted, as an interceptor would. After one warm-up pass, passes repeat until both `--seconds`
and `--min-passes` are reached (bounded by a hard cap); prints one JSON object, the same keys
as the Rust side.
"""

import argparse
import json
import logging
import statistics
import sys
import time

import sqlglot
from sqlglot import exp

# A pass that reaches this many passes stops whatever --seconds says.
MAX_PASSES = 1_000_000


def corpus_entries(text):
    entries, current = [], []
    for line in text.splitlines():
        if line.startswith("--!"):
            continue
        if not line.strip():
            if current:
                entries.append("\n".join(current))
                current = []
            continue
        current.append(line)
    if current:
        entries.append("\n".join(current))
    return entries


def one_entry(entry):
    """Parse one query string and list its tables; returns (statements, tables, failed)."""
    try:
        trees = sqlglot.parse(entry, read="postgres")
    except sqlglot.errors.SqlglotError:
        return 0, 0, 1
    statements = tables = 0
    for tree in trees:
        if tree is None:
            continue
        statements += 1
        tables += len({t.name for t in tree.find_all(exp.Table) if t.name})
    return statements, tables, 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("corpus")
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--min-passes", type=int, default=5)
    args = ap.parse_args()
    if not 0 <= args.seconds <= 600 or not 1 <= args.min_passes <= MAX_PASSES:
        sys.exit("--seconds must be 0..600 and --min-passes 1..1000000")
    # SQLGlot logs a warning for each construct it only half understands; printing them would
    # be measured too.
    logging.getLogger("sqlglot").setLevel(logging.ERROR)

    with open(args.corpus, encoding="utf-8") as f:
        entries = corpus_entries(f.read())
    if not entries:
        sys.exit(f"{args.corpus} holds no entries")

    # Warm-up pass, which also yields the corpus figures.
    statements = tables = 0
    failed = []
    for entry in entries:
        s, t, bad = one_entry(entry)
        statements += s
        tables += t
        if bad:
            failed.append(entry)

    passes = []
    started = time.perf_counter()
    while len(passes) < MAX_PASSES and (
        len(passes) < args.min_passes or time.perf_counter() - started < args.seconds
    ):
        t0 = time.perf_counter()
        for entry in entries:
            one_entry(entry)
        passes.append(time.perf_counter() - t0)
    median = statistics.median_low(passes)

    print(
        json.dumps(
            {
                "tool": "sqlglot",
                "version": sqlglot.__version__,
                "compiled": not sqlglot.parser.__file__.endswith(".py"),
                "python": sys.version.split()[0],
                "entries": len(entries),
                "statements": statements,
                "failed_entries": len(failed),
                "failed": failed,
                "tables_found": tables,
                "passes": len(passes),
                "median_pass_seconds": median,
                "min_pass_seconds": min(passes),
                "statements_per_sec": statements / median,
                "entries_per_sec": len(entries) / median,
                "total_seconds": sum(passes),
            }
        )
    )


if __name__ == "__main__":
    main()
