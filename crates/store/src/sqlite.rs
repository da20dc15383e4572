//! The embedded SQLite backend: one connection behind a mutex, WAL so readers in other
//! processes (`shakedown list` while a campaign runs) are not blocked, a busy timeout so
//! concurrent writers queue instead of failing, and migrations on open.

mod accounts;
mod approvals;
mod campaigns;
mod codec;
mod events;
mod migrations;
mod rankings;
mod runs;

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode};
use time::OffsetDateTime;

pub use migrations::SCHEMA_VERSION;

use crate::error::io_reason;
use crate::{
    AccountRow, ApprovalRequestRow, AttackResult, CampaignRecord, Event, HistoryEntry, Ranking,
    RunRow, Store, StoreError, TokenRow,
};

/// The database file inside a data directory.
pub const DB_FILE_NAME: &str = "shakedown.db";

/// How long a writer waits for another process's lock before giving up with
/// [`StoreError::Busy`]. Campaign writes are small, so this is generous.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A [`Store`] in one SQLite file (or in memory, for tests and dry runs).
pub struct SqliteStore {
    /// Where the database lives; `:memory:` for an in-memory store. Named in every error.
    path: PathBuf,
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating dirs and file) `dir/shakedown.db`, WAL mode, busy_timeout, foreign
    /// keys, runs migrations.
    pub fn open_dir(dir: &Path) -> Result<SqliteStore, StoreError> {
        create_dir(dir)?;
        SqliteStore::open(&dir.join(DB_FILE_NAME))
    }

    /// Opens (creating its parent directories and the file) the database at `path`.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            create_dir(parent)?;
        }
        // SQLite only says "unable to open database file"; opening it ourselves first gives
        // the user the real reason (permission denied, is a directory, read-only fs). An empty
        // file is a valid empty database, so creating it here is harmless.
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| StoreError::Open {
                path: path.to_path_buf(),
                reason: io_reason(&e),
            })?;
        let conn = Connection::open(path).map_err(|e| open_error(path, e))?;
        SqliteStore::setup(path.to_path_buf(), conn, true)
    }

    /// A private, empty store that lives as long as the value.
    pub fn open_in_memory() -> Result<SqliteStore, StoreError> {
        let path = PathBuf::from(":memory:");
        let conn = Connection::open_in_memory().map_err(|e| open_error(&path, e))?;
        SqliteStore::setup(path, conn, false)
    }

    /// Where this store's database lives (`:memory:` for an in-memory store).
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn setup(path: PathBuf, mut conn: Connection, wal: bool) -> Result<SqliteStore, StoreError> {
        let err = |e| open_error(&path, e);
        conn.busy_timeout(BUSY_TIMEOUT).map_err(err)?;
        conn.pragma_update(None, "foreign_keys", true)
            .map_err(err)?;
        if wal {
            // Also the first real read of the file: a non-database fails here (NotAStore).
            // Where WAL is unsupported SQLite keeps the old mode, which is still correct.
            let _mode: String = conn
                .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
                .map_err(err)?;
            // Safe with WAL: a power cut may lose the last commits, never corrupt the file.
            conn.pragma_update(None, "synchronous", "NORMAL")
                .map_err(err)?;
        }
        migrations::migrate(&mut conn, &path)?;
        Ok(SqliteStore {
            path,
            conn: Mutex::new(conn),
        })
    }

    /// The connection. A panic while holding the lock cannot leave a half-written change (an
    /// open transaction rolls back when dropped), so a poisoned lock is safe to reuse.
    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn create_dir(dir: &Path) -> Result<(), StoreError> {
    std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
        path: dir.to_path_buf(),
        reason: io_reason(&source),
        source,
    })
}

/// Classifies a failure while opening or configuring the file.
fn open_error(path: &Path, e: rusqlite::Error) -> StoreError {
    let path_buf = path.to_path_buf();
    match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => StoreError::NotAStore {
            path: path_buf,
            reason: "the file is not a SQLite database".into(),
        },
        Some(ErrorCode::DatabaseCorrupt) => StoreError::NotAStore {
            path: path_buf,
            reason: "the database file is corrupt".into(),
        },
        Some(
            ErrorCode::CannotOpen
            | ErrorCode::ReadOnly
            | ErrorCode::PermissionDenied
            | ErrorCode::SystemIoFailure,
        ) => StoreError::Open {
            path: path_buf,
            reason: e.to_string(),
        },
        _ => StoreError::sqlite(path, e),
    }
}

impl Store for SqliteStore {
    fn insert_campaign(&self, c: &CampaignRecord) -> Result<(), StoreError> {
        campaigns::insert_campaign(&mut self.conn(), &self.path, c)
    }

    fn insert_result(
        &self,
        campaign_id: &str,
        seq: u32,
        r: &AttackResult,
    ) -> Result<(), StoreError> {
        campaigns::insert_result(&self.conn(), &self.path, campaign_id, seq, r)
    }

    fn finish_campaign(&self, c: &CampaignRecord) -> Result<(), StoreError> {
        campaigns::finish_campaign(&self.conn(), &self.path, c)
    }

    fn campaign(&self, id: &str) -> Result<Option<CampaignRecord>, StoreError> {
        // One read transaction so the campaign row and its results are a consistent snapshot.
        campaigns::campaign(&mut self.conn(), &self.path, id)
    }

    fn campaigns(&self, limit: usize) -> Result<Vec<CampaignRecord>, StoreError> {
        campaigns::campaigns(&self.conn(), &self.path, limit)
    }

    fn campaign_environment(
        &self,
        id: &str,
    ) -> Result<Option<shakedown_core::system::Environment>, StoreError> {
        campaigns::campaign_environment(&self.conn(), &self.path, id)
    }

    fn mark_interrupted(&self) -> Result<Vec<String>, StoreError> {
        campaigns::mark_interrupted(&mut self.conn(), &self.path)
    }

    fn rankings(&self) -> Result<Vec<Ranking>, StoreError> {
        rankings::rankings(&self.conn(), &self.path)
    }

    fn ranking(&self, component_id: &str) -> Result<Option<Ranking>, StoreError> {
        rankings::ranking(&self.conn(), &self.path, component_id)
    }

    fn record_campaign_score(
        &self,
        component_id: &str,
        component_name: &str,
        campaign_id: &str,
        campaign_score: f64,
        tests: u32,
        at: OffsetDateTime,
    ) -> Result<Ranking, StoreError> {
        let score = rankings::CampaignScore {
            component_id,
            component_name,
            campaign_id,
            campaign_score,
            tests,
            at,
        };
        rankings::record_campaign_score(&mut self.conn(), &self.path, &score)
    }

    fn component_environments(
        &self,
    ) -> Result<
        std::collections::BTreeMap<String, Vec<shakedown_core::system::Environment>>,
        StoreError,
    > {
        rankings::component_environments(&self.conn(), &self.path)
    }

    fn history(&self, component_id: &str) -> Result<Vec<HistoryEntry>, StoreError> {
        rankings::history(&self.conn(), &self.path, component_id)
    }

    fn append_event(&self, e: &Event) -> Result<(), StoreError> {
        events::append_event(&self.conn(), &self.path, e)
    }

    fn events(&self, campaign_id: Option<&str>) -> Result<Vec<Event>, StoreError> {
        events::events(&self.conn(), &self.path, campaign_id)
    }

    fn events_after(&self, cursor: i64, limit: usize) -> Result<Vec<(i64, Event)>, StoreError> {
        events::events_after(&self.conn(), &self.path, cursor, limit)
    }

    fn last_event_cursor(&self) -> Result<i64, StoreError> {
        events::last_cursor(&self.conn(), &self.path)
    }

    fn insert_run(&self, r: &RunRow) -> Result<(), StoreError> {
        runs::insert_run(&self.conn(), &self.path, r)
    }

    fn finish_run(&self, r: &RunRow) -> Result<(), StoreError> {
        runs::finish_run(&self.conn(), &self.path, r)
    }

    fn run(&self, id: &str) -> Result<Option<RunRow>, StoreError> {
        runs::run(&self.conn(), &self.path, id)
    }

    fn runs(&self, limit: usize) -> Result<Vec<RunRow>, StoreError> {
        runs::runs(&self.conn(), &self.path, limit)
    }

    fn upsert_account(&self, a: &AccountRow) -> Result<(), StoreError> {
        accounts::upsert_account(&self.conn(), &self.path, a)
    }

    fn account(&self, id: &str) -> Result<Option<AccountRow>, StoreError> {
        accounts::account(&self.conn(), &self.path, id)
    }

    fn accounts(&self) -> Result<Vec<AccountRow>, StoreError> {
        accounts::accounts(&self.conn(), &self.path)
    }

    fn insert_token(&self, t: &TokenRow) -> Result<(), StoreError> {
        accounts::insert_token(&self.conn(), &self.path, t)
    }

    fn token_by_hash(&self, hash: &str) -> Result<Option<TokenRow>, StoreError> {
        accounts::token_by_hash(&self.conn(), &self.path, hash)
    }

    fn tokens(&self) -> Result<Vec<TokenRow>, StoreError> {
        accounts::tokens(&self.conn(), &self.path)
    }

    fn revoke_token(&self, id: &str, at: OffsetDateTime) -> Result<bool, StoreError> {
        accounts::revoke_token(&self.conn(), &self.path, id, at)
    }

    fn insert_approval_request(&self, r: &ApprovalRequestRow) -> Result<(), StoreError> {
        approvals::insert(&self.conn(), &self.path, r)
    }

    fn approval_request(&self, id: &str) -> Result<Option<ApprovalRequestRow>, StoreError> {
        approvals::get(&self.conn(), &self.path, id)
    }

    fn approval_requests(
        &self,
        status: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ApprovalRequestRow>, StoreError> {
        approvals::list(&self.conn(), &self.path, status, limit)
    }

    fn decide_approval_request(
        &self,
        id: &str,
        status: &str,
        by: &str,
        at: OffsetDateTime,
        reason: Option<&str>,
    ) -> Result<bool, StoreError> {
        approvals::decide(&self.conn(), &self.path, id, status, by, at, reason)
    }
}
