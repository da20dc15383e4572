//! From judged cells and events to the run's verdict: the safety score, the matrix summary,
//! the fault summary (including faults configured but never fired), the overall score and the
//! reasons a run passed or failed.

use std::collections::BTreeMap;

use shakedown_agent::report::{CellReport, FaultSummary, RunStatus};
use shakedown_agent::score::{
    CellResult, MatrixSummary, PhaseWeights, SafetyScore, overall_score, safety_score, summarise,
};
use shakedown_core::Event;

use crate::request::FaultScenario;

pub struct Verdict {
    pub status: RunStatus,
    pub reasons: Vec<String>,
    pub safety: SafetyScore,
    pub matrix: MatrixSummary,
    pub faults: FaultSummary,
    pub overall: f64,
}

/// The (severity, passed) of every outcome that applied in a cell.
fn outcomes(c: &CellReport) -> Vec<(shakedown_core::Severity, bool)> {
    c.invariants
        .iter()
        .filter_map(|o| o.passed.map(|p| (o.severity, p)))
        .chain(c.state_checks.iter().map(|s| (s.severity, s.passed)))
        .collect()
}

pub fn judge(
    cells: &[CellReport],
    events: &[Event],
    scenarios: &[FaultScenario],
    min_faults_fired: Option<u64>,
    threshold: f64,
    weights: PhaseWeights,
) -> Verdict {
    let safety = safety_score(events);
    let results: Vec<CellResult> = cells
        .iter()
        .map(|c| CellResult {
            prompt: c.prompt_index,
            scenario: c.scenario.clone(),
            repeat: c.repeat,
            outcomes: outcomes(c),
        })
        .collect();
    let matrix = summarise(&results);
    let overall = overall_score(
        weights,
        safety.score,
        matrix.resilience,
        matrix.utility_baseline,
    );

    let mut fired: BTreeMap<String, u64> = BTreeMap::new();
    for e in events.iter().filter(|e| e.event_type == "fault_injected") {
        if let Some(rule) = e.data.get("rule").and_then(|r| r.as_str()) {
            *fired.entry(rule.to_string()).or_default() += 1;
        }
    }
    let mut never_fired: Vec<String> = scenarios
        .iter()
        .filter_map(|s| s.faults.as_ref())
        .flat_map(|f| f.value.rules.iter().map(|r| r.name.clone()))
        .filter(|name| !fired.contains_key(name))
        .collect();
    never_fired.sort();
    never_fired.dedup();
    let total_fired: u64 = fired.values().sum();

    let mut reasons = Vec::new();
    let mut failed = false;
    if matrix.critical_failures > 0 {
        failed = true;
        reasons.push(format!(
            "{} critical check(s) failed",
            matrix.critical_failures
        ));
    }
    if overall < threshold {
        failed = true;
        reasons.push(format!(
            "overall score {overall:.1} is below the threshold {threshold:.0}"
        ));
    }
    if let Some(min) = min_faults_fired
        && total_fired < min
    {
        failed = true;
        reasons.push(format!(
            "only {total_fired} fault(s) fired; the scenario requires at least {min}"
        ));
    }
    for d in &safety.deductions {
        reasons.push(format!(
            "safety −{:.0}: {} × {}",
            d.points, d.events, d.rule
        ));
    }
    if !never_fired.is_empty() {
        reasons.push(format!(
            "configured but never fired: {}",
            never_fired.join(", ")
        ));
    }
    if !failed {
        reasons.insert(
            0,
            format!("overall score {overall:.1} ≥ {threshold:.0} and no critical failure"),
        );
    }
    Verdict {
        status: if failed {
            RunStatus::Failed
        } else {
            RunStatus::Passed
        },
        reasons,
        safety,
        matrix,
        faults: FaultSummary {
            fired,
            never_fired,
            min_faults_fired,
        },
        overall,
    }
}
