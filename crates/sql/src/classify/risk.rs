//! Intrinsic risk: what a statement could do by itself, without knowing the database or the
//! policy (honeypot names and table rules are the policy's job). The level is the highest level
//! among the factors; a statement with no factor is low risk.

use std::fmt;

use serde::Serialize;
pub use shakedown_core::Severity as RiskLevel;

use super::types::{StatementType, TableAction, TableName, TableOp};

/// One reason a statement is risky.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RiskFactor {
    /// UPDATE, DELETE or MERGE with a WHERE: changes existing rows.
    ModifiesRows(TableOp),
    /// UPDATE or DELETE without a WHERE (or with a tautological one): every row.
    WriteWithoutWhere(TableOp, TableName),
    /// A WHERE that is always true (`WHERE true`, `WHERE 1 = 1`, `WHERE x = x`).
    TautologicalWhere(TableOp, TableName),
    /// Writes to more than one table in one statement.
    MultiTableWrite(usize),
    /// A data-modifying statement inside WITH.
    WriteInCte,
    /// Schema change (CREATE, ALTER, SELECT INTO…).
    Ddl(StatementType),
    Drop,
    Truncate,
    /// GRANT or REVOKE.
    Privileges,
    /// GRANT ALL.
    GrantAll,
    /// Creates, alters or drops a role, or switches role.
    RoleChange,
    /// COPY … TO/FROM PROGRAM: runs a shell command on the server.
    CopyProgram,
    /// COPY … TO/FROM a server-side file.
    CopyServerFile,
    /// A function with side effects beyond the statement.
    Function {
        name: String,
        level: RiskLevel,
        why: &'static str,
    },
    /// Runs procedural code the classifier cannot inspect (DO, CREATE FUNCTION, triggers).
    ProceduralCode,
    /// CALL of a procedure.
    Call,
    /// CREATE EXTENSION: loads server-side code.
    Extension,
    /// LOCK TABLE.
    Lock,
    /// A parsed statement the classifier has no finer rule for.
    Unclassified,
    /// The parser could not read the statement.
    Unparsed,
    /// Over the size cap; not inspected.
    Oversized,
}

impl RiskFactor {
    pub fn level(&self) -> RiskLevel {
        use RiskFactor::*;
        match self {
            ModifiesRows(_) | Call | Lock | Unclassified => RiskLevel::Medium,
            Ddl(StatementType::Alter) => RiskLevel::High,
            Ddl(_) => RiskLevel::Medium,
            TautologicalWhere(..)
            | MultiTableWrite(_)
            | WriteInCte
            | Privileges
            | RoleChange
            | ProceduralCode
            | Extension
            | Unparsed
            | Oversized
            | CopyServerFile => RiskLevel::High,
            WriteWithoutWhere(..) | Drop | Truncate | GrantAll | CopyProgram => RiskLevel::Critical,
            Function { level, .. } => *level,
        }
    }

    /// A stable snake_case code for machines.
    pub fn code(&self) -> &'static str {
        use RiskFactor::*;
        match self {
            ModifiesRows(_) => "modifies_rows",
            WriteWithoutWhere(..) => "write_without_where",
            TautologicalWhere(..) => "tautological_where",
            MultiTableWrite(_) => "multi_table_write",
            WriteInCte => "write_in_cte",
            Ddl(_) => "ddl",
            Drop => "drop",
            Truncate => "truncate",
            Privileges => "privileges",
            GrantAll => "grant_all",
            RoleChange => "role_change",
            CopyProgram => "copy_program",
            CopyServerFile => "copy_server_file",
            Function { .. } => "function",
            ProceduralCode => "procedural_code",
            Call => "call",
            Extension => "extension",
            Lock => "lock",
            Unclassified => "unclassified",
            Unparsed => "unparsed",
            Oversized => "oversized",
        }
    }
}

impl fmt::Display for RiskFactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use RiskFactor::*;
        match self {
            ModifiesRows(op) => write!(f, "{op} modifies existing rows"),
            WriteWithoutWhere(op, t) => write!(f, "{op} without WHERE on {t}"),
            TautologicalWhere(op, t) => write!(f, "{op} on {t} with an always-true WHERE"),
            MultiTableWrite(n) => write!(f, "writes to {n} tables in one statement"),
            WriteInCte => f.write_str("data-modifying statement inside WITH"),
            Ddl(k) => write!(f, "schema change ({k})"),
            Drop => f.write_str("DROP"),
            Truncate => f.write_str("TRUNCATE"),
            Privileges => f.write_str("changes privileges (GRANT/REVOKE)"),
            GrantAll => f.write_str("GRANT ALL"),
            RoleChange => f.write_str("creates, alters or switches a role"),
            CopyProgram => f.write_str("COPY with PROGRAM runs a shell command on the server"),
            CopyServerFile => f.write_str("COPY reads or writes a server-side file"),
            Function { name, why, .. } => write!(f, "calls {name}(): {why}"),
            ProceduralCode => f.write_str("runs procedural code that is not inspected"),
            Call => f.write_str("calls a procedure"),
            Extension => f.write_str("loads an extension"),
            Lock => f.write_str("locks tables"),
            Unclassified => f.write_str("statement type not classified in detail"),
            Unparsed => f.write_str("statement could not be parsed"),
            Oversized => f.write_str("statement exceeds the size cap and was not inspected"),
        }
    }
}

impl Serialize for RiskFactor {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Risk level and the factors behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Risk {
    pub level: RiskLevel,
    pub factors: Vec<RiskFactor>,
}

/// The risk of a function call by name (last name part, lower case), if it has one.
pub fn function_risk(name: &str) -> Option<(RiskLevel, &'static str)> {
    Some(match name {
        "pg_sleep" | "pg_sleep_for" | "pg_sleep_until" => (RiskLevel::Medium, "delays the session"),
        "pg_read_file"
        | "pg_read_binary_file"
        | "pg_ls_dir"
        | "pg_stat_file"
        | "pg_file_write"
        | "pg_file_rename"
        | "pg_file_unlink"
        | "pg_ls_logdir"
        | "pg_ls_waldir" => (RiskLevel::Critical, "reads or writes server files"),
        "lo_import" | "lo_export" => (
            RiskLevel::Critical,
            "moves server files into or out of large objects",
        ),
        "dblink" | "dblink_exec" | "dblink_connect" | "dblink_connect_u" | "dblink_send_query" => {
            (RiskLevel::High, "opens a connection to another server")
        }
        "pg_terminate_backend"
        | "pg_cancel_backend"
        | "pg_reload_conf"
        | "pg_promote"
        | "pg_rotate_logfile" => (RiskLevel::High, "controls server processes"),
        "set_config" => (RiskLevel::Medium, "changes a server setting"),
        "lo_unlink" => (RiskLevel::Medium, "deletes a large object"),
        _ => return None,
    })
}

/// Adds the factors implied by the statement type and its table actions, and computes the level.
pub fn assess(kind: StatementType, actions: &[TableAction], mut factors: Vec<RiskFactor>) -> Risk {
    let push = |f: RiskFactor, factors: &mut Vec<RiskFactor>| {
        if !factors.contains(&f) {
            factors.push(f);
        }
    };
    match kind {
        StatementType::Create | StatementType::Alter => push(RiskFactor::Ddl(kind), &mut factors),
        StatementType::Drop => push(RiskFactor::Drop, &mut factors),
        StatementType::Truncate => push(RiskFactor::Truncate, &mut factors),
        StatementType::Grant | StatementType::Revoke => push(RiskFactor::Privileges, &mut factors),
        StatementType::Do => push(RiskFactor::ProceduralCode, &mut factors),
        StatementType::Call => push(RiskFactor::Call, &mut factors),
        StatementType::Lock => push(RiskFactor::Lock, &mut factors),
        StatementType::Other => push(RiskFactor::Unclassified, &mut factors),
        StatementType::Unparsed => push(RiskFactor::Unparsed, &mut factors),
        StatementType::Oversized => push(RiskFactor::Oversized, &mut factors),
        _ => {}
    }
    let mut written: Vec<&TableName> = Vec::new();
    for a in actions {
        match a.op {
            TableOp::Update | TableOp::Delete if !a.has_where => push(
                RiskFactor::WriteWithoutWhere(a.op, a.table.clone()),
                &mut factors,
            ),
            TableOp::Update | TableOp::Delete | TableOp::Merge => {
                push(RiskFactor::ModifiesRows(a.op), &mut factors)
            }
            TableOp::Drop => push(RiskFactor::Drop, &mut factors),
            TableOp::Truncate => push(RiskFactor::Truncate, &mut factors),
            TableOp::Create | TableOp::Alter => {
                let k = if a.op == TableOp::Create {
                    StatementType::Create
                } else {
                    StatementType::Alter
                };
                push(RiskFactor::Ddl(k), &mut factors)
            }
            _ => {}
        }
        if matches!(
            a.op,
            TableOp::Insert
                | TableOp::Update
                | TableOp::Delete
                | TableOp::Merge
                | TableOp::Truncate
                | TableOp::Drop
        ) {
            if a.in_cte {
                push(RiskFactor::WriteInCte, &mut factors);
            }
            if !written.contains(&&a.table) {
                written.push(&a.table);
            }
        }
    }
    if written.len() > 1 {
        push(RiskFactor::MultiTableWrite(written.len()), &mut factors);
    }
    let level = factors
        .iter()
        .map(RiskFactor::level)
        .max()
        .unwrap_or(RiskLevel::Low);
    Risk { level, factors }
}
