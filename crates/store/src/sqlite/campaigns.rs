//! Campaign rows and their results: insert, append, finish, read back, list, and recover the
//! campaigns a dead process left running.

use std::path::Path;

use rusqlite::ffi::{
    SQLITE_CONSTRAINT_FOREIGNKEY, SQLITE_CONSTRAINT_PRIMARYKEY, SQLITE_CONSTRAINT_UNIQUE,
};
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};
use shakedown_core::campaign::CampaignStatus;
use shakedown_core::{AttackResult, Verdict};

use super::codec::{
    OrStore, enum_from_sql, enum_to_sql, extended_code, finite, json_from_sql, json_to_sql,
    ts_from_sql, ts_to_sql, u32_from_sql, u64_from_sql, u64_to_sql,
};
use crate::{CampaignRecord, StoreError};

const CAMPAIGN_COLUMNS: &str = "id, status, environment, system_file, targets, threshold, \
     started_at, finished_at, score, tests_run, tests_passed, tests_failed, tests_inconclusive, \
     components";

const RESULT_COLUMNS: &str = "seq, component_id, pattern, verdict, severity, guardrail, \
     guardrail_triggered, summary, evidence, health_before, recovery, started_at, duration_ms";

/// Inserts the campaign row and any results it already carries, atomically.
pub(super) fn insert_campaign(
    conn: &mut Connection,
    path: &Path,
    c: &CampaignRecord,
) -> Result<(), StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .or_store(path)?;
    tx.execute(
        &format!("INSERT INTO campaigns ({CAMPAIGN_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"),
        params![
            c.campaign_id,
            enum_to_sql(&c.status)?,
            enum_to_sql(&c.environment)?,
            c.system_file,
            json_to_sql("target components", &c.target_components)?,
            finite("threshold", c.threshold)?,
            ts_to_sql(c.started_at)?,
            c.finished_at.map(ts_to_sql).transpose()?,
            c.score.map(|s| finite("campaign score", s)).transpose()?,
            c.tests_run,
            c.tests_passed,
            c.tests_failed,
            c.tests_inconclusive,
            json_to_sql("component scores", &c.components)?,
        ],
    )
    .and_then(|_| {
        tx.execute(
            "UPDATE campaigns SET pid = ?2 WHERE id = ?1",
            params![c.campaign_id, std::process::id()],
        )
    })
    .map_err(|e| match extended_code(&e) {
        Some(SQLITE_CONSTRAINT_PRIMARYKEY | SQLITE_CONSTRAINT_UNIQUE) => {
            StoreError::DuplicateCampaign(c.campaign_id.clone())
        }
        _ => StoreError::sqlite(path, e),
    })?;
    for (i, r) in c.results.iter().enumerate() {
        let seq = u32::try_from(i).map_err(|_| StoreError::InvalidValue {
            what: "a campaign".into(),
            detail: format!("more than {} results", u32::MAX),
        })?;
        insert_result(&tx, path, &c.campaign_id, seq, r)?;
    }
    tx.commit().or_store(path)
}

/// One INSERT, so atomic without an explicit transaction.
pub(super) fn insert_result(
    conn: &Connection,
    path: &Path,
    campaign_id: &str,
    seq: u32,
    r: &AttackResult,
) -> Result<(), StoreError> {
    conn.execute(
        &format!(
            "INSERT INTO results (campaign_id, {RESULT_COLUMNS}) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
        ),
        params![
            campaign_id,
            seq,
            r.component_id,
            enum_to_sql(&r.pattern)?,
            enum_to_sql(&r.verdict)?,
            enum_to_sql(&r.severity)?,
            r.guardrail,
            r.guardrail_triggered,
            r.summary,
            json_to_sql("evidence", &r.evidence)?,
            json_to_sql("health check", &r.health_before)?,
            r.recovery
                .as_ref()
                .map(|v| json_to_sql("recovery", v))
                .transpose()?,
            ts_to_sql(r.started_at)?,
            u64_to_sql("duration_ms", r.duration_ms)?,
        ],
    )
    .map_err(|e| match extended_code(&e) {
        Some(SQLITE_CONSTRAINT_FOREIGNKEY) => StoreError::UnknownCampaign(campaign_id.to_owned()),
        Some(SQLITE_CONSTRAINT_PRIMARYKEY | SQLITE_CONSTRAINT_UNIQUE) => {
            StoreError::DuplicateResult {
                campaign_id: campaign_id.to_owned(),
                seq,
            }
        }
        _ => StoreError::sqlite(path, e),
    })?;
    Ok(())
}

/// Writes the final state of a campaign; results were appended one by one already.
pub(super) fn finish_campaign(
    conn: &Connection,
    path: &Path,
    c: &CampaignRecord,
) -> Result<(), StoreError> {
    let updated = conn
        .execute(
            "UPDATE campaigns SET status = ?2, finished_at = ?3, score = ?4, tests_run = ?5, \
             tests_passed = ?6, tests_failed = ?7, tests_inconclusive = ?8, components = ?9 \
             WHERE id = ?1",
            params![
                c.campaign_id,
                enum_to_sql(&c.status)?,
                c.finished_at.map(ts_to_sql).transpose()?,
                c.score.map(|s| finite("campaign score", s)).transpose()?,
                c.tests_run,
                c.tests_passed,
                c.tests_failed,
                c.tests_inconclusive,
                json_to_sql("component scores", &c.components)?,
            ],
        )
        .or_store(path)?;
    if updated == 0 {
        return Err(StoreError::UnknownCampaign(c.campaign_id.clone()));
    }
    Ok(())
}

/// One campaign with its results, read in one transaction so both come from the same moment.
pub(super) fn campaign(
    conn: &mut Connection,
    path: &Path,
    id: &str,
) -> Result<Option<CampaignRecord>, StoreError> {
    let tx = conn.transaction().or_store(path)?;
    let row = tx
        .query_row(
            &format!("SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE id = ?1"),
            [id],
            CampaignRow::read,
        )
        .optional()
        .or_store(path)?;
    let Some(row) = row else {
        return Ok(None);
    };
    let mut record = row.decode(path)?;
    let mut stmt = tx
        .prepare(&format!(
            "SELECT {RESULT_COLUMNS} FROM results WHERE campaign_id = ?1 ORDER BY seq"
        ))
        .or_store(path)?;
    let rows = stmt
        .query_map([id], ResultRow::read)
        .or_store(path)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .or_store(path)?;
    record.results = rows
        .into_iter()
        .map(|r| r.decode(path, id))
        .collect::<Result<_, _>>()?;
    drop(stmt);
    tx.commit().or_store(path)?;
    Ok(Some(record))
}

/// The newest `limit` campaigns, without results. Ties on start time: last inserted first.
pub(super) fn campaigns(
    conn: &Connection,
    path: &Path,
    limit: usize,
) -> Result<Vec<CampaignRecord>, StoreError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut stmt = conn
        .prepare(&format!(
            "SELECT {CAMPAIGN_COLUMNS} FROM campaigns ORDER BY started_at DESC, rowid DESC LIMIT ?1"
        ))
        .or_store(path)?;
    let rows = stmt
        .query_map([limit], CampaignRow::read)
        .or_store(path)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .or_store(path)?;
    rows.into_iter().map(|r| r.decode(path)).collect()
}

/// A campaign's environment alone (no results read).
pub(super) fn campaign_environment(
    conn: &Connection,
    path: &Path,
    id: &str,
) -> Result<Option<shakedown_core::system::Environment>, StoreError> {
    let env: Option<String> = conn
        .query_row(
            "SELECT environment FROM campaigns WHERE id = ?1",
            [id],
            |r| r.get(0),
        )
        .optional()
        .or_store(path)?;
    env.map(|e| {
        enum_from_sql(&e).map_err(|detail| StoreError::Corrupt {
            path: path.to_path_buf(),
            table: "campaigns",
            key: id.to_string(),
            detail,
        })
    })
    .transpose()
}

/// Flips every `running` campaign to `interrupted` and counts the results it got to store, so
/// a listing shows how far it got. Called at start-up, before this process starts campaigns.
pub(super) fn mark_interrupted(
    conn: &mut Connection,
    path: &Path,
) -> Result<Vec<String>, StoreError> {
    let running = enum_to_sql(&CampaignStatus::Running)?;
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .or_store(path)?;
    let rows = {
        let mut stmt = tx
            .prepare("SELECT id, pid FROM campaigns WHERE status = ?1 ORDER BY started_at, rowid")
            .or_store(path)?;
        stmt.query_map([&running], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, Option<u32>>(1)?))
        })
        .or_store(path)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .or_store(path)?
    };
    // A campaign whose process still runs is live, not interrupted (a row without a pid was
    // written by an older build and has no live owner to protect).
    let ids: Vec<String> = rows
        .into_iter()
        .filter(|(_, pid)| !pid.is_some_and(process_alive))
        .map(|(id, _)| id)
        .collect();
    if ids.is_empty() {
        return Ok(ids);
    }
    tx.execute(
        "CREATE TEMP TABLE IF NOT EXISTS dead_campaigns (id TEXT PRIMARY KEY)",
        [],
    )
    .or_store(path)?;
    tx.execute("DELETE FROM temp.dead_campaigns", [])
        .or_store(path)?;
    for id in &ids {
        tx.execute("INSERT INTO temp.dead_campaigns (id) VALUES (?1)", [id])
            .or_store(path)?;
    }
    tx.execute(
        "UPDATE campaigns SET status = ?2, \
         tests_run = (SELECT COUNT(*) FROM results r WHERE r.campaign_id = campaigns.id), \
         tests_passed = (SELECT COUNT(*) FROM results r \
             WHERE r.campaign_id = campaigns.id AND r.verdict = ?3), \
         tests_failed = (SELECT COUNT(*) FROM results r \
             WHERE r.campaign_id = campaigns.id AND r.verdict = ?4), \
         tests_inconclusive = (SELECT COUNT(*) FROM results r \
             WHERE r.campaign_id = campaigns.id AND r.verdict = ?5) \
         WHERE status = ?1 AND id IN (SELECT id FROM temp.dead_campaigns)",
        params![
            running,
            enum_to_sql(&CampaignStatus::Interrupted)?,
            enum_to_sql(&Verdict::Passed)?,
            enum_to_sql(&Verdict::Failed)?,
            enum_to_sql(&Verdict::Inconclusive)?,
        ],
    )
    .or_store(path)?;
    tx.commit().or_store(path)?;
    Ok(ids)
}

/// Whether the process `pid` is alive on this machine (a zombie has exited). Our own pid is
/// alive by definition.
fn process_alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z')),
        Err(_) => false,
    }
}

/// A `campaigns` row as stored, decoded outside the rusqlite callback so decode errors can
/// name the row.
struct CampaignRow {
    id: String,
    status: String,
    environment: String,
    system_file: String,
    targets: String,
    threshold: f64,
    started_at: String,
    finished_at: Option<String>,
    score: Option<f64>,
    counters: [i64; 4],
    components: String,
}

impl CampaignRow {
    fn read(r: &Row<'_>) -> rusqlite::Result<CampaignRow> {
        Ok(CampaignRow {
            id: r.get(0)?,
            status: r.get(1)?,
            environment: r.get(2)?,
            system_file: r.get(3)?,
            targets: r.get(4)?,
            threshold: r.get(5)?,
            started_at: r.get(6)?,
            finished_at: r.get(7)?,
            score: r.get(8)?,
            counters: [r.get(9)?, r.get(10)?, r.get(11)?, r.get(12)?],
            components: r.get(13)?,
        })
    }

    fn decode(self, path: &Path) -> Result<CampaignRecord, StoreError> {
        let key = self.id.clone();
        let [run, passed, failed, inconclusive] = self.counters;
        let decoded = (|| {
            Ok::<_, String>(CampaignRecord {
                status: enum_from_sql(&self.status)?,
                environment: enum_from_sql(&self.environment)?,
                system_file: self.system_file,
                target_components: json_from_sql("targets", &self.targets)?,
                threshold: self.threshold,
                started_at: ts_from_sql(&self.started_at)?,
                finished_at: self.finished_at.as_deref().map(ts_from_sql).transpose()?,
                score: self.score,
                tests_run: u32_from_sql("tests_run", run)?,
                tests_passed: u32_from_sql("tests_passed", passed)?,
                tests_failed: u32_from_sql("tests_failed", failed)?,
                tests_inconclusive: u32_from_sql("tests_inconclusive", inconclusive)?,
                components: json_from_sql("components", &self.components)?,
                results: Vec::new(),
                campaign_id: self.id,
            })
        })();
        decoded.map_err(|detail| StoreError::Corrupt {
            path: path.to_path_buf(),
            table: "campaigns",
            key,
            detail,
        })
    }
}

/// A `results` row as stored.
struct ResultRow {
    seq: i64,
    component_id: String,
    pattern: String,
    verdict: String,
    severity: String,
    guardrail: String,
    guardrail_triggered: bool,
    summary: String,
    evidence: String,
    health_before: String,
    recovery: Option<String>,
    started_at: String,
    duration_ms: i64,
}

impl ResultRow {
    fn read(r: &Row<'_>) -> rusqlite::Result<ResultRow> {
        Ok(ResultRow {
            seq: r.get(0)?,
            component_id: r.get(1)?,
            pattern: r.get(2)?,
            verdict: r.get(3)?,
            severity: r.get(4)?,
            guardrail: r.get(5)?,
            guardrail_triggered: r.get(6)?,
            summary: r.get(7)?,
            evidence: r.get(8)?,
            health_before: r.get(9)?,
            recovery: r.get(10)?,
            started_at: r.get(11)?,
            duration_ms: r.get(12)?,
        })
    }

    fn decode(self, path: &Path, campaign_id: &str) -> Result<AttackResult, StoreError> {
        let key = format!("campaign {campaign_id}, seq {}", self.seq);
        let decoded = (|| {
            Ok::<_, String>(AttackResult {
                component_id: self.component_id,
                pattern: enum_from_sql(&self.pattern)?,
                verdict: enum_from_sql(&self.verdict)?,
                severity: enum_from_sql(&self.severity)?,
                guardrail: self.guardrail,
                guardrail_triggered: self.guardrail_triggered,
                summary: self.summary,
                evidence: json_from_sql("evidence", &self.evidence)?,
                health_before: json_from_sql("health_before", &self.health_before)?,
                recovery: self
                    .recovery
                    .as_deref()
                    .map(|s| json_from_sql("recovery", s))
                    .transpose()?,
                started_at: ts_from_sql(&self.started_at)?,
                duration_ms: u64_from_sql("duration_ms", self.duration_ms)?,
            })
        })();
        decoded.map_err(|detail| StoreError::Corrupt {
            path: path.to_path_buf(),
            table: "results",
            key,
            detail,
        })
    }
}
