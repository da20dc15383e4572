//! The judgement shared by the data attacks. Each probe is one bounded request; a 4xx is a
//! rejection, a 2xx/3xx is "handled" (unless the probe is syntactically broken and had to be
//! rejected), and a 5xx, a dropped connection, no answer or a service that stops accepting
//! connections fails the attack. Runs the probes in order within the attack's time budget,
//! stops on halt, and turns what it saw into an [`AttackOutcome`] with evidence.

use std::collections::HashSet;
use std::time::Duration;

use bytes::Bytes;

use shakedown_core::result::{AttackOutcome, Verdict};
use tokio::time::Instant;

use crate::context::AttackContext;
use crate::evidence::{self, MAX_SAMPLES, Recorder};
use crate::http::{self, HttpRequest, Outcome};

/// Probes sent per endpoint at most.
pub const MAX_PROBES_PER_ENDPOINT: usize = 40;
/// Connect errors in a row after which sending stops: the service stopped (or never listened).
const STOPPED_AFTER: usize = 3;
/// Detailed findings kept; the rest are counted in one line.
const MAX_FINDINGS: usize = 20;
/// Entries listed in one note line (other 4xx, handled odd inputs).
const MAX_LISTED: usize = 12;
/// Statuses that mean "refused our credentials or method", not "judged the input".
const UNREACHED: [u16; 3] = [401, 403, 405];

/// What a right answer to a probe looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Syntactically broken input: only a 4xx is right; a 2xx/3xx means it was accepted.
    Reject,
    /// Odd but well-formed input: a 4xx or a handled 2xx/3xx are both fine.
    RejectOrHandle,
}

/// One request of an attack, named for the evidence.
#[derive(Debug, Clone)]
pub struct Probe {
    pub name: String,
    pub request: HttpRequest,
    pub expect: Expect,
}

impl Probe {
    /// A probe that must be refused with a 4xx.
    pub fn reject(name: impl Into<String>, request: HttpRequest) -> Probe {
        Probe {
            name: name.into(),
            request,
            expect: Expect::Reject,
        }
    }
    /// A probe that may be refused or handled, but never break the server.
    pub fn handle(name: impl Into<String>, request: HttpRequest) -> Probe {
        Probe {
            name: name.into(),
            request,
            expect: Expect::RejectOrHandle,
        }
    }
}

/// The probes for one endpoint, after a legitimate baseline request that shows whether the
/// probes can reach the input handling at all.
#[derive(Debug, Clone)]
pub struct Plan {
    /// E.g. `POST /users`.
    pub endpoint: String,
    pub baseline: HttpRequest,
    pub probes: Vec<Probe>,
}

/// How an attack reads the answers.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub pattern: &'static str,
    /// The rejections the guardrail promises (e.g. 400/415/422); other 4xx still count as
    /// rejected but are noted. `None`: every 4xx is as good as another.
    pub preferred: Option<&'static [u16]>,
}

/// How one answer was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Answer {
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

fn classify(rule: &Rule, expect: Expect, outcome: &Outcome) -> Answer {
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
struct Candidate {
    answer: Answer,
    request: String,
    outcome: Outcome,
}

/// Everything observed so far.
struct Tally {
    rule: Rule,
    recorder: Recorder,
    failures: Vec<String>,
    failures_dropped: usize,
    counts: [u64; 8],
    other_4xx: Vec<String>,
    handled_odd: Vec<String>,
    candidates: Vec<Candidate>,
    answered: bool,
    connect_errors_in_row: usize,
    /// The last request that got through, blamed if the service stops right after it.
    last: Option<String>,
    /// Enough connect errors in a row to stop sending.
    stopped: bool,
    /// Connections were refused after the target had answered.
    service_stopped: bool,
    probes_run: usize,
    endpoints_skipped: Vec<String>,
}

impl Tally {
    fn new(rule: Rule) -> Tally {
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

    fn count(&self, a: Answer) -> u64 {
        self.counts[a as usize]
    }

    fn fail(&mut self, text: String) {
        if self.failures.len() < MAX_FINDINGS {
            self.failures.push(text);
        } else {
            self.failures_dropped += 1;
        }
    }

    /// Tracks connect errors; a run of them after the target had answered means it stopped.
    fn connectivity(&mut self, outcome: &Outcome, what: &str) {
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
    fn probe(&mut self, endpoint: &str, probe: &Probe, outcome: &Outcome) {
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

    fn keep_sample(&mut self, answer: Answer, request: String, outcome: &Outcome) {
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

    fn failed(&self) -> bool {
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

fn listed(items: &[String]) -> String {
    let mut s = items
        .iter()
        .take(MAX_LISTED)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > MAX_LISTED {
        s.push_str(&format!(", … ({} more)", items.len() - MAX_LISTED));
    }
    s
}

/// What makes two requests the same for the server.
fn request_key(req: &HttpRequest) -> (String, String, Bytes, Vec<(String, String)>) {
    (
        req.method.to_string(),
        req.path_and_query.clone(),
        req.body.clone(),
        req.headers.clone(),
    )
}

/// Why the run ended early, if it did.
enum Stop {
    Halted,
    Deadline,
}

/// Sends every plan's baseline and probes (bounded per endpoint, in time and by halt) and
/// judges the answers by `rule`.
pub async fn judge(ctx: &AttackContext, rule: Rule, plans: Vec<Plan>) -> AttackOutcome {
    let start = Instant::now();
    let deadline = start + ctx.limits.max_attack_duration;
    let mut tally = Tally::new(rule);
    let planned: usize = plans
        .iter()
        .map(|p| p.probes.len().min(MAX_PROBES_PER_ENDPOINT))
        .sum();
    let mut stop = None;

    'plans: for plan in &plans {
        let base = format!("the legitimate request to {}", plan.endpoint);
        let outcome = match send(ctx, &plan.baseline, deadline).await {
            Ok(o) => o,
            Err(s) => {
                stop = Some(s);
                break;
            }
        };
        tally.recorder.record(&outcome);
        tally.connectivity(&outcome, &base);
        match outcome.status() {
            Some(s) if UNREACHED.contains(&s) => {
                tally
                    .endpoints_skipped
                    .push(format!("{}={s}", plan.endpoint));
                continue;
            }
            Some(s @ 500..) => tally.recorder.finding(format!(
                "note: {base} itself answered {s}; the probes are judged anyway"
            )),
            _ => {}
        }
        if tally.stopped {
            break;
        }
        // Different probes can build the same request (a typed `null` and the text "null"
        // in a path); send each distinct request once.
        let mut seen = HashSet::new();
        for probe in plan.probes.iter().take(MAX_PROBES_PER_ENDPOINT) {
            if !seen.insert(request_key(&probe.request)) {
                continue;
            }
            let outcome = match send(ctx, &probe.request, deadline).await {
                Ok(o) => o,
                Err(s) => {
                    stop = Some(s);
                    break 'plans;
                }
            };
            tally.probe(&plan.endpoint, probe, &outcome);
            if tally.stopped {
                break 'plans;
            }
        }
    }
    tally.recorder.metric("endpoints", plans.len() as u64);
    tally.recorder.metric("probes_planned", planned as u64);
    tally
        .recorder
        .metric("duration_ms", start.elapsed().as_millis() as u64);
    finish(tally, planned, stop)
}

/// One request within the deadline, abandoned on halt. A request whose own timeout had to be
/// shortened to fit the deadline and ran out is our limit, not the server's silence.
async fn send(ctx: &AttackContext, req: &HttpRequest, deadline: Instant) -> Result<Outcome, Stop> {
    if ctx.halt.is_cancelled() {
        return Err(Stop::Halted);
    }
    let remaining = deadline.saturating_duration_since(Instant::now());
    if remaining < Duration::from_millis(10) {
        return Err(Stop::Deadline);
    }
    let timeout = ctx.limits.request_timeout.min(remaining);
    let outcome = tokio::select! {
        o = http::send(&ctx.target, req, timeout) => o,
        _ = ctx.halt.cancelled() => return Err(Stop::Halted),
    };
    match outcome {
        Outcome::Timeout(_) if timeout < ctx.limits.request_timeout => Err(Stop::Deadline),
        o => Ok(o),
    }
}

fn finish(mut t: Tally, planned: usize, stop: Option<Stop>) -> AttackOutcome {
    let pattern = t.rule.pattern;
    let rejected = t.count(Answer::Rejected) + t.count(Answer::RejectedOther);
    let handled = t.count(Answer::Handled);
    for (key, a) in [
        ("rejected", Answer::Rejected),
        ("rejected_other_4xx", Answer::RejectedOther),
        ("handled", Answer::Handled),
        ("accepted_malformed", Answer::Accepted),
        ("server_errors", Answer::ServerError),
        ("dropped", Answer::Dropped),
        ("no_answer", Answer::Silent),
        ("connect_errors", Answer::NoConnect),
    ] {
        t.recorder.metric(key, t.count(a));
    }
    t.recorder.metric("probes_run", t.probes_run as u64);
    t.recorder
        .metric("endpoints_skipped", t.endpoints_skipped.len() as u64);
    for c in std::mem::take(&mut t.candidates) {
        t.recorder.sample_described(c.request, &c.outcome);
    }

    let preferred = match t.rule.preferred {
        Some(list) => list
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join("/"),
        None => "4xx".into(),
    };
    let (verdict, summary) = if t.failed() {
        let mut parts = Vec::new();
        for (n, label) in [
            (t.count(Answer::ServerError), "5xx"),
            (t.count(Answer::Dropped), "dropped connection"),
            (t.count(Answer::Silent), "no answer"),
            (t.count(Answer::Accepted), "accepted malformed body"),
        ] {
            if n > 0 {
                parts.push(format!("{n} × {label}"));
            }
        }
        if t.service_stopped {
            parts.push("service stopped accepting connections".into());
        }
        (
            Verdict::Failed,
            format!("{} ({} probes sent)", parts.join(", "), t.probes_run),
        )
    } else if matches!(stop, Some(Stop::Halted)) {
        (
            Verdict::Inconclusive,
            format!("halted after {} of {planned} probes", t.probes_run),
        )
    } else if !t.answered {
        (
            Verdict::Inconclusive,
            "no request reached the target (connect errors)".to_string(),
        )
    } else if t.probes_run == 0 && !t.endpoints_skipped.is_empty() {
        (
            Verdict::Inconclusive,
            format!(
                "every endpoint refused the legitimate request ({}); the probes could not reach input handling",
                listed(&t.endpoints_skipped)
            ),
        )
    } else if matches!(stop, Some(Stop::Deadline)) {
        (
            Verdict::Inconclusive,
            format!(
                "time limit reached after {} of {planned} probes, no failure so far",
                t.probes_run
            ),
        )
    } else {
        (
            Verdict::Passed,
            format!(
                "all {} probes rejected ({rejected}) or handled ({handled}); no 5xx, no dropped connection",
                t.probes_run
            ),
        )
    };

    let mut findings = std::mem::take(&mut t.failures);
    if t.failures_dropped > 0 {
        findings.push(format!("… and {} more failing probes", t.failures_dropped));
    }
    for f in findings {
        t.recorder.finding(f);
    }
    if !t.other_4xx.is_empty() {
        t.recorder.finding(format!(
            "rejected, but not with {preferred}: {}",
            listed(&t.other_4xx)
        ));
    }
    if !t.handled_odd.is_empty() {
        t.recorder
            .finding(format!("handled with 2xx/3xx: {}", listed(&t.handled_odd)));
    }
    if !t.endpoints_skipped.is_empty() {
        t.recorder.finding(format!(
            "skipped (legitimate request refused): {}",
            listed(&t.endpoints_skipped)
        ));
    }
    t.recorder.finding(format!("{pattern}: {summary}"));
    AttackOutcome {
        verdict,
        summary,
        guardrail_triggered: rejected > 0,
        evidence: t.recorder.finish(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::http::HeaderMap;

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

    #[test]
    fn connect_errors_alone_are_inconclusive() {
        let mut t = Tally::new(LENIENT);
        let p = Probe::handle("p", HttpRequest::get("/x"));
        t.probe("GET /x", &p, &Outcome::ConnectError("refused".into()));
        let out = finish(t, 1, None);
        assert_eq!(out.verdict, Verdict::Inconclusive);
    }
}
