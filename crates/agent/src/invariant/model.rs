//! The invariant types as read from a scenario, and what they are evaluated against.

use std::time::Duration;

use regex::Regex;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use shakedown_core::severity::Severity;

/// When an invariant applies, by which faults were active for the cell being judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum When {
    #[default]
    Always,
    ToolFaultsActive,
    LlmFaultsActive,
    AnyChaosActive,
    NoChaos,
}

impl When {
    pub const NAMES: [&'static str; 5] = [
        "always",
        "tool_faults_active",
        "llm_faults_active",
        "any_chaos_active",
        "no_chaos",
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            When::Always => "always",
            When::ToolFaultsActive => "tool_faults_active",
            When::LlmFaultsActive => "llm_faults_active",
            When::AnyChaosActive => "any_chaos_active",
            When::NoChaos => "no_chaos",
        }
    }

    pub fn parse(s: &str) -> Option<When> {
        Some(match s {
            "always" => When::Always,
            "tool_faults_active" => When::ToolFaultsActive,
            "llm_faults_active" => When::LlmFaultsActive,
            "any_chaos_active" => When::AnyChaosActive,
            "no_chaos" => When::NoChaos,
            _ => return None,
        })
    }

    /// Whether an invariant with this condition applies under `chaos`.
    pub fn applies(self, chaos: ChaosState) -> bool {
        match self {
            When::Always => true,
            When::ToolFaultsActive => chaos.tool_faults,
            When::LlmFaultsActive => chaos.llm_faults,
            When::AnyChaosActive => chaos.tool_faults || chaos.llm_faults || chaos.sql_chaos,
            When::NoChaos => !(chaos.tool_faults || chaos.llm_faults || chaos.sql_chaos),
        }
    }
}

/// Which kinds of chaos were configured for the cell being judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct ChaosState {
    pub tool_faults: bool,
    pub llm_faults: bool,
    /// A database chaos script.
    pub sql_chaos: bool,
}

/// What an invariant checks. Compiled: regexes are built when the scenario is loaded.
#[derive(Debug, Clone)]
pub enum InvariantKind {
    /// The answer contains `value` (case-sensitive unless `ignore_case`).
    Contains { value: String, ignore_case: bool },
    /// The answer contains at least one of `values`.
    ContainsAny {
        values: Vec<String>,
        ignore_case: bool,
    },
    /// No match of `pattern` in the answer.
    ExcludesPattern { pattern: Regex },
    /// `pattern` matches somewhere in the answer.
    Regex { pattern: Regex },
    /// The answer (trimmed; a single fenced ```json block is unwrapped) is valid JSON.
    ValidJson,
    /// The agent answered within `max`.
    Latency { max: Duration },
    /// The answer has non-whitespace content.
    OutputNotEmpty,
    /// The agent exited on its own with status 0 before its time limit.
    Completes,
    /// The answer leaks no PII (emails, phone numbers, US SSNs, Luhn-valid card numbers,
    /// IBANs); see `crate::text::pii`.
    ExcludesPii,
    /// The answer is a refusal (see `crate::text::refusal`); use `negate` to require that the
    /// agent did NOT refuse.
    RefusalCheck,
    /// The answer's similarity to `expected` is at least `threshold` (see
    /// `crate::text::similarity`).
    Similarity { expected: String, threshold: f64 },
    /// The answer under chaos is at least `threshold` similar to the same prompt's no-fault
    /// baseline answer. Skipped in the baseline cell itself.
    BehaviorUnchanged { threshold: f64 },
}

impl InvariantKind {
    /// The type name as written in scenarios.
    pub fn name(&self) -> &'static str {
        match self {
            InvariantKind::Contains { .. } => "contains",
            InvariantKind::ContainsAny { .. } => "contains_any",
            InvariantKind::ExcludesPattern { .. } => "excludes_pattern",
            InvariantKind::Regex { .. } => "regex",
            InvariantKind::ValidJson => "valid_json",
            InvariantKind::Latency { .. } => "latency",
            InvariantKind::OutputNotEmpty => "output_not_empty",
            InvariantKind::Completes => "completes",
            InvariantKind::ExcludesPii => "excludes_pii",
            InvariantKind::RefusalCheck => "refusal_check",
            InvariantKind::Similarity { .. } => "similarity",
            InvariantKind::BehaviorUnchanged { .. } => "behavior_unchanged",
        }
    }

    pub const NAMES: [&'static str; 12] = [
        "contains",
        "contains_any",
        "excludes_pattern",
        "regex",
        "valid_json",
        "latency",
        "output_not_empty",
        "completes",
        "excludes_pii",
        "refusal_check",
        "similarity",
        "behavior_unchanged",
    ];
}

/// One invariant of a scenario.
#[derive(Debug, Clone)]
pub struct Invariant {
    /// A name for reports (`name:` or `{type}[{index}]`).
    pub name: String,
    /// What the check is for, shown in reports.
    pub description: Option<String>,
    pub kind: InvariantKind,
    pub severity: Severity,
    pub when: When,
    /// Pass when the check fails and fail when it passes.
    pub negate: bool,
}

/// What the agent did in one cell, as invariants see it.
#[derive(Debug, Clone)]
pub struct Observation<'a> {
    pub output: &'a str,
    pub latency: Duration,
    /// Exited on its own with status 0 before the time limit.
    pub completed: bool,
    pub chaos: ChaosState,
    /// The same prompt's answer in the no-fault baseline, when this cell is not the baseline.
    pub baseline: Option<&'a str>,
}

/// The outcome of one invariant in one cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct InvariantOutcome {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub severity: Severity,
    /// `None` when the invariant did not apply (its `when` excluded this cell, or it needs a
    /// baseline this cell has not got).
    pub passed: Option<bool>,
    /// Why it passed, failed or was skipped, with the measured value where there is one.
    pub detail: String,
}
