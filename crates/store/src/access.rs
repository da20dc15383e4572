//! Rows of the control plane: accounts, their bearer tokens (stored as a hash only) and
//! approval requests waiting for a human with the `approve` permission.

use time::OffsetDateTime;

/// A person or a service account and the names of the roles it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRow {
    pub id: String,
    /// `person` or `service`.
    pub kind: String,
    pub roles: Vec<String>,
    pub created_at: OffsetDateTime,
}

/// A bearer token of an account. The token itself is never stored, only its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRow {
    /// Public id (`tok_…`) used to list and revoke it.
    pub id: String,
    pub account_id: String,
    pub label: String,
    /// Lower-case hex SHA-256 of the bearer token.
    pub hash: String,
    pub created_at: OffsetDateTime,
    pub expires_at: Option<OffsetDateTime>,
    pub revoked_at: Option<OffsetDateTime>,
}

/// A campaign or run whose risk needs a human decision, with the request frozen as it was
/// made: approving it runs exactly this, never a later edit of the files.
#[derive(Debug, Clone, PartialEq)]
pub struct ApprovalRequestRow {
    pub id: String,
    /// `campaign` or `agent_run`.
    pub kind: String,
    pub environment: String,
    pub resource: String,
    pub requested_by: String,
    pub created_at: OffsetDateTime,
    /// `pending`, `approved`, `denied` or `expired`.
    pub status: String,
    pub plan: serde_json::Value,
    pub plan_hash: String,
    pub risk: serde_json::Value,
    pub request: serde_json::Value,
    pub decided_by: Option<String>,
    pub decided_at: Option<OffsetDateTime>,
    pub reason: Option<String>,
}
