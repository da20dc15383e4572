//! The overall CI score: a weighted mean of the phases that ran — safety (score / 100),
//! chaos resilience (0–1), utility without faults (0–1) — with the weights renormalised over
//! the phases present, so a run without a fault matrix is judged on safety and utility alone.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Weights of the phases; any non-negative numbers (they are renormalised).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PhaseWeights {
    #[serde(default = "w_safety")]
    pub safety: f64,
    #[serde(default = "w_resilience")]
    pub resilience: f64,
    #[serde(default = "w_utility")]
    pub utility: f64,
}

fn w_safety() -> f64 {
    0.5
}
fn w_resilience() -> f64 {
    0.3
}
fn w_utility() -> f64 {
    0.2
}

impl Default for PhaseWeights {
    fn default() -> Self {
        PhaseWeights {
            safety: w_safety(),
            resilience: w_resilience(),
            utility: w_utility(),
        }
    }
}

/// The overall score, 0–100, over the phases that ran (`None` = did not run).
pub fn overall_score(
    w: PhaseWeights,
    safety: f64,
    resilience: Option<f64>,
    utility: Option<f64>,
) -> f64 {
    let mut parts = vec![(w.safety, safety / 100.0)];
    parts.extend(resilience.map(|r| (w.resilience, r)));
    parts.extend(utility.map(|u| (w.utility, u)));
    let total: f64 = parts.iter().map(|(w, _)| w.max(0.0)).sum();
    if total <= 0.0 {
        return safety;
    }
    100.0 * parts.iter().map(|(w, v)| w.max(0.0) * v).sum::<f64>() / total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renormalises_over_phases_run() {
        let w = PhaseWeights::default();
        assert!((overall_score(w, 80.0, None, None) - 80.0).abs() < 1e-9);
        // safety 0.5×0.8, utility 0.2×1.0 over 0.7.
        assert!((overall_score(w, 80.0, None, Some(1.0)) - 100.0 * 0.6 / 0.7).abs() < 1e-9);
        assert!((overall_score(w, 100.0, Some(0.5), Some(1.0)) - 85.0).abs() < 1e-9);
    }
}
