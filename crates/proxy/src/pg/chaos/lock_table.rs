//! `lock_table`: a dedicated admin connection runs `BEGIN; LOCK TABLE … IN <mode> MODE` and
//! holds the transaction open for the duration, so other sessions' statements on the table
//! wait on a real lock (visible in `pg_locks` and as `wait_event_type = 'Lock'`). The undo is
//! `ROLLBACK`; if the connection is gone the lock went with it.

use shakedown_sql::TableName;
use shakedown_sql::chaos::LOCK_MODES;
use tokio_postgres::Client;

use super::admin::{Admin, execute};
use super::error::ChaosError;

/// `application_name` of lock-holding connections.
pub(crate) const APP_NAME: &str = "shakedown-chaos lock_table";

/// A lock being held.
pub(crate) struct Held {
    client: Client,
    /// The table as the server names it.
    pub(crate) table: String,
}

impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Held").field("table", &self.table).finish()
    }
}

/// Takes the lock; returns once it is granted (or fails after the admin `lock_timeout`).
pub(crate) async fn apply(
    admin: &Admin,
    table: &TableName,
    mode: &str,
) -> Result<Held, ChaosError> {
    // The mode comes from the compiled script; check anyway, it is spliced into SQL.
    let Some(mode) = LOCK_MODES.iter().find(|m| **m == mode) else {
        return Err(ChaosError::Sql {
            what: "LOCK TABLE".into(),
            message: format!("`{mode}` is not a lock mode"),
            sqlstate: None,
            closed: false,
        });
    };
    let client = admin.connect(APP_NAME).await?;
    execute(&client, "BEGIN").await?;
    let row = client
        .query_one("SELECT to_regclass($1)::text", &[&table.quoted()])
        .await
        .map_err(|e| ChaosError::sql("looking up the table", &e))?;
    let name: Option<String> = row.get(0);
    let name = name.ok_or_else(|| ChaosError::NoTable(table.to_string()))?;
    execute(&client, &format!("LOCK TABLE {name} IN {mode} MODE")).await?;
    Ok(Held {
        client,
        table: name,
    })
}

impl Held {
    /// Releases the lock.
    pub(crate) async fn revert(&self) -> Result<(), ChaosError> {
        match self.client.batch_execute("ROLLBACK").await {
            Ok(()) => Ok(()),
            // A closed connection has released its locks already.
            Err(e) if e.is_closed() => Ok(()),
            Err(e) => Err(ChaosError::sql("ROLLBACK of the lock", &e)),
        }
    }
}
