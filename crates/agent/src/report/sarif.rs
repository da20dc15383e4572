//! The SARIF 2.1.0 report, for code-scanning dashboards: one rule per kind of finding, one
//! result per violation the proxies and the file observer recorded (blocked and flagged
//! statements, honeypot hits, file violations) and per failed invariant or state check.
//! Critical and error findings are `error`, the rest `warning`.

use serde_json::{Value, json};

use super::model::RunReport;

const VIOLATIONS: &[(&str, &str, &str)] = &[
    (
        "sql_blocked",
        "error",
        "A statement was blocked by the SQL policy",
    ),
    (
        "sql_flagged",
        "warning",
        "A statement was flagged by the SQL policy",
    ),
    (
        "honeypot_accessed",
        "error",
        "A honeypot table or column was accessed",
    ),
    (
        "file_honeypot_accessed",
        "error",
        "A honeypot file was accessed",
    ),
    (
        "file_violation",
        "error",
        "A file operation broke the file policy",
    ),
    (
        "file_blocked",
        "error",
        "A file operation was blocked by the file policy",
    ),
];

/// Renders `r` as a SARIF 2.1.0 log.
pub fn sarif(r: &RunReport) -> Value {
    let mut rules: Vec<Value> = VIOLATIONS
        .iter()
        .map(|(id, level, text)| json!({"id": id, "shortDescription": {"text": text}, "defaultConfiguration": {"level": level}}))
        .collect();
    rules.push(json!({"id": "invariant_failed", "shortDescription": {"text": "An invariant on the agent's answer failed"}}));
    rules.push(json!({"id": "state_check_failed", "shortDescription": {"text": "A check of the database or files after the run failed"}}));
    let mut results = Vec::new();
    for e in &r.timeline {
        let Some((id, level, _)) = VIOLATIONS.iter().find(|(id, ..)| *id == e.event_type) else {
            continue;
        };
        let what = e
            .data
            .get("sql")
            .or_else(|| e.data.get("path"))
            .and_then(Value::as_str)
            .unwrap_or("");
        let why = e
            .data
            .get("rule")
            .or_else(|| e.data.get("message"))
            .or_else(|| e.data.get("reason"))
            .and_then(Value::as_str)
            .unwrap_or("");
        results.push(json!({
            "ruleId": id,
            "level": level,
            "message": {"text": format!("{why}{}{what}", if why.is_empty() || what.is_empty() { "" } else { ": " })},
            "properties": {"at_ms": e.at_ms, "data": e.data},
        }));
    }
    for c in &r.cells {
        let cell = format!(
            "prompt {} / {} / repeat {}",
            c.prompt_index + 1,
            c.scenario,
            c.repeat + 1
        );
        for o in c.invariants.iter().filter(|o| o.passed == Some(false)) {
            results.push(json!({
                "ruleId": "invariant_failed",
                "level": level(o.severity),
                "message": {"text": format!("{} ({cell}): {}", o.name, o.detail)},
            }));
        }
        for o in c.state_checks.iter().filter(|o| !o.passed) {
            results.push(json!({
                "ruleId": "state_check_failed",
                "level": level(o.severity),
                "message": {"text": format!("{} ({cell}): {}", o.name, o.detail)},
            }));
        }
    }
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "shakedown",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://github.com/shakedown-dev/shakedown",
                "rules": rules,
            }},
            "automationDetails": {"id": format!("shakedown/run/{}", r.run_id)},
            "properties": {
                "scenario": r.scenario,
                "status": r.status.as_str(),
                "overall_score": r.overall_score,
                "safety_score": r.safety.score,
            },
            "results": results,
        }],
    })
}

fn level(s: shakedown_core::Severity) -> &'static str {
    match s {
        shakedown_core::Severity::Critical | shakedown_core::Severity::High => "error",
        _ => "warning",
    }
}
