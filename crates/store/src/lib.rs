//! Shakedown's persistence: campaigns with their results, the per-component resilience ranking
//! and its history, and the event log, behind the [`Store`] trait. [`SqliteStore`] is the
//! embedded backend; a server backend (PostgreSQL) implements the same trait.

mod access;
mod data_dir;
mod error;
mod sqlite;

use time::OffsetDateTime;

pub use access::{AccountRow, ApprovalRequestRow, TokenRow};
pub use data_dir::{DATA_DIR_ENV, default_data_dir};
pub use error::StoreError;
pub use shakedown_core::campaign::{CampaignRecord, HistoryEntry, Ranking};
pub use shakedown_core::{AttackResult, Event};
pub use sqlite::{DB_FILE_NAME, SCHEMA_VERSION, SqliteStore};

/// Everything Shakedown persists. Implementations are shared between threads (`Arc<dyn Store>`)
/// and must make each method atomic: a failed call leaves nothing half-written.
pub trait Store: Send + Sync {
    /// Inserts a new campaign (status running, no results yet). Results already present in
    /// `c.results` are stored too, with `seq` = their index, in the same transaction.
    fn insert_campaign(&self, c: &CampaignRecord) -> Result<(), StoreError>;

    /// Appends one result (with its evidence) to a campaign; `seq` orders results.
    fn insert_result(
        &self,
        campaign_id: &str,
        seq: u32,
        r: &AttackResult,
    ) -> Result<(), StoreError>;

    /// Stores the final state: status, finished_at, counters, score, per-component scores.
    fn finish_campaign(&self, c: &CampaignRecord) -> Result<(), StoreError>;

    /// One campaign with its results (in seq order) and component scores.
    fn campaign(&self, id: &str) -> Result<Option<CampaignRecord>, StoreError>;

    /// Newest first, without results.
    fn campaigns(&self, limit: usize) -> Result<Vec<CampaignRecord>, StoreError>;

    /// A campaign's environment without reading its results; `None` when it is unknown.
    fn campaign_environment(
        &self,
        id: &str,
    ) -> Result<Option<shakedown_core::system::Environment>, StoreError>;

    /// Marks campaigns left `running` by a dead process as `interrupted`; returns their ids.
    /// Their counters are recomputed from the results stored before the process died.
    fn mark_interrupted(&self) -> Result<Vec<String>, StoreError>;

    /// All rankings, lowest resilience_score first.
    fn rankings(&self) -> Result<Vec<Ranking>, StoreError>;

    /// One component's ranking, if it was ever scored.
    fn ranking(&self, component_id: &str) -> Result<Option<Ranking>, StoreError>;

    /// Applies a campaign's score to a component's ranking in ONE transaction:
    /// new = shakedown_core::score::ewma(old, campaign_score); test_count += tests;
    /// campaigns += 1; appends a HistoryEntry; returns the updated ranking.
    fn record_campaign_score(
        &self,
        component_id: &str,
        component_name: &str,
        campaign_id: &str,
        campaign_score: f64,
        tests: u32,
        at: OffsetDateTime,
    ) -> Result<Ranking, StoreError>;

    /// For every scored component, the environments of the campaigns that scored it (what a
    /// reader of its ranking must be allowed to read: the EWMA blends them all).
    fn component_environments(
        &self,
    ) -> Result<
        std::collections::BTreeMap<String, Vec<shakedown_core::system::Environment>>,
        StoreError,
    >;

    /// History of a component, oldest first (in the order scores were applied).
    fn history(&self, component_id: &str) -> Result<Vec<HistoryEntry>, StoreError>;

    /// Appends one event to the log.
    fn append_event(&self, e: &Event) -> Result<(), StoreError>;

    /// Events of a campaign (or all when None), oldest first.
    fn events(&self, campaign_id: Option<&str>) -> Result<Vec<Event>, StoreError>;

    /// Events appended after position `cursor`, in append order, at most `limit`, each with
    /// its position — for following the log live (SSE resumes from `Last-Event-ID`).
    fn events_after(&self, cursor: i64, limit: usize) -> Result<Vec<(i64, Event)>, StoreError>;

    /// The position of the newest event (0 when the log is empty).
    fn last_event_cursor(&self) -> Result<i64, StoreError>;

    /// Inserts a run as it starts.
    fn insert_run(&self, r: &RunRow) -> Result<(), StoreError>;

    /// Records a run's end: status, scores and report.
    fn finish_run(&self, r: &RunRow) -> Result<(), StoreError>;

    /// One run by id.
    fn run(&self, id: &str) -> Result<Option<RunRow>, StoreError>;

    /// The newest `limit` runs, newest first.
    fn runs(&self, limit: usize) -> Result<Vec<RunRow>, StoreError>;

    /// Creates an account, or replaces the kind and roles of an existing one.
    fn upsert_account(&self, a: &AccountRow) -> Result<(), StoreError>;

    /// One account by id.
    fn account(&self, id: &str) -> Result<Option<AccountRow>, StoreError>;

    /// Every account, by id.
    fn accounts(&self) -> Result<Vec<AccountRow>, StoreError>;

    /// Stores a token of an existing account (only its hash).
    fn insert_token(&self, t: &TokenRow) -> Result<(), StoreError>;

    /// The token whose SHA-256 is `hash`, revoked or not.
    fn token_by_hash(&self, hash: &str) -> Result<Option<TokenRow>, StoreError>;

    /// Every token, oldest first.
    fn tokens(&self) -> Result<Vec<TokenRow>, StoreError>;

    /// Revokes a token; false when it is unknown or was already revoked.
    fn revoke_token(&self, id: &str, at: OffsetDateTime) -> Result<bool, StoreError>;

    /// Stores a new approval request.
    fn insert_approval_request(&self, r: &ApprovalRequestRow) -> Result<(), StoreError>;

    /// One approval request by id.
    fn approval_request(&self, id: &str) -> Result<Option<ApprovalRequestRow>, StoreError>;

    /// The newest `limit` approval requests, optionally only those with `status`.
    fn approval_requests(
        &self,
        status: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ApprovalRequestRow>, StoreError>;

    /// Decides a pending request (`approved`, `denied`, `expired`): a compare-and-set, false
    /// when the request is unknown or no longer pending.
    fn decide_approval_request(
        &self,
        id: &str,
        status: &str,
        by: &str,
        at: OffsetDateTime,
        reason: Option<&str>,
    ) -> Result<bool, StoreError>;
}

/// An agent run as stored. The report is kept as JSON (the agent crate owns its type).
#[derive(Debug, Clone, PartialEq)]
pub struct RunRow {
    pub id: String,
    pub scenario: String,
    /// `running`, `passed`, `failed`, `error`, `terminated`.
    pub status: String,
    /// The process carrying the run while it runs.
    pub pid: Option<u32>,
    pub started_at: OffsetDateTime,
    pub finished_at: Option<OffsetDateTime>,
    pub overall: Option<f64>,
    pub safety: Option<f64>,
    pub report: Option<serde_json::Value>,
}
