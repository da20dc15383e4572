//! Errors of starting and using PostgreSQL servers; each says which step failed and what it
//! printed.

use std::io;
use std::path::PathBuf;

/// A step of starting or using a server failed.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    /// No PostgreSQL server binaries were found.
    #[error(
        "no PostgreSQL binaries in {dir}: install postgresql (15 or newer) or set PG_BIN to the \
         directory holding initdb, pg_ctl and postgres"
    )]
    NoBinaries { dir: PathBuf },
    /// A command could not be spawned at all.
    #[error("cannot run {program}: {source}")]
    Spawn {
        program: String,
        #[source]
        source: io::Error,
    },
    /// A command ran and failed.
    #[error("{step} failed ({status}): {output}")]
    Command {
        step: String,
        status: String,
        output: String,
    },
    /// A file of the cluster could not be written or read.
    #[error("cannot prepare {path}: {source}")]
    File {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// An SQL step against a server failed.
    #[error("{step}: {detail}")]
    Sql {
        step: String,
        /// The server's message (with its SQLSTATE), or the client error.
        detail: String,
        #[source]
        source: tokio_postgres::Error,
    },
    /// A name or URL given from outside is not usable.
    #[error("{0}")]
    Invalid(String),
    /// The `postgres` OS user needed when running as root does not exist.
    #[error("running as root but there is no `postgres` user in /etc/passwd to run the server as")]
    NoPostgresUser,
}
