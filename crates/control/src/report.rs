//! Campaign reports: JSON (the full record), Markdown (for humans and PR comments) and JUnit
//! (one test case per component × pattern, for CI dashboards).

mod junit;
mod markdown;

use shakedown_core::campaign::CampaignRecord;

pub use junit::junit;
pub use markdown::markdown;

/// Formats `--report` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFormat {
    Json,
    Markdown,
    Junit,
}

impl ReportFormat {
    pub fn parse(s: &str) -> Option<ReportFormat> {
        match s {
            "json" => Some(ReportFormat::Json),
            "markdown" | "md" => Some(ReportFormat::Markdown),
            "junit" | "xml" => Some(ReportFormat::Junit),
            _ => None,
        }
    }
}

/// Renders `record` in `format`.
pub fn render(record: &CampaignRecord, format: ReportFormat) -> String {
    match format {
        ReportFormat::Json => {
            let mut s = serde_json::to_string_pretty(record).expect("records serialise");
            s.push('\n');
            s
        }
        ReportFormat::Markdown => markdown(record),
        ReportFormat::Junit => junit(record),
    }
}

/// `0.857` → `86%`; `None` → `n/a`.
pub fn percent(score: Option<f64>) -> String {
    score.map_or_else(|| "n/a".to_string(), |s| format!("{:.0}%", s * 100.0))
}
