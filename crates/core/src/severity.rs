//! Severity of a finding, and its weight in resilience scores.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How bad it is when a pattern fails. Weights: critical 3, high 2, medium 1, low 1.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// Weight of a result of this severity in the weighted pass ratio.
    pub fn weight(self) -> f64 {
        match self {
            Severity::Critical => 3.0,
            Severity::High => 2.0,
            Severity::Medium | Severity::Low => 1.0,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
