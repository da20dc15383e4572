//! The Markdown report: verdict first, then the scenario's expected behaviour and red flags,
//! scores and their explanation, the matrix, every failed check, faults and the timeline.

use std::fmt::Write;

use super::model::RunReport;

fn pct(v: Option<f64>) -> String {
    v.map_or("—".into(), |v| format!("{:.0}%", v * 100.0))
}

/// Renders `r` as Markdown.
pub fn markdown(r: &RunReport) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Shakedown agent run `{}`\n", r.run_id);
    let _ = writeln!(
        s,
        "**{}** — overall {:.1} (threshold {:.0}), safety {:.0} ({:?}), scenario `{}`\n",
        r.status.as_str().to_uppercase(),
        r.overall_score,
        r.threshold,
        r.safety.score,
        r.safety.grade,
        r.scenario
    );
    for reason in &r.reasons {
        let _ = writeln!(s, "- {reason}");
    }
    if !r.expected_behavior.is_empty() || !r.red_flags.is_empty() {
        let _ = writeln!(s, "\n## Scenario\n");
        for (title, items) in [
            ("Expected behaviour", &r.expected_behavior),
            ("Red flags", &r.red_flags),
        ] {
            if items.is_empty() {
                continue;
            }
            let _ = writeln!(s, "{title}:\n");
            for item in items {
                let _ = writeln!(s, "- {}", item.replace('\n', " "));
            }
            s.push('\n');
        }
    }
    let _ = writeln!(s, "\n## Scores\n");
    let _ = writeln!(s, "| Measure | Value |\n|---|---|");
    let _ = writeln!(
        s,
        "| Safety | {:.0} / 100 ({:?}) |",
        r.safety.score, r.safety.grade
    );
    let _ = writeln!(s, "| Chaos resilience | {} |", pct(r.matrix.resilience));
    let _ = writeln!(
        s,
        "| Utility without faults | {} |",
        pct(r.matrix.utility_baseline)
    );
    let _ = writeln!(
        s,
        "| Utility under faults | {} |",
        pct(r.matrix.utility_under_faults)
    );
    let _ = writeln!(s, "| Critical failures | {} |", r.matrix.critical_failures);
    if !r.safety.deductions.is_empty() {
        let _ = writeln!(
            s,
            "\n### Safety deductions\n\n| Rule | Events | Points |\n|---|---|---|"
        );
        for d in &r.safety.deductions {
            let _ = writeln!(s, "| {} | {} | −{:.0} |", d.rule, d.events, d.points);
        }
    }
    let _ = writeln!(
        s,
        "\n## Matrix\n\n| Prompt | Scenario | Repeats | Passed | pass@1 | pass^k |\n|---|---|---|---|---|---|"
    );
    for g in &r.matrix.groups {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {:.2} | {:.0} |",
            g.prompt + 1,
            g.scenario,
            g.repeats,
            g.passed,
            g.pass_at_1,
            g.pass_hat_k
        );
    }
    let failed: Vec<_> = r
        .cells
        .iter()
        .flat_map(|c| {
            let inv = c
                .invariants
                .iter()
                .filter(|o| o.passed == Some(false))
                .map(move |o| (c, o.name.clone(), o.severity, o.detail.clone()));
            let st = c
                .state_checks
                .iter()
                .filter(|o| !o.passed)
                .map(move |o| (c, o.name.clone(), o.severity, o.detail.clone()));
            inv.chain(st)
        })
        .collect();
    if !failed.is_empty() {
        let _ = writeln!(
            s,
            "\n## Failed checks\n\n| Cell | Check | Severity | Detail |\n|---|---|---|---|"
        );
        for (c, name, sev, detail) in failed {
            let _ = writeln!(
                s,
                "| {}/{}#{} | {} | {:?} | {} |",
                c.prompt_index + 1,
                c.scenario,
                c.repeat + 1,
                name,
                sev,
                detail.replace('|', "\\|").replace('\n', " ")
            );
        }
    }
    let f = &r.fault_summary;
    if !f.fired.is_empty() || !f.never_fired.is_empty() {
        let _ = writeln!(s, "\n## Faults\n");
        for (rule, n) in &f.fired {
            let _ = writeln!(s, "- `{rule}` fired {n}×");
        }
        for rule in &f.never_fired {
            let _ = writeln!(s, "- `{rule}` was configured but **never fired**");
        }
    }
    if !r.timeline.is_empty() {
        let _ = writeln!(s, "\n## Timeline\n\n| t (ms) | Event |\n|---|---|");
        for e in &r.timeline {
            let _ = writeln!(s, "| {} | {} |", e.at_ms, e.event_type);
        }
    }
    s
}
