//! A located problem in a user's file, with a hint on how to fix it.

use std::fmt;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Error,
    Warning,
}

/// One problem: where (line and column, 1-based, and the JSON pointer of the field), what,
/// and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub level: Level,
    pub line: u64,
    pub column: u64,
    /// JSON pointer of the offending field, e.g. `/components/0/guardrails/rate_limit/per`.
    pub pointer: String,
    pub message: String,
    pub hint: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.level {
            Level::Error => "error",
            Level::Warning => "warning",
        };
        write!(
            f,
            "{}:{}: {level}: {}",
            self.line, self.column, self.message
        )?;
        if !self.pointer.is_empty() {
            write!(f, " (at {})", self.pointer)?;
        }
        if !self.hint.is_empty() {
            write!(f, "\n    hint: {}", self.hint)?;
        }
        Ok(())
    }
}

/// Every problem found in one file, errors first, in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Problems(pub Vec<Problem>);

impl Problems {
    pub fn errors(&self) -> impl Iterator<Item = &Problem> {
        self.0.iter().filter(|p| p.level == Level::Error)
    }
    pub fn warnings(&self) -> impl Iterator<Item = &Problem> {
        self.0.iter().filter(|p| p.level == Level::Warning)
    }
    pub fn has_errors(&self) -> bool {
        self.errors().next().is_some()
    }
    /// Sorts by position and removes duplicates (loaders call it before returning).
    pub fn sort(&mut self) {
        self.0
            .sort_by(|a, b| (a.line, a.column, &a.message).cmp(&(b.line, b.column, &b.message)));
        self.0.dedup();
    }
    /// Renders every problem as `FILE:LINE:COL: level: message` lines.
    pub fn render(&self, file: &str) -> String {
        self.0
            .iter()
            .map(|p| format!("{file}:{p}"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}
