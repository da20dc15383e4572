//! The scenario file as written: ChaosTrace's scenario fields (`name`, `version`,
//! `description`, `task`, `expected_behavior`, `red_flags`, `seed_modifications`,
//! `chaos_profile`, `policy_profile`, `timeout_seconds`) plus Shakedown's `seed_sql`, `files`,
//! `golden_prompts`, `invariants`, `state_checks`, `faults` and `min_faults_fired`. Unknown
//! fields are refused so a misspelt check never silently becomes no check. Names, regexes and
//! values stay raw here; they are checked, with their location, when the scenario is compiled.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

fn default_version() -> String {
    "1.0".into()
}

fn default_timeout() -> u64 {
    300
}

/// A list that ChaosTrace writes either as a YAML list or as one block of text.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum TextList {
    One(String),
    Many(Vec<String>),
}

impl Default for TextList {
    fn default() -> Self {
        TextList::Many(Vec::new())
    }
}

impl TextList {
    pub fn into_vec(self) -> Vec<String> {
        match self {
            TextList::One(s) => s
                .lines()
                .map(|l| l.trim().trim_start_matches("- ").trim().to_string())
                .filter(|l| !l.is_empty())
                .collect(),
            TextList::Many(v) => v,
        }
    }
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    pub name: String,
    #[serde(default = "default_version")]
    pub version: String,
    #[serde(default)]
    pub description: Option<String>,
    pub task: String,
    #[serde(default)]
    pub expected_behavior: TextList,
    #[serde(default)]
    pub red_flags: TextList,
    #[serde(default)]
    pub seed_modifications: Vec<SeedModificationFile>,
    /// A chaos script name (`db_lock_v1`) or file path.
    #[serde(default)]
    pub chaos_profile: Option<String>,
    /// A policy name (`strict`) or file path.
    #[serde(default)]
    pub policy_profile: Option<String>,
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
    /// A file of SQL (relative to the scenario file) run first to build the template
    /// database.
    #[serde(default)]
    pub seed_sql_file: Option<String>,
    /// SQL run after `seed_sql_file` to build the template database.
    #[serde(default)]
    pub seed_sql: Option<String>,
    #[serde(default)]
    pub files: Vec<FileEntryFile>,
    /// Prompts for the chaos matrix; the task alone when empty.
    #[serde(default)]
    pub golden_prompts: Vec<String>,
    #[serde(default)]
    pub invariants: Vec<InvariantFile>,
    #[serde(default)]
    pub state_checks: Vec<StateCheckFile>,
    /// A fault profile name or fault config path for the HTTP fault proxy.
    #[serde(default)]
    pub faults: Option<String>,
    /// The run fails unless at least this many configured faults really fired.
    #[serde(default)]
    pub min_faults_fired: Option<u64>,
    /// Weights of the overall score's phases (`safety`, `resilience`, `utility`).
    #[serde(default)]
    pub weights: Option<crate::score::PhaseWeights>,
}

/// ChaosTrace's seed modification: `UPDATE {table} SET … WHERE {conditions}` per update.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SeedModificationFile {
    pub table: String,
    pub updates: Vec<SeedUpdateFile>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SeedUpdateFile {
    /// The WHERE clause (SQL). Required: a seed modification never rewrites a whole table by
    /// accident.
    pub conditions: String,
    /// Column → value. Strings are SQL expressions (`NOW() - INTERVAL '400 days'`; quote text
    /// literals yourself: `"'archived'"`); booleans, numbers and null are literals.
    pub set: serde_json::Map<String, Value>,
}

/// A file placed in the agent's working directory before the run.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileEntryFile {
    /// Relative to the working directory; no `..`.
    pub path: String,
    #[serde(default)]
    pub content: Option<String>,
    /// A honeypot: any read or write of it is a `file_honeypot_accessed` event.
    #[serde(default)]
    pub honeypot: bool,
    /// A sentinel: its digest and mtime are checked before and after the run.
    #[serde(default)]
    pub sentinel: bool,
    /// Make the file read-only for the agent (mode 0444).
    #[serde(default)]
    pub read_only: bool,
}

/// One invariant as written (Flakestorm's fields plus `values`, `when`, `negate`).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InvariantFile {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default)]
    pub values: Option<Vec<String>>,
    #[serde(default)]
    pub pattern: Option<String>,
    #[serde(default)]
    pub max_ms: Option<u64>,
    #[serde(default)]
    pub expected: Option<String>,
    #[serde(default)]
    pub threshold: Option<f64>,
    #[serde(default)]
    pub ignore_case: bool,
    /// Accepted for Flakestorm compatibility; refusal checks always consider the answer only.
    #[serde(default)]
    #[allow(dead_code)]
    pub dangerous_prompts: Option<bool>,
    #[serde(default)]
    pub severity: Option<String>,
    #[serde(default)]
    pub when: Option<String>,
    #[serde(default)]
    pub negate: bool,
}

/// One state check: an SQL query (`sql`) or a file assertion (`file`).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StateCheckFile {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub severity: Option<String>,
    #[serde(default)]
    pub sql: Option<String>,
    /// The single value the query returns (first column of its only row).
    #[serde(default)]
    pub equals: Option<Value>,
    /// Every row the query returns, in order.
    #[serde(default)]
    pub rows: Option<Vec<Vec<Value>>>,
    #[serde(default)]
    pub at_least: Option<f64>,
    #[serde(default)]
    pub at_most: Option<f64>,
    /// The query returns no rows (true) or some rows (false).
    #[serde(default)]
    pub empty: Option<bool>,
    #[serde(default)]
    pub file: Option<String>,
    #[serde(default)]
    pub exists: Option<bool>,
    /// The file's digest is the same as before the run.
    #[serde(default)]
    pub unchanged: Option<bool>,
    #[serde(default)]
    pub contains: Option<String>,
    #[serde(default)]
    pub excludes: Option<String>,
}
