//! `shakedown halt` and `shakedown resume`: the safety lever of a data directory. Halt sets
//! the latch (no new campaign or run starts), records it in the ledger, and sends SIGTERM to
//! every process carrying a campaign or run, which stops its traffic, undoes its chaos and is
//! stored as halted / terminated; it then waits (bounded) until they are gone.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use shakedown_control::halt_latch::{self, HaltInfo};
use shakedown_control::{Governance, default_actor};
use shakedown_core::system::Environment;
use shakedown_store::default_data_dir;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::exit::Exit;

/// Ledger category of halt and resume.
const CONTROL_CATEGORY: &str = "control";

#[derive(Debug, Args)]
pub struct HaltArgs {
    /// Why (recorded in the ledger and shown to anyone who tries to start chaos).
    #[arg(long, default_value = "manual halt")]
    pub reason: String,
    /// How long to wait for every campaign and run to stop, in seconds.
    #[arg(long, default_value_t = 30)]
    pub wait: u64,
}

pub fn halt(args: HaltArgs, data_dir: Option<PathBuf>) -> anyhow::Result<Exit> {
    let data = data_dir.unwrap_or_else(default_data_dir);
    let actor = default_actor();
    let info = HaltInfo {
        by: actor.clone(),
        at: OffsetDateTime::now_utc().format(&Rfc3339)?,
        reason: args.reason.clone(),
    };
    // The latch first: from here on nothing new starts, even if the ledger is unusable.
    halt_latch::set(&data, &info)
        .with_context(|| format!("cannot set the halt latch in {}", data.display()))?;
    let running = halt_latch::active(&data);
    let ledger_note = match Governance::open(&data, actor) {
        Ok(g) => g
            .record(
                CONTROL_CATEGORY,
                Environment::Test,
                "halted",
                "all",
                serde_json::json!({"reason": args.reason, "signalled": running}),
            )
            .map(|_| String::new())
            .unwrap_or_else(|e| format!(" (not recorded in the ledger: {e})")),
        Err(e) => format!(" (not recorded in the ledger: {e})"),
    };
    for a in &running {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &a.pid.to_string()])
            .status();
    }
    let deadline = Instant::now() + Duration::from_secs(args.wait);
    let mut left = halt_latch::active(&data);
    while !left.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        left = halt_latch::active(&data);
    }
    println!(
        "halted{ledger_note}: {} campaign(s)/run(s) signalled, {} still stopping; nothing new starts until `shakedown resume`",
        running.len(),
        left.len()
    );
    for a in &running {
        let state = if left.contains(a) {
            "still stopping"
        } else {
            "stopped"
        };
        println!("  {} {} (pid {}): {state}", a.kind, a.id, a.pid);
    }
    Ok(if left.is_empty() {
        Exit::Passed
    } else {
        Exit::Error
    })
}

pub fn resume(data_dir: Option<PathBuf>) -> anyhow::Result<Exit> {
    let data = data_dir.unwrap_or_else(default_data_dir);
    let was = halt_latch::halted(&data);
    let cleared = halt_latch::clear(&data)
        .with_context(|| format!("cannot clear the halt latch in {}", data.display()))?;
    if !cleared {
        println!("not halted; nothing to resume");
        return Ok(Exit::Passed);
    }
    let note = match Governance::open(&data, default_actor()) {
        Ok(g) => g
            .record(
                CONTROL_CATEGORY,
                Environment::Test,
                "resumed",
                "all",
                serde_json::json!({"halt": was}),
            )
            .map(|_| String::new())
            .unwrap_or_else(|e| format!(" (not recorded in the ledger: {e})")),
        Err(e) => format!(" (not recorded in the ledger: {e})"),
    };
    println!("resumed{note}: campaigns and runs may start again");
    Ok(Exit::Passed)
}

/// The refusal message when chaos is halted, for commands that would start some.
pub fn refuse_if_halted(data: &std::path::Path, what: &str) -> Option<Exit> {
    let info = halt_latch::halted(data)?;
    eprintln!(
        "error: refusing to start the {what}: chaos is halted (by {} at {}: {}); `shakedown resume` lifts the halt",
        info.by, info.at, info.reason
    );
    Some(Exit::Error)
}
