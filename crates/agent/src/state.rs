//! State checks: after the run, the sandbox database is queried and the working directory
//! inspected, and each check of the scenario passes or fails with what was found.

mod file;
mod sql;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use shakedown_core::severity::Severity;

pub use file::{check_file, digest_file};
pub use sql::{SqlCheckError, check_sql, value_matches};

/// The outcome of one state check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CheckOutcome {
    pub name: String,
    pub severity: Severity,
    pub passed: bool,
    /// What was found, in words: the value the query returned, the file's state.
    pub detail: String,
}
