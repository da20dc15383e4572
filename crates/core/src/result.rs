//! What an attack returns: a verdict and the evidence behind it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::pattern::Pattern;
use crate::severity::Severity;

/// The outcome of verifying one guardrail. An unreachable target or our own failure is
/// `Inconclusive`, never `Passed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Passed,
    Failed,
    Inconclusive,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Passed => "passed",
            Verdict::Failed => "failed",
            Verdict::Inconclusive => "inconclusive",
        }
    }
    pub fn parse(s: &str) -> Option<Verdict> {
        match s {
            "passed" => Some(Verdict::Passed),
            "failed" => Some(Verdict::Failed),
            "inconclusive" => Some(Verdict::Inconclusive),
            _ => None,
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct LatencySummary {
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

/// One request/response pair kept as an example.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// What was sent, e.g. `GET /users?name=%27%20OR%20...` or `slowloris connection #3`.
    pub request: String,
    /// HTTP status, when a response arrived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// What happened, e.g. `response`, `timeout`, `connection reset`.
    pub outcome: String,
    pub latency_ms: f64,
    /// The start of the response body (capped), or a note.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub excerpt: String,
}

/// Everything an attack observed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Evidence {
    pub requests_sent: u64,
    /// Count per HTTP status (`"200"`, `"429"`) or transport outcome (`"timeout"`,
    /// `"connect_error"`, `"reset"`).
    pub status_histogram: BTreeMap<String, u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<LatencySummary>,
    /// Up to a handful of telling request/response pairs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub samples: Vec<Sample>,
    /// Human-readable observations that led to the verdict.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<String>,
    /// Pattern-specific numbers (e.g. `first_429_at`, `retry_after`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metrics: BTreeMap<String, serde_json::Value>,
}

/// What one attack function returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttackOutcome {
    pub verdict: Verdict,
    /// One line for the terminal, e.g. `3/3 blocked` or `no 429 after 150 requests`.
    pub summary: String,
    /// Whether the guardrail visibly acted (a 429, a 413, a dropped slow connection).
    pub guardrail_triggered: bool,
    pub evidence: Evidence,
}

/// A health probe of the component before or after an attack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthCheck {
    pub healthy: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    pub latency_ms: f64,
    pub detail: String,
}

/// How long the component took to answer its health probe again after the attack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recovery {
    pub recovered: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_ms: Option<u64>,
    pub window_ms: u64,
}

/// One (component, pattern) result as stored and reported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttackResult {
    pub component_id: String,
    pub pattern: Pattern,
    pub verdict: Verdict,
    pub severity: Severity,
    pub guardrail: String,
    pub guardrail_triggered: bool,
    pub summary: String,
    pub evidence: Evidence,
    pub health_before: HealthCheck,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery: Option<Recovery>,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    pub duration_ms: u64,
}
