//! `shakedown campaign -f FILE …` runs a campaign; `shakedown campaign show ID` shows one.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use shakedown_control::report::{ReportFormat, render};
use shakedown_control::{CampaignRunner, EventBus, Governance, RunOptions, default_actor};
use shakedown_core::Pattern;
use shakedown_core::campaign::CampaignRecord;
use shakedown_store::default_data_dir;

use super::{Loaded, open_store, read_system};
use crate::exit::Exit;
use crate::progress::{TerminalProgress, finish};
use crate::table::campaign_table;

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct CampaignArgs {
    #[command(subcommand)]
    pub action: Option<CampaignAction>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Subcommand)]
pub enum CampaignAction {
    /// Show a stored campaign with every result.
    Show {
        id: String,
        /// Output format.
        #[arg(long, default_value = "markdown", value_parser = ["json", "markdown", "junit"])]
        report: String,
    },
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The system file.
    #[arg(short = 'f', long = "file", value_name = "FILE", required = true)]
    pub file: Option<PathBuf>,
    /// Components to attack (comma-separated ids); default: the least resilient, up to the
    /// blast radius.
    #[arg(long, value_delimiter = ',')]
    pub targets: Option<Vec<String>>,
    /// Only these patterns (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub patterns: Option<Vec<String>>,
    /// Pass threshold for the exit code, 0..1.
    #[arg(long, default_value_t = 0.8)]
    pub threshold: f64,
    /// Report format written to --out (or stdout).
    #[arg(long, value_parser = ["json", "markdown", "junit"])]
    pub report: Option<String>,
    /// Write the report to this file instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Also stream events as JSON lines to this file.
    #[arg(long, value_name = "FILE")]
    pub events: Option<PathBuf>,
    /// Approve, as the operator running it, a campaign whose risk decision is pending manual
    /// approval (e.g. staging). Recorded in the signed ledger as approved by $USER. Not enough
    /// for an escalated plan (every production campaign): that needs --approval from an
    /// account holding `approve` (`shakedown approve --token`).
    #[arg(long)]
    pub approve: bool,
    /// A signed approval from `shakedown approve` (checked: same plan, valid signature, not
    /// expired).
    #[arg(long, value_name = "FILE", conflicts_with = "approve")]
    pub approval: Option<PathBuf>,
    /// Also publish every event on NATS, on `chaos.<event_type>` (nats://host:port); a NATS
    /// server that is down or slow never stalls the campaign (events dropped and counted).
    #[arg(long, env = super::guardian::NATS_URL_ENV, value_name = "URL", value_parser = super::guardian::nats_url)]
    pub nats: Option<String>,
}

pub async fn run(args: CampaignArgs, data_dir: Option<PathBuf>) -> anyhow::Result<Exit> {
    match args.action {
        Some(CampaignAction::Show { id, report }) => show(&id, &report, data_dir),
        None => run_campaign(args.run, data_dir, RunOptions::new("")).await,
    }
}

fn show(id: &str, report: &str, data_dir: Option<PathBuf>) -> anyhow::Result<Exit> {
    let store = open_store(data_dir)?;
    let Some(record) = store.campaign(id)? else {
        bail!("no campaign `{id}` in the store; `shakedown campaigns` lists them");
    };
    let format = ReportFormat::parse(report).unwrap_or(ReportFormat::Markdown);
    print!("{}", render(&record, format));
    Ok(Exit::Passed)
}

/// Validates the arguments, runs the campaign, prints the table, writes the report and picks
/// the exit code. `base` carries options the caller (e.g. the demo) presets.
pub async fn run_campaign(
    args: RunArgs,
    data_dir: Option<PathBuf>,
    base: RunOptions,
) -> anyhow::Result<Exit> {
    if !(0.0..=1.0).contains(&args.threshold) {
        bail!(
            "--threshold must be between 0 and 1 (e.g. 0.8), got {}",
            args.threshold
        );
    }
    let patterns = match &args.patterns {
        Some(names) => Some(
            names
                .iter()
                .map(|n| {
                    Pattern::from_name(n.trim()).with_context(|| {
                        format!(
                            "unknown pattern `{n}` in --patterns; `shakedown patterns` lists them"
                        )
                    })
                })
                .collect::<anyhow::Result<Vec<_>>>()?,
        ),
        None => None,
    };
    let file = args.file.clone().context("--file is required")?;
    let spec = match read_system(&file)? {
        Loaded::Spec(spec) => spec,
        Loaded::Invalid(msg) => {
            eprintln!("{msg}");
            return Ok(Exit::Error);
        }
    };
    // Fail closed: without a writable ledger and a usable signing key nothing starts.
    let data = data_dir.clone().unwrap_or_else(default_data_dir);
    if let Some(exit) = super::halt::refuse_if_halted(&data, "campaign") {
        return Ok(exit);
    }
    let _active =
        shakedown_control::halt_latch::register(&data, "campaign", &file.display().to_string())
            .with_context(|| {
                format!(
                    "cannot register the campaign in the halt registry of {}",
                    data.display()
                )
            })?;
    let governance = match Governance::open(&data, default_actor()) {
        Ok(g) => g,
        Err(e) => {
            eprintln!(
                "error: refusing to start the campaign: the signed ledger is not usable: {e}"
            );
            return Ok(Exit::Error);
        }
    };
    // The same gates the API applies: halt latch, ledger, the production halt path and the
    // error budget (the API answers 429 with `X-Gate-Enforced: BudgetExhausted`; the CLI
    // refuses with the same reason).
    if let Err(refusal) = shakedown_control::launch::preflight(
        &data,
        &spec,
        &governance,
        &file.display().to_string(),
        time::OffsetDateTime::now_utc(),
    ) {
        eprintln!("error: refusing to start the campaign: {refusal}");
        return Ok(Exit::Error);
    }
    let store = open_store(data_dir)?;
    let mut bus = EventBus::new(store.clone());
    if let Some(path) = &args.events {
        bus = bus.with_jsonl(path)?;
    }
    // Dropped when this function returns: flushes the last events and prints the count.
    let mut _nats_summary = None;
    if let Some(url) = &args.nats {
        let (publisher, summary) = super::guardian::event_publisher(url)?;
        bus = bus.with_nats(publisher);
        _nats_summary = Some(summary);
    }
    let progress = Arc::new(TerminalProgress::new());
    let runner = CampaignRunner::new(store, bus, governance)
        .with_progress(progress.clone())
        // A signal to this process is the halt lever (latch, every registered campaign and
        // run, ledger), not just this campaign's stop.
        .with_halt(crate::halt::halt_on_signals(&data, "campaign"))
        .with_data_dir(data.clone());
    let mut opts = base;
    opts.system_file = file.display().to_string();
    opts.threshold = args.threshold;
    opts.plan.targets = args.targets.clone();
    opts.plan.patterns = patterns;
    opts.plan.approved = args.approve;
    if let Some(path) = &args.approval {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the approval {}", path.display()))?;
        opts.approval = Some(serde_json::from_str(&text).with_context(|| {
            format!(
                "{} is not an approval written by `shakedown approve`",
                path.display()
            )
        })?);
    }

    let record = runner.run(&spec, &opts).await;
    finish(&progress);
    let record = record?;
    // The runner reserved the budget before the first attack and settled it when the
    // campaign ended (every attack that ran burned, whatever its verdict).
    let remaining =
        shakedown_control::launch::budget_remaining(&data, &spec, time::OffsetDateTime::now_utc())
            .with_context(|| format!("cannot read the error budgets in {}", data.display()))?;
    if let Some(remaining) = remaining {
        eprintln!(
            "error budget of {}: {:.0}% left",
            spec.environment,
            remaining * 100.0
        );
    }
    print_summary(&record);
    if let Some(fmt) = args.report.as_deref().and_then(ReportFormat::parse) {
        let text = render(&record, fmt);
        match &args.out {
            Some(path) => std::fs::write(path, text)
                .with_context(|| format!("cannot write the report to {}", path.display()))?,
            None => print!("{text}"),
        }
    } else if let Some(path) = &args.out {
        let text = render(&record, ReportFormat::Json);
        std::fs::write(path, text)
            .with_context(|| format!("cannot write the report to {}", path.display()))?;
    }
    Ok(verdict_exit(&record))
}

fn print_summary(r: &CampaignRecord) {
    eprintln!();
    eprintln!("{}", campaign_table(r));
    eprintln!(
        "Campaign {} {}: {} tests, {} passed, {} failed, {} inconclusive; score {} (threshold {})",
        r.campaign_id,
        r.status.as_str(),
        r.tests_run,
        r.tests_passed,
        r.tests_failed,
        r.tests_inconclusive,
        shakedown_control::report::percent(r.score),
        shakedown_control::report::percent(Some(r.threshold)),
    );
}

/// 0 at or above the threshold, 1 below it, 2 when nothing could be judged or the run was
/// halted.
pub fn verdict_exit(r: &CampaignRecord) -> Exit {
    use shakedown_core::campaign::CampaignStatus;
    if r.status != CampaignStatus::Completed {
        eprintln!(
            "the campaign did not complete ({}); no verdict",
            r.status.as_str()
        );
        return Exit::Error;
    }
    match r.score {
        None => {
            eprintln!(
                "every result was inconclusive (targets down or unreachable?): nothing was verified"
            );
            Exit::Error
        }
        Some(s) if s + 1e-9 >= r.threshold => Exit::Passed,
        Some(_) => Exit::BelowThreshold,
    }
}
