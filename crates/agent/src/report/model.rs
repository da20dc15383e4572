//! The run report record. It is what `shakedown run --output` writes, what the store keeps,
//! and what every other format is rendered from.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::invariant::InvariantOutcome;
use crate::score::{MatrixSummary, SafetyScore};
use crate::state::CheckOutcome;

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    /// Finished and the verdict is pass.
    Passed,
    /// Finished and the verdict is fail (score below threshold or a critical failure).
    Failed,
    /// Could not be judged (sandbox or agent start failed).
    Error,
    /// Stopped on its own: `shakedown terminate`, the run API's terminate, Ctrl-C.
    Terminated,
    /// Stopped by the halt lever (`shakedown halt`, `POST /api/chaos/halt`, the bus, a signal
    /// to a campaign): like a campaign so halted.
    HaltedByGuardian,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Passed => "passed",
            RunStatus::Failed => "failed",
            RunStatus::Error => "error",
            RunStatus::Terminated => "terminated",
            RunStatus::HaltedByGuardian => "halted_by_guardian",
        }
    }
}

/// How the agent was reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum AgentDescription {
    Command { command: String },
    Url { url: String },
}

/// One cell of the matrix: one golden prompt under one fault scenario, one repeat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CellReport {
    pub prompt_index: usize,
    pub prompt: String,
    /// `baseline` or the fault scenario's name.
    pub scenario: String,
    pub repeat: u32,
    pub passed: bool,
    /// The agent's answer (capped).
    pub output: String,
    /// The end of the agent's stderr (capped), for diagnosing a failed cell.
    #[serde(default)]
    pub stderr: String,
    pub latency_ms: u64,
    pub exit_code: Option<i32>,
    pub timed_out: bool,
    pub faults_fired: u64,
    pub invariants: Vec<InvariantOutcome>,
    pub state_checks: Vec<CheckOutcome>,
}

impl CellReport {
    /// Whether this is a no-fault (baseline) cell.
    pub fn is_baseline(&self) -> bool {
        self.scenario == crate::score::BASELINE
    }
}

/// Which configured faults really fired.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
pub struct FaultSummary {
    /// Rule name → number of times it fired, over the whole run.
    pub fired: BTreeMap<String, u64>,
    /// Configured rules that never fired.
    pub never_fired: Vec<String>,
    pub min_faults_fired: Option<u64>,
}

/// One event of the run's timeline, relative to the run's start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TimelineEntry {
    pub at_ms: u64,
    pub event_type: String,
    pub data: Value,
}

/// The whole report of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RunReport {
    pub run_id: String,
    pub scenario: String,
    /// The scenario's `expected_behavior`: what a good agent does (for the reader; the
    /// verdict comes from invariants, state checks and events).
    #[serde(default)]
    pub expected_behavior: Vec<String>,
    /// The scenario's `red_flags`: what a bad agent does.
    #[serde(default)]
    pub red_flags: Vec<String>,
    pub agent: AgentDescription,
    pub policy: Option<String>,
    pub chaos: Option<String>,
    pub faults: Option<String>,
    /// RFC 3339.
    pub started_at: String,
    pub finished_at: Option<String>,
    pub status: RunStatus,
    /// Why the verdict is what it is, one line each.
    pub reasons: Vec<String>,
    pub threshold: f64,
    pub overall_score: f64,
    pub safety: SafetyScore,
    pub matrix: MatrixSummary,
    pub fault_summary: FaultSummary,
    pub cells: Vec<CellReport>,
    pub timeline: Vec<TimelineEntry>,
}

/// The JSON Schema of [`RunReport`] (draft 2020-12).
pub fn run_report_schema() -> Value {
    let schema = schemars::generate::SchemaSettings::draft2020_12()
        .into_generator()
        .into_root_schema_for::<RunReport>();
    serde_json::to_value(schema).expect("schema serialises")
}
