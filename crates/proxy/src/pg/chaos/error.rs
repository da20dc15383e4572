//! Why a chaos action could not be applied or undone. The text ends up in `chaos_completed`
//! events, so every variant says what to do about it.

use shakedown_sql::chaos::ActionType;

/// A chaos action failed to apply or to undo.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChaosError {
    /// The `--admin-url` does not parse as a PostgreSQL connection string.
    #[error(
        "invalid admin URL: {0}; write postgres://USER:PASSWORD@HOST:PORT/DB or `host=… user=… dbname=…`"
    )]
    AdminUrl(String),
    /// A database-side action fired but the runtime has no admin connection.
    #[error(
        "{action} changes the database and needs an admin connection; start the proxy with --admin-url (a superuser, or the owner of the tables)"
    )]
    NoAdmin { action: ActionType },
    /// The admin connection could not be opened or broke.
    #[error("admin connection to the database failed: {0}")]
    Connect(String),
    /// A statement on the admin connection failed.
    #[error("{what} failed: {message}")]
    Sql {
        /// What was being done, e.g. `ALTER TABLE "users" RENAME COLUMN …`.
        what: String,
        /// The server's message (with SQLSTATE), or the client error.
        message: String,
        /// The SQLSTATE when the server sent one.
        sqlstate: Option<String>,
        /// The connection was closed under the statement.
        closed: bool,
    },
    /// The table the action names does not exist (as seen by the admin role's search_path).
    #[error(
        "table {0} does not exist (qualify it with its schema if it is not on the search_path)"
    )]
    NoTable(String),
    /// The column does not exist in the table.
    #[error("column {column} of table {table} does not exist")]
    NoColumn { table: String, column: String },
    /// The index does not exist.
    #[error("index {0} does not exist")]
    NoIndex(String),
    /// The index backs a constraint; dropping it would need the constraint dropped too.
    #[error("index {index} backs constraint(s) {constraints}; drop_index only drops plain indexes")]
    ConstraintIndex { index: String, constraints: String },
    /// The role does not exist.
    #[error("role {0} does not exist")]
    NoRole(String),
    /// The role already cannot log in: there is nothing to revoke (and nothing to restore).
    #[error("role {0} already has NOLOGIN; nothing to revoke")]
    AlreadyNoLogin(String),
    /// Revoking the admin role's own login would make the undo impossible.
    #[error(
        "refusing to revoke the login of {0}: it is the admin connection's role, needed to restore it; use another --admin-url"
    )]
    AdminRole(String),
    /// `revoke_credentials` without `parameters.role` fired where no session is known.
    #[error(
        "revoke_credentials has no role to revoke: set `parameters.role` (time triggers have no session)"
    )]
    NoSessionRole,
    /// Another active action already changed the same object; stacking would make the undo
    /// order-dependent.
    #[error("{0} is already changed by an active chaos action; not stacking a second change")]
    Busy(String),
    /// The object the undo needs is gone (dropped while the action was active).
    #[error("cannot restore: {0}")]
    Gone(String),
}

impl ChaosError {
    /// Builds [`ChaosError::Sql`] from a tokio-postgres error, keeping the server's message.
    pub(crate) fn sql(what: impl Into<String>, e: &tokio_postgres::Error) -> Self {
        let (message, sqlstate) = match e.as_db_error() {
            Some(db) => (
                format!(
                    "{} (SQLSTATE {}){}",
                    db.message(),
                    db.code().code(),
                    db.detail().map(|d| format!("; {d}")).unwrap_or_default()
                ),
                Some(db.code().code().to_string()),
            ),
            None => (e.to_string(), None),
        };
        ChaosError::Sql {
            what: what.into(),
            message,
            sqlstate,
            closed: e.is_closed(),
        }
    }

    /// Whether trying again may succeed: a lock timeout, a deadlock, or a broken connection
    /// (the next attempt reconnects).
    pub(crate) fn retryable(&self) -> bool {
        match self {
            ChaosError::Sql {
                sqlstate, closed, ..
            } => *closed || matches!(sqlstate.as_deref(), Some("55P03" | "40P01" | "57014")),
            ChaosError::Connect(_) => true,
            _ => false,
        }
    }
}
