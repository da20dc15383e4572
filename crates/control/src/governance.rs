//! Governance of chaos actions: every step of a campaign or agent run goes to the signed
//! ledger, and the risk score of a campaign decides whether it may start without a human's
//! `--approve`. Fail closed: a ledger that cannot be written stops the action.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};
use shakedown_core::Family;
use shakedown_core::campaign::Ranking;
use shakedown_core::system::{Environment, SystemSpec};
pub use shakedown_govern::{PlanHash, RiskAction, RiskInput, RiskScore, risk_score};
use shakedown_ledger::{Entry, Ledger, LedgerError};

use crate::plan::Plan;

/// Ledger category of campaign entries.
pub const CAMPAIGN_CATEGORY: &str = "campaign";
/// Ledger category of agent-run entries.
pub const AGENT_RUN_CATEGORY: &str = "agent_run";

/// The ledger every step is recorded in, and who is acting.
#[derive(Clone)]
pub struct Governance {
    pub ledger: Arc<Ledger>,
    /// The accountable actor: `$USER`, else `cli`.
    pub actor: String,
}

impl Governance {
    /// Opens the ledger of `data_dir` and checks that an append would succeed now (key
    /// present, private and expected; files writable), so nothing starts unrecorded.
    pub fn open(data_dir: &std::path::Path, actor: impl Into<String>) -> Result<Self, LedgerError> {
        let ledger = Ledger::open_in_data_dir(data_dir)?;
        ledger.check_writable()?;
        Ok(Governance {
            ledger: Arc::new(ledger),
            actor: actor.into(),
        })
    }

    /// Appends one entry as this governance's actor.
    pub fn record(
        &self,
        category: &str,
        environment: Environment,
        action: &str,
        resource: &str,
        data: Value,
    ) -> Result<Entry, LedgerError> {
        self.record_as(&self.actor, category, environment, action, resource, data)
    }

    /// Appends one entry as `actor` (e.g. `shakedown` for an automatic approval).
    pub fn record_as(
        &self,
        actor: &str,
        category: &str,
        environment: Environment,
        action: &str,
        resource: &str,
        data: Value,
    ) -> Result<Entry, LedgerError> {
        self.ledger.append(
            actor,
            category,
            environment.as_str(),
            action,
            resource,
            data,
        )
    }
}

/// The accountable actor of a CLI invocation: `$USER` when set, else `cli`.
pub fn default_actor() -> String {
    std::env::var("USER")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| "cli".to_string())
}

/// What a campaign will do, as recorded and hashed: environment, blast radius limit, per
/// component its full definition (target, endpoints, auth header and secret name, claimed
/// guardrails, severities) and patterns, and the policy it runs under (scope, engine limits,
/// error budget). Ordered maps, so equal plans hash equally; a change to any of these after an
/// approval changes the hash and voids the approval.
pub fn campaign_plan_snapshot(plan: &Plan, spec: &SystemSpec) -> Value {
    let components: BTreeMap<&str, Value> = plan
        .components
        .iter()
        .map(|c| {
            (
                c.component.id.as_str(),
                json!({
                    "target": c.component.target,
                    "patterns": c.patterns.iter().map(|p| p.name()).collect::<Vec<_>>(),
                    "definition": c.component,
                }),
            )
        })
        .collect();
    json!({
        "environment": plan.environment,
        "blast_radius_limit": spec.blast_radius_limit,
        "components": components,
        "policy": {
            "scope": spec.scope,
            "engine": spec.engine,
            "error_budget": spec.effective_error_budget(),
        },
    })
}

/// The plan hash of a snapshot (SHA-256 of its JSON, keys sorted).
pub fn plan_hash(snapshot: &Value) -> PlanHash {
    PlanHash::of(snapshot)
}

/// The risk of a campaign. History per targeted component comes from its ranking: failed ≈
/// (1 − resilience) × results so far; a component never ranked adds nothing, so with none
/// ranked the history term is "unknown" (0.5).
pub fn campaign_risk(plan: &Plan, blast_radius_limit: u32, rankings: &[Ranking]) -> RiskScore {
    let families: Vec<Family> = plan
        .components
        .iter()
        .flat_map(|c| c.patterns.iter().map(|p| p.info().family))
        .collect();
    let history: Vec<(u64, u64)> = plan
        .components
        .iter()
        .filter_map(|c| rankings.iter().find(|r| r.component_id == c.component.id))
        .filter(|r| r.test_count > 0)
        .map(|r| {
            let all = u64::from(r.test_count);
            let failed = ((1.0 - r.resilience_score).clamp(0.0, 1.0) * all as f64).round() as u64;
            (failed, all)
        })
        .collect();
    risk_score(&RiskInput {
        environment: plan.environment,
        action: RiskAction::Campaign,
        families,
        components: plan.components.len(),
        blast_radius_limit: blast_radius_limit as usize,
        history,
    })
}

/// The risk of an agent run in its sandbox (environment test, one target: the agent). HTTP
/// faults count as network faults, a database chaos script (locks, latency) as load; history
/// is (failed, all) of the scenario's earlier runs, unknown when there are none.
pub fn agent_run_risk(http_faults: bool, db_chaos: bool, history: Option<(u64, u64)>) -> RiskScore {
    let mut families = Vec::new();
    if http_faults {
        families.push(Family::Network);
    }
    if db_chaos {
        families.push(Family::Load);
    }
    risk_score(&RiskInput {
        environment: Environment::Test,
        action: RiskAction::AgentRun,
        families,
        components: 1,
        blast_radius_limit: 1,
        history: history.into_iter().collect(),
    })
}

/// The risk score as a ledger `data` object.
pub fn risk_data(r: &RiskScore) -> Value {
    json!({
        "score": r.score,
        "decision": r.decision,
        "terms": {
            "env": r.env,
            "action": r.action,
            "destructiveness": r.destructiveness,
            "blast": r.blast,
            "history": r.history,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use shakedown_govern::Decision;

    #[test]
    fn agent_runs_in_the_sandbox_stay_in_the_test_band() {
        let quiet = agent_run_risk(false, false, Some((0, 10)));
        assert!(quiet.score < 0.3 && quiet.decision == Decision::AutoApproved);
        let loud = agent_run_risk(true, true, None);
        assert!(loud.score > quiet.score && loud.score <= 0.55);
    }
}
