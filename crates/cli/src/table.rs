//! The final per-component table and one-line summaries.

use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use shakedown_control::report::percent;
use shakedown_core::campaign::{CampaignRecord, ComponentScore, Ranking};

/// "Backend API resilience: 100% (7/7 passed)".
pub fn component_line(s: &ComponentScore) -> String {
    let decided = s.passed + s.failed;
    let mut line = format!(
        "{} resilience: {} ({}/{} passed)",
        s.component_name,
        percent(s.resilience),
        s.passed,
        decided
    );
    if s.inconclusive > 0 {
        line.push_str(&format!(", {} inconclusive", s.inconclusive));
    }
    line
}

pub fn campaign_table(r: &CampaignRecord) -> String {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header([
        "Component",
        "Resilience",
        "Passed",
        "Failed",
        "Inconclusive",
    ]);
    for c in &r.components {
        t.add_row([
            format!("{} ({})", c.component_name, c.component_id),
            percent(c.resilience),
            c.passed.to_string(),
            c.failed.to_string(),
            c.inconclusive.to_string(),
        ]);
    }
    t.to_string()
}

pub fn rankings_table(rs: &[Ranking]) -> String {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header([
        "Rank",
        "Component",
        "Resilience",
        "Last tested",
        "Tests",
        "Campaigns",
    ]);
    for (i, r) in rs.iter().enumerate() {
        t.add_row([
            (i + 1).to_string(),
            format!("{} ({})", r.component_name, r.component_id),
            format!("{:.2}", r.resilience_score),
            r.last_tested.date().to_string(),
            r.test_count.to_string(),
            r.campaigns.to_string(),
        ]);
    }
    t.to_string()
}
