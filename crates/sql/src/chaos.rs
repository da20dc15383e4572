//! Chaos scripts: the ChaosTrace chaos-script format, accepted verbatim and compiled once, and a
//! pure trigger engine that decides when actions fire and with what parameters. The proxy
//! executes them (and undoes them); this module never touches a database or a clock: `now` is
//! always passed in. See `docs/chaos-scripts.md`.

mod action;
mod engine;
mod load;
pub mod model;
mod template;

use std::time::Duration;

use serde::Serialize;

pub use action::{ActionSpec, ActionType, ChaosAction, LOCK_MODES, PartitionMode};
pub use engine::{ChaosEngine, FiredAction};
pub use load::load_chaos;
pub use model::{Occurrence, TriggerType};
pub use template::{RenderContext, Template};

use crate::classify::{Classification, StatementType, TableName, TableOp};
use crate::event::SqlEventType;
use crate::policy::{Operation, TableGlob};

/// What the engine is told about: one SQL event, built by the proxy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SqlEvent {
    pub event_type: SqlEventType,
    /// The statement's type (`parsed_type` in ChaosTrace conditions).
    pub statement_type: Option<StatementType>,
    /// The operations applied to tables (so a DELETE inside WITH matches `parsed_type: DELETE`).
    pub ops: Vec<TableOp>,
    /// The tables touched, in order (`{event.tables[N]}`).
    pub tables: Vec<TableName>,
    /// Rows affected or returned, when known (`min_rows`); `sql_result` events carry it.
    pub rows: Option<u64>,
}

impl SqlEvent {
    /// An event with no statement attached.
    pub fn new(event_type: SqlEventType) -> Self {
        SqlEvent {
            event_type,
            statement_type: None,
            ops: Vec::new(),
            tables: Vec::new(),
            rows: None,
        }
    }

    /// An event about a classified statement. For a statement the parser could not read, the
    /// type is the keyword guess (as ChaosTrace classifies by prefix when parsing fails).
    pub fn from_classification(event_type: SqlEventType, c: &Classification) -> Self {
        let mut ops: Vec<TableOp> = Vec::new();
        for a in &c.actions {
            if !ops.contains(&a.op) {
                ops.push(a.op);
            }
        }
        SqlEvent {
            event_type,
            statement_type: Some(if c.is_parsed() { c.kind } else { c.hint }),
            ops,
            tables: c.tables().into_iter().cloned().collect(),
            rows: None,
        }
    }

    pub fn with_rows(mut self, rows: u64) -> Self {
        self.rows = Some(rows);
        self
    }
}

/// The table part of an event condition: ChaosTrace matches `table_pattern` as a
/// case-insensitive substring of a table name; a pattern with `*` or `?` is a glob instead.
#[derive(Debug, Clone)]
pub enum TablePattern {
    Substring(String),
    Glob(TableGlob),
}

impl TablePattern {
    pub fn parse(text: &str) -> Option<TablePattern> {
        let t = text.trim();
        if t.is_empty() {
            return None;
        }
        if t.contains(['*', '?']) {
            TableGlob::parse(t).map(TablePattern::Glob)
        } else {
            Some(TablePattern::Substring(t.to_ascii_lowercase()))
        }
    }

    pub fn matches(&self, t: &TableName) -> bool {
        match self {
            TablePattern::Substring(s) => t.to_string().to_ascii_lowercase().contains(s.as_str()),
            TablePattern::Glob(g) => g.matches(t),
        }
    }
}

/// `event_condition`, compiled.
#[derive(Debug, Clone)]
pub struct EventCondition {
    pub event_type: SqlEventType,
    pub parsed_type: Option<Operation>,
    pub table_pattern: Option<TablePattern>,
    pub occurrence: Occurrence,
    pub min_rows: Option<u64>,
}

impl EventCondition {
    /// Whether the event satisfies everything but the occurrence.
    pub fn matches(&self, e: &SqlEvent) -> bool {
        if e.event_type != self.event_type {
            return false;
        }
        if let Some(p) = &self.parsed_type {
            let kind_hit = p.kind.is_some() && p.kind == e.statement_type;
            let op_hit = p.op.is_some_and(|op| e.ops.contains(&op));
            if !kind_hit && !op_hit {
                return false;
            }
        }
        if let Some(tp) = &self.table_pattern
            && !e.tables.iter().any(|t| tp.matches(t))
        {
            return false;
        }
        if let Some(min) = self.min_rows
            && e.rows.is_none_or(|r| r < min)
        {
            return false;
        }
        true
    }
}

/// `time_condition`, compiled.
#[derive(Debug, Clone, Copy)]
pub struct TimeCondition {
    pub elapsed: Duration,
    pub jitter: Duration,
}

/// `count_condition`, compiled.
#[derive(Debug, Clone, Copy)]
pub struct CountCondition {
    pub event_type: SqlEventType,
    pub count: u64,
    pub reset_after_trigger: bool,
}

/// A trigger's condition.
#[derive(Debug, Clone)]
pub enum Condition {
    Event(EventCondition),
    Time(TimeCondition),
    Count(CountCondition),
}

impl Condition {
    pub fn trigger_type(&self) -> TriggerType {
        match self {
            Condition::Event(_) => TriggerType::Event,
            Condition::Time(_) => TriggerType::Time,
            Condition::Count(_) => TriggerType::Count,
        }
    }

    /// A one-line description for `chaos_triggered` events.
    pub fn describe(&self) -> String {
        match self {
            Condition::Event(c) => {
                let mut s = format!("{} event", c.event_type);
                if let Some(p) = &c.parsed_type {
                    s.push_str(&format!(" {}", p.name));
                }
                if let Some(TablePattern::Substring(t)) = &c.table_pattern {
                    s.push_str(&format!(" on *{t}*"));
                }
                if let Some(TablePattern::Glob(g)) = &c.table_pattern {
                    s.push_str(&format!(" on {g}"));
                }
                if let Some(m) = c.min_rows {
                    s.push_str(&format!(" with >= {m} rows"));
                }
                s.push_str(&format!(" ({} occurrence)", c.occurrence));
                s
            }
            Condition::Time(t) => {
                let mut s = format!("{}s after start", t.elapsed.as_secs());
                if !t.jitter.is_zero() {
                    s.push_str(&format!(" (+ up to {}s jitter)", t.jitter.as_secs()));
                }
                s
            }
            Condition::Count(c) => format!("{} x {}", c.count, c.event_type),
        }
    }
}

/// One compiled trigger.
#[derive(Debug, Clone)]
pub struct Trigger {
    /// The trigger's name, or `trigger[i]` when it has none.
    pub name: String,
    pub enabled: bool,
    pub condition: Condition,
    pub action: ActionSpec,
    pub max_triggers: u32,
    pub cooldown: Duration,
}

/// A compiled chaos script.
#[derive(Debug, Clone)]
pub struct ChaosScript {
    pub name: String,
    pub version: String,
    pub description: String,
    pub enabled: bool,
    pub max_total_chaos_events: u32,
    pub triggers: Vec<Trigger>,
}
