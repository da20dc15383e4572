//! The risk score of a chaos action, in [0, 1], and the approval decision it implies.
//!
//! ```text
//! risk = env + (1 − env) × 0.25 × (0.3·action + 0.3·destructiveness + 0.2·blast + 0.2·history)
//! ```
//!
//! - `env`: production 0.9, staging 0.4, test 0.1 — the floor the rest can only raise;
//! - `action`: how much the action itself changes (campaign 1.0, agent run 0.6, re-test 0.4);
//! - `destructiveness`: the most destructive pattern of the plan (load and exhaustion 1.0,
//!   network faults 1.0, injection/auth and config attacks 0.6, data-shape attacks 0.3), 0
//!   with no patterns;
//! - `blast`: components targeted ÷ the blast-radius limit, capped at 1;
//! - `history`: the targeted components' failure rate so far (1 − success rate), 0.5 for a
//!   component never tested (unknown is not safe).
//!
//! The modifiers can add at most a quarter of the distance to 1, so the environment dominates:
//! a test-environment action scores 0.1–0.325 (auto-approved unless it is about as destructive,
//! wide and unknown as a plan can be), staging 0.4–0.55 (always a manual approval), production
//! 0.9–0.925. Decision: below 0.3 auto-approved; above 0.7 escalated to a human holding
//! `approve`; in between pending manual approval. Production is always escalated whatever
//! the score.

use serde::{Deserialize, Serialize};
use shakedown_core::Family;
use shakedown_core::system::Environment;

/// What is being asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RiskAction {
    Campaign,
    AgentRun,
    Retest,
}

impl RiskAction {
    fn weight(self) -> f64 {
        match self {
            RiskAction::Campaign => 1.0,
            RiskAction::AgentRun => 0.6,
            RiskAction::Retest => 0.4,
        }
    }
}

/// Everything the score depends on.
#[derive(Debug, Clone, PartialEq)]
pub struct RiskInput {
    pub environment: Environment,
    pub action: RiskAction,
    /// Families of the planned patterns.
    pub families: Vec<Family>,
    pub components: usize,
    pub blast_radius_limit: usize,
    /// Per targeted component: (failed results, all results) so far.
    pub history: Vec<(u64, u64)>,
}

/// What happens to the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    AutoApproved,
    PendingManual,
    Escalated,
}

/// The score with its terms, for the approval record and the ledger.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RiskScore {
    pub score: f64,
    pub decision: Decision,
    pub env: f64,
    pub action: f64,
    pub destructiveness: f64,
    pub blast: f64,
    pub history: f64,
}

fn env_base(e: Environment) -> f64 {
    match e {
        Environment::Production => 0.9,
        Environment::Staging => 0.4,
        Environment::Test => 0.1,
    }
}

fn destructiveness(f: Family) -> f64 {
    match f {
        Family::Load | Family::Network => 1.0,
        Family::Owasp | Family::Config => 0.6,
        Family::Data => 0.3,
    }
}

/// Scores a request and decides.
pub fn risk_score(input: &RiskInput) -> RiskScore {
    let env = env_base(input.environment);
    let action = input.action.weight();
    let destructiveness = input
        .families
        .iter()
        .map(|f| destructiveness(*f))
        .fold(0.0, f64::max);
    let blast = if input.blast_radius_limit == 0 {
        1.0
    } else {
        (input.components as f64 / input.blast_radius_limit as f64).min(1.0)
    };
    let history = if input.history.is_empty() {
        0.5
    } else {
        let rates: Vec<f64> = input
            .history
            .iter()
            .map(|&(failed, all)| {
                if all == 0 {
                    0.5
                } else {
                    failed as f64 / all as f64
                }
            })
            .collect();
        rates.iter().sum::<f64>() / rates.len() as f64
    };
    let modifiers = 0.3 * action + 0.3 * destructiveness + 0.2 * blast + 0.2 * history;
    let score = (env + (1.0 - env) * 0.25 * modifiers).clamp(0.0, 1.0);
    let decision = if input.environment == Environment::Production || score > 0.7 {
        Decision::Escalated
    } else if score < 0.3 {
        Decision::AutoApproved
    } else {
        Decision::PendingManual
    };
    RiskScore {
        score,
        decision,
        env,
        action,
        destructiveness,
        blast,
        history,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(
        env: Environment,
        families: Vec<Family>,
        comps: usize,
        history: Vec<(u64, u64)>,
    ) -> RiskInput {
        RiskInput {
            environment: env,
            action: RiskAction::Campaign,
            families,
            components: comps,
            blast_radius_limit: 3,
            history,
        }
    }

    #[test]
    fn a_typical_test_campaign_is_auto_approved_and_an_extreme_one_is_not() {
        let typical = risk_score(&input(
            Environment::Test,
            vec![Family::Load, Family::Owasp],
            1,
            vec![],
        ));
        assert_eq!(typical.decision, Decision::AutoApproved, "{typical:?}");
        let extreme = risk_score(&input(
            Environment::Test,
            vec![Family::Load],
            3,
            vec![(10, 10)],
        ));
        assert_eq!(extreme.decision, Decision::PendingManual, "{extreme:?}");
    }

    #[test]
    fn environments_set_the_floor_and_the_decision() {
        let quiet = |e| input(e, vec![Family::Data], 1, vec![(0, 20)]);
        let t = risk_score(&RiskInput {
            action: RiskAction::Retest,
            ..quiet(Environment::Test)
        });
        assert!(
            t.score < 0.3 && t.decision == Decision::AutoApproved,
            "{t:?}"
        );
        let s = risk_score(&quiet(Environment::Staging));
        assert!(
            (0.3..=0.7).contains(&s.score) && s.decision == Decision::PendingManual,
            "{s:?}"
        );
        let p = risk_score(&quiet(Environment::Production));
        assert!(p.score >= 0.9 && p.decision == Decision::Escalated, "{p:?}");
    }

    #[test]
    fn more_destructive_wider_and_flakier_is_riskier() {
        let base = risk_score(&input(
            Environment::Test,
            vec![Family::Data],
            1,
            vec![(0, 10)],
        ))
        .score;
        let load = risk_score(&input(
            Environment::Test,
            vec![Family::Load],
            1,
            vec![(0, 10)],
        ))
        .score;
        let wide = risk_score(&input(
            Environment::Test,
            vec![Family::Data],
            3,
            vec![(0, 10)],
        ))
        .score;
        let flaky = risk_score(&input(
            Environment::Test,
            vec![Family::Data],
            1,
            vec![(9, 10)],
        ))
        .score;
        let unknown = risk_score(&input(Environment::Test, vec![Family::Data], 1, vec![])).score;
        assert!(load > base && wide > base && flaky > base && unknown > base);
    }

    proptest::proptest! {
        #[test]
        fn bounded_and_environment_dominates(comps in 0usize..10, failed in 0u64..50, extra in 0u64..50, load in proptest::bool::ANY) {
            let fam = if load { vec![Family::Load] } else { vec![Family::Owasp] };
            for (env, lo, hi) in [(Environment::Test, 0.1, 0.325), (Environment::Staging, 0.4, 0.55), (Environment::Production, 0.9, 0.925)] {
                let r = risk_score(&input(env, fam.clone(), comps, vec![(failed, failed + extra)]));
                proptest::prop_assert!(r.score >= lo - 1e-9 && r.score <= hi + 1e-9, "{env:?} {r:?}");
            }
        }
    }
}
