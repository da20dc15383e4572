//! The Markdown report.

use std::fmt::Write;

use shakedown_core::Verdict;
use shakedown_core::campaign::CampaignRecord;

use super::percent;

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

pub fn markdown(r: &CampaignRecord) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Shakedown campaign `{}`\n", r.campaign_id);
    let _ = writeln!(s, "- Environment: {}", r.environment);
    let _ = writeln!(s, "- Status: {}", r.status.as_str());
    let _ = writeln!(s, "- System file: `{}`", r.system_file);
    let _ = writeln!(s, "- Started: {}", r.started_at);
    let _ = writeln!(
        s,
        "- Score: {} (threshold {}) — {} run, {} passed, {} failed, {} inconclusive\n",
        percent(r.score),
        percent(Some(r.threshold)),
        r.tests_run,
        r.tests_passed,
        r.tests_failed,
        r.tests_inconclusive
    );
    let _ = writeln!(
        s,
        "## Components\n\n| Component | Resilience | Passed | Failed | Inconclusive |\n|---|---|---|---|---|"
    );
    for c in &r.components {
        let _ = writeln!(
            s,
            "| {} (`{}`) | {} | {} | {} | {} |",
            cell(&c.component_name),
            c.component_id,
            percent(c.resilience),
            c.passed,
            c.failed,
            c.inconclusive
        );
    }
    let _ = writeln!(
        s,
        "\n## Results\n\n| Component | Pattern | Verdict | Severity | Guardrail | Summary |\n|---|---|---|---|---|---|"
    );
    for x in &r.results {
        let icon = match x.verdict {
            Verdict::Passed => "✅ passed",
            Verdict::Failed => "❌ failed",
            Verdict::Inconclusive => "❔ inconclusive",
        };
        let _ = writeln!(
            s,
            "| `{}` | {} | {icon} | {} | {} | {} |",
            x.component_id,
            x.pattern,
            x.severity,
            x.guardrail,
            cell(&x.summary)
        );
    }
    let failures: Vec<_> = r
        .results
        .iter()
        .filter(|x| x.verdict != Verdict::Passed)
        .collect();
    if !failures.is_empty() {
        let _ = writeln!(s, "\n## Evidence for failed and inconclusive results");
        for x in failures {
            let _ = writeln!(
                s,
                "\n### `{}` / {} — {}\n",
                x.component_id, x.pattern, x.verdict
            );
            for f in &x.evidence.findings {
                let _ = writeln!(s, "- {}", f.replace('\n', " "));
            }
            let _ = writeln!(
                s,
                "- Requests sent: {}; statuses: {:?}",
                x.evidence.requests_sent, x.evidence.status_histogram
            );
            if let Some(l) = &x.evidence.latency {
                let _ = writeln!(
                    s,
                    "- Latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
                    l.p50_ms, l.p99_ms, l.max_ms
                );
            }
            for sample in x.evidence.samples.iter().take(3) {
                let status = sample
                    .status
                    .map_or_else(|| sample.outcome.clone(), |s| s.to_string());
                let _ = writeln!(
                    s,
                    "- `{}` → {status}: `{}`",
                    cell(&sample.request),
                    cell(&sample.excerpt)
                );
            }
        }
    }
    s
}
