//! `shakedown approve -f FILE [--targets] [--patterns] [--ttl 30m] --out APPROVAL`: a signed,
//! expiring approval of the exact plan a campaign with the same arguments would run now. The
//! approval is signed with the ledger's key and recorded in the ledger; `shakedown campaign
//! --approval APPROVAL` checks the plan hash, the signature and the expiry before anything
//! starts.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;
use shakedown_control::approval_signer::LedgerSigner;
use shakedown_control::governance::CAMPAIGN_CATEGORY;
use shakedown_control::{Governance, RunOptions, default_actor, planned};
use shakedown_core::HumanDuration;
use shakedown_govern::{Approval, SystemClock};
use shakedown_store::default_data_dir;

use super::{Loaded, open_store, read_system};
use crate::exit::Exit;

#[derive(Debug, Args)]
pub struct ApproveArgs {
    /// The system file of the campaign being approved.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: PathBuf,
    /// The same --targets the campaign will be run with.
    #[arg(long, value_delimiter = ',')]
    pub targets: Option<Vec<String>>,
    /// The same --patterns the campaign will be run with.
    #[arg(long, value_delimiter = ',')]
    pub patterns: Option<Vec<String>>,
    /// How long the approval is valid (e.g. 30m, 2h; at most 24h).
    #[arg(long, default_value = "30m")]
    pub ttl: String,
    /// Where to write the approval (JSON).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

pub fn run(args: ApproveArgs, data_dir: Option<PathBuf>) -> anyhow::Result<Exit> {
    let ttl: HumanDuration = args
        .ttl
        .parse()
        .map_err(|e| anyhow::anyhow!("--ttl `{}`: {e}; use e.g. 30m or 2h", args.ttl))?;
    if ttl.as_duration().is_zero() || ttl.as_duration().as_secs() > 24 * 3600 {
        bail!(
            "--ttl must be more than 0 and at most 24h, got {}",
            args.ttl
        );
    }
    let spec = match read_system(&args.file)? {
        Loaded::Spec(spec) => spec,
        Loaded::Invalid(msg) => {
            eprintln!("{msg}");
            return Ok(Exit::Error);
        }
    };
    let patterns = match &args.patterns {
        Some(names) => Some(
            names
                .iter()
                .map(|n| {
                    shakedown_core::Pattern::from_name(n.trim()).with_context(|| {
                        format!(
                            "unknown pattern `{n}` in --patterns; `shakedown patterns` lists them"
                        )
                    })
                })
                .collect::<anyhow::Result<Vec<_>>>()?,
        ),
        None => None,
    };
    let data = data_dir.clone().unwrap_or_else(default_data_dir);
    let gov = Governance::open(&data, default_actor())
        .context("cannot sign an approval: the signed ledger is not usable")?;
    let store = open_store(data_dir)?;
    let mut opts = RunOptions::new(args.file.display().to_string());
    opts.plan.targets = args.targets.clone();
    opts.plan.patterns = patterns;
    let (_, snapshot, hash) = planned(store.as_ref(), &spec, &opts)?;
    let signer = LedgerSigner(gov.ledger.keys());
    let ttl = time::Duration::try_from(ttl.as_duration())?;
    let approval = Approval::grant(hash.clone(), &gov.actor, ttl, &SystemClock, &signer);
    gov.record(
        CAMPAIGN_CATEGORY,
        spec.environment,
        "approval_granted",
        &args.file.display().to_string(),
        serde_json::json!({
            "plan": snapshot,
            "plan_hash": hash.0,
            "approver": approval.approver,
            "expires_at": approval.expires_at.to_string(),
            "key_id": approval.key_id,
        }),
    )?;
    std::fs::write(&args.out, serde_json::to_vec_pretty(&approval)?)
        .with_context(|| format!("cannot write the approval to {}", args.out.display()))?;
    println!(
        "approved plan {} by {} until {} → {}",
        &hash.0[..12],
        approval.approver,
        approval.expires_at,
        args.out.display()
    );
    Ok(Exit::Passed)
}
