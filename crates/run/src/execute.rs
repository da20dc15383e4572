//! Running the whole matrix: the scenario's template is made (or found warm), then every
//! baseline cell, then every fault cell, each repeated; a halt stops between (and inside)
//! cells and the run is reported as terminated.

use shakedown_agent::report::{RunReport, RunStatus, TimelineEntry};
use shakedown_core::Event;
use shakedown_pgserver::SandboxServer;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio_util::sync::CancellationToken;

use crate::cell::{CellPlan, run_cell};
use crate::request::{AgentTarget, RunRequest};
use crate::verdict::judge;
use crate::{RunError, agent_url};

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// Runs `req` on `sandbox`. `on_event` sees every event as cells finish (for the events
/// file and the store). A halt ends the run early with status `terminated`.
pub async fn execute(
    req: &RunRequest,
    sandbox: &SandboxServer,
    halt: &CancellationToken,
    mut on_event: impl FnMut(&Event),
) -> Result<(RunReport, Vec<Event>), RunError> {
    if let AgentTarget::Url(url) = &req.agent {
        agent_url::check_url(url)?;
    }
    if req.repeat == 0 {
        return Err(RunError::Invalid("--repeat must be at least 1".into()));
    }
    let started = OffsetDateTime::now_utc();
    let seed: Vec<String> = req
        .scenario
        .seed_sql
        .iter()
        .chain(&req.scenario.seed_updates)
        .cloned()
        .collect();
    let template = sandbox.ensure_template(&req.scenario.name, &seed).await?;

    let mut cells = Vec::new();
    // Each cell's events, beside `cells`: safety is scored per cell.
    let mut cell_events: Vec<Vec<Event>> = Vec::new();
    let mut baselines: Vec<Option<String>> = vec![None; req.scenario.golden_prompts.len()];
    let mut columns: Vec<Option<&crate::FaultScenario>> = vec![None];
    columns.extend(req.fault_scenarios.iter().map(Some));
    'matrix: for column in columns {
        for (pi, prompt) in req.scenario.golden_prompts.iter().enumerate() {
            for repeat in 0..req.repeat {
                if halt.is_cancelled() {
                    break 'matrix;
                }
                let out = run_cell(
                    req,
                    sandbox,
                    CellPlan {
                        prompt_index: pi,
                        prompt,
                        scenario: column,
                        repeat,
                        template: &template,
                        // `behavior_unchanged` compares a fault cell with the baseline; in
                        // the baseline cells themselves it is skipped (docs/scenarios.md),
                        // never compared with the first repeat.
                        baseline: if column.is_some() {
                            baselines[pi].as_deref()
                        } else {
                            None
                        },
                    },
                    halt,
                )
                .await?;
                if column.is_none() && repeat == 0 {
                    baselines[pi] = Some(out.output.clone());
                }
                for e in &out.events {
                    on_event(e);
                }
                cell_events.push(out.events);
                cells.push(out.report);
            }
        }
    }
    let finished = OffsetDateTime::now_utc();
    let verdict = judge(
        &cells,
        &cell_events,
        &req.fault_scenarios,
        req.scenario.min_faults_fired,
        req.threshold,
        req.weights,
    );
    let mut status = verdict.status;
    let mut reasons = verdict.reasons;
    if halt.is_cancelled() {
        status = RunStatus::Terminated;
        reasons.insert(0, "the run was terminated before every cell ran".into());
    }
    let mut events: Vec<Event> = cell_events.concat();
    events.sort_by_key(|e| e.timestamp);
    let timeline = events
        .iter()
        .map(|e| TimelineEntry {
            at_ms: (e.timestamp - started).whole_milliseconds().max(0) as u64,
            event_type: e.event_type.clone(),
            data: e.data.clone(),
        })
        .collect();
    let describe =
        |s: &Option<crate::Named<_>>| s.as_ref().map(|n: &crate::Named<_>| n.name.clone());
    let chaos: Vec<String> = req
        .fault_scenarios
        .iter()
        .filter_map(|s| s.chaos.as_ref().map(|c| c.name.clone()))
        .collect();
    let faults: Vec<String> = req
        .fault_scenarios
        .iter()
        .filter_map(|s| s.faults.as_ref().map(|c| c.name.clone()))
        .collect();
    let report = RunReport {
        run_id: req.run_id.clone(),
        scenario: req.scenario.name.clone(),
        expected_behavior: req.scenario.expected_behavior.clone(),
        red_flags: req.scenario.red_flags.clone(),
        agent: match &req.agent {
            AgentTarget::Command(c) => {
                shakedown_agent::report::AgentDescription::Command { command: c.clone() }
            }
            AgentTarget::Url(u) => {
                shakedown_agent::report::AgentDescription::Url { url: u.clone() }
            }
        },
        policy: describe(&req.policy),
        chaos: (!chaos.is_empty()).then(|| chaos.join(", ")),
        faults: (!faults.is_empty()).then(|| faults.join(", ")),
        started_at: rfc3339(started),
        finished_at: Some(rfc3339(finished)),
        status,
        reasons,
        threshold: req.threshold,
        overall_score: verdict.overall,
        safety: verdict.safety,
        matrix: verdict.matrix,
        fault_summary: verdict.faults,
        cells,
        timeline,
    };
    Ok((report, events))
}
