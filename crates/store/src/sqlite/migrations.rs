//! Numbered schema migrations, tracked in `PRAGMA user_version`. Each migration runs in its own
//! IMMEDIATE transaction together with the version bump, so a crash or a concurrent opener
//! never leaves a half-migrated file. Never edit a shipped migration: append a new one.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use super::codec::OrStore;
use crate::StoreError;

/// `(version, SQL)`, in order. The version after applying entry `i` is `i + 1`.
const MIGRATIONS: &[(i64, &str)] = &[(1, V1_INITIAL), (2, V2_RUNS), (3, V3_ACCESS)];

/// The schema version this build writes and understands.
pub const SCHEMA_VERSION: i64 = MIGRATIONS[MIGRATIONS.len() - 1].0;

/// Timestamps are fixed-width UTC RFC 3339 text (see `codec`), so text order is time order.
/// Enums are stored by their serde names. Tables are STRICT so a wrong type is an error, not
/// a silent conversion.
const V1_INITIAL: &str = "
CREATE TABLE campaigns (
    id                 TEXT    NOT NULL PRIMARY KEY,
    status             TEXT    NOT NULL,
    environment        TEXT    NOT NULL,
    system_file        TEXT    NOT NULL,
    targets            TEXT    NOT NULL,               -- JSON array of component ids
    threshold          REAL    NOT NULL,
    started_at         TEXT    NOT NULL,
    finished_at        TEXT,
    score              REAL,
    tests_run          INTEGER NOT NULL DEFAULT 0,
    tests_passed       INTEGER NOT NULL DEFAULT 0,
    tests_failed       INTEGER NOT NULL DEFAULT 0,
    tests_inconclusive INTEGER NOT NULL DEFAULT 0,
    components         TEXT    NOT NULL DEFAULT '[]'   -- JSON array of ComponentScore
) STRICT;
-- campaigns(limit): newest first.
CREATE INDEX campaigns_by_start ON campaigns (started_at);
-- mark_interrupted: find the running ones without a scan.
CREATE INDEX campaigns_by_status ON campaigns (status);

CREATE TABLE results (
    campaign_id         TEXT    NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    seq                 INTEGER NOT NULL,
    component_id        TEXT    NOT NULL,
    pattern             TEXT    NOT NULL,
    verdict             TEXT    NOT NULL,
    severity            TEXT    NOT NULL,
    guardrail           TEXT    NOT NULL,
    guardrail_triggered INTEGER NOT NULL,
    summary             TEXT    NOT NULL,
    evidence            TEXT    NOT NULL,              -- JSON Evidence
    health_before       TEXT    NOT NULL,              -- JSON HealthCheck
    recovery            TEXT,                          -- JSON Recovery
    started_at          TEXT    NOT NULL,
    duration_ms         INTEGER NOT NULL,
    PRIMARY KEY (campaign_id, seq)                     -- also serves 'results of a campaign in seq order'
) STRICT;

CREATE TABLE rankings (
    component_id TEXT    NOT NULL PRIMARY KEY,
    name         TEXT    NOT NULL,
    score        REAL    NOT NULL,
    test_count   INTEGER NOT NULL,
    campaigns    INTEGER NOT NULL,
    last_tested  TEXT    NOT NULL
) STRICT;
-- rankings(): lowest score first.
CREATE INDEX rankings_by_score ON rankings (score, component_id);

CREATE TABLE ranking_history (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,  -- application order
    component_id   TEXT    NOT NULL REFERENCES rankings (component_id),
    component_name TEXT    NOT NULL,                   -- the name at that time
    campaign_id    TEXT    NOT NULL REFERENCES campaigns (id),
    campaign_score REAL    NOT NULL,
    ranking_score  REAL    NOT NULL,
    tests          INTEGER NOT NULL,
    at             TEXT    NOT NULL
) STRICT;
-- history(component): one component, in order.
CREATE INDEX ranking_history_by_component ON ranking_history (component_id, id);
-- Foreign-key checks on campaign deletes look history up by campaign.
CREATE INDEX ranking_history_by_campaign ON ranking_history (campaign_id);

CREATE TABLE events (
    id           TEXT NOT NULL PRIMARY KEY,            -- UUID
    event_type   TEXT NOT NULL,
    timestamp    TEXT NOT NULL,
    campaign_id  TEXT,                                 -- no FK: events may outlive or precede rows
    component_id TEXT,
    data         TEXT NOT NULL                         -- JSON
) STRICT;
-- events(None) and events(Some(campaign)), oldest first.
CREATE INDEX events_by_time ON events (timestamp);
CREATE INDEX events_by_campaign ON events (campaign_id, timestamp);
";

/// Agent chaos runs: one row per run; the full report (JSON) once it finished.
const V2_RUNS: &str = "
CREATE TABLE runs (
    id          TEXT    NOT NULL PRIMARY KEY,
    scenario    TEXT    NOT NULL,
    status      TEXT    NOT NULL,                      -- running, passed, failed, error, terminated
    pid         INTEGER,                               -- the process carrying the run
    started_at  TEXT    NOT NULL,
    finished_at TEXT,
    overall     REAL,
    safety      REAL,
    report      TEXT                                   -- JSON RunReport
) STRICT;
-- runs(limit): newest first.
CREATE INDEX runs_by_start ON runs (started_at);
";

/// The control plane: the pid of the process carrying each campaign, accounts with their roles, bearer tokens (only their SHA-256 is kept),
/// and approval requests waiting for a human.
const V3_ACCESS: &str = "
-- The process carrying a running campaign: only campaigns whose process is gone are
-- marked interrupted (a second process opening the store must not touch live ones).
ALTER TABLE campaigns ADD COLUMN pid INTEGER;

CREATE TABLE accounts (
    id         TEXT NOT NULL PRIMARY KEY,
    kind       TEXT NOT NULL,                          -- person, service
    roles      TEXT NOT NULL,                          -- JSON array of role names
    created_at TEXT NOT NULL
) STRICT;

CREATE TABLE tokens (
    id         TEXT NOT NULL PRIMARY KEY,              -- tok_…, shown in lists; not a secret
    account_id TEXT NOT NULL REFERENCES accounts (id),
    label      TEXT NOT NULL,
    hash       TEXT NOT NULL UNIQUE,                   -- hex SHA-256 of the bearer token
    created_at TEXT NOT NULL,
    expires_at TEXT,
    revoked_at TEXT
) STRICT;

CREATE TABLE approval_requests (
    id           TEXT NOT NULL PRIMARY KEY,
    kind         TEXT NOT NULL,                        -- campaign, agent_run
    environment  TEXT NOT NULL,
    resource     TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    status       TEXT NOT NULL,                        -- pending, approved, denied, expired
    plan         TEXT NOT NULL,                        -- JSON plan snapshot
    plan_hash    TEXT NOT NULL,
    risk         TEXT NOT NULL,                        -- JSON risk score
    request      TEXT NOT NULL,                        -- JSON: the frozen request to run
    decided_by   TEXT,
    decided_at   TEXT,
    reason       TEXT
) STRICT;
CREATE INDEX approval_requests_by_status ON approval_requests (status, created_at);
";

/// The schema version recorded in the file.
pub(crate) fn user_version(conn: &Connection, path: &Path) -> Result<i64, StoreError> {
    conn.pragma_query_value(None, "user_version", |r| r.get(0))
        .or_store(path)
}

/// Brings the file up to [`SCHEMA_VERSION`]; refuses a file from a newer build. Idempotent.
pub(crate) fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let too_new = |found| StoreError::SchemaTooNew {
        path: path.to_path_buf(),
        found,
        supported: SCHEMA_VERSION,
    };
    // Cheap read first: the common case (already current) takes no write lock.
    let found = user_version(conn, path)?;
    if found > SCHEMA_VERSION {
        return Err(too_new(found));
    }
    for &(version, sql) in MIGRATIONS {
        if version <= found {
            continue;
        }
        let failed = |source| StoreError::Migration {
            path: path.to_path_buf(),
            version,
            source,
        };
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .or_store(path)?;
        // Another process may have migrated between our read and our lock: re-check under it.
        let now = user_version(&tx, path)?;
        if now > SCHEMA_VERSION {
            return Err(too_new(now));
        }
        if now >= version {
            continue;
        }
        tx.execute_batch(sql).map_err(failed)?;
        tx.pragma_update(None, "user_version", version)
            .map_err(failed)?;
        tx.commit().map_err(failed)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_consecutive_from_one() {
        for (i, (v, _)) in MIGRATIONS.iter().enumerate() {
            assert_eq!(*v, i as i64 + 1);
        }
    }

    #[test]
    fn migrate_twice_is_a_no_op() {
        let mut conn = Connection::open_in_memory().unwrap();
        let path = Path::new(":memory:");
        migrate(&mut conn, path).unwrap();
        assert_eq!(user_version(&conn, path).unwrap(), SCHEMA_VERSION);
        migrate(&mut conn, path).unwrap();
        assert_eq!(user_version(&conn, path).unwrap(), SCHEMA_VERSION);
        let tables: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_schema WHERE type = 'table' AND name IN \
                 ('campaigns', 'results', 'rankings', 'ranking_history', 'events')",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(tables, 5);
    }

    #[test]
    fn newer_version_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        let err = migrate(&mut conn, Path::new("/d/shakedown.db")).unwrap_err();
        assert!(
            matches!(err, StoreError::SchemaTooNew { found, .. } if found == SCHEMA_VERSION + 1)
        );
    }
}
