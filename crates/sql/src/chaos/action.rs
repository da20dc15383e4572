//! The twelve chaos actions with their typed parameters. [`ActionSpec`] is the compiled form
//! in a script (templates not yet rendered); [`ChaosAction`] is what the engine hands the proxy
//! when a trigger fires. Defaults follow ChaosTrace's hooks (lock 30 s, latency 1000 ms for
//! 60 s, memory 80 %, CPU 50 %, packet loss 10 %, partition 30 s, disk full 60 s).

use std::fmt;
use std::time::Duration;

use serde::{Serialize, Serializer};
use shakedown_core::HumanDuration;
use shakedown_core::system::tree::Located;
use shakedown_core::system::{Level, Problem};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

use super::model::ActionFile;
use super::template::{RenderContext, Template};
use crate::classify::TableName;
use shakedown_core::located::problem;

macro_rules! action_types {
    ($($variant:ident => $text:literal,)*) => {
        /// The twelve action types.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
        #[serde(rename_all = "snake_case")]
        pub enum ActionType { $($variant,)* }

        impl ActionType {
            pub const ALL: &'static [ActionType] = &[$(ActionType::$variant,)*];
            pub fn as_str(self) -> &'static str {
                match self { $(ActionType::$variant => $text,)* }
            }
            pub fn parse(s: &str) -> Option<ActionType> {
                let s = s.trim();
                $(if s.eq_ignore_ascii_case($text) { return Some(ActionType::$variant); })*
                None
            }
        }
    };
}

action_types! {
    LockTable => "lock_table",
    AddLatency => "add_latency",
    RevokeCredentials => "revoke_credentials",
    RenameColumn => "rename_column",
    ChangeColumnType => "change_column_type",
    DropIndex => "drop_index",
    SimulateTimeout => "simulate_timeout",
    DiskFull => "disk_full",
    MemoryPressure => "memory_pressure",
    CpuThrottle => "cpu_throttle",
    NetworkPartition => "network_partition",
    PacketLoss => "packet_loss",
}

impl fmt::Display for ActionType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// PostgreSQL table lock modes (`parameters.mode` of `lock_table`).
pub const LOCK_MODES: [&str; 8] = [
    "ACCESS SHARE",
    "ROW SHARE",
    "ROW EXCLUSIVE",
    "SHARE UPDATE EXCLUSIVE",
    "SHARE",
    "SHARE ROW EXCLUSIVE",
    "EXCLUSIVE",
    "ACCESS EXCLUSIVE",
];

/// How `network_partition` cuts the connection (`parameters.mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PartitionMode {
    /// Bytes stop flowing both ways for the duration; the connection stays open.
    Blackhole,
    /// The connection is closed mid-session.
    Drop,
}

fn ser_duration<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&HumanDuration(*d))
}

fn ser_opt_duration<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.collect_str(&HumanDuration(*d)),
        None => s.serialize_none(),
    }
}

/// A fired action, parameters rendered. `duration: None` means "until the script ends" for
/// state-changing actions, and "the next statement only" for `simulate_timeout`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ChaosAction {
    /// Hold `LOCK TABLE … IN <mode> MODE` in a transaction for the duration.
    LockTable {
        table: TableName,
        mode: &'static str,
        #[serde(serialize_with = "ser_duration")]
        duration: Duration,
    },
    /// Delay every statement by `latency` for the duration.
    AddLatency {
        #[serde(serialize_with = "ser_duration")]
        latency: Duration,
        #[serde(serialize_with = "ser_duration")]
        duration: Duration,
    },
    /// Make logins fail (role `None`: the role the client authenticated as); restored after.
    RevokeCredentials {
        role: Option<String>,
        #[serde(serialize_with = "ser_opt_duration")]
        duration: Option<Duration>,
    },
    RenameColumn {
        table: TableName,
        column: String,
        new_name: String,
        #[serde(serialize_with = "ser_opt_duration")]
        duration: Option<Duration>,
    },
    /// `new_type` was checked at load to be one SQL data type.
    ChangeColumnType {
        table: TableName,
        column: String,
        new_type: String,
        #[serde(serialize_with = "ser_opt_duration")]
        duration: Option<Duration>,
    },
    /// Drop the index (its definition saved for restoring).
    DropIndex {
        table: Option<TableName>,
        index: String,
        #[serde(serialize_with = "ser_opt_duration")]
        duration: Option<Duration>,
    },
    /// Fail statements with SQLSTATE 57014 (query_canceled).
    SimulateTimeout {
        #[serde(serialize_with = "ser_opt_duration")]
        duration: Option<Duration>,
    },
    /// Fail writes with SQLSTATE 53100 (disk_full).
    DiskFull {
        #[serde(serialize_with = "ser_duration")]
        duration: Duration,
    },
    /// Fail statements with SQLSTATE 53200 (out_of_memory), `percentage` % of them.
    MemoryPressure {
        percentage: u8,
        #[serde(serialize_with = "ser_duration")]
        duration: Duration,
    },
    /// Slow responses: at `percentage` % throttle a response takes 1 / (1 − p) as long.
    CpuThrottle {
        percentage: u8,
        #[serde(serialize_with = "ser_duration")]
        duration: Duration,
    },
    NetworkPartition {
        mode: PartitionMode,
        #[serde(serialize_with = "ser_duration")]
        duration: Duration,
    },
    /// Stall `percentage` % of writes on the wire.
    PacketLoss {
        percentage: u8,
        #[serde(serialize_with = "ser_duration")]
        duration: Duration,
    },
}

impl ChaosAction {
    pub fn kind(&self) -> ActionType {
        use ChaosAction::*;
        match self {
            LockTable { .. } => ActionType::LockTable,
            AddLatency { .. } => ActionType::AddLatency,
            RevokeCredentials { .. } => ActionType::RevokeCredentials,
            RenameColumn { .. } => ActionType::RenameColumn,
            ChangeColumnType { .. } => ActionType::ChangeColumnType,
            DropIndex { .. } => ActionType::DropIndex,
            SimulateTimeout { .. } => ActionType::SimulateTimeout,
            DiskFull { .. } => ActionType::DiskFull,
            MemoryPressure { .. } => ActionType::MemoryPressure,
            CpuThrottle { .. } => ActionType::CpuThrottle,
            NetworkPartition { .. } => ActionType::NetworkPartition,
            PacketLoss { .. } => ActionType::PacketLoss,
        }
    }

    /// How long the effect lasts (`None`: see the type's docs).
    pub fn duration(&self) -> Option<Duration> {
        use ChaosAction::*;
        match self {
            LockTable { duration, .. }
            | AddLatency { duration, .. }
            | DiskFull { duration }
            | MemoryPressure { duration, .. }
            | CpuThrottle { duration, .. }
            | NetworkPartition { duration, .. }
            | PacketLoss { duration, .. } => Some(*duration),
            RevokeCredentials { duration, .. }
            | RenameColumn { duration, .. }
            | ChangeColumnType { duration, .. }
            | DropIndex { duration, .. }
            | SimulateTimeout { duration } => *duration,
        }
    }

    /// The SQLSTATE the proxy answers with, for actions that answer with errors.
    pub fn sqlstate(&self) -> Option<&'static str> {
        match self {
            ChaosAction::SimulateTimeout { .. } => Some("57014"),
            ChaosAction::DiskFull { .. } => Some("53100"),
            ChaosAction::MemoryPressure { .. } => Some("53200"),
            _ => None,
        }
    }
}

/// A compiled action: typed parameters with templates still to render.
#[derive(Debug, Clone)]
pub struct ActionSpec {
    pub kind: ActionType,
    pub delay: Duration,
    table: Option<Template>,
    column: Option<Template>,
    new_name: Option<Template>,
    new_type: Option<String>,
    index: Option<Template>,
    role: Option<Template>,
    lock_mode: &'static str,
    partition: PartitionMode,
    latency: Duration,
    duration: Option<Duration>,
    percentage: Option<u8>,
}

/// An identifier written in a script: `"Quoted"` is exact, anything else folds to lower case
/// as SQL would.
fn ident(s: &str) -> String {
    let t = s.trim();
    match t.strip_prefix('"').and_then(|x| x.strip_suffix('"')) {
        Some(inner) => inner.replace("\"\"", "\""),
        None => t.to_lowercase(),
    }
}

impl ActionSpec {
    /// Whether any parameter needs an event to render.
    pub fn uses_event(&self) -> bool {
        [
            &self.table,
            &self.column,
            &self.new_name,
            &self.index,
            &self.role,
        ]
        .into_iter()
        .flatten()
        .any(Template::uses_event)
    }

    fn table(&self, ctx: &RenderContext) -> Option<Option<TableName>> {
        let Some(t) = &self.table else {
            return Some(None);
        };
        if let Some(i) = t.single_table() {
            return ctx.event?.tables.get(i).cloned().map(Some);
        }
        TableName::parse(&t.render(ctx)?).map(Some)
    }

    fn text(t: &Option<Template>, ctx: &RenderContext) -> Option<Option<String>> {
        match t {
            None => Some(None),
            Some(t) => Some(Some(ident(&t.render(ctx)?))),
        }
    }

    /// Renders the parameters; `None` if a template has no value for this event.
    pub fn render(&self, ctx: &RenderContext) -> Option<ChaosAction> {
        let d = |secs: u64| self.duration.unwrap_or(Duration::from_secs(secs));
        let pct = |default: u8| self.percentage.unwrap_or(default);
        let table = self.table(ctx)?;
        let column = Self::text(&self.column, ctx)?;
        Some(match self.kind {
            ActionType::LockTable => ChaosAction::LockTable {
                table: table?,
                mode: self.lock_mode,
                duration: d(30),
            },
            ActionType::AddLatency => ChaosAction::AddLatency {
                latency: self.latency,
                duration: d(60),
            },
            ActionType::RevokeCredentials => ChaosAction::RevokeCredentials {
                role: Self::text(&self.role, ctx)?,
                duration: self.duration,
            },
            ActionType::RenameColumn => ChaosAction::RenameColumn {
                table: table?,
                column: column?,
                new_name: Self::text(&self.new_name, ctx)??,
                duration: self.duration,
            },
            ActionType::ChangeColumnType => ChaosAction::ChangeColumnType {
                table: table?,
                column: column?,
                new_type: self.new_type.clone()?,
                duration: self.duration,
            },
            ActionType::DropIndex => {
                let index = match Self::text(&self.index, ctx)? {
                    Some(i) => i,
                    // ChaosTrace's default index name.
                    None => format!("idx_{}_id", table.as_ref()?.name),
                };
                ChaosAction::DropIndex {
                    table,
                    index,
                    duration: self.duration,
                }
            }
            ActionType::SimulateTimeout => ChaosAction::SimulateTimeout {
                duration: self.duration,
            },
            ActionType::DiskFull => ChaosAction::DiskFull { duration: d(60) },
            ActionType::MemoryPressure => ChaosAction::MemoryPressure {
                percentage: pct(80),
                duration: d(60),
            },
            ActionType::CpuThrottle => ChaosAction::CpuThrottle {
                percentage: pct(50),
                duration: d(60),
            },
            ActionType::NetworkPartition => ChaosAction::NetworkPartition {
                mode: self.partition,
                duration: d(30),
            },
            ActionType::PacketLoss => ChaosAction::PacketLoss {
                percentage: pct(10),
                duration: d(60),
            },
        })
    }
}

/// Which fields and `parameters` keys each action reads.
fn accepts(kind: ActionType) -> (&'static [&'static str], &'static [&'static str]) {
    use ActionType::*;
    match kind {
        LockTable => (&["table", "duration_seconds"], &["mode"]),
        AddLatency => (&["latency_ms", "duration_seconds"], &[]),
        RevokeCredentials => (&["duration_seconds"], &["role"]),
        RenameColumn => (&["table", "column", "new_name", "duration_seconds"], &[]),
        ChangeColumnType => (&["table", "column", "new_type", "duration_seconds"], &[]),
        DropIndex => (&["table", "duration_seconds"], &["index_name"]),
        SimulateTimeout => (&["duration_seconds"], &[]),
        DiskFull => (&["duration_seconds"], &[]),
        MemoryPressure | CpuThrottle | PacketLoss => (&["percentage", "duration_seconds"], &[]),
        NetworkPartition => (&["duration_seconds"], &["mode"]),
    }
}

/// Compiles an action, reporting problems under `base` (the action's JSON pointer).
/// `event_allowed`: whether templates may use the event (not for time triggers).
pub fn compile(
    a: &ActionFile,
    base: &str,
    event_allowed: bool,
    doc: &Located,
    out: &mut Vec<Problem>,
) -> Option<ActionSpec> {
    let Some(kind) = ActionType::parse(&a.kind) else {
        let names: Vec<&str> = ActionType::ALL.iter().map(|t| t.as_str()).collect();
        out.push(problem(
            doc,
            &format!("{base}/type"),
            Level::Error,
            format!("`{}` is not a chaos action type", a.kind),
            format!("use one of: {}", names.join(", ")),
        ));
        return None;
    };
    let (fields, params) = accepts(kind);
    let set: [(&str, bool); 6] = [
        ("table", a.table.is_some()),
        ("column", a.column.is_some()),
        ("latency_ms", a.latency_ms.is_some()),
        ("new_name", a.new_name.is_some()),
        ("new_type", a.new_type.is_some()),
        ("percentage", a.percentage.is_some()),
    ];
    for (field, present) in set {
        if present && !fields.contains(&field) {
            out.push(problem(
                doc,
                &format!("{base}/{field}"),
                Level::Warning,
                format!("`{field}` is ignored by {kind}"),
                format!("{kind} reads: {}", fields.join(", ")),
            ));
        }
    }
    for key in a.parameters.keys() {
        if !params.contains(&key.as_str()) {
            let allowed = if params.is_empty() {
                format!("{kind} takes no parameters")
            } else {
                format!("{kind} takes: {}", params.join(", "))
            };
            out.push(problem(
                doc,
                &format!("{base}/parameters/{key}"),
                Level::Error,
                format!("unknown parameter `{key}` for {kind}"),
                allowed,
            ));
        }
    }
    let mut ok = true;
    let mut template =
        |field: &str, value: Option<&str>, out: &mut Vec<Problem>| -> Option<Template> {
            let value = value?;
            match Template::parse(value) {
                Ok(t) if t.uses_event() && !event_allowed => {
                    out.push(problem(
                        doc,
                        &format!("{base}/{field}"),
                        Level::Error,
                        format!("`{value}` needs an event, but time triggers have none"),
                        "use a fixed name, or make this an event or count trigger",
                    ));
                    ok = false;
                    None
                }
                Ok(t) => Some(t),
                Err(e) => {
                    out.push(problem(
                        doc,
                        &format!("{base}/{field}"),
                        Level::Error,
                        e,
                        "fix the placeholder",
                    ));
                    ok = false;
                    None
                }
            }
        };
    let table = template("table", a.table.as_deref(), out);
    let column = template("column", a.column.as_deref(), out);
    let new_name = template("new_name", a.new_name.as_deref(), out);
    let param_str = |key: &str, out: &mut Vec<Problem>| -> Option<String> {
        match a.parameters.get(key)? {
            serde_json::Value::String(s) => Some(s.clone()),
            other => {
                out.push(problem(
                    doc,
                    &format!("{base}/parameters/{key}"),
                    Level::Error,
                    format!("`{key}` must be a string, not `{other}`"),
                    "quote the value",
                ));
                None
            }
        }
    };
    let index_text = param_str("index_name", out);
    let role_text = param_str("role", out);
    let mode_text = param_str("mode", out);
    let index = template("parameters/index_name", index_text.as_deref(), out);
    let role = template("parameters/role", role_text.as_deref(), out);

    // Fixed table names must be valid names.
    if let (Some(t), Some(text)) = (&table, &a.table)
        && !t.uses_event()
        && !text.contains("{run.id}")
        && TableName::parse(text).is_none()
    {
        out.push(problem(
            doc,
            &format!("{base}/table"),
            Level::Error,
            format!("`{text}` is not a table name"),
            "write `table` or `schema.table`, or a template such as {event.tables[0]}",
        ));
        ok = false;
    }
    let require = |field: &str, present: bool, out: &mut Vec<Problem>| {
        if !present {
            out.push(problem(
                doc,
                base,
                Level::Error,
                format!("{kind} needs `{field}`"),
                format!("add `{field}:` to this action"),
            ));
        }
        present
    };
    ok &= match kind {
        ActionType::LockTable => require("table", a.table.is_some(), out),
        ActionType::RenameColumn => {
            let t = require("table", a.table.is_some(), out);
            let c = require("column", a.column.is_some(), out);
            let n = require("new_name", a.new_name.is_some(), out);
            t && c && n
        }
        ActionType::ChangeColumnType => {
            let t = require("table", a.table.is_some(), out);
            let c = require("column", a.column.is_some(), out);
            let n = require("new_type", a.new_type.is_some(), out);
            t && c && n
        }
        ActionType::DropIndex if a.table.is_none() && index_text.is_none() => {
            out.push(problem(
                doc,
                base,
                Level::Error,
                "drop_index needs `parameters.index_name` or `table`",
                "name the index under `parameters: {index_name: …}`",
            ));
            false
        }
        _ => true,
    };
    // The new type goes into ALTER TABLE … TYPE: it must be exactly one data type.
    let new_type = match &a.new_type {
        Some(t) if kind == ActionType::ChangeColumnType => {
            let parsed = Parser::new(&PostgreSqlDialect {})
                .try_with_sql(t)
                .and_then(|mut p| {
                    let ty = p.parse_data_type()?;
                    p.expect_token(&sqlparser::tokenizer::Token::EOF)?;
                    Ok(ty)
                });
            match parsed {
                Ok(_) => Some(t.trim().to_string()),
                Err(e) => {
                    out.push(problem(
                        doc,
                        &format!("{base}/new_type"),
                        Level::Error,
                        format!("`{t}` is not one SQL data type: {e}"),
                        "write a type such as INTEGER, TEXT or VARCHAR(64)",
                    ));
                    ok = false;
                    None
                }
            }
        }
        _ => None,
    };
    let lock_mode = match mode_text.as_deref() {
        Some(m) if kind == ActionType::LockTable => {
            let norm = m
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .to_ascii_uppercase();
            match LOCK_MODES.iter().find(|x| **x == norm) {
                Some(x) => x,
                None => {
                    out.push(problem(
                        doc,
                        &format!("{base}/parameters/mode"),
                        Level::Error,
                        format!("`{m}` is not a table lock mode"),
                        format!("use one of: {}", LOCK_MODES.join(", ")),
                    ));
                    ok = false;
                    "ACCESS EXCLUSIVE"
                }
            }
        }
        _ => "ACCESS EXCLUSIVE",
    };
    let partition = match mode_text.as_deref() {
        Some(m) if kind == ActionType::NetworkPartition => {
            match m.trim().to_ascii_lowercase().as_str() {
                "blackhole" => PartitionMode::Blackhole,
                "drop" => PartitionMode::Drop,
                _ => {
                    out.push(problem(
                        doc,
                        &format!("{base}/parameters/mode"),
                        Level::Error,
                        format!("`{m}` is not a partition mode"),
                        "use blackhole (stall the connection) or drop (close it)",
                    ));
                    ok = false;
                    PartitionMode::Blackhole
                }
            }
        }
        _ => PartitionMode::Blackhole,
    };
    let percentage = match a.percentage {
        Some(p) if !(0..=100).contains(&p) => {
            out.push(problem(
                doc,
                &format!("{base}/percentage"),
                Level::Error,
                format!("percentage {p} is outside 0..100"),
                "write a whole number from 0 to 100",
            ));
            ok = false;
            None
        }
        Some(p) => u8::try_from(p).ok(),
        None => None,
    };
    if kind == ActionType::AddLatency && a.latency_ms == Some(0) {
        out.push(problem(
            doc,
            &format!("{base}/latency_ms"),
            Level::Warning,
            "add_latency with latency_ms 0 does nothing",
            "set a latency in milliseconds, e.g. 2000",
        ));
    }
    ok.then(|| ActionSpec {
        kind,
        delay: Duration::from_secs(a.delay_seconds),
        table,
        column,
        new_name,
        new_type,
        index,
        role,
        lock_mode,
        partition,
        latency: Duration::from_millis(a.latency_ms.unwrap_or(1000)),
        duration: a.duration_seconds.map(Duration::from_secs),
        percentage,
    })
}
