//! Policies: the ChaosTrace policy format, accepted verbatim, compiled once (patterns, globs,
//! operation names) and evaluated per statement. See `docs/policies.md` for every field, its
//! ChaosTrace meaning and how it is enforced.
//!
//! Load with [`load_policy`], evaluate with [`evaluate`]: a [`Decision`] says allow, flag or
//! block, lists the violated rules, marks honeypot access and lists the row checks the proxy
//! must make after running the statement (inside a savepoint) for `max_rows` / `row_limits`.

mod catalog;
mod eval;
mod glob;
mod load;
pub mod model;

use std::fmt;

use regex::RegexSet;
use serde::{Deserialize, Serialize};

pub use catalog::{Catalog, SessionState};
pub use eval::{
    BLOCK_SQLSTATE, Decision, HoneypotHit, PolicyAction, RowCheck, RowOutcome, RuleKind, Violation,
    evaluate,
};
pub use glob::TableGlob;
pub use load::load_policy;
pub use model::UnparsedAction;

use crate::classify::{ClassifyOptions, DEFAULT_MAX_STATEMENT_BYTES, StatementType, TableOp};

/// ChaosTrace's `PolicySeverity`. Error and critical block; warning flags; info only records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PolicySeverity {
    Info,
    Warning,
    Error,
    Critical,
}

impl PolicySeverity {
    pub fn as_str(self) -> &'static str {
        match self {
            PolicySeverity::Info => "info",
            PolicySeverity::Warning => "warning",
            PolicySeverity::Error => "error",
            PolicySeverity::Critical => "critical",
        }
    }

    /// Whether a rule of this severity blocks the statement.
    pub fn blocks(self) -> bool {
        self >= PolicySeverity::Error
    }
}

impl fmt::Display for PolicySeverity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for PolicySeverity {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        match s.trim().to_ascii_lowercase().as_str() {
            "info" => Ok(PolicySeverity::Info),
            "warning" => Ok(PolicySeverity::Warning),
            "error" => Ok(PolicySeverity::Error),
            "critical" => Ok(PolicySeverity::Critical),
            _ => Err(serde::de::Error::custom(format!(
                "`{s}` is not a severity; use info, warning, error or critical"
            ))),
        }
    }
}

/// An operation name from a policy (`DELETE`, `COPY`…): a table operation, a statement type,
/// or both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    pub name: String,
    pub op: Option<TableOp>,
    pub kind: Option<StatementType>,
}

impl Operation {
    /// Parses a name; `None` if it is neither a table operation nor a statement type.
    pub fn parse(name: &str) -> Option<Operation> {
        let op = TableOp::parse(name);
        let kind = StatementType::parse(name);
        (op.is_some() || kind.is_some()).then(|| Operation {
            name: name.trim().to_ascii_uppercase(),
            op,
            kind,
        })
    }
}

/// One `forbidden_sql` / `required_sql` rule.
#[derive(Debug, Clone)]
pub struct PatternRule {
    pub pattern: String,
    pub severity: PolicySeverity,
    pub message: String,
    pub case_sensitive: bool,
}

/// One `table_restrictions` entry.
#[derive(Debug, Clone)]
pub struct TableRestriction {
    pub table: TableGlob,
    pub operations: Vec<Operation>,
    pub require_where: bool,
    pub max_rows: Option<u64>,
    pub allowed_columns: Option<Vec<String>>,
    pub forbidden_columns: Vec<String>,
}

/// One `row_limits` entry.
#[derive(Debug, Clone)]
pub struct RowLimit {
    pub operation: Operation,
    pub max_rows: u64,
    pub action: PolicySeverity,
}

/// The `honeypots` block.
#[derive(Debug, Clone)]
pub struct Honeypots {
    pub tables: Vec<TableGlob>,
    pub columns: Vec<String>,
    /// Not enforced by the SQL layer (file honeypots belong to the file-system proxy).
    pub files: Vec<String>,
    pub severity: PolicySeverity,
}

/// A compiled policy: immutable, cheap to share (`Arc<Policy>`), no per-call compilation.
#[derive(Debug, Clone)]
pub struct Policy {
    pub name: String,
    pub version: String,
    pub description: String,
    pub forbidden_sql: Vec<PatternRule>,
    pub(crate) forbidden_set: RegexSet,
    pub required_sql: Vec<PatternRule>,
    pub(crate) required_set: RegexSet,
    pub table_restrictions: Vec<TableRestriction>,
    pub row_limits: Vec<RowLimit>,
    pub honeypots: Honeypots,
    pub fail_on_unknown_table: bool,
    pub require_transaction: bool,
    pub max_query_length: u64,
    pub on_unparsed: UnparsedAction,
    pub max_statement_bytes: usize,
    pub allowed_statement_types: Option<Vec<Operation>>,
    pub forbidden_statement_types: Vec<Operation>,
    pub known_tables: Vec<TableGlob>,
}

impl Policy {
    /// A policy with no rules (ChaosTrace's defaults with an empty rule set), except that
    /// unparsed statements are still blocked.
    pub fn empty(name: &str) -> Policy {
        Policy {
            name: name.to_string(),
            version: "1.0".into(),
            description: String::new(),
            forbidden_sql: Vec::new(),
            forbidden_set: RegexSet::empty(),
            required_sql: Vec::new(),
            required_set: RegexSet::empty(),
            table_restrictions: Vec::new(),
            row_limits: Vec::new(),
            honeypots: Honeypots {
                tables: Vec::new(),
                columns: Vec::new(),
                files: Vec::new(),
                severity: PolicySeverity::Critical,
            },
            fail_on_unknown_table: false,
            require_transaction: false,
            max_query_length: 10_000,
            on_unparsed: UnparsedAction::Block,
            max_statement_bytes: DEFAULT_MAX_STATEMENT_BYTES,
            allowed_statement_types: None,
            forbidden_statement_types: Vec::new(),
            known_tables: Vec::new(),
        }
    }

    /// The classifier options this policy asks for (its statement size cap).
    pub fn classify_options(&self) -> ClassifyOptions {
        ClassifyOptions {
            max_statement_bytes: self.max_statement_bytes,
        }
    }

    /// The severity an unparsed (or oversized) statement gets.
    pub fn unparsed_severity(&self) -> PolicySeverity {
        match self.on_unparsed {
            UnparsedAction::Block => PolicySeverity::Error,
            UnparsedAction::Flag => PolicySeverity::Warning,
            UnparsedAction::Allow => PolicySeverity::Info,
        }
    }
}
