//! Agent runs: a row when a run starts (with the pid carrying it, so another process can
//! terminate it), updated with the verdict and the full report when it ends.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::codec::{OrStore, finite, json_from_sql, json_to_sql, ts_from_sql, ts_to_sql};
use crate::{RunRow, StoreError};

const RUN_COLUMNS: &str =
    "id, scenario, status, pid, started_at, finished_at, overall, safety, report";

pub(super) fn insert_run(conn: &Connection, path: &Path, r: &RunRow) -> Result<(), StoreError> {
    conn.execute(
        &format!("INSERT INTO runs ({RUN_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"),
        params![
            r.id,
            r.scenario,
            r.status,
            r.pid,
            ts_to_sql(r.started_at)?,
            r.finished_at.map(ts_to_sql).transpose()?,
            r.overall.map(|v| finite("overall score", v)).transpose()?,
            r.safety.map(|v| finite("safety score", v)).transpose()?,
            r.report
                .as_ref()
                .map(|v| json_to_sql("run report", v))
                .transpose()?,
        ],
    )
    .or_store(path)?;
    Ok(())
}

pub(super) fn finish_run(conn: &Connection, path: &Path, r: &RunRow) -> Result<(), StoreError> {
    let n = conn
        .execute(
            "UPDATE runs SET status = ?2, finished_at = ?3, overall = ?4, safety = ?5, report = ?6 \
             WHERE id = ?1",
            params![
                r.id,
                r.status,
                r.finished_at.map(ts_to_sql).transpose()?,
                r.overall.map(|v| finite("overall score", v)).transpose()?,
                r.safety.map(|v| finite("safety score", v)).transpose()?,
                r.report
                    .as_ref()
                    .map(|v| json_to_sql("run report", v))
                    .transpose()?,
            ],
        )
        .or_store(path)?;
    if n == 0 {
        return Err(StoreError::UnknownRun(r.id.clone()));
    }
    Ok(())
}

fn read(row: &Row<'_>) -> rusqlite::Result<Result<RunRow, String>> {
    let started: String = row.get(4)?;
    let finished: Option<String> = row.get(5)?;
    let report: Option<String> = row.get(8)?;
    let id: String = row.get(0)?;
    let scenario: String = row.get(1)?;
    let status: String = row.get(2)?;
    let pid: Option<u32> = row.get(3)?;
    let overall: Option<f64> = row.get(6)?;
    let safety: Option<f64> = row.get(7)?;
    Ok((|| {
        Ok(RunRow {
            id,
            scenario,
            status,
            pid,
            started_at: ts_from_sql(&started)?,
            finished_at: finished.as_deref().map(ts_from_sql).transpose()?,
            overall,
            safety,
            report: report
                .as_deref()
                .map(|r| json_from_sql("run report", r))
                .transpose()?,
        })
    })())
}

pub(super) fn run(conn: &Connection, path: &Path, id: &str) -> Result<Option<RunRow>, StoreError> {
    let row = conn
        .query_row(
            &format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?1"),
            [id],
            read,
        )
        .optional()
        .or_store(path)?;
    row.transpose().map_err(|detail| corrupt(path, id, detail))
}

pub(super) fn runs(
    conn: &Connection,
    path: &Path,
    limit: usize,
) -> Result<Vec<RunRow>, StoreError> {
    let mut stmt = conn
        .prepare(&format!(
            "SELECT {RUN_COLUMNS} FROM runs ORDER BY started_at DESC, rowid DESC LIMIT ?1"
        ))
        .or_store(path)?;
    let rows = stmt
        .query_map([limit as i64], read)
        .or_store(path)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .or_store(path)?;
    rows.into_iter()
        .map(|r| r.map_err(|detail| corrupt(path, "?", detail)))
        .collect()
}

fn corrupt(path: &Path, id: &str, detail: String) -> StoreError {
    StoreError::Corrupt {
        path: path.to_path_buf(),
        table: "runs",
        key: id.to_string(),
        detail,
    }
}
