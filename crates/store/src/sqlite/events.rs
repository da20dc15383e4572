//! The event log: append-only, read back oldest first, optionally for one campaign.

use std::path::Path;

use rusqlite::ffi::{SQLITE_CONSTRAINT_PRIMARYKEY, SQLITE_CONSTRAINT_UNIQUE};
use rusqlite::{Connection, Row, params};

use super::codec::{OrStore, extended_code, json_from_sql, json_to_sql, ts_from_sql, ts_to_sql};
use crate::{Event, StoreError};

const EVENT_COLUMNS: &str = "id, event_type, timestamp, campaign_id, component_id, data";

pub(super) fn append_event(conn: &Connection, path: &Path, e: &Event) -> Result<(), StoreError> {
    conn.execute(
        &format!("INSERT INTO events ({EVENT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"),
        params![
            e.id.to_string(),
            e.event_type,
            ts_to_sql(e.timestamp)?,
            e.campaign_id,
            e.component_id,
            json_to_sql("event data", &e.data)?,
        ],
    )
    .map_err(|err| match extended_code(&err) {
        Some(SQLITE_CONSTRAINT_PRIMARYKEY | SQLITE_CONSTRAINT_UNIQUE) => {
            StoreError::DuplicateEvent(e.id)
        }
        _ => StoreError::sqlite(path, err),
    })?;
    Ok(())
}

/// Oldest first; events with the same timestamp come back in the order they were appended.
pub(super) fn events(
    conn: &Connection,
    path: &Path,
    campaign_id: Option<&str>,
) -> Result<Vec<Event>, StoreError> {
    let rows = match campaign_id {
        Some(id) => {
            let mut stmt = conn
                .prepare(&format!(
                    "SELECT {EVENT_COLUMNS} FROM events WHERE campaign_id = ?1 \
                     ORDER BY timestamp, rowid"
                ))
                .or_store(path)?;
            stmt.query_map([id], EventRow::read)
                .or_store(path)?
                .collect::<rusqlite::Result<Vec<_>>>()
        }
        None => {
            let mut stmt = conn
                .prepare(&format!(
                    "SELECT {EVENT_COLUMNS} FROM events ORDER BY timestamp, rowid"
                ))
                .or_store(path)?;
            stmt.query_map([], EventRow::read)
                .or_store(path)?
                .collect::<rusqlite::Result<Vec<_>>>()
        }
    }
    .or_store(path)?;
    rows.into_iter().map(|r| r.decode(path)).collect()
}

/// Events appended after `cursor` (a position from this function or [`last_cursor`]), in
/// append order, at most `limit`, each with its own position.
pub(super) fn events_after(
    conn: &Connection,
    path: &Path,
    cursor: i64,
    limit: usize,
) -> Result<Vec<(i64, Event)>, StoreError> {
    let mut stmt = conn
        .prepare(&format!(
            "SELECT {EVENT_COLUMNS}, rowid FROM events WHERE rowid > ?1 ORDER BY rowid LIMIT ?2"
        ))
        .or_store(path)?;
    let rows = stmt
        .query_map(params![cursor, limit as i64], |r| {
            Ok((r.get::<_, i64>(6)?, EventRow::read(r)?))
        })
        .or_store(path)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .or_store(path)?;
    rows.into_iter()
        .map(|(pos, r)| r.decode(path).map(|e| (pos, e)))
        .collect()
}

/// The position of the newest event (0 when there is none).
pub(super) fn last_cursor(conn: &Connection, path: &Path) -> Result<i64, StoreError> {
    conn.query_row("SELECT COALESCE(MAX(rowid), 0) FROM events", [], |r| {
        r.get(0)
    })
    .or_store(path)
}

struct EventRow {
    id: String,
    event_type: String,
    timestamp: String,
    campaign_id: Option<String>,
    component_id: Option<String>,
    data: String,
}

impl EventRow {
    fn read(r: &Row<'_>) -> rusqlite::Result<EventRow> {
        Ok(EventRow {
            id: r.get(0)?,
            event_type: r.get(1)?,
            timestamp: r.get(2)?,
            campaign_id: r.get(3)?,
            component_id: r.get(4)?,
            data: r.get(5)?,
        })
    }

    fn decode(self, path: &Path) -> Result<Event, StoreError> {
        let key = self.id.clone();
        let decoded = (|| {
            Ok::<_, String>(Event {
                id: self
                    .id
                    .parse()
                    .map_err(|e| format!("bad event id {:?}: {e}", self.id))?,
                event_type: self.event_type,
                timestamp: ts_from_sql(&self.timestamp)?,
                campaign_id: self.campaign_id,
                component_id: self.component_id,
                data: json_from_sql("data", &self.data)?,
            })
        })();
        decoded.map_err(|detail| StoreError::Corrupt {
            path: path.to_path_buf(),
            table: "events",
            key,
            detail,
        })
    }
}
