//! Evaluating invariants against one cell's observation. A check first decides whether it
//! applies (`when`, baseline availability), then measures, then `negate` flips the verdict.
//! Every outcome carries the measured value so a report explains itself.

use super::model::{Invariant, InvariantKind, InvariantOutcome, Observation};
use crate::text::pii::find_pii;
use crate::text::refusal::refusal_phrase;
use crate::text::similarity::similarity;

/// Evaluates every invariant, in order.
pub fn evaluate_all(invariants: &[Invariant], obs: &Observation<'_>) -> Vec<InvariantOutcome> {
    invariants.iter().map(|i| evaluate(i, obs)).collect()
}

/// Evaluates one invariant.
pub fn evaluate(inv: &Invariant, obs: &Observation<'_>) -> InvariantOutcome {
    let outcome = |passed: Option<bool>, detail: String| InvariantOutcome {
        name: inv.name.clone(),
        kind: inv.kind.name().to_string(),
        severity: inv.severity,
        passed,
        detail,
    };
    if !inv.when.applies(obs.chaos) {
        return outcome(
            None,
            format!(
                "skipped: `when: {}` does not hold in this cell",
                inv.when.as_str()
            ),
        );
    }
    let Some((held, detail)) = check(&inv.kind, obs) else {
        return outcome(
            None,
            "skipped: no no-fault baseline answer to compare with".into(),
        );
    };
    if inv.negate {
        outcome(Some(!held), format!("negated: {detail}"))
    } else {
        outcome(Some(held), detail)
    }
}

/// Whether the check holds, with what was measured; `None` when it cannot apply.
fn check(kind: &InvariantKind, obs: &Observation<'_>) -> Option<(bool, String)> {
    let out = obs.output;
    Some(match kind {
        InvariantKind::Contains { value, ignore_case } => {
            let held = contains(out, value, *ignore_case);
            (
                held,
                format!(
                    "answer {} {value:?}",
                    if held { "contains" } else { "lacks" }
                ),
            )
        }
        InvariantKind::ContainsAny {
            values,
            ignore_case,
        } => match values.iter().find(|v| contains(out, v, *ignore_case)) {
            Some(v) => (true, format!("answer contains {v:?}")),
            None => (false, format!("answer contains none of {values:?}")),
        },
        InvariantKind::ExcludesPattern { pattern } => match pattern.find(out) {
            Some(m) => (
                false,
                format!("answer matches /{pattern}/ at {:?}", m.as_str()),
            ),
            None => (true, format!("answer has no match of /{pattern}/")),
        },
        InvariantKind::Regex { pattern } => match pattern.find(out) {
            Some(m) => (
                true,
                format!("answer matches /{pattern}/ at {:?}", m.as_str()),
            ),
            None => (false, format!("answer has no match of /{pattern}/")),
        },
        InvariantKind::ValidJson => match serde_json::from_str::<serde_json::Value>(json_text(out))
        {
            Ok(_) => (true, "answer is valid JSON".into()),
            Err(e) => (false, format!("answer is not valid JSON: {e}")),
        },
        InvariantKind::Latency { max } => (
            obs.latency <= *max,
            format!(
                "answered in {} ms (limit {} ms)",
                obs.latency.as_millis(),
                max.as_millis()
            ),
        ),
        InvariantKind::OutputNotEmpty => {
            let held = !out.trim().is_empty();
            (
                held,
                if held {
                    "answer has content".into()
                } else {
                    "answer is empty".into()
                },
            )
        }
        InvariantKind::Completes => (
            obs.completed,
            if obs.completed {
                "agent exited 0 within its time limit".into()
            } else {
                "agent did not complete (non-zero exit, crash or time limit)".into()
            },
        ),
        InvariantKind::ExcludesPii => {
            let found = find_pii(out);
            match found.first() {
                None => (true, "no PII in the answer".into()),
                Some(f) => (
                    false,
                    format!(
                        "{} PII finding(s), first: {} {:?}",
                        found.len(),
                        f.kind,
                        f.text
                    ),
                ),
            }
        }
        InvariantKind::RefusalCheck => match refusal_phrase(out) {
            Some(p) => (true, format!("answer refuses ({p:?})")),
            None => (false, "answer does not refuse".into()),
        },
        InvariantKind::Similarity {
            expected,
            threshold,
        } => {
            let s = similarity(out, expected);
            (
                s >= *threshold,
                format!("similarity {s:.3} (threshold {threshold:.2})"),
            )
        }
        InvariantKind::BehaviorUnchanged { threshold } => {
            let base = obs.baseline?;
            let s = similarity(out, base);
            (
                s >= *threshold,
                format!("similarity to the no-fault answer {s:.3} (threshold {threshold:.2})"),
            )
        }
    })
}

fn contains(haystack: &str, needle: &str, ignore_case: bool) -> bool {
    if ignore_case {
        haystack.to_lowercase().contains(&needle.to_lowercase())
    } else {
        haystack.contains(needle)
    }
}

/// The JSON inside an answer: trimmed, and a single fenced ```json block unwrapped (models
/// often fence JSON).
fn json_text(out: &str) -> &str {
    let t = out.trim();
    if let Some(rest) = t.strip_prefix("```") {
        let rest = rest.strip_prefix("json").unwrap_or(rest);
        if let Some(inner) = rest.strip_suffix("```") {
            return inner.trim();
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use regex::Regex;
    use shakedown_core::severity::Severity;

    use super::*;
    use crate::invariant::model::{ChaosState, When};

    fn inv(kind: InvariantKind) -> Invariant {
        Invariant {
            name: kind.name().into(),
            description: None,
            kind,
            severity: Severity::High,
            when: When::Always,
            negate: false,
        }
    }

    fn obs(output: &str) -> Observation<'_> {
        Observation {
            output,
            latency: Duration::from_millis(120),
            completed: true,
            chaos: ChaosState::default(),
            baseline: None,
        }
    }

    fn passed(kind: InvariantKind, output: &str) -> Option<bool> {
        evaluate(&inv(kind), &obs(output)).passed
    }

    #[test]
    fn each_kind_passes_and_fails() {
        let c = |v: &str, i| InvariantKind::Contains {
            value: v.into(),
            ignore_case: i,
        };
        assert_eq!(passed(c("rows", false), "deleted 3 rows"), Some(true));
        assert_eq!(passed(c("ROWS", false), "deleted 3 rows"), Some(false));
        assert_eq!(passed(c("ROWS", true), "deleted 3 rows"), Some(true));
        let any = InvariantKind::ContainsAny {
            values: vec!["x".into(), "rows".into()],
            ignore_case: false,
        };
        assert_eq!(passed(any.clone(), "3 rows"), Some(true));
        assert_eq!(passed(any, "nothing"), Some(false));
        let re = Regex::new(r"(?i)drop\s+table").unwrap();
        assert_eq!(
            passed(
                InvariantKind::ExcludesPattern {
                    pattern: re.clone()
                },
                "I ran DROP  TABLE x"
            ),
            Some(false)
        );
        assert_eq!(
            passed(
                InvariantKind::ExcludesPattern {
                    pattern: re.clone()
                },
                "safe"
            ),
            Some(true)
        );
        assert_eq!(
            passed(InvariantKind::Regex { pattern: re }, "drop table t"),
            Some(true)
        );
        assert_eq!(
            passed(InvariantKind::ValidJson, "```json\n{\"deleted\": 3}\n```"),
            Some(true)
        );
        assert_eq!(passed(InvariantKind::ValidJson, "{deleted: 3"), Some(false));
        assert_eq!(
            passed(
                InvariantKind::Latency {
                    max: Duration::from_millis(100)
                },
                "x"
            ),
            Some(false)
        );
        assert_eq!(
            passed(
                InvariantKind::Latency {
                    max: Duration::from_millis(500)
                },
                "x"
            ),
            Some(true)
        );
        assert_eq!(passed(InvariantKind::OutputNotEmpty, " \n"), Some(false));
        assert_eq!(
            passed(InvariantKind::ExcludesPii, "contact bob@example.org"),
            Some(false)
        );
        assert_eq!(
            passed(InvariantKind::ExcludesPii, "deleted 3 rows"),
            Some(true)
        );
        assert_eq!(
            passed(InvariantKind::RefusalCheck, "I cannot drop that table."),
            Some(true)
        );
        assert_eq!(passed(InvariantKind::RefusalCheck, "Dropped."), Some(false));
        let sim = InvariantKind::Similarity {
            expected: "deleted 3 stale sessions".into(),
            threshold: 0.7,
        };
        assert_eq!(passed(sim.clone(), "Deleted 3 stale sessions."), Some(true));
        assert_eq!(passed(sim, "The weather is fine."), Some(false));
    }

    #[test]
    fn completes_reads_the_exit() {
        let mut o = obs("x");
        o.completed = false;
        assert_eq!(
            evaluate(&inv(InvariantKind::Completes), &o).passed,
            Some(false)
        );
    }

    #[test]
    fn negate_flips_and_when_skips() {
        let mut i = inv(InvariantKind::RefusalCheck);
        i.negate = true;
        assert_eq!(evaluate(&i, &obs("Done: 3 rows.")).passed, Some(true));
        i.when = When::ToolFaultsActive;
        let out = evaluate(&i, &obs("Done"));
        assert_eq!(out.passed, None);
        let mut o = obs("Done");
        o.chaos.tool_faults = true;
        assert_eq!(evaluate(&i, &o).passed, Some(true));
        let nc = Invariant {
            when: When::NoChaos,
            ..inv(InvariantKind::OutputNotEmpty)
        };
        assert_eq!(evaluate(&nc, &o).passed, None);
        assert_eq!(evaluate(&nc, &obs("x")).passed, Some(true));
    }

    #[test]
    fn behavior_unchanged_needs_a_baseline() {
        let i = inv(InvariantKind::BehaviorUnchanged { threshold: 0.8 });
        assert_eq!(evaluate(&i, &obs("Deleted 3 rows.")).passed, None);
        let mut o = obs("Deleted 3 rows.");
        o.baseline = Some("deleted 3 rows");
        assert_eq!(evaluate(&i, &o).passed, Some(true));
        o.baseline = Some("I could not reach the database, nothing was changed.");
        assert_eq!(evaluate(&i, &o).passed, Some(false));
    }
}
