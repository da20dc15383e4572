//! Classification throughput on a corpus of query strings, for `scripts/bench classify`
//! (compared there with SQLGlot on the same corpus; see docs/PERFORMANCE.md).
//!
//! ```sh
//! cargo run --release -p shakedown-sql --example classify_bench -- CORPUS [--seconds S] [--min-passes N]
//! ```
//!
//! CORPUS holds one query string per entry, entries separated by blank lines, `--!` lines being
//! notes (the format of `scripts/bench.d/classify_corpus.sql`). One pass classifies every entry
//! once with [`classify`] and the default options: the call the proxy makes for a simple Query
//! message. After one warm-up pass, passes repeat until both `--seconds` (default 3) and
//! `--min-passes` (default 5) are reached, bounded by a hard cap on passes. The median pass time
//! is the figure; the result is one JSON object on stdout. For reference the same is then
//! measured for sqlparser alone (`Parser::parse_sql`, PostgreSQL dialect, no classification),
//! reported under `sqlparser_only`. `--per-entry` first prints each entry's own time on stderr.

use std::hint::black_box;
use std::time::{Duration, Instant};

use shakedown_sql::classify::takes_fast_path;
use shakedown_sql::{ClassifyOptions, classify};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

/// A run that reaches this many passes stops whatever `--seconds` says.
const MAX_PASSES: usize = 1_000_000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse(std::env::args().skip(1))?;
    let text = std::fs::read_to_string(&args.corpus)
        .map_err(|e| format!("cannot read {}: {e}", args.corpus))?;
    let entries = corpus_entries(&text);
    if entries.is_empty() {
        return Err(format!("{} holds no entries", args.corpus).into());
    }
    let opts = ClassifyOptions::default();

    // The warm-up pass also yields the corpus figures, which do not change between passes.
    let mut statements = 0usize;
    let mut unparsed: Vec<String> = Vec::new();
    let mut tables = 0usize;
    let mut fast = 0usize;
    for entry in &entries {
        for c in classify(entry, &opts) {
            statements += 1;
            if takes_fast_path(&c.text) {
                fast += 1;
            }
            if !c.is_parsed() {
                unparsed.push(c.text.clone());
            }
            tables += c.tables().len();
        }
    }

    if args.per_entry {
        per_entry(&entries, &opts);
    }

    let classify_time = measure(&args, || {
        for entry in &entries {
            // Touch the result so the work cannot be optimised away.
            black_box(classify(black_box(entry), &opts));
        }
    });
    // The parser alone on the same entries: how much of a pass is sqlparser's own cost.
    let dialect = PostgreSqlDialect {};
    let parse_time = measure(&args, || {
        for entry in &entries {
            let _ = black_box(Parser::parse_sql(&dialect, black_box(entry)));
        }
    });
    let median = classify_time.median;

    let out = serde_json::json!({
        "tool": "shakedown",
        "entries": entries.len(),
        "statements": statements,
        "unparsed": unparsed.len(),
        "fast_path_statements": fast,
        "unparsed_statements": unparsed,
        "tables_found": tables,
        "passes": classify_time.passes,
        "median_pass_seconds": median,
        "min_pass_seconds": classify_time.min,
        "statements_per_sec": statements as f64 / median,
        "entries_per_sec": entries.len() as f64 / median,
        "total_seconds": classify_time.total,
        "sqlparser_only": {
            "passes": parse_time.passes,
            "median_pass_seconds": parse_time.median,
            "statements_per_sec": statements as f64 / parse_time.median,
        },
    });
    println!("{out}");
    Ok(())
}

/// Pass times of one measured loop, in seconds.
struct Timing {
    passes: usize,
    median: f64,
    min: f64,
    total: f64,
}

/// `--per-entry`: each entry's mean classification time (µs over 200 runs), whether all its
/// statements took the fast path, and its first line, tab-separated on stderr: where a pass's
/// time goes.
fn per_entry(entries: &[String], opts: &ClassifyOptions) {
    for entry in entries {
        let t = Instant::now();
        for _ in 0..200 {
            black_box(classify(black_box(entry), opts));
        }
        let us = t.elapsed().as_secs_f64() * 1e6 / 200.0;
        let fast = classify(entry, opts)
            .iter()
            .all(|c| takes_fast_path(&c.text));
        let first = entry.lines().next().unwrap_or("");
        eprintln!("{us:.2}\t{}\t{first}", if fast { "fast" } else { "parse" });
    }
}

/// Runs `pass` until both the time and the pass-count minimum are reached (bounded by
/// [`MAX_PASSES`]); the caller has already warmed up.
fn measure(args: &Args, mut pass: impl FnMut()) -> Timing {
    let mut passes: Vec<Duration> = Vec::new();
    let started = Instant::now();
    let min_time = Duration::from_secs_f64(args.seconds);
    while passes.len() < MAX_PASSES
        && (passes.len() < args.min_passes || started.elapsed() < min_time)
    {
        let t = Instant::now();
        pass();
        passes.push(t.elapsed());
    }
    passes.sort_unstable();
    Timing {
        passes: passes.len(),
        median: passes[passes.len() / 2].as_secs_f64(),
        min: passes[0].as_secs_f64(),
        total: passes.iter().map(Duration::as_secs_f64).sum(),
    }
}

/// Splits a corpus file into entries: blank lines separate them, `--!` lines are dropped.
fn corpus_entries(text: &str) -> Vec<String> {
    let mut entries = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        if line.starts_with("--!") {
            continue;
        }
        if line.trim().is_empty() {
            if !current.is_empty() {
                entries.push(std::mem::take(&mut current));
            }
            continue;
        }
        if !current.is_empty() {
            current.push('\n');
        }
        current.push_str(line);
    }
    if !current.is_empty() {
        entries.push(current);
    }
    entries
}

/// Command-line settings.
struct Args {
    corpus: String,
    seconds: f64,
    min_passes: usize,
    per_entry: bool,
}

impl Args {
    fn parse(mut it: impl Iterator<Item = String>) -> Result<Self, String> {
        let usage = "usage: classify_bench CORPUS [--seconds S] [--min-passes N] [--per-entry]";
        let mut corpus = None;
        let mut seconds = 3.0;
        let mut min_passes = 5;
        let mut per_entry = false;
        while let Some(arg) = it.next() {
            match arg.as_str() {
                "--seconds" => {
                    seconds = it
                        .next()
                        .and_then(|v| v.parse::<f64>().ok())
                        .filter(|s| (0.0..=600.0).contains(s))
                        .ok_or("--seconds needs a number of seconds, 0 to 600")?;
                }
                "--min-passes" => {
                    min_passes = it
                        .next()
                        .and_then(|v| v.parse::<usize>().ok())
                        .filter(|n| (1..=MAX_PASSES).contains(n))
                        .ok_or("--min-passes needs a count, 1 to 1000000")?;
                }
                "--per-entry" => per_entry = true,
                _ if corpus.is_none() && !arg.starts_with("--") => corpus = Some(arg),
                _ => return Err(format!("unexpected argument '{arg}'\n{usage}")),
            }
        }
        Ok(Args {
            corpus: corpus.ok_or(usage)?,
            seconds,
            min_passes,
            per_entry,
        })
    }
}
