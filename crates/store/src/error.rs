//! The store's error type. Every message names the database and says what to do next, because
//! these errors end up in front of the person who typed the command.

use std::io;
use std::path::{Path, PathBuf};

/// The advice appended to every "cannot use this location" error.
const LOCATION_HINT: &str = "pass --data-dir or set SHAKEDOWN_DATA_DIR to a writable directory";

/// What can go wrong when opening or using a store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The data directory could not be created.
    #[error("cannot create the data directory {path}: {reason}; {LOCATION_HINT}")]
    CreateDir {
        path: PathBuf,
        reason: String,
        #[source]
        source: io::Error,
    },
    /// The database file could not be created or opened for writing.
    #[error("cannot open the store at {path}: {reason}; {LOCATION_HINT}")]
    Open { path: PathBuf, reason: String },
    /// The file exists but is not a SQLite database we can use.
    #[error(
        "cannot open the store at {path}: {reason}; move the file away or pass --data-dir / \
         set SHAKEDOWN_DATA_DIR to another directory"
    )]
    NotAStore { path: PathBuf, reason: String },
    /// The database was written by a newer Shakedown.
    #[error(
        "the store at {path} has schema version {found}, but this shakedown only knows versions \
         up to {supported}; upgrade shakedown, or pass --data-dir / set SHAKEDOWN_DATA_DIR to \
         use another store"
    )]
    SchemaTooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    /// A schema migration failed; the transaction was rolled back, the file is unchanged.
    #[error(
        "cannot upgrade the store at {path} to schema version {version}: {source}; the store \
         was left unchanged"
    )]
    Migration {
        path: PathBuf,
        version: i64,
        #[source]
        source: rusqlite::Error,
    },
    /// Another process held a lock longer than the busy timeout.
    #[error(
        "the store at {path} stayed locked by another shakedown process; wait for it to finish \
         and retry"
    )]
    Busy { path: PathBuf },
    /// `insert_campaign` with an id that is already stored.
    #[error("campaign {0} is already in the store; campaign ids must be unique")]
    DuplicateCampaign(String),
    /// A result or score refers to a campaign that was never inserted.
    #[error("no campaign {0} in the store; insert the campaign before its results or scores")]
    UnknownCampaign(String),
    /// `finish_run` for a run that was never inserted.
    #[error("no run {0} in the store; insert the run before finishing it")]
    UnknownRun(String),
    /// `insert_result` with a sequence number the campaign already has.
    #[error("campaign {campaign_id} already has a result with seq {seq}")]
    DuplicateResult { campaign_id: String, seq: u32 },
    /// `append_event` with an id that is already stored.
    #[error("event {0} is already in the store")]
    DuplicateEvent(uuid::Uuid),
    /// A value the store refuses to write (a NaN score would poison rankings forever).
    #[error("refusing to store {what}: {detail}")]
    InvalidValue { what: String, detail: String },
    /// A stored row does not decode into the domain type.
    #[error(
        "the store at {path} holds an unreadable {table} row ({key}): {detail}; it was damaged \
         or written by an incompatible tool"
    )]
    Corrupt {
        path: PathBuf,
        table: &'static str,
        key: String,
        detail: String,
    },
    /// Any other SQLite failure.
    #[error("store query failed on {path}: {source}")]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
}

impl StoreError {
    /// Wraps a SQLite error from a query on the store at `path`, singling out lock timeouts.
    pub(crate) fn sqlite(path: &Path, source: rusqlite::Error) -> StoreError {
        match source.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
                StoreError::Busy {
                    path: path.to_path_buf(),
                }
            }
            _ => StoreError::Sqlite {
                path: path.to_path_buf(),
                source,
            },
        }
    }
}

/// A short lowercase reason for an I/O error, as users read it ("permission denied").
pub(crate) fn io_reason(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::PermissionDenied => "permission denied".into(),
        io::ErrorKind::NotADirectory => "a parent of it is a file, not a directory".into(),
        io::ErrorKind::IsADirectory => "it is a directory, not a file".into(),
        io::ErrorKind::ReadOnlyFilesystem => "the file system is read-only".into(),
        io::ErrorKind::StorageFull => "the disk is full".into(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_error_names_path_reason_and_fix() {
        let e = StoreError::Open {
            path: PathBuf::from("/x/shakedown.db"),
            reason: io_reason(&io::Error::from(io::ErrorKind::PermissionDenied)),
        };
        assert_eq!(
            e.to_string(),
            "cannot open the store at /x/shakedown.db: permission denied; pass --data-dir or set \
             SHAKEDOWN_DATA_DIR to a writable directory"
        );
    }

    #[test]
    fn busy_sqlite_errors_become_busy() {
        let busy = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
            None,
        );
        assert!(matches!(
            StoreError::sqlite(Path::new("/x/shakedown.db"), busy),
            StoreError::Busy { .. }
        ));
    }
}
