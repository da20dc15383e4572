//! `disk_full`: statements that write fail with SQLSTATE 53100, as when PostgreSQL cannot
//! extend a data file; reads still work, as they do on a full disk.

use shakedown_sql::SqlEvent;
use shakedown_sql::{StatementType, TableOp};

use crate::pg::interceptor::Rejection;
use crate::pg::sqlstate;

/// Whether a statement needs new disk space: it inserts, updates, merges, creates, alters,
/// truncates or vacuums (dropping frees space, so a DROP still works).
pub(crate) fn writes(event: &SqlEvent) -> bool {
    use StatementType as S;
    let by_op = event
        .ops
        .iter()
        .any(|op| op.modifies() && *op != TableOp::Drop);
    let by_type = matches!(
        event.statement_type,
        Some(
            S::Insert
                | S::Update
                | S::Delete
                | S::Merge
                | S::Create
                | S::Alter
                | S::Truncate
                | S::Vacuum
        )
    );
    by_op || by_type
}

/// What the client receives.
pub(crate) fn rejection() -> Rejection {
    Rejection::new(
        sqlstate::DISK_FULL,
        "could not extend file: No space left on device",
    )
    .with_hint("Check free disk space.")
}

#[cfg(test)]
mod tests {
    use super::*;
    use shakedown_sql::{ClassifyOptions, SqlEventType, classify};

    fn ev(sql: &str) -> SqlEvent {
        let c = classify(sql, &ClassifyOptions::default());
        SqlEvent::from_classification(SqlEventType::SqlReceived, &c[0])
    }

    #[test]
    fn only_writes_hit_a_full_disk() {
        for sql in [
            "INSERT INTO t VALUES (1)",
            "update t set a = 1",
            "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
            "CREATE TABLE x (a int)",
            "ALTER TABLE t ADD COLUMN b int",
        ] {
            assert!(writes(&ev(sql)), "{sql}");
        }
        for sql in ["SELECT * FROM t", "DROP TABLE t", "BEGIN", "SHOW work_mem"] {
            assert!(!writes(&ev(sql)), "{sql}");
        }
        assert_eq!(rejection().sqlstate, "53100");
    }
}
