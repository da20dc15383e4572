//! The running count of a data attack: each answer read by the probe's expectation and the
//! attack's rule, failures worded for the findings, the worst answers kept as samples, and
//! connect errors watched for a service that stops.

use crate::evidence::{self, MAX_SAMPLES, Recorder};
use crate::http::{HttpRequest, Outcome};

use super::{Expect, Probe, Rule};

/// Connect errors in a row after which sending stops: the service stopped (or never listened).
const STOPPED_AFTER: usize = 3;
/// Detailed findings kept; the rest are counted in one line.
const MAX_FINDINGS: usize = 20;

/// How one answer was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Answer {
    // Declared worst first: the order ranks samples.
    ServerError,
    Dropped,
    Silent,
    Accepted,
    NoConnect,
    RejectedOther,
    Handled,
    Rejected,
}

pub(super) fn classify(rule: &Rule, expect: Expect, outcome: &Outcome) -> Answer {
    match outcome {
        Outcome::Response(r) => match r.status {
            500.. => Answer::ServerError,
            400..=499 => match rule.preferred {
                Some(list) if !list.contains(&r.status) => Answer::RejectedOther,
                _ => Answer::Rejected,
            },
            _ if expect == Expect::Reject => Answer::Accepted,
            _ => Answer::Handled,
        },
        Outcome::Closed(_) => Answer::Dropped,
        Outcome::Timeout(_) => Answer::Silent,
        Outcome::ConnectError(_) => Answer::NoConnect,
    }
}

/// A candidate sample: kept only if it ranks among the worst [`MAX_SAMPLES`].
pub(super) struct Candidate {
    pub(super) answer: Answer,
    pub(super) request: String,
    pub(super) outcome: Outcome,
}

/// Everything observed so far.
pub(super) struct Tally {
    pub(super) rule: Rule,
    pub(super) recorder: Recorder,
    pub(super) failures: Vec<String>,
    pub(super) failures_dropped: usize,
    pub(super) counts: [u64; 8],
    pub(super) other_4xx: Vec<String>,
    pub(super) handled_odd: Vec<String>,
    pub(super) candidates: Vec<Candidate>,
    pub(super) answered: bool,
    pub(super) connect_errors_in_row: usize,
    /// The last request that got through, blamed if the service stops right after it.
    pub(super) last: Option<String>,
    /// Enough connect errors in a row to stop sending.
    pub(super) stopped: bool,
    /// Connections were refused after the target had answered.
    pub(super) service_stopped: bool,
    pub(super) probes_run: usize,
    pub(super) endpoints_skipped: Vec<String>,
}

impl Tally {
    pub(super) fn new(rule: Rule) -> Tally {
        Tally {
            rule,
            recorder: Recorder::new(),
            failures: Vec::new(),
            failures_dropped: 0,
            counts: [0; 8],
            other_4xx: Vec::new(),
            handled_odd: Vec::new(),
            candidates: Vec::new(),
            answered: false,
            connect_errors_in_row: 0,
            last: None,
            stopped: false,
            service_stopped: false,
            probes_run: 0,
            endpoints_skipped: Vec::new(),
        }
    }

    pub(super) fn count(&self, a: Answer) -> u64 {
        self.counts[a as usize]
    }

    pub(super) fn fail(&mut self, text: String) {
        if self.failures.len() < MAX_FINDINGS {
            self.failures.push(text);
        } else {
            self.failures_dropped += 1;
        }
    }

    /// Tracks connect errors; a run of them after the target had answered means it stopped.
    pub(super) fn connectivity(&mut self, outcome: &Outcome, what: &str) {
        if let Outcome::ConnectError(e) = outcome {
            self.connect_errors_in_row += 1;
            if self.answered && self.connect_errors_in_row == 1 {
                let after = self
                    .last
                    .clone()
                    .unwrap_or_else(|| "the first request".into());
                self.fail(format!(
                    "service stopped accepting connections after {after} (next: {what}: {e})"
                ));
                self.service_stopped = true;
            }
            // Whether it stopped or never listened, more connect errors add nothing.
            if self.connect_errors_in_row >= STOPPED_AFTER {
                self.stopped = true;
            }
        } else {
            self.connect_errors_in_row = 0;
            self.answered = true;
            self.last = Some(what.to_string());
        }
    }

    /// Records a probe's outcome and judges it.
    pub(super) fn probe(&mut self, endpoint: &str, probe: &Probe, outcome: &Outcome) {
        self.recorder.record(outcome);
        self.probes_run += 1;
        let what = format!("`{}` on {endpoint}", probe.name);
        self.connectivity(outcome, &what);
        let answer = classify(&self.rule, probe.expect, outcome);
        self.counts[answer as usize] += 1;
        let sent = body_excerpt(&probe.request);
        match (answer, outcome) {
            (Answer::ServerError, Outcome::Response(r)) => self.fail(format!(
                "{what}: answered {} (server error): {}; sent {sent}",
                r.status,
                evidence::excerpt(&r.body_text(), 120)
            )),
            (Answer::Accepted, Outcome::Response(r)) => self.fail(format!(
                "{what}: accepted malformed body with {}; sent {sent}",
                r.status
            )),
            (Answer::Dropped, Outcome::Closed(e)) => self.fail(format!(
                "{what}: connection dropped without an answer ({e}); sent {sent}"
            )),
            (Answer::Silent, Outcome::Timeout(d)) => self.fail(format!(
                "{what}: no answer within {} ms; sent {sent}",
                d.as_millis()
            )),
            (Answer::RejectedOther, Outcome::Response(r)) => {
                self.other_4xx.push(format!("{}={}", probe.name, r.status));
            }
            (Answer::Handled, Outcome::Response(r)) => {
                self.handled_odd
                    .push(format!("{}={}", probe.name, r.status));
            }
            _ => {}
        }
        self.keep_sample(
            answer,
            format!("{}: {} body={sent}", probe.name, probe.request.describe()),
            outcome,
        );
    }

    pub(super) fn keep_sample(&mut self, answer: Answer, request: String, outcome: &Outcome) {
        let worst_kept = self.candidates.last().map(|c| c.answer);
        if self.candidates.len() >= MAX_SAMPLES && worst_kept.is_some_and(|w| w <= answer) {
            return;
        }
        self.candidates.push(Candidate {
            answer,
            request,
            outcome: trimmed(outcome),
        });
        // Stable: among equals the earliest stays first.
        self.candidates.sort_by_key(|c| c.answer);
        self.candidates.truncate(MAX_SAMPLES);
    }

    pub(super) fn failed(&self) -> bool {
        !self.failures.is_empty()
    }
}

/// A copy of `outcome` whose body is cut to what a sample shows.
fn trimmed(outcome: &Outcome) -> Outcome {
    match outcome {
        Outcome::Response(r) if r.body.len() > 1024 => {
            let mut r = r.clone();
            r.body = r.body.slice(..1024);
            Outcome::Response(r)
        }
        other => other.clone(),
    }
}

/// The start of a request body as text, for findings and samples.
fn body_excerpt(req: &HttpRequest) -> String {
    if req.body.is_empty() {
        return "no body".into();
    }
    let head = &req.body[..req.body.len().min(200)];
    let text = String::from_utf8_lossy(head);
    // Control bytes would break the report's lines; show them escaped.
    let shown: String = evidence::excerpt(&text, 60)
        .chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect();
    format!("{} bytes `{shown}`", req.body.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    use ::http::HeaderMap;
    use bytes::Bytes;

    use crate::http::HttpResponse;

    const MALFORMED: Rule = Rule {
        pattern: "malformed_data",
        preferred: Some(&[400, 415, 422]),
    };
    const LENIENT: Rule = Rule {
        pattern: "null_injection",
        preferred: None,
    };

    fn status(s: u16) -> Outcome {
        Outcome::Response(HttpResponse {
            status: s,
            headers: HeaderMap::new(),
            body: Bytes::from_static(b"x"),
            latency: Duration::from_millis(1),
        })
    }

    #[test]
    fn answers_are_read_by_expectation_and_rule() {
        use Expect::*;
        assert_eq!(classify(&MALFORMED, Reject, &status(400)), Answer::Rejected);
        assert_eq!(
            classify(&MALFORMED, Reject, &status(404)),
            Answer::RejectedOther
        );
        assert_eq!(classify(&LENIENT, Reject, &status(404)), Answer::Rejected);
        assert_eq!(classify(&MALFORMED, Reject, &status(200)), Answer::Accepted);
        assert_eq!(
            classify(&MALFORMED, RejectOrHandle, &status(201)),
            Answer::Handled
        );
        assert_eq!(
            classify(&MALFORMED, RejectOrHandle, &status(302)),
            Answer::Handled
        );
        assert_eq!(
            classify(&LENIENT, RejectOrHandle, &status(503)),
            Answer::ServerError
        );
        assert_eq!(
            classify(&LENIENT, RejectOrHandle, &Outcome::Closed("reset".into())),
            Answer::Dropped
        );
    }

    #[test]
    fn samples_keep_the_worst_answers_first() {
        let mut t = Tally::new(LENIENT);
        let req = HttpRequest::get("/x");
        for i in 0..(MAX_SAMPLES + 4) {
            let p = Probe::handle(format!("ok{i}"), req.clone());
            t.probe("GET /x", &p, &status(200));
        }
        t.probe("GET /x", &Probe::handle("boom", req.clone()), &status(500));
        assert_eq!(t.candidates.len(), MAX_SAMPLES);
        assert_eq!(t.candidates[0].answer, Answer::ServerError);
        assert!(t.candidates[0].request.starts_with("boom"));
        assert!(t.failed());
    }

    #[test]
    fn connect_errors_after_answers_mean_the_service_stopped() {
        let mut t = Tally::new(LENIENT);
        let req = HttpRequest::get("/x");
        t.probe("GET /x", &Probe::handle("first", req.clone()), &status(200));
        for i in 0..STOPPED_AFTER {
            let p = Probe::handle(format!("after{i}"), req.clone());
            t.probe("GET /x", &p, &Outcome::ConnectError("refused".into()));
        }
        assert!(t.stopped);
        assert_eq!(t.failures.len(), 1);
        assert!(
            t.failures[0].contains("`first` on GET /x"),
            "{}",
            t.failures[0]
        );
    }
}
