//! The file-system policy as written: ChaosTrace's `strict_fs` format, accepted verbatim, plus
//! one optional Shakedown field (`honeypots[].action`). Unknown fields are refused so a misspelt
//! rule never silently becomes no rule; operation names are checked, with their location, when
//! the policy is compiled.

use serde::Deserialize;
use shakedown_core::Severity;

fn default_version() -> String {
    "1.0".into()
}

fn default_sandbox_root() -> String {
    "/sandbox".into()
}

fn default_true() -> bool {
    true
}

fn default_max_file_size() -> SizeValue {
    SizeValue::Bytes(100 * 1024 * 1024)
}

fn default_max_files() -> u64 {
    1000
}

fn default_risk() -> Severity {
    Severity::High
}

/// What a matching rule does (ChaosTrace's `FSPolicyAction`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Nothing: the operation is fine.
    Allow,
    /// Deny it where the kernel lets us; report it either way.
    Block,
    /// Let it happen and report it for review.
    AllowFlagged,
}

fn default_action() -> Action {
    Action::Block
}

/// `max_file_size` as ChaosTrace writes it (bytes) or as Shakedown does (`100MB`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum SizeValue {
    Bytes(u64),
    Text(String),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FsPolicyFile {
    pub name: String,
    #[serde(default = "default_version")]
    pub version: String,
    #[serde(default)]
    pub description: Option<String>,
    /// The path the patterns call the sandbox; mapped to the run's working directory.
    #[serde(default = "default_sandbox_root")]
    pub sandbox_root: String,
    #[serde(default)]
    pub protected_paths: Vec<PathRuleFile>,
    #[serde(default)]
    pub allowed_paths: Vec<String>,
    #[serde(default)]
    pub forbidden_operations: Vec<ForbiddenFile>,
    #[serde(default = "default_max_file_size")]
    pub max_file_size: SizeValue,
    #[serde(default = "default_max_files")]
    pub max_files_per_operation: u64,
    #[serde(default)]
    pub honeypots: Vec<HoneypotFile>,
    #[serde(default)]
    pub allow_symlinks: bool,
    #[serde(default)]
    pub allow_recursive_delete: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathRuleFile {
    pub pattern: String,
    /// Empty: every operation.
    #[serde(default)]
    pub operations: Vec<String>,
    #[serde(default = "default_action")]
    pub action: Action,
    #[serde(default = "default_risk")]
    pub risk_level: Severity,
    #[serde(default)]
    pub message: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForbiddenFile {
    pub operation: String,
    #[serde(default)]
    pub message: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HoneypotFile {
    pub path: String,
    #[serde(default)]
    pub is_directory: bool,
    #[serde(default = "default_true")]
    pub recursive: bool,
    #[serde(default)]
    pub alert_on_list: bool,
    /// Shakedown extension: `block` (the default, as ChaosTrace's engine denies honeypot
    /// access) or `allow_flagged` to let the agent read the bait and only report it.
    #[serde(default)]
    pub action: Option<Action>,
}
