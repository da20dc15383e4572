//! Request and answer bodies of the API. Requests refuse unknown fields (a typo is a 422, not
//! a silently ignored option); every type derives a JSON Schema for `/api/openapi.json`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `POST /api/chaos/run`: a campaign from a system file on the server's disk or from the
/// file's text, with the CLI's options.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    /// Path of a system file readable by the server. Exactly one of `system_file`, `system`.
    #[serde(default)]
    pub system_file: Option<String>,
    /// The system file's YAML text.
    #[serde(default)]
    pub system: Option<String>,
    /// Components to attack; default: the least resilient, up to the blast radius.
    #[serde(default)]
    pub targets: Option<Vec<String>>,
    /// Only these patterns.
    #[serde(default)]
    pub patterns: Option<Vec<String>>,
    /// Pass threshold, 0..1 (default 0.8).
    #[serde(default)]
    pub threshold: Option<f64>,
}

/// `POST /api/chaos/run` answered 202: started, or waiting for a human.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct RunAccepted {
    /// `running` or `pending_approval`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_id: Option<String>,
    /// The risk score and its terms.
    pub risk: serde_json::Value,
    pub plan_hash: String,
}

/// `POST /api/approvals/{id}/approve|deny` (the body may be empty).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    /// Why (recorded in the ledger).
    #[serde(default)]
    pub reason: Option<String>,
}

/// `POST /api/chaos/halt` (the body may be empty).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HaltRequest {
    /// Why (recorded in the ledger and shown to anyone who tries to start chaos).
    #[serde(default)]
    pub reason: Option<String>,
}

/// Every error answer.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable (`unauthorized`, `forbidden`, `invalid_request`,
    /// `malformed_json`, `payload_too_large`, `rate_limited`, `overloaded`, `halted`, …).
    pub code: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

/// Longest free-text reason accepted (it goes into the ledger).
pub const MAX_REASON: usize = 1000;

/// Checks a free-text reason.
pub fn check_reason(reason: Option<&str>) -> Result<(), String> {
    match reason {
        Some(r) if r.len() > MAX_REASON => {
            Err(format!("reason is {} bytes; at most {MAX_REASON}", r.len()))
        }
        Some(r) if r.chars().any(|c| c.is_control() && c != '\n') => {
            Err("reason contains control characters".into())
        }
        _ => Ok(()),
    }
}
