//! Building the guard's events: one JSON shape per event type, all carrying the session.

use serde_json::{Value, json};
use shakedown_core::Event;
use shakedown_sql::classify::Classification;
use shakedown_sql::event::SqlEventType;
use time::OffsetDateTime;

use crate::pg::session_info::SessionInfo;

/// Longest statement text carried in an event.
pub const MAX_EVENT_SQL: usize = 4096;

fn cut(s: &str) -> &str {
    if s.len() <= MAX_EVENT_SQL {
        return s;
    }
    let mut end = MAX_EVENT_SQL;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// The session fields every event carries.
pub fn session_fields(s: &SessionInfo) -> Value {
    json!({
        "session_id": s.id(),
        "user": s.user(),
        "database": s.database(),
        "application_name": s.application_name(),
        "backend_pid": s.backend_pid(),
    })
}

/// The statement fields of an event.
pub fn statement_fields(c: &Classification) -> Value {
    json!({
        "sql": cut(&c.text),
        "statement_type": c.kind,
        "tables": c.tables().iter().map(|t| t.to_string()).collect::<Vec<_>>(),
        "actions": c.actions.iter().map(|a| json!({"op": a.op, "table": a.table.to_string(), "has_where": a.has_where})).collect::<Vec<_>>(),
        "has_where": c.has_where,
        "risk_level": c.risk.level,
        "risk_factors": c.risk.factors,
        "hash": c.hash.to_hex(),
        "parse_error": c.parse_error,
    })
}

/// An event of `kind` for `session` with `extra` merged into the data.
pub fn event(kind: SqlEventType, session: &SessionInfo, extra: Value) -> Event {
    let mut data = session_fields(session);
    if let (Value::Object(d), Value::Object(e)) = (&mut data, extra) {
        d.extend(e);
    }
    Event::named(kind.as_str(), None, None, data, OffsetDateTime::now_utc())
}

/// Statement text for events about a statement the guard did not classify (results).
pub fn sql_text(s: Option<&str>) -> Option<&str> {
    s.map(cut)
}
