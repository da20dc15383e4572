//! `shakedown approve -f FILE [--targets] [--patterns] [--ttl 30m] [--token T] --out APPROVAL`:
//! a signed, expiring approval of the exact plan a campaign with the same arguments would run
//! now. The approval is signed with the ledger's key and recorded in the ledger; `shakedown
//! campaign --approval APPROVAL` checks the plan hash, the signature and the expiry before
//! anything starts.
//!
//! Who may approve follows the risk decision: a plan pending manual approval may be approved
//! by the local operator ($USER); an escalated plan (every production plan) only by an account
//! identified by a bearer token (`--token` or `SHAKEDOWN_TOKEN`) holding `approve` in the
//! plan's environment for every planned component — refused otherwise, and the campaign
//! refuses an escalated approval whose approver is not such an account or is its requester.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;
use shakedown_control::approval_signer::LedgerSigner;
use shakedown_control::auth::authenticate;
use shakedown_control::error::decision_name;
use shakedown_control::governance::{CAMPAIGN_CATEGORY, campaign_risk};
use shakedown_control::{Governance, RunOptions, default_actor, planned};
use shakedown_core::HumanDuration;
use shakedown_govern::rbac::environment_scope;
use shakedown_govern::{Approval, Decision, Permission, SystemClock};
use shakedown_store::default_data_dir;
use time::OffsetDateTime;

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
    /// The approver's bearer token (`shakedown token create`): required for an escalated plan
    /// (every production plan); its account must hold `approve` in the plan's environment.
    #[arg(
        long,
        env = "SHAKEDOWN_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,
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
    let (plan, snapshot, hash) = planned(store.as_ref(), &spec, &opts)?;
    let risk = campaign_risk(&plan, spec.blast_radius_limit, &store.rankings()?);
    let decision = decision_name(risk.decision);
    let env = spec.environment;
    let scope = environment_scope(env);
    // Who approves: the token's account when one is given (it must hold `approve` here);
    // without one, the operator — never for an escalated plan.
    let (approver, authenticated) = match args.token.as_deref().filter(|t| !t.trim().is_empty()) {
        Some(token) => {
            let account = authenticate(
                store.as_ref(),
                Some(&format!("Bearer {}", token.trim())),
                OffsetDateTime::now_utc(),
            )
            .map_err(|e| anyhow::anyhow!("refusing to approve: the token is not usable: {e}"))?;
            for pc in &plan.components {
                if let Err(d) = account.authorize(Permission::Approve, env, &pc.component.id) {
                    eprintln!(
                        "error: refusing to approve: {d}; an approver needs a token of an account holding `approve` in {scope}:* (e.g. the approver role)"
                    );
                    return Ok(Exit::Error);
                }
            }
            (account.id, "token")
        }
        None if risk.decision == Decision::Escalated => {
            eprintln!(
                "error: refusing to approve: this {env} plan is escalated (risk score {:.2}): it needs an approver identified by a token holding `approve` in {scope}:*; pass --token TOKEN or set SHAKEDOWN_TOKEN (`shakedown token create --role approver` makes one)",
                risk.score
            );
            return Ok(Exit::Error);
        }
        None => (gov.actor.clone(), "operator"),
    };
    let signer = LedgerSigner(gov.ledger.keys());
    let ttl = time::Duration::try_from(ttl.as_duration())?;
    let approval = Approval::grant(hash.clone(), &approver, ttl, &SystemClock, &signer);
    // Recorded as the approver: the accountable one (the token's account, or the operator).
    gov.record_as(
        &approver,
        CAMPAIGN_CATEGORY,
        spec.environment,
        "approval_granted",
        &args.file.display().to_string(),
        serde_json::json!({
            "plan": snapshot,
            "plan_hash": hash.0,
            "approver": approval.approver,
            "authenticated_by": authenticated,
            "decision": decision,
            "score": risk.score,
            "expires_at": approval.expires_at.to_string(),
            "key_id": approval.key_id,
        }),
    )?;
    std::fs::write(&args.out, serde_json::to_vec_pretty(&approval)?)
        .with_context(|| format!("cannot write the approval to {}", args.out.display()))?;
    println!(
        "approved {decision} plan {} by {} ({authenticated}) until {} → {}",
        &hash.0[..12],
        approval.approver,
        approval.expires_at,
        args.out.display()
    );
    Ok(Exit::Passed)
}
