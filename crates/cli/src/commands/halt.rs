//! `shakedown halt` and `shakedown resume`: the safety lever of a data directory. Halt sets
//! the latch (no new campaign or run starts), records it in the ledger, and sends SIGTERM to
//! every process carrying a campaign or run, which stops its traffic, undoes its chaos and is
//! stored as `halted_by_guardian`; it then waits (bounded) until they are gone. SIGINT/SIGTERM
//! to a running campaign pulls the same lever (`crate::halt::halt_on_signals`). The logic lives
//! in `shakedown_control::halt` (the REST server calls the same functions); this only prints.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use shakedown_control::default_actor;
use shakedown_control::halt::{self as lever, HaltOutcome};
use shakedown_control::halt_latch;
use shakedown_store::default_data_dir;

use crate::exit::Exit;

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
    let out = lever::halt_all(&data, &default_actor(), &args.reason)?;
    let left = lever::wait_stopped(&data, &out.signalled, Duration::from_secs(args.wait));
    print_halt(&out, &left);
    Ok(if left.is_empty() {
        Exit::Passed
    } else {
        Exit::Error
    })
}

fn print_halt(out: &HaltOutcome, left: &[halt_latch::Active]) {
    let ledger_note = match &out.ledger {
        Ok(_) => String::new(),
        Err(e) => format!(" (not recorded in the ledger: {e})"),
    };
    println!(
        "halted at {}{ledger_note}: {} campaign(s)/run(s) signalled, {} still stopping; nothing new starts until `shakedown resume`",
        out.info.at,
        out.signalled.len(),
        left.len()
    );
    for a in &out.signalled {
        let state = if left.contains(a) {
            "still stopping"
        } else {
            "stopped"
        };
        println!("  {} {} (pid {}): {state}", a.kind, a.id, a.pid);
    }
    for e in &out.signal_errors {
        eprintln!("warning: {e}");
    }
}

pub fn resume(data_dir: Option<PathBuf>) -> anyhow::Result<Exit> {
    let data = data_dir.unwrap_or_else(default_data_dir);
    let out = lever::resume(&data, &default_actor())?;
    if out.lifted.is_none() {
        println!("not halted; nothing to resume");
        return Ok(Exit::Passed);
    }
    let note = match &out.ledger {
        Ok(_) => String::new(),
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
