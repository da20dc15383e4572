//! Campaign records, per-component scores and the resilience ranking, as stored and reported.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::result::{AttackResult, Verdict};
use crate::system::Environment;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CampaignStatus {
    Running,
    Completed,
    /// Stopped by a halt (Ctrl-C, SIGTERM, or later the guardian).
    HaltedByGuardian,
    /// The process died while the campaign ran.
    Interrupted,
}

impl CampaignStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CampaignStatus::Running => "running",
            CampaignStatus::Completed => "completed",
            CampaignStatus::HaltedByGuardian => "halted_by_guardian",
            CampaignStatus::Interrupted => "interrupted",
        }
    }
    pub fn parse(s: &str) -> Option<CampaignStatus> {
        [
            CampaignStatus::Running,
            CampaignStatus::Completed,
            CampaignStatus::HaltedByGuardian,
            CampaignStatus::Interrupted,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
    }
}

/// How one component fared in one campaign.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComponentScore {
    pub component_id: String,
    pub component_name: String,
    /// Severity-weighted pass ratio; `None` when every result was inconclusive.
    pub resilience: Option<f64>,
    pub passed: u32,
    pub failed: u32,
    pub inconclusive: u32,
}

/// One campaign: what was planned, what ran, and how it scored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CampaignRecord {
    /// `chaos_` + 8 hex digits.
    pub campaign_id: String,
    pub status: CampaignStatus,
    pub environment: Environment,
    /// Path of the system file the campaign was planned from.
    pub system_file: String,
    pub target_components: Vec<String>,
    /// Pass threshold for the exit code (0..=1).
    pub threshold: f64,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub finished_at: Option<OffsetDateTime>,
    /// Severity-weighted pass ratio over every non-inconclusive result of the campaign.
    pub score: Option<f64>,
    pub tests_run: u32,
    pub tests_passed: u32,
    pub tests_failed: u32,
    pub tests_inconclusive: u32,
    pub components: Vec<ComponentScore>,
    /// Every result, in the order it ran (empty in listings).
    #[serde(default)]
    pub results: Vec<AttackResult>,
}

impl CampaignRecord {
    /// Recomputes counters, per-component scores and the campaign score from `results`.
    /// `names` maps component ids to display names, in campaign order.
    pub fn tally(&mut self, names: &[(String, String)]) {
        let count =
            |v: Verdict, rs: &[&AttackResult]| rs.iter().filter(|r| r.verdict == v).count() as u32;
        let all: Vec<&AttackResult> = self.results.iter().collect();
        self.tests_run = all.len() as u32;
        self.tests_passed = count(Verdict::Passed, &all);
        self.tests_failed = count(Verdict::Failed, &all);
        self.tests_inconclusive = count(Verdict::Inconclusive, &all);
        self.score = crate::score::resilience(all.iter().copied());
        self.components = names
            .iter()
            .map(|(id, name)| {
                let rs: Vec<&AttackResult> = self
                    .results
                    .iter()
                    .filter(|r| &r.component_id == id)
                    .collect();
                ComponentScore {
                    component_id: id.clone(),
                    component_name: name.clone(),
                    resilience: crate::score::resilience(rs.iter().copied()),
                    passed: count(Verdict::Passed, &rs),
                    failed: count(Verdict::Failed, &rs),
                    inconclusive: count(Verdict::Inconclusive, &rs),
                }
            })
            .collect();
    }
}

/// A component's standing across campaigns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ranking {
    pub component_id: String,
    pub component_name: String,
    /// EWMA of campaign resilience: `0.7·old + 0.3·new`, seeded by the first campaign.
    pub resilience_score: f64,
    /// Attack results recorded against the component (all campaigns).
    pub test_count: u32,
    /// Campaigns that produced a score for the component.
    pub campaigns: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub last_tested: OffsetDateTime,
}

/// One step of a component's ranking history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub component_id: String,
    pub component_name: String,
    pub campaign_id: String,
    /// The component's resilience in that campaign.
    pub campaign_score: f64,
    /// Its ranking score after the campaign.
    pub ranking_score: f64,
    /// Results the campaign recorded against it.
    pub tests: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}
