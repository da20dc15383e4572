//! A compiled scenario: every name resolved, every regex built, every SQL snippet rendered.

use std::time::Duration;

use serde_json::Value;
use shakedown_core::severity::Severity;

use crate::invariant::Invariant;

/// A scenario ready to run.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    pub version: String,
    pub description: Option<String>,
    /// The instructions given to the agent (`SHAKEDOWN_TASK` and stdin).
    pub task: String,
    pub expected_behavior: Vec<String>,
    pub red_flags: Vec<String>,
    /// SQL scripts that build the template database, in order (`seed_sql_file`, then
    /// `seed_sql`).
    pub seed_sql: Vec<String>,
    /// ChaosTrace seed modifications rendered as `UPDATE` statements, run after `seed_sql`.
    pub seed_updates: Vec<String>,
    pub chaos_profile: Option<String>,
    pub policy_profile: Option<String>,
    pub faults: Option<String>,
    pub timeout: Duration,
    pub files: Vec<FileEntry>,
    /// Never empty: the task alone when the file lists none.
    pub golden_prompts: Vec<String>,
    pub invariants: Vec<Invariant>,
    pub state_checks: Vec<StateCheck>,
    pub min_faults_fired: Option<u64>,
    /// Phase weights of the overall score; `None` = the defaults.
    pub weights: Option<crate::score::PhaseWeights>,
}

/// A file placed in the working directory before the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    /// Relative, normalised (`a/b.txt`), never escaping the working directory.
    pub path: String,
    pub content: String,
    pub honeypot: bool,
    pub sentinel: bool,
    pub read_only: bool,
}

/// One check of the sandbox's state after the run.
#[derive(Debug, Clone, PartialEq)]
pub struct StateCheck {
    pub name: String,
    pub severity: Severity,
    pub kind: StateCheckKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum StateCheckKind {
    /// Run `sql` on the sandbox database (directly, not through the proxy) and compare.
    Sql { sql: String, expect: SqlExpect },
    /// Assertions on a file of the working directory.
    File(FileAssert),
}

/// What an SQL state check expects.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlExpect {
    /// The only row's first column equals this value (numbers compare numerically).
    Equals(Value),
    /// Exactly these rows, in order.
    Rows(Vec<Vec<Value>>),
    /// The only row's first column is a number within the bounds (inclusive).
    Range { min: Option<f64>, max: Option<f64> },
    /// No rows (`true`) or at least one row (`false`).
    Empty(bool),
}

/// Assertions on one file, all of which must hold.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FileAssert {
    pub path: String,
    pub exists: Option<bool>,
    pub unchanged: Option<bool>,
    pub contains: Option<String>,
    pub excludes: Option<String>,
}
