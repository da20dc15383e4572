//! The JUnit XML report: a test suite per component, a test case per pattern. Failed results
//! are `<failure>`, inconclusive ones `<skipped>` (they proved nothing either way).

use std::fmt::Write;

use shakedown_core::Verdict;
use shakedown_core::campaign::CampaignRecord;
pub use shakedown_core::xml::xml_escape;

pub fn junit(r: &CampaignRecord) -> String {
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        s,
        "<testsuites name=\"shakedown {}\" tests=\"{}\" failures=\"{}\" skipped=\"{}\">",
        xml_escape(&r.campaign_id),
        r.tests_run,
        r.tests_failed,
        r.tests_inconclusive
    );
    for c in &r.components {
        let results: Vec<_> = r
            .results
            .iter()
            .filter(|x| x.component_id == c.component_id)
            .collect();
        let secs: f64 = results.iter().map(|x| x.duration_ms as f64 / 1000.0).sum();
        let _ = writeln!(
            s,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" skipped=\"{}\" time=\"{secs:.3}\">",
            xml_escape(&c.component_id),
            results.len(),
            c.failed,
            c.inconclusive
        );
        for x in results {
            let _ = write!(
                s,
                "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
                xml_escape(&x.component_id),
                x.pattern,
                x.duration_ms as f64 / 1000.0
            );
            let detail = xml_escape(&x.evidence.findings.join("\n"));
            match x.verdict {
                Verdict::Passed => s.push_str("/>\n"),
                Verdict::Failed => {
                    let _ = writeln!(
                        s,
                        ">\n      <failure message=\"{}\" type=\"{}\">{detail}</failure>\n    </testcase>",
                        xml_escape(&x.summary),
                        x.severity
                    );
                }
                Verdict::Inconclusive => {
                    let _ = writeln!(
                        s,
                        ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                        xml_escape(&x.summary)
                    );
                }
            }
        }
        s.push_str("  </testsuite>\n");
    }
    s.push_str("</testsuites>\n");
    s
}
