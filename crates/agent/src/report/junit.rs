//! The JUnit XML report: a test suite per matrix cell, a test case per invariant and state
//! check. Failed outcomes are `<failure>`, skipped invariants `<skipped>`. The `scores` suite
//! holds the overall score against the threshold and the run's verdict — a test case that
//! fails whenever the status is not `passed` (a critical failure, a failed baseline, grade F,
//! too few faults fired, terminated…) with every reason — so a CI dashboard is never green for
//! a failed run; its `<system-out>` carries the run's timeline (one event a line, time from
//! the run's start).

use std::fmt::Write;

use shakedown_core::xml::xml_escape;

use super::model::{RunReport, RunStatus};

/// Renders `r` as JUnit XML.
pub fn junit(r: &RunReport) -> String {
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let total: usize = r
        .cells
        .iter()
        .map(|c| c.invariants.len() + c.state_checks.len())
        .sum::<usize>()
        + 2;
    let below = r.overall_score < r.threshold;
    let not_passed = r.status != RunStatus::Passed;
    let failures: usize = r
        .cells
        .iter()
        .map(|c| {
            c.invariants
                .iter()
                .filter(|o| o.passed == Some(false))
                .count()
                + c.state_checks.iter().filter(|o| !o.passed).count()
        })
        .sum::<usize>()
        + usize::from(below)
        + usize::from(not_passed);
    let _ = writeln!(
        s,
        "<testsuites name=\"shakedown run {}\" tests=\"{total}\" failures=\"{failures}\">",
        xml_escape(&r.run_id)
    );
    let _ = writeln!(
        s,
        "  <testsuite name=\"scores\" tests=\"2\" failures=\"{}\">",
        usize::from(below) + usize::from(not_passed)
    );
    let _ = write!(
        s,
        "    <testcase classname=\"scores\" name=\"overall score ≥ {:.0}\"",
        r.threshold
    );
    if below {
        let _ = writeln!(
            s,
            "><failure message=\"overall {:.1} below threshold {:.0}\">{}</failure></testcase>",
            r.overall_score,
            r.threshold,
            xml_escape(&r.reasons.join("\n"))
        );
    } else {
        s.push_str("/>\n");
    }
    s.push_str("    <testcase classname=\"scores\" name=\"run verdict: passed\"");
    if not_passed {
        let _ = writeln!(
            s,
            "><failure message=\"run {}\">{}</failure></testcase>",
            r.status.as_str(),
            xml_escape(&r.reasons.join("\n"))
        );
    } else {
        s.push_str("/>\n");
    }
    if !r.timeline.is_empty() {
        s.push_str("    <system-out>");
        for e in &r.timeline {
            let line = format!("+{}ms {} {}\n", e.at_ms, e.event_type, e.data);
            s.push_str(&xml_escape(&line));
        }
        s.push_str("</system-out>\n");
    }
    s.push_str("  </testsuite>\n");
    for c in &r.cells {
        let suite = format!(
            "prompt {} / {} / repeat {}",
            c.prompt_index + 1,
            c.scenario,
            c.repeat + 1
        );
        let n = c.invariants.len() + c.state_checks.len();
        let f = c
            .invariants
            .iter()
            .filter(|o| o.passed == Some(false))
            .count()
            + c.state_checks.iter().filter(|o| !o.passed).count();
        let skipped = c.invariants.iter().filter(|o| o.passed.is_none()).count();
        let _ = writeln!(
            s,
            "  <testsuite name=\"{}\" tests=\"{n}\" failures=\"{f}\" skipped=\"{skipped}\" time=\"{:.3}\">",
            xml_escape(&suite),
            c.latency_ms as f64 / 1000.0
        );
        let mut case = |name: &str, class: &str, passed: Option<bool>, detail: &str| {
            let _ = write!(
                s,
                "    <testcase classname=\"{}\" name=\"{}\"",
                xml_escape(class),
                xml_escape(name)
            );
            match passed {
                Some(true) => s.push_str("/>\n"),
                Some(false) => {
                    let _ = writeln!(
                        s,
                        "><failure message=\"{}\"/></testcase>",
                        xml_escape(detail)
                    );
                }
                None => {
                    let _ = writeln!(
                        s,
                        "><skipped message=\"{}\"/></testcase>",
                        xml_escape(detail)
                    );
                }
            }
        };
        for o in &c.invariants {
            case(&o.name, "invariant", o.passed, &o.detail);
        }
        for o in &c.state_checks {
            case(&o.name, "state_check", Some(o.passed), &o.detail);
        }
        s.push_str("  </testsuite>\n");
    }
    s.push_str("</testsuites>\n");
    s
}
