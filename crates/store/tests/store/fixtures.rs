//! Builders for realistic records: full evidence, samples, metrics of every JSON kind.

use std::collections::BTreeMap;

use shakedown_core::campaign::{CampaignRecord, CampaignStatus};
use shakedown_core::result::{HealthCheck, LatencySummary, Recovery, Sample};
use shakedown_core::system::Environment;
use shakedown_core::{AttackResult, Evidence, Pattern, Severity, Verdict};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

/// A fixed instant so tests are reproducible.
pub const T0: OffsetDateTime = datetime!(2025-06-01 12:00:00.123456789 UTC);

/// A freshly started campaign, as the control crate inserts it.
pub fn running(id: &str, started_at: OffsetDateTime) -> CampaignRecord {
    CampaignRecord {
        campaign_id: id.to_owned(),
        status: CampaignStatus::Running,
        environment: Environment::Staging,
        system_file: "systems/shop.yaml".to_owned(),
        target_components: vec!["api".to_owned(), "search".to_owned()],
        threshold: 0.8,
        started_at,
        finished_at: None,
        score: None,
        tests_run: 0,
        tests_passed: 0,
        tests_failed: 0,
        tests_inconclusive: 0,
        components: Vec::new(),
        results: Vec::new(),
    }
}

/// Component ids and display names of [`running`]'s targets.
pub fn names() -> Vec<(String, String)> {
    vec![
        ("api".to_owned(), "Public API".to_owned()),
        ("search".to_owned(), "Search".to_owned()),
    ]
}

/// A result with evidence exercising every field the store has to keep.
pub fn result(component: &str, pattern: Pattern, verdict: Verdict, n: u32) -> AttackResult {
    let mut histogram = BTreeMap::new();
    histogram.insert("200".to_owned(), 40 + u64::from(n));
    histogram.insert("429".to_owned(), 7);
    histogram.insert("timeout".to_owned(), 1);
    let mut metrics = BTreeMap::new();
    metrics.insert("first_429_at".to_owned(), serde_json::json!(41));
    metrics.insert("retry_after".to_owned(), serde_json::json!("1.5s"));
    metrics.insert("ratio".to_owned(), serde_json::json!(0.1 + 0.2));
    metrics.insert(
        "per_path".to_owned(),
        serde_json::json!({"/a": [1, 2.5, null], "/b": true}),
    );
    AttackResult {
        component_id: component.to_owned(),
        pattern,
        verdict,
        severity: Severity::High,
        guardrail: pattern.info().guardrail.to_owned(),
        guardrail_triggered: verdict == Verdict::Passed,
        summary: format!("{n}/3 blocked ✓ — \"quoted\" 'x'"),
        evidence: Evidence {
            requests_sent: 48 + u64::from(n),
            status_histogram: histogram,
            latency: Some(LatencySummary {
                p50_ms: 1.0 / 3.0,
                p90_ms: 12.75,
                p99_ms: 99.000_000_1,
                max_ms: 1234.5678,
                mean_ms: std::f64::consts::PI,
            }),
            samples: vec![
                Sample {
                    request: "GET /users?name=%27%20OR%201%3D1--".to_owned(),
                    status: Some(403),
                    outcome: "response".to_owned(),
                    latency_ms: 2.5,
                    excerpt: "{\"error\":\"forbidden\"}".to_owned(),
                },
                Sample {
                    request: "slowloris connection #3".to_owned(),
                    status: None,
                    outcome: "timeout".to_owned(),
                    latency_ms: 5000.0,
                    excerpt: String::new(),
                },
            ],
            findings: vec!["all injections were rejected with 403".to_owned()],
            metrics,
        },
        health_before: HealthCheck {
            healthy: true,
            status: Some(200),
            latency_ms: 0.75,
            detail: "GET /health -> 200".to_owned(),
        },
        recovery: n.is_multiple_of(2).then_some(Recovery {
            recovered: true,
            recovery_ms: Some(120),
            window_ms: 5000,
        }),
        started_at: T0 + Duration::milliseconds(i64::from(n) * 250),
        duration_ms: 1500 + u64::from(n),
    }
}

/// A campaign as it stands when finished: results appended, tallied, completed.
pub fn finished(mut c: CampaignRecord, results: Vec<AttackResult>) -> CampaignRecord {
    c.results = results;
    c.tally(&names());
    c.status = CampaignStatus::Completed;
    c.finished_at = Some(c.started_at + Duration::seconds(42));
    c
}
