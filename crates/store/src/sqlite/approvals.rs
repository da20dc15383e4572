//! Approval requests. A decision is a compare-and-set on `status = 'pending'`, so two
//! approvers racing on one request cannot both win, and a decided request never changes again.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::accounts::corrupt;
use super::codec::{OrStore, json_from_sql, json_to_sql, ts_from_sql, ts_to_sql};
use crate::{ApprovalRequestRow, StoreError};

const COLUMNS: &str = "id, kind, environment, resource, requested_by, created_at, status, plan, \
                       plan_hash, risk, request, decided_by, decided_at, reason";

pub(super) fn insert(
    conn: &Connection,
    path: &Path,
    r: &ApprovalRequestRow,
) -> Result<(), StoreError> {
    conn.execute(
        &format!(
            "INSERT INTO approval_requests ({COLUMNS}) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
        ),
        params![
            r.id,
            r.kind,
            r.environment,
            r.resource,
            r.requested_by,
            ts_to_sql(r.created_at)?,
            r.status,
            json_to_sql("approval plan", &r.plan)?,
            r.plan_hash,
            json_to_sql("approval risk", &r.risk)?,
            json_to_sql("approval request", &r.request)?,
            r.decided_by,
            r.decided_at.map(ts_to_sql).transpose()?,
            r.reason,
        ],
    )
    .or_store(path)?;
    Ok(())
}

fn read(row: &Row<'_>) -> rusqlite::Result<Result<ApprovalRequestRow, String>> {
    let text = |i: usize| row.get::<_, String>(i);
    let (id, kind, environment, resource, requested_by) =
        (text(0)?, text(1)?, text(2)?, text(3)?, text(4)?);
    let (created, status, plan, plan_hash, risk, request) =
        (text(5)?, text(6)?, text(7)?, text(8)?, text(9)?, text(10)?);
    let decided_by: Option<String> = row.get(11)?;
    let decided_at: Option<String> = row.get(12)?;
    let reason: Option<String> = row.get(13)?;
    Ok((|| {
        Ok(ApprovalRequestRow {
            id,
            kind,
            environment,
            resource,
            requested_by,
            created_at: ts_from_sql(&created)?,
            status,
            plan: json_from_sql("approval plan", &plan)?,
            plan_hash,
            risk: json_from_sql("approval risk", &risk)?,
            request: json_from_sql("approval request", &request)?,
            decided_by,
            decided_at: decided_at.as_deref().map(ts_from_sql).transpose()?,
            reason,
        })
    })())
}

pub(super) fn get(
    conn: &Connection,
    path: &Path,
    id: &str,
) -> Result<Option<ApprovalRequestRow>, StoreError> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM approval_requests WHERE id = ?1"),
        [id],
        read,
    )
    .optional()
    .or_store(path)?
    .transpose()
    .map_err(|d| corrupt(path, "approval_requests", id, d))
}

pub(super) fn list(
    conn: &Connection,
    path: &Path,
    status: Option<&str>,
    limit: usize,
) -> Result<Vec<ApprovalRequestRow>, StoreError> {
    let mut stmt = conn
        .prepare(&format!(
            "SELECT {COLUMNS} FROM approval_requests WHERE (?1 IS NULL OR status = ?1) \
             ORDER BY created_at DESC, rowid DESC LIMIT ?2"
        ))
        .or_store(path)?;
    let rows = stmt
        .query_map(params![status, limit as i64], read)
        .or_store(path)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .or_store(path)?;
    rows.into_iter()
        .map(|r| r.map_err(|d| corrupt(path, "approval_requests", "?", d)))
        .collect()
}

pub(super) fn decide(
    conn: &Connection,
    path: &Path,
    id: &str,
    status: &str,
    by: &str,
    at: time::OffsetDateTime,
    reason: Option<&str>,
) -> Result<bool, StoreError> {
    let n = conn
        .execute(
            "UPDATE approval_requests SET status = ?2, decided_by = ?3, decided_at = ?4, \
             reason = ?5 WHERE id = ?1 AND status = 'pending'",
            params![id, status, by, ts_to_sql(at)?, reason],
        )
        .or_store(path)?;
    Ok(n == 1)
}
