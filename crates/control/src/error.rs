//! Why a campaign could not be planned or run. Every message says what to do.

use shakedown_attack::ScopeError;
use shakedown_govern::Decision;
use shakedown_ledger::LedgerError;
use shakedown_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum CampaignError {
    #[error(
        "the system file's environment is production: campaigns there need explicit approval; \
         re-run with --approve once an accountable person has approved it"
    )]
    ProductionNeedsApproval,
    #[error("unknown component `{id}` in --targets; the system file has: {known}")]
    UnknownTarget { id: String, known: String },
    #[error(
        "{requested} components requested but blast_radius_limit is {limit}; name fewer targets \
         or raise blast_radius_limit in the system file"
    )]
    BlastRadius { requested: usize, limit: u32 },
    #[error("unknown pattern `{name}` in --patterns; `shakedown patterns` lists them")]
    UnknownPattern { name: String },
    #[error("nothing testable: {reason}")]
    NothingTestable { reason: String },
    #[error(
        "component `{component}` authenticates with the secret in ${var}, which is not set; \
         export it before the campaign (the secret never goes in the file)"
    )]
    MissingSecret { component: String, var: String },
    #[error("refused before sending anything: {0}")]
    Scope(#[from] ScopeError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot write events to {path}: {reason}")]
    EventsFile { path: String, reason: String },
    #[error("refused: the approval given does not hold: {0}")]
    Approval(String),
    #[error(
        "refused: this {environment} campaign has risk score {score:.2}, decision {decision}; \
         it needs a human's approval. Once an accountable person has approved this plan, re-run \
         with --approve (recorded in the signed ledger as approved by you), or with --approval \
         FILE from `shakedown approve`"
    )]
    NeedsApproval {
        environment: &'static str,
        score: f64,
        decision: &'static str,
    },
    #[error(
        "refused: this {environment} campaign has risk score {score:.2}, decision escalated; \
         it needs an approval by an account holding `approve` in {environment}:* (the operator's \
         --approve is not enough). Such an approver runs `shakedown approve -f FILE --token \
         TOKEN --out APPROVAL` (or sets SHAKEDOWN_TOKEN); then re-run with --approval APPROVAL"
    )]
    NeedsEscalatedApproval {
        environment: &'static str,
        score: f64,
    },
    #[error("refusing to start the campaign: {0}")]
    Refused(crate::launch::Refusal),
    #[error("the signed ledger refused to record the campaign, so it does not go on: {0}")]
    Ledger(#[from] LedgerError),
}

/// How a decision is spelled in messages and the ledger.
pub fn decision_name(d: Decision) -> &'static str {
    match d {
        Decision::AutoApproved => "auto_approved",
        Decision::PendingManual => "pending_manual",
        Decision::Escalated => "escalated",
    }
}
