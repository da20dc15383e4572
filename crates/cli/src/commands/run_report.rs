//! Stored agent runs: `shakedown report ID --format …`, `shakedown run show ID`,
//! `shakedown runs`, `shakedown status ID` and `shakedown terminate ID`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use shakedown_agent::report::{RunReport, junit, markdown, sarif};
use shakedown_store::{RunRow, Store};

use super::open_store;
use crate::exit::Exit;

/// Report formats of an agent run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Json,
    Markdown,
    Junit,
    Sarif,
}

/// Renders a run report.
pub fn render(r: &RunReport, format: Format) -> anyhow::Result<String> {
    Ok(match format {
        Format::Json => serde_json::to_string_pretty(r)? + "\n",
        Format::Markdown => markdown(r),
        Format::Junit => junit(r),
        Format::Sarif => serde_json::to_string_pretty(&sarif(r))? + "\n",
    })
}

fn stored(store: &dyn Store, id: &str) -> anyhow::Result<RunRow> {
    store
        .run(id)?
        .with_context(|| format!("no run `{id}` in the store; `shakedown runs` lists them"))
}

fn report_of(row: &RunRow) -> anyhow::Result<RunReport> {
    let Some(v) = &row.report else {
        bail!(
            "run {} has no report ({}){}",
            row.id,
            row.status,
            if row.status == "running" {
                "; it is still running"
            } else {
                ""
            }
        );
    };
    serde_json::from_value(v.clone()).context("the stored report is unreadable")
}

/// Prints a stored run's report.
pub fn show(id: &str, format: Format, data_dir: Option<PathBuf>) -> anyhow::Result<Exit> {
    let store = open_store(data_dir)?;
    let row = stored(store.as_ref(), id)?;
    print!("{}", render(&report_of(&row)?, format)?);
    Ok(Exit::Passed)
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The run id (`shakedown runs` lists them).
    pub id: String,
    #[arg(long, value_enum, default_value = "markdown")]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct RunsArgs {
    /// How many runs to list, newest first.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
}

/// `shakedown runs`.
pub fn list(args: RunsArgs, data_dir: Option<PathBuf>) -> anyhow::Result<Exit> {
    let store = open_store(data_dir)?;
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header(["Run", "Scenario", "Status", "Overall", "Safety", "Started"]);
    for r in store.runs(args.limit)? {
        t.add_row([
            r.id.clone(),
            r.scenario.clone(),
            live_status(&r),
            r.overall.map_or("—".into(), |v| format!("{v:.1}")),
            r.safety.map_or("—".into(), |v| format!("{v:.0}")),
            r.started_at.to_string(),
        ]);
    }
    println!("{t}");
    Ok(Exit::Passed)
}

/// A run stored as running whose process is gone: it died before recording its outcome.
fn interrupted(r: &RunRow) -> bool {
    r.status == "running"
        && r.pid
            .is_some_and(|pid| !shakedown_control::halt_latch::alive(pid))
}

/// The status, with `interrupted` for a run whose process died.
fn live_status(r: &RunRow) -> String {
    if interrupted(r) {
        "interrupted (its process died)".into()
    } else {
        r.status.clone()
    }
}

/// The exit code of `shakedown status` for a stored run.
fn status_exit(r: &RunRow) -> Exit {
    match r.status.as_str() {
        "passed" => Exit::Passed,
        // Its process died: there is no verdict and there never will be.
        "running" if interrupted(r) => Exit::Error,
        "running" => Exit::Passed,
        "failed" | "terminated" | "halted_by_guardian" => Exit::BelowThreshold,
        _ => Exit::Error,
    }
}

#[derive(Debug, Args)]
pub struct IdArgs {
    /// The run id.
    pub id: String,
}

/// `shakedown status ID`: exit 0 passed, 1 failed/terminated, 2 error or interrupted (stored
/// as running but its process is gone); a run still running prints and exits 0.
pub fn status(args: IdArgs, data_dir: Option<PathBuf>) -> anyhow::Result<Exit> {
    let store = open_store(data_dir)?;
    let r = stored(store.as_ref(), &args.id)?;
    let s = live_status(&r);
    print!("{} {} {s}", r.id, r.scenario);
    if let (Some(o), Some(sf)) = (r.overall, r.safety) {
        print!(" overall {o:.1} safety {sf:.0}");
    }
    println!();
    Ok(status_exit(&r))
}

/// `shakedown terminate ID`: SIGTERM to the process carrying the run, which stops the agent,
/// undoes the chaos and tears the sandbox down; waits (bounded) until the run is recorded.
pub fn terminate(args: IdArgs, data_dir: Option<PathBuf>) -> anyhow::Result<Exit> {
    let store = open_store(data_dir)?;
    let r = stored(store.as_ref(), &args.id)?;
    let pid = match (r.status.as_str(), r.pid) {
        ("running", Some(pid)) if shakedown_control::halt_latch::alive(pid) => pid,
        ("running", _) => bail!("run {} is marked running but its process is gone", r.id),
        (s, _) => bail!("run {} is not running (it is {s})", r.id),
    };
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .context("cannot run kill")?;
    if !status.success() {
        bail!("cannot signal process {pid} of run {}", r.id);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let now = stored(store.as_ref(), &args.id)?;
        if now.status != "running" {
            println!("{} {}", now.id, now.status);
            return Ok(Exit::Passed);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!(
        "run {} did not stop within 30 s of SIGTERM (process {pid})",
        r.id
    )
}

#[cfg(test)]
mod tests {
    use time::OffsetDateTime;

    use super::*;

    fn row(status: &str, pid: Option<u32>) -> RunRow {
        RunRow {
            id: "run-1".into(),
            scenario: "data_cleanup".into(),
            status: status.into(),
            pid,
            started_at: OffsetDateTime::UNIX_EPOCH,
            finished_at: None,
            overall: None,
            safety: None,
            report: None,
        }
    }

    /// The pid of a process that has exited (and been reaped).
    fn dead_pid() -> u32 {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        pid
    }

    #[test]
    fn a_running_run_whose_process_died_exits_2() {
        let dead = row("running", Some(dead_pid()));
        assert_eq!(live_status(&dead), "interrupted (its process died)");
        assert_eq!(status_exit(&dead), Exit::Error);
        // Still running (this test's own process): 0, as documented.
        let live = row("running", Some(std::process::id()));
        assert_eq!(live_status(&live), "running");
        assert_eq!(status_exit(&live), Exit::Passed);
        assert_eq!(status_exit(&row("passed", None)), Exit::Passed);
        assert_eq!(status_exit(&row("failed", None)), Exit::BelowThreshold);
        assert_eq!(status_exit(&row("terminated", None)), Exit::BelowThreshold);
        assert_eq!(status_exit(&row("error", None)), Exit::Error);
    }
}
