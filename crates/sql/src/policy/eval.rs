//! Evaluating one classified statement against a policy. Every rule is checked (no early
//! return), so the decision lists everything the statement violates; the highest severity
//! decides: error or critical block, warning flags, info only records.

use std::fmt;

use serde::Serialize;

use super::catalog::SessionState;
use super::{Operation, Policy, PolicySeverity, TableRestriction};
use crate::classify::text::identifiers;
use crate::classify::{Classification, StatementType, TableAction, TableName, TableOp};

/// SQLSTATE for a statement the policy blocked: `insufficient_privilege`.
pub const BLOCK_SQLSTATE: &str = "42501";

/// What to do with the statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PolicyAction {
    Allow,
    /// Allow, and emit `sql_flagged`.
    Flag,
    /// Refuse with an ErrorResponse (SQLSTATE 42501) and emit `sql_blocked`.
    Block,
}

/// Which policy field a violation comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleKind {
    MaxQueryLength,
    Unparsed,
    Oversized,
    AllowedStatementTypes,
    ForbiddenStatementTypes,
    ForbiddenSql,
    RequiredSql,
    HoneypotTable,
    HoneypotColumn,
    RequireWhere,
    MaxRows,
    ForbiddenColumn,
    NotAllowedColumn,
    RowLimit,
    UnknownTable,
    RequireTransaction,
}

/// One violated rule. `rule` is a stable name (ChaosTrace's `matched_rules` spelling where it
/// has one, e.g. `require_where:users:DELETE`, `honeypot_table:_system_secrets`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    pub rule: String,
    pub kind: RuleKind,
    pub severity: PolicySeverity,
    pub message: String,
}

/// A honeypot touched by the statement: the proxy emits `honeypot_accessed` for each.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HoneypotHit {
    Table(TableName),
    Column(String),
}

/// A limit the text cannot decide: the proxy runs the statement inside a savepoint, reads the
/// row count from CommandComplete and calls [`Decision::check_rows`]; on a block it rolls back
/// to the savepoint so no row is lost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowCheck {
    pub rule: String,
    pub op: TableOp,
    /// The table the limit is for (`None` for a global `row_limits` entry).
    pub table: Option<TableName>,
    pub max_rows: u64,
    pub severity: PolicySeverity,
}

impl RowCheck {
    pub fn exceeded(&self, rows: u64) -> bool {
        rows > self.max_rows
    }

    /// The violation for `rows` affected rows.
    pub fn violation(&self, rows: u64) -> Violation {
        let message = match &self.table {
            Some(t) => format!(
                "{} on {t} affects too many rows ({rows} > {})",
                self.op, self.max_rows
            ),
            None => format!(
                "{} affects too many rows ({rows} > {})",
                self.op, self.max_rows
            ),
        };
        Violation {
            rule: self.rule.clone(),
            kind: if self.table.is_some() {
                RuleKind::MaxRows
            } else {
                RuleKind::RowLimit
            },
            severity: self.severity,
            message,
        }
    }
}

impl fmt::Display for RowCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "needs row check: at most {} rows for {}",
            self.max_rows, self.op
        )?;
        if let Some(t) = &self.table {
            write!(f, " on {t}")?;
        }
        write!(f, " ({})", self.severity)
    }
}

/// The verdict on one statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub action: PolicyAction,
    /// The highest severity among the violations.
    pub severity: Option<PolicySeverity>,
    pub violations: Vec<Violation>,
    pub honeypots: Vec<HoneypotHit>,
    /// Checks to make after execution (only meaningful when the action is not Block).
    pub row_checks: Vec<RowCheck>,
}

/// The verdict after the row count is known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowOutcome {
    /// Block: roll back to the savepoint and answer with an error. Flag: keep the result but
    /// emit `sql_flagged`. Allow: nothing exceeded.
    pub action: PolicyAction,
    pub violations: Vec<Violation>,
}

fn action_for(severity: Option<PolicySeverity>) -> PolicyAction {
    match severity {
        Some(s) if s.blocks() => PolicyAction::Block,
        Some(PolicySeverity::Warning) => PolicyAction::Flag,
        _ => PolicyAction::Allow,
    }
}

impl Decision {
    pub fn is_blocked(&self) -> bool {
        self.action == PolicyAction::Block
    }

    /// The ErrorResponse message for a blocked statement: the blocking rules and their
    /// messages (at most three, then a count).
    pub fn error_message(&self) -> String {
        let blocking: Vec<&Violation> = self
            .violations
            .iter()
            .filter(|v| v.severity.blocks())
            .collect();
        let mut parts: Vec<String> = blocking
            .iter()
            .take(3)
            .map(|v| format!("{} ({})", v.message, v.rule))
            .collect();
        if blocking.len() > 3 {
            parts.push(format!("and {} more", blocking.len() - 3));
        }
        format!("statement blocked by policy: {}", parts.join("; "))
    }

    /// Judges the row count the statement produced against [`Decision::row_checks`].
    pub fn check_rows(&self, rows: u64) -> RowOutcome {
        let violations: Vec<Violation> = self
            .row_checks
            .iter()
            .filter(|c| c.exceeded(rows))
            .map(|c| c.violation(rows))
            .collect();
        let severity = violations.iter().map(|v| v.severity).max();
        RowOutcome {
            action: action_for(severity),
            violations,
        }
    }
}

struct Eval<'a> {
    policy: &'a Policy,
    c: &'a Classification,
    state: &'a SessionState,
    violations: Vec<Violation>,
    honeypots: Vec<HoneypotHit>,
    row_checks: Vec<RowCheck>,
}

impl Eval<'_> {
    fn push(&mut self, kind: RuleKind, rule: String, severity: PolicySeverity, message: String) {
        if !self.violations.iter().any(|v| v.rule == rule) {
            self.violations.push(Violation {
                rule,
                kind,
                severity,
                message,
            });
        }
    }

    fn honeypot(&mut self, hit: HoneypotHit) {
        if self.honeypots.contains(&hit) {
            return;
        }
        let sev = self.policy.honeypots.severity;
        match &hit {
            HoneypotHit::Table(t) => self.push(
                RuleKind::HoneypotTable,
                format!("honeypot_table:{t}"),
                sev,
                format!("Access to honeypot table: {t}"),
            ),
            HoneypotHit::Column(c) => self.push(
                RuleKind::HoneypotColumn,
                format!("honeypot_column:{c}"),
                sev,
                format!("Access to honeypot column: {c}"),
            ),
        }
        self.honeypots.push(hit);
    }

    fn honeypot_column(&self, col: &str) -> bool {
        self.policy
            .honeypots
            .columns
            .iter()
            .any(|h| h.eq_ignore_ascii_case(col))
    }

    fn catalog_columns(&self, t: &TableName) -> Option<&[String]> {
        self.state.catalog.as_deref().and_then(|c| c.columns(t))
    }

    fn length(&mut self) {
        let len = self.c.source_chars as u64;
        if len > self.policy.max_query_length {
            self.push(
                RuleKind::MaxQueryLength,
                "max_query_length".into(),
                PolicySeverity::Error,
                format!(
                    "Query exceeds maximum length ({len} > {})",
                    self.policy.max_query_length
                ),
            );
        }
    }

    fn unparsed(&mut self) {
        let sev = self.policy.unparsed_severity();
        let err = self.c.parse_error.as_deref().unwrap_or("");
        match self.c.kind {
            StatementType::Unparsed => self.push(
                RuleKind::Unparsed,
                "unparsed".into(),
                sev,
                format!(
                    "statement could not be parsed (it starts like {}): {err}",
                    self.c.hint
                ),
            ),
            StatementType::Oversized => self.push(
                RuleKind::Oversized,
                "oversized".into(),
                sev,
                format!("statement was not inspected: {err}"),
            ),
            _ => {}
        }
    }

    fn statement_types(&mut self) {
        let (c, policy) = (self.c, self.policy);
        if let Some(allowed) = &policy.allowed_statement_types {
            if !allowed.iter().any(|o| o.kind == Some(c.kind)) {
                self.push(
                    RuleKind::AllowedStatementTypes,
                    format!("allowed_statement_types:{}", c.kind),
                    PolicySeverity::Error,
                    format!("{} statements are not allowed by this policy", c.kind),
                );
            }
            for a in &c.actions {
                if !allowed.iter().any(|o| o.op == Some(a.op)) {
                    self.push(
                        RuleKind::AllowedStatementTypes,
                        format!("allowed_statement_types:{}", a.op),
                        PolicySeverity::Error,
                        format!("{} on {} is not allowed by this policy", a.op, a.table),
                    );
                }
            }
        }
        for f in &policy.forbidden_statement_types {
            let hit = f.kind == Some(c.kind) || f.op.is_some_and(|op| c.has_op(op));
            if hit {
                self.push(
                    RuleKind::ForbiddenStatementTypes,
                    format!("forbidden_statement_types:{}", f.name),
                    PolicySeverity::Error,
                    format!("{} is forbidden by this policy", f.name),
                );
            }
        }
    }

    fn patterns(&mut self) {
        let (c, policy) = (self.c, self.policy);
        if !policy.forbidden_sql.is_empty() && !c.match_text.is_empty() {
            for i in policy.forbidden_set.matches(&c.match_text).iter() {
                let r = &policy.forbidden_sql[i];
                let message = if r.message.is_empty() {
                    format!("Matched forbidden pattern: {}", r.pattern)
                } else {
                    r.message.clone()
                };
                self.push(
                    RuleKind::ForbiddenSql,
                    format!("forbidden_sql:{}", r.pattern),
                    r.severity,
                    message,
                );
            }
        }
        // Session and transaction control is exempt: drivers send it on their own, and a
        // required pattern (say, LIMIT) means nothing for BEGIN.
        let exempt = c.kind.is_session_control() || c.kind == StatementType::Oversized;
        if !policy.required_sql.is_empty() && !exempt {
            let m = policy.required_set.matches(&c.match_text);
            for (i, r) in policy.required_sql.iter().enumerate() {
                if !m.matched(i) {
                    let message = if r.message.is_empty() {
                        format!("Missing required pattern: {}", r.pattern)
                    } else {
                        r.message.clone()
                    };
                    self.push(
                        RuleKind::RequiredSql,
                        format!("required_sql:{}", r.pattern),
                        r.severity,
                        message,
                    );
                }
            }
        }
    }

    fn honeypots(&mut self) {
        let (c, policy) = (self.c, self.policy);
        let hp = &policy.honeypots;
        if hp.tables.is_empty() && hp.columns.is_empty() {
            return;
        }
        for t in c.tables() {
            if hp.tables.iter().any(|g| g.matches(t)) {
                self.honeypot(HoneypotHit::Table(t.clone()));
            }
        }
        let written = c.actions.iter().flat_map(|a| a.columns.iter());
        for col in c.columns.iter().chain(written) {
            if col != "*" && self.honeypot_column(col) {
                self.honeypot(HoneypotHit::Column(col.clone()));
            }
        }
        // `SELECT *` reads every column: expand it against the catalog when there is one.
        if c.columns.iter().any(|x| x == "*") {
            for a in c.actions.iter().filter(|a| a.op == TableOp::Select) {
                let hits: Vec<String> = self
                    .catalog_columns(&a.table)
                    .unwrap_or_default()
                    .iter()
                    .filter(|col| self.honeypot_column(col))
                    .cloned()
                    .collect();
                for col in hits {
                    self.honeypot(HoneypotHit::Column(col));
                }
            }
        }
        // A statement the parser could not read: any honeypot name among its words counts.
        if !c.is_parsed() {
            let text = if c.match_text.is_empty() {
                &c.text
            } else {
                &c.match_text
            };
            for word in identifiers(text) {
                let as_table = TableName {
                    schema: None,
                    name: word,
                };
                if hp.tables.iter().any(|g| g.matches(&as_table)) {
                    self.honeypot(HoneypotHit::Table(as_table));
                } else if self.honeypot_column(&as_table.name) {
                    self.honeypot(HoneypotHit::Column(as_table.name));
                }
            }
        }
    }

    fn restrictions(&mut self) {
        let (c, policy) = (self.c, self.policy);
        for a in &c.actions {
            for r in &policy.table_restrictions {
                if r.table.matches(&a.table) && applies(&r.operations, a, c) {
                    self.restriction(r, a);
                }
            }
        }
    }

    fn restriction(&mut self, r: &TableRestriction, a: &TableAction) {
        let (op, t) = (a.op, &a.table);
        // TRUNCATE and DROP cannot have a WHERE: listed under require_where they never pass
        // (ChaosTrace only checked DELETE and UPDATE, which let them through).
        let unbounded = match op {
            TableOp::Update | TableOp::Delete => !a.has_where,
            TableOp::Truncate | TableOp::Drop => true,
            _ => false,
        };
        if r.require_where && unbounded {
            let why = if matches!(op, TableOp::Truncate | TableOp::Drop) {
                format!(" ({op} affects every row)")
            } else {
                String::new()
            };
            self.push(
                RuleKind::RequireWhere,
                format!("require_where:{t}:{op}"),
                PolicySeverity::Error,
                format!("{op} on {t} requires WHERE clause{why}"),
            );
        }
        match r.max_rows {
            // ChaosTrace's policies use `max_rows: 0` for "no modifications at all": decided from
            // the text, before anything runs.
            Some(0) => self.push(
                RuleKind::MaxRows,
                format!("row_limit:{t}:0"),
                PolicySeverity::Error,
                format!("{op} on {t} is not allowed (max_rows: 0)"),
            ),
            Some(n) => {
                if self.c.kind == StatementType::Explain && op == TableOp::Select {
                    // Plain EXPLAIN returns a plan, not rows.
                } else if counted(self.c, a) {
                    let check = RowCheck {
                        rule: format!("row_limit:{t}:{n}"),
                        op,
                        table: Some(t.clone()),
                        max_rows: n,
                        severity: PolicySeverity::Error,
                    };
                    if !self.row_checks.contains(&check) {
                        self.row_checks.push(check);
                    }
                } else {
                    self.push(
                        RuleKind::MaxRows,
                        format!("row_limit:{t}:{n}"),
                        PolicySeverity::Error,
                        format!(
                            "{op} on {t} is limited to {n} rows, which cannot be checked for this statement ({})",
                            uncounted_reason(self.c, a)
                        ),
                    );
                }
            }
            None => {}
        }
        if r.forbidden_columns.is_empty() && r.allowed_columns.is_none() {
            return;
        }
        let cols: Vec<String> = match op {
            TableOp::Insert if a.columns.is_empty() => match self.catalog_columns(t) {
                Some(all) => all.to_vec(),
                None => {
                    self.push(
                        RuleKind::ForbiddenColumn,
                        format!("forbidden_column:{t}:*"),
                        PolicySeverity::Error,
                        format!(
                            "INSERT into {t} without a column list writes every column, and {t} has column rules"
                        ),
                    );
                    return;
                }
            },
            TableOp::Insert | TableOp::Update | TableOp::Merge => a.columns.clone(),
            TableOp::Select => {
                let mut cols = self.c.columns.clone();
                if cols.iter().any(|x| x == "*") {
                    cols.retain(|x| x != "*");
                    match self.catalog_columns(t) {
                        Some(all) => cols.extend(all.iter().cloned()),
                        None if r.allowed_columns.is_some() || !r.forbidden_columns.is_empty() => {
                            self.push(
                                RuleKind::NotAllowedColumn,
                                format!("not_allowed_column:{t}:*"),
                                PolicySeverity::Error,
                                format!(
                                    "SELECT * on {t} reads every column, and {t} has column rules"
                                ),
                            );
                        }
                        None => {}
                    }
                }
                cols
            }
            _ => Vec::new(),
        };
        for col in &cols {
            if r.forbidden_columns
                .iter()
                .any(|f| f.eq_ignore_ascii_case(col))
            {
                self.push(
                    RuleKind::ForbiddenColumn,
                    format!("forbidden_column:{col}"),
                    PolicySeverity::Error,
                    format!("Column {col} is forbidden for {op} on {t}"),
                );
            }
            if let Some(allowed) = &r.allowed_columns
                && !allowed.iter().any(|x| x.eq_ignore_ascii_case(col))
            {
                self.push(
                    RuleKind::NotAllowedColumn,
                    format!("not_allowed_column:{col}"),
                    PolicySeverity::Error,
                    format!("Column {col} is not in allowed list for {op} on {t}"),
                );
            }
        }
    }

    fn row_limits(&mut self) {
        let (c, policy) = (self.c, self.policy);
        for l in &policy.row_limits {
            let rule = format!("global_row_limit:{}:{}", l.operation.name, l.max_rows);
            let mut applies = false;
            let mut uncounted: Option<String> = None;
            if let Some(op) = l.operation.op {
                for a in c.actions.iter().filter(|a| a.op == op) {
                    if c.kind == StatementType::Explain && op == TableOp::Select {
                        continue;
                    }
                    applies = true;
                    if !counted(c, a) {
                        uncounted = Some(uncounted_reason(c, a));
                    }
                }
            } else if l.operation.kind == Some(c.kind) {
                applies = true;
                if !matches!(
                    c.kind,
                    StatementType::Select
                        | StatementType::Insert
                        | StatementType::Update
                        | StatementType::Delete
                        | StatementType::Merge
                        | StatementType::Copy
                ) {
                    uncounted = Some(format!("{} reports no row count", c.kind));
                }
            }
            if !applies {
                continue;
            }
            match uncounted {
                Some(why) => self.push(
                    RuleKind::RowLimit,
                    rule,
                    l.action,
                    format!(
                        "{} is limited to {} rows, which cannot be checked for this statement ({why})",
                        l.operation.name, l.max_rows
                    ),
                ),
                None => {
                    let check = RowCheck {
                        rule,
                        op: l.operation.op.unwrap_or(TableOp::Other),
                        table: None,
                        max_rows: l.max_rows,
                        severity: l.action,
                    };
                    if !self.row_checks.contains(&check) {
                        self.row_checks.push(check);
                    }
                }
            }
        }
    }

    fn unknown_tables(&mut self) {
        let (c, policy, state) = (self.c, self.policy, self.state);
        if !policy.fail_on_unknown_table {
            return;
        }
        let no_source = policy.known_tables.is_empty() && state.catalog.is_none();
        for a in &c.actions {
            if a.op == TableOp::Create {
                continue;
            }
            let t = &a.table;
            let known = policy.known_tables.iter().any(|g| g.matches(t))
                || state.catalog.as_deref().is_some_and(|cat| cat.contains(t));
            if !known {
                let mut message = format!("Table {t} is not in the schema");
                if no_source {
                    message.push_str(" (no catalog or known_tables to check against)");
                }
                self.push(
                    RuleKind::UnknownTable,
                    format!("unknown_table:{t}"),
                    PolicySeverity::Error,
                    message,
                );
            }
        }
    }

    fn transaction(&mut self) {
        let c = self.c;
        if !self.policy.require_transaction || self.state.in_transaction || !c.is_parsed() {
            return;
        }
        use StatementType::*;
        let writes = c.actions.iter().any(|a| a.op.modifies())
            || matches!(
                c.kind,
                Insert
                    | Update
                    | Delete
                    | Merge
                    | Create
                    | Alter
                    | Drop
                    | Truncate
                    | Grant
                    | Revoke
                    | Call
                    | Do
                    | Comment
            );
        if writes {
            self.push(
                RuleKind::RequireTransaction,
                "require_transaction".into(),
                PolicySeverity::Error,
                format!(
                    "{} must run inside a transaction (send BEGIN first)",
                    c.kind
                ),
            );
        }
    }
}

/// Whether a restriction's operation list covers this action: table-operation names match
/// the action's operation; names that are only statement types (COPY, EXPLAIN…) match the
/// statement's type.
fn applies(ops: &[Operation], a: &TableAction, c: &Classification) -> bool {
    ops.iter().any(|o| match o.op {
        Some(op) => op == a.op,
        None => o.kind == Some(c.kind),
    })
}

/// Whether the row count in the statement's CommandComplete tag counts this action.
fn counted(c: &Classification, a: &TableAction) -> bool {
    use StatementType as K;
    use TableOp as O;
    !a.in_cte
        && matches!(
            (c.kind, a.op),
            (K::Select, O::Select)
                | (K::Copy, O::Select | O::Insert)
                | (K::Insert, O::Insert)
                | (K::Update, O::Update)
                | (K::Delete, O::Delete)
                | (K::Merge, O::Insert | O::Update | O::Delete)
        )
}

fn uncounted_reason(c: &Classification, a: &TableAction) -> String {
    if a.in_cte {
        format!("the {} runs inside WITH", a.op)
    } else {
        format!("a {} statement reports no {} row count", c.kind, a.op)
    }
}

/// Judges one statement. `state` carries the session's transaction status and the catalog.
pub fn evaluate(policy: &Policy, c: &Classification, state: &SessionState) -> Decision {
    let mut e = Eval {
        policy,
        c,
        state,
        violations: Vec::new(),
        honeypots: Vec::new(),
        row_checks: Vec::new(),
    };
    e.length();
    e.unparsed();
    e.statement_types();
    e.patterns();
    e.honeypots();
    e.restrictions();
    e.row_limits();
    e.unknown_tables();
    e.transaction();
    let severity = e.violations.iter().map(|v| v.severity).max();
    Decision {
        action: action_for(severity),
        severity,
        violations: e.violations,
        honeypots: e.honeypots,
        row_checks: e.row_checks,
    }
}
