//! `shakedown ledger verify|export`: check the signed ledger of chaos actions, or print it.
//! Verify needs no signing key, so an auditor (or the owner of a tampered ledger) can always
//! run it; exit 0 intact, 1 tampered (the first problem is printed), 2 error.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};
use shakedown_ledger::{ExportFormat, export_dir, ledger_dir, verify_dir};
use shakedown_store::default_data_dir;

use crate::exit::Exit;

#[derive(Debug, Args)]
pub struct LedgerArgs {
    #[command(subcommand)]
    pub command: LedgerCommand,
}

#[derive(Debug, Subcommand)]
pub enum LedgerCommand {
    /// Re-derive every hash, check every signature and link; exit 0 intact, 1 tampered (the
    /// first modified, deleted, inserted or reordered entry is printed), 2 error.
    Verify(VerifyArgs),
    /// Print every entry, hashes and signatures included.
    Export(ExportArgs),
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// `jsonl`: one entry per line, like the ledger file; `json`: one array.
    #[arg(long, value_enum, default_value_t = Format::Jsonl)]
    pub format: Format,
}

/// The export formats as the command line spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Json,
    Jsonl,
}

pub fn run(args: LedgerArgs, data_dir: Option<PathBuf>) -> anyhow::Result<Exit> {
    let dir = ledger_dir(&data_dir.unwrap_or_else(default_data_dir));
    match args.command {
        LedgerCommand::Verify(a) => {
            let report = verify_dir(&dir)?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else if let Some(problem) = &report.problem {
                println!("ledger TAMPERED ({}): {problem}", dir.display());
                println!("{} verified before it", entries(report.verified));
            } else if report.verified == 0 {
                println!("ledger ok ({}): no entries yet", dir.display());
            } else {
                println!(
                    "ledger ok ({}): {} (seq 1 to {}), signed by {} key(s), {} rotation(s)",
                    dir.display(),
                    entries(report.verified),
                    report.last_seq.unwrap_or(0),
                    report.key_ids.len(),
                    report.rotations
                );
            }
            Ok(if report.is_ok() {
                Exit::Passed
            } else {
                Exit::BelowThreshold
            })
        }
        LedgerCommand::Export(a) => {
            let format = match a.format {
                Format::Json => ExportFormat::Json,
                Format::Jsonl => ExportFormat::Jsonl,
            };
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            export_dir(&dir, format, &mut out)?;
            out.flush()?;
            Ok(Exit::Passed)
        }
    }
}

fn entries(n: usize) -> String {
    if n == 1 {
        "1 entry".into()
    } else {
        format!("{n} entries")
    }
}
