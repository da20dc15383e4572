//! The gates every campaign passes before it is planned, whichever path starts it (CLI, API,
//! schedule): chaos not halted, the signed ledger writable, in production a healthy halt path,
//! and the environment's error budget above its threshold. A refusal names its gate so the CLI
//! prints it and the API maps it to a status (`BudgetExhausted` → 429 with
//! `X-Gate-Enforced: BudgetExhausted` and `Retry-After`).

use std::path::Path;

use serde_json::json;
use shakedown_core::system::{Environment, SystemSpec};
use time::OffsetDateTime;

use crate::budget_gate::{self, BudgetDecision};
use crate::governance::{CAMPAIGN_CATEGORY, Governance};
use crate::halt_latch::{self, HaltInfo};

/// Why a campaign may not start now.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Refusal {
    #[error(
        "chaos is halted (by {} at {}: {}); `shakedown resume` lifts the halt",
        .0.by, .0.at, .0.reason
    )]
    Halted(HaltInfo),
    #[error("the signed ledger is not usable: {0}")]
    LedgerUnusable(String),
    #[error(
        "BudgetExhausted — the {environment} error budget is at {:.0}%, below {:.0}%; retry after {retry_after_secs} s",
        remaining * 100.0, threshold * 100.0
    )]
    BudgetExhausted {
        environment: Environment,
        remaining: f64,
        threshold: f64,
        retry_after_secs: i64,
    },
    #[error("cannot read the error budgets: {0}")]
    Budgets(String),
    #[error("production needs a healthy halt path: {0}")]
    ProductionPrerequisite(String),
}

impl Refusal {
    /// The gate's name, as sent in `X-Gate-Enforced` and recorded in the ledger.
    pub fn gate(&self) -> &'static str {
        match self {
            Refusal::Halted(_) => "Halted",
            Refusal::LedgerUnusable(_) => "LedgerUnusable",
            Refusal::BudgetExhausted { .. } => "BudgetExhausted",
            Refusal::Budgets(_) => "BudgetsUnreadable",
            Refusal::ProductionPrerequisite(_) => "HaltPathUnhealthy",
        }
    }
}

/// Checks every gate for a campaign of `spec` at `now`. A budget refusal is recorded in the
/// ledger (`budget_gate`) under `resource`.
pub fn preflight(
    data_dir: &Path,
    spec: &SystemSpec,
    gov: &Governance,
    resource: &str,
    now: OffsetDateTime,
) -> Result<(), Refusal> {
    if let Some(info) = halt_latch::halted(data_dir) {
        return Err(Refusal::Halted(info));
    }
    gov.ledger
        .check_writable()
        .map_err(|e| Refusal::LedgerUnusable(e.to_string()))?;
    if spec.environment == Environment::Production {
        halt_path_health(data_dir).map_err(Refusal::ProductionPrerequisite)?;
    }
    let Some(settings) = spec.effective_error_budget() else {
        return Ok(());
    };
    let decision = budget_gate::check(data_dir, spec.environment, &settings, now)
        .map_err(|e| Refusal::Budgets(e.to_string()))?;
    if let BudgetDecision::Exhausted {
        remaining,
        retry_after,
    } = decision
    {
        let refusal = Refusal::BudgetExhausted {
            environment: spec.environment,
            remaining,
            threshold: settings.threshold,
            retry_after_secs: retry_after.whole_seconds().max(1),
        };
        gov.record(
            CAMPAIGN_CATEGORY,
            spec.environment,
            "budget_gate",
            resource,
            json!({
                "gate": refusal.gate(),
                "remaining": remaining,
                "threshold": settings.threshold,
                "retry_after_secs": retry_after.whole_seconds().max(1),
            }),
        )
        .map_err(|e| Refusal::LedgerUnusable(e.to_string()))?;
        return Err(refusal);
    }
    Ok(())
}

/// The halt path works: its latch can be read (an unreadable one would refuse everything
/// anyway) and the registry of running campaigns takes a new entry, so a `shakedown halt`
/// issued during the campaign finds and stops it.
pub fn halt_path_health(data_dir: &Path) -> Result<(), String> {
    let dir = data_dir.join("active");
    std::fs::create_dir_all(&dir)
        .map_err(|e| format!("cannot create the halt registry {}: {e}", dir.display()))?;
    let probe = dir.join(format!(".probe-{}", std::process::id()));
    std::fs::write(&probe, b"probe")
        .and_then(|_| std::fs::remove_file(&probe))
        .map_err(|e| format!("the halt registry {} is not writable: {e}", dir.display()))?;
    let latch = data_dir.join("halted.json");
    match std::fs::metadata(&latch) {
        Ok(_) => Err(format!("the halt latch {} is set", latch.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!(
            "cannot read the halt latch {}: {e}",
            latch.display()
        )),
    }
}

/// What remains of the error budget of `spec`'s environment now (None when it has none).
pub fn budget_remaining(
    data_dir: &Path,
    spec: &SystemSpec,
    now: OffsetDateTime,
) -> std::io::Result<Option<f64>> {
    match spec.effective_error_budget() {
        Some(settings) => budget_gate::check(data_dir, spec.environment, &settings, now).map(|d| {
            Some(match d {
                BudgetDecision::Allowed { remaining }
                | BudgetDecision::Exhausted { remaining, .. } => remaining,
            })
        }),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shakedown_core::system::load_system;

    fn spec(env: &str, extra: &str) -> SystemSpec {
        let text = format!(
            "environment: {env}\n{extra}components:\n  - id: api\n    kind: api_endpoint\n    target: http://127.0.0.1:9\n"
        );
        load_system(&text).map(|(s, _)| s).expect("valid system")
    }

    fn now() -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }

    #[test]
    fn a_halt_refuses_every_environment() {
        let dir = tempfile::tempdir().unwrap();
        let gov = Governance::open(dir.path(), "alice").unwrap();
        let info = HaltInfo {
            by: "bob".into(),
            at: "2026-11-22T06:00:00Z".into(),
            reason: "incident".into(),
        };
        halt_latch::set(dir.path(), &info).unwrap();
        for env in ["test", "staging", "production"] {
            let err = preflight(dir.path(), &spec(env, ""), &gov, "f", now()).unwrap_err();
            assert_eq!(err, Refusal::Halted(info.clone()));
            assert!(err.to_string().contains("shakedown resume"));
        }
    }

    #[test]
    fn production_needs_a_writable_halt_registry() {
        let dir = tempfile::tempdir().unwrap();
        let gov = Governance::open(dir.path(), "alice").unwrap();
        assert!(preflight(dir.path(), &spec("production", ""), &gov, "f", now()).is_ok());
        let broken = tempfile::tempdir().unwrap();
        let gov = Governance::open(broken.path(), "alice").unwrap();
        std::fs::write(broken.path().join("active"), b"a file, not a directory").unwrap();
        let err = preflight(broken.path(), &spec("production", ""), &gov, "f", now()).unwrap_err();
        assert_eq!(err.gate(), "HaltPathUnhealthy");
        // Test and staging do not need it.
        assert!(preflight(broken.path(), &spec("test", ""), &gov, "f", now()).is_ok());
    }

    #[test]
    fn an_exhausted_budget_refuses_with_retry_after_and_is_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let gov = Governance::open(dir.path(), "alice").unwrap();
        let s = spec(
            "staging",
            "error_budget: {cost_per_injection: 0.5, refill_window: 1h, threshold: 0.2}\n",
        );
        assert!(preflight(dir.path(), &s, &gov, "f", now()).is_ok());
        let settings = s.effective_error_budget().unwrap();
        let left = budget_gate::burn(dir.path(), s.environment, &settings, now(), 2).unwrap();
        assert_eq!(left, 0.0);
        let err = preflight(dir.path(), &s, &gov, "staging.yaml", now()).unwrap_err();
        match &err {
            Refusal::BudgetExhausted {
                retry_after_secs,
                threshold,
                ..
            } => {
                assert!(*retry_after_secs >= 1);
                assert_eq!(*threshold, 0.2);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(err.gate(), "BudgetExhausted");
        let text = std::fs::read_to_string(gov.ledger.path()).unwrap();
        let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
        assert_eq!(last["action"], "budget_gate");
        assert_eq!(last["resource"], "staging.yaml");
        assert_eq!(last["data"]["gate"], "BudgetExhausted");
        // The test environment has no budget unless one is configured.
        assert!(spec("test", "").effective_error_budget().is_none());
    }
}
