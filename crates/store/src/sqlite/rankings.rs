//! The resilience ranking: one row per component, smoothed by EWMA across campaigns, with a
//! history row for every campaign score applied.

use std::collections::BTreeMap;
use std::path::Path;

use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};
use shakedown_core::score::ewma;
use shakedown_core::system::Environment;
use time::{OffsetDateTime, UtcOffset};

use super::codec::{OrStore, enum_from_sql, finite, ts_from_sql, ts_to_sql, u32_from_sql};
use crate::{HistoryEntry, Ranking, StoreError};

const RANKING_COLUMNS: &str = "component_id, name, score, test_count, campaigns, last_tested";

/// The arguments of [`crate::Store::record_campaign_score`].
pub(super) struct CampaignScore<'a> {
    pub component_id: &'a str,
    pub component_name: &'a str,
    pub campaign_id: &'a str,
    pub campaign_score: f64,
    pub tests: u32,
    pub at: OffsetDateTime,
}

/// Read-modify-write of the ranking plus the history row, in one IMMEDIATE transaction: two
/// processes finishing campaigns at once cannot both read the same old score.
pub(super) fn record_campaign_score(
    conn: &mut Connection,
    path: &Path,
    s: &CampaignScore<'_>,
) -> Result<Ranking, StoreError> {
    let campaign_score = finite("a campaign score", s.campaign_score)?;
    if !(0.0..=1.0).contains(&campaign_score) {
        return Err(StoreError::InvalidValue {
            what: "a campaign score".into(),
            detail: format!("{campaign_score} is outside 0..=1"),
        });
    }
    let at = ts_to_sql(s.at)?;
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .or_store(path)?;
    let campaign_known: bool = tx
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM campaigns WHERE id = ?1)",
            [s.campaign_id],
            |r| r.get(0),
        )
        .or_store(path)?;
    if !campaign_known {
        return Err(StoreError::UnknownCampaign(s.campaign_id.to_owned()));
    }
    let old = tx
        .query_row(
            &format!("SELECT {RANKING_COLUMNS} FROM rankings WHERE component_id = ?1"),
            [s.component_id],
            RankingRow::read,
        )
        .optional()
        .or_store(path)?
        .map(|row| row.decode(path))
        .transpose()?;
    let ranking = Ranking {
        component_id: s.component_id.to_owned(),
        component_name: s.component_name.to_owned(),
        resilience_score: ewma(old.as_ref().map(|o| o.resilience_score), campaign_score),
        test_count: old
            .as_ref()
            .map_or(0, |o| o.test_count)
            .saturating_add(s.tests),
        campaigns: old.as_ref().map_or(0, |o| o.campaigns).saturating_add(1),
        // What a later read returns: stored timestamps come back in UTC.
        last_tested: s.at.to_offset(UtcOffset::UTC),
    };
    tx.execute(
        &format!(
            "INSERT INTO rankings ({RANKING_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
             ON CONFLICT (component_id) DO UPDATE SET name = excluded.name, \
             score = excluded.score, test_count = excluded.test_count, \
             campaigns = excluded.campaigns, last_tested = excluded.last_tested"
        ),
        params![
            ranking.component_id,
            ranking.component_name,
            ranking.resilience_score,
            ranking.test_count,
            ranking.campaigns,
            at,
        ],
    )
    .or_store(path)?;
    tx.execute(
        "INSERT INTO ranking_history (component_id, component_name, campaign_id, \
         campaign_score, ranking_score, tests, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            s.component_id,
            s.component_name,
            s.campaign_id,
            campaign_score,
            ranking.resilience_score,
            s.tests,
            at,
        ],
    )
    .or_store(path)?;
    tx.commit().or_store(path)?;
    Ok(ranking)
}

/// Every ranking, weakest component first; ties by id for a stable order.
pub(super) fn rankings(conn: &Connection, path: &Path) -> Result<Vec<Ranking>, StoreError> {
    let mut stmt = conn
        .prepare(&format!(
            "SELECT {RANKING_COLUMNS} FROM rankings ORDER BY score, component_id"
        ))
        .or_store(path)?;
    let rows = stmt
        .query_map([], RankingRow::read)
        .or_store(path)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .or_store(path)?;
    rows.into_iter().map(|r| r.decode(path)).collect()
}

pub(super) fn ranking(
    conn: &Connection,
    path: &Path,
    component_id: &str,
) -> Result<Option<Ranking>, StoreError> {
    conn.query_row(
        &format!("SELECT {RANKING_COLUMNS} FROM rankings WHERE component_id = ?1"),
        [component_id],
        RankingRow::read,
    )
    .optional()
    .or_store(path)?
    .map(|r| r.decode(path))
    .transpose()
}

/// The environments of the campaigns that scored each component, by component id.
pub(super) fn component_environments(
    conn: &Connection,
    path: &Path,
) -> Result<BTreeMap<String, Vec<Environment>>, StoreError> {
    let mut stmt = conn
        .prepare(
            "SELECT DISTINCT h.component_id, c.environment FROM ranking_history h \
             JOIN campaigns c ON c.id = h.campaign_id",
        )
        .or_store(path)?;
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .or_store(path)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .or_store(path)?;
    let mut out: BTreeMap<String, Vec<Environment>> = BTreeMap::new();
    for (component, env) in rows {
        let env = enum_from_sql(&env).map_err(|detail| StoreError::Corrupt {
            path: path.to_path_buf(),
            table: "campaigns",
            key: component.clone(),
            detail,
        })?;
        let envs = out.entry(component).or_default();
        if !envs.contains(&env) {
            envs.push(env);
        }
    }
    Ok(out)
}

/// A component's history in the order its scores were applied (which is the EWMA's order).
pub(super) fn history(
    conn: &Connection,
    path: &Path,
    component_id: &str,
) -> Result<Vec<HistoryEntry>, StoreError> {
    let mut stmt = conn
        .prepare(
            "SELECT id, component_id, component_name, campaign_id, campaign_score, \
             ranking_score, tests, at FROM ranking_history WHERE component_id = ?1 ORDER BY id",
        )
        .or_store(path)?;
    let rows = stmt
        .query_map([component_id], HistoryRow::read)
        .or_store(path)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .or_store(path)?;
    rows.into_iter().map(|r| r.decode(path)).collect()
}

struct RankingRow {
    component_id: String,
    name: String,
    score: f64,
    test_count: i64,
    campaigns: i64,
    last_tested: String,
}

impl RankingRow {
    fn read(r: &Row<'_>) -> rusqlite::Result<RankingRow> {
        Ok(RankingRow {
            component_id: r.get(0)?,
            name: r.get(1)?,
            score: r.get(2)?,
            test_count: r.get(3)?,
            campaigns: r.get(4)?,
            last_tested: r.get(5)?,
        })
    }

    fn decode(self, path: &Path) -> Result<Ranking, StoreError> {
        let key = self.component_id.clone();
        let decoded = (|| {
            Ok::<_, String>(Ranking {
                component_name: self.name,
                resilience_score: self.score,
                test_count: u32_from_sql("test_count", self.test_count)?,
                campaigns: u32_from_sql("campaigns", self.campaigns)?,
                last_tested: ts_from_sql(&self.last_tested)?,
                component_id: self.component_id,
            })
        })();
        decoded.map_err(|detail| StoreError::Corrupt {
            path: path.to_path_buf(),
            table: "rankings",
            key,
            detail,
        })
    }
}

struct HistoryRow {
    id: i64,
    component_id: String,
    component_name: String,
    campaign_id: String,
    campaign_score: f64,
    ranking_score: f64,
    tests: i64,
    at: String,
}

impl HistoryRow {
    fn read(r: &Row<'_>) -> rusqlite::Result<HistoryRow> {
        Ok(HistoryRow {
            id: r.get(0)?,
            component_id: r.get(1)?,
            component_name: r.get(2)?,
            campaign_id: r.get(3)?,
            campaign_score: r.get(4)?,
            ranking_score: r.get(5)?,
            tests: r.get(6)?,
            at: r.get(7)?,
        })
    }

    fn decode(self, path: &Path) -> Result<HistoryEntry, StoreError> {
        let key = format!("id {}", self.id);
        let decoded = (|| {
            Ok::<_, String>(HistoryEntry {
                component_id: self.component_id,
                component_name: self.component_name,
                campaign_id: self.campaign_id,
                campaign_score: self.campaign_score,
                ranking_score: self.ranking_score,
                tests: u32_from_sql("tests", self.tests)?,
                at: ts_from_sql(&self.at)?,
            })
        })();
        decoded.map_err(|detail| StoreError::Corrupt {
            path: path.to_path_buf(),
            table: "ranking_history",
            key,
            detail,
        })
    }
}
