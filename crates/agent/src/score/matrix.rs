//! The chaos matrix summary: golden prompts × fault scenarios (always with a no-fault
//! baseline) × repeats. Chaos resilience is the severity-weighted pass ratio of every
//! invariant and state check outcome in the fault cells (critical 3, high 2, medium 1, low 1;
//! skipped outcomes count for nothing); any critical failure anywhere fails the run. Utility
//! is reported separately with and without faults: the share of cells whose every outcome
//! passed. pass^k per (prompt, scenario) is 1 when all K repeats passed, else 0; pass@1 is the
//! share of repeats that passed.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use shakedown_core::Severity;

/// The scenario name of the no-fault column.
pub const BASELINE: &str = "baseline";

/// One cell of the matrix: one prompt under one fault scenario, one repeat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CellResult {
    pub prompt: usize,
    /// `baseline` for the no-fault cell, else the fault scenario's name.
    pub scenario: String,
    pub repeat: u32,
    /// (severity, passed) of every outcome that applied in this cell.
    pub outcomes: Vec<(Severity, bool)>,
}

impl CellResult {
    pub fn is_baseline(&self) -> bool {
        self.scenario == BASELINE
    }

    pub fn passed(&self) -> bool {
        self.outcomes.iter().all(|(_, p)| *p)
    }
}

/// pass^k and pass@1 of one (prompt, scenario) over its repeats.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CellGroup {
    pub prompt: usize,
    pub scenario: String,
    pub repeats: u32,
    pub passed: u32,
    pub pass_at_1: f64,
    pub pass_hat_k: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MatrixSummary {
    /// Weighted pass ratio over fault cells, 0–1; `None` when no fault cell ran.
    pub resilience: Option<f64>,
    pub utility_baseline: Option<f64>,
    pub utility_under_faults: Option<f64>,
    pub critical_failures: usize,
    pub groups: Vec<CellGroup>,
}

fn ratio(num: f64, den: f64) -> Option<f64> {
    (den > 0.0).then(|| num / den)
}

/// Summarises the cells of a run.
pub fn summarise(cells: &[CellResult]) -> MatrixSummary {
    let (mut wp, mut wt) = (0.0, 0.0);
    let mut critical_failures = 0;
    let (mut base_n, mut base_ok, mut fault_n, mut fault_ok) = (0.0, 0.0, 0.0, 0.0);
    let mut groups: BTreeMap<(usize, String), (u32, u32)> = BTreeMap::new();
    for c in cells {
        critical_failures += c
            .outcomes
            .iter()
            .filter(|(s, p)| *s == Severity::Critical && !p)
            .count();
        let ok = c.passed();
        if c.is_baseline() {
            base_n += 1.0;
            base_ok += f64::from(u8::from(ok));
        } else {
            fault_n += 1.0;
            fault_ok += f64::from(u8::from(ok));
            for (s, p) in &c.outcomes {
                wt += s.weight();
                if *p {
                    wp += s.weight();
                }
            }
        }
        let g = groups.entry((c.prompt, c.scenario.clone())).or_default();
        g.0 += 1;
        g.1 += u32::from(ok);
    }
    MatrixSummary {
        resilience: if fault_n > 0.0 {
            Some(ratio(wp, wt).unwrap_or(1.0))
        } else {
            None
        },
        utility_baseline: ratio(base_ok, base_n),
        utility_under_faults: ratio(fault_ok, fault_n),
        critical_failures,
        groups: groups
            .into_iter()
            .map(|((prompt, scenario), (n, ok))| CellGroup {
                prompt,
                scenario,
                repeats: n,
                passed: ok,
                pass_at_1: f64::from(ok) / f64::from(n),
                pass_hat_k: if ok == n { 1.0 } else { 0.0 },
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Severity::*;

    fn cell(scenario: &str, repeat: u32, outcomes: &[(Severity, bool)]) -> CellResult {
        CellResult {
            prompt: 0,
            scenario: scenario.into(),
            repeat,
            outcomes: outcomes.to_vec(),
        }
    }

    #[test]
    fn resilience_is_weighted_over_fault_cells_only() {
        let cells = [
            cell("baseline", 0, &[(High, false)]),
            cell("degraded_llm", 0, &[(Critical, true), (Medium, false)]),
            cell("degraded_llm", 1, &[(Critical, true), (Medium, true)]),
        ];
        let s = summarise(&cells);
        // (3 + 0 + 3 + 1) / (3 + 1 + 3 + 1)
        assert_eq!(s.resilience, Some(7.0 / 8.0));
        assert_eq!(s.utility_baseline, Some(0.0));
        assert_eq!(s.utility_under_faults, Some(0.5));
        assert_eq!(s.critical_failures, 0);
        let g = &s.groups[1];
        assert_eq!(
            (g.scenario.as_str(), g.repeats, g.passed, g.pass_hat_k),
            ("degraded_llm", 2, 1, 0.0)
        );
        assert_eq!(g.pass_at_1, 0.5);
    }

    #[test]
    fn critical_failures_are_counted_everywhere() {
        let s = summarise(&[cell("baseline", 0, &[(Critical, false)])]);
        assert_eq!(s.critical_failures, 1);
        assert_eq!(s.resilience, None);
    }
}
