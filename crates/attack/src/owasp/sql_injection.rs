//! `sql_injection`: error-based, boolean-based and time-based probes on every endpoint with
//! an `{input}` placeholder, each judged against a benign baseline of the same endpoint.
//! Failed = any evidence of injection; passed = probes blocked (4xx) or no evidence;
//! inconclusive when nothing could be tested or most probes got no answer.

mod boolean_based;
mod compare;
mod error_based;
mod payloads;
mod session;
mod signatures;
mod time_based;

use shakedown_core::result::{AttackOutcome, Verdict};
use shakedown_core::system::Endpoint;
use tokio::time::Instant;

use crate::context::AttackContext;
use crate::evidence::{MAX_SAMPLES, Recorder};
use crate::execute;

use session::{Hit, Session, Stop};

/// Runs the attack on every `{input}` endpoint of the component.
pub async fn run(ctx: &AttackContext) -> AttackOutcome {
    let endpoints: Vec<&Endpoint> = ctx.component.input_endpoints().collect();
    if endpoints.is_empty() {
        return execute::inconclusive(
            "no endpoint has an `{input}` placeholder: nothing to inject into (add one to `endpoints`)".into(),
        );
    }
    let deadline = Instant::now() + ctx.limits.max_attack_duration;
    let mut rec = Recorder::new();
    let mut tally = Tally::default();
    for ep in endpoints {
        let mut s = Session::new(ctx, ep, &mut rec, deadline);
        test_endpoint(&mut s).await;
        let stop = s.stop;
        tally.absorb(s);
        match stop {
            Some(Stop::Halted) => return execute::halted(),
            Some(Stop::Deadline) => break,
            _ => {}
        }
    }
    tally.finish(rec)
}

/// Baseline, then the three techniques, each stopping at its first hit.
async fn test_endpoint(s: &mut Session<'_>) {
    let Some(base) = s.baseline().await else {
        return;
    };
    if base.words.iter().all(|p| p.response().is_none()) {
        s.notes.push(format!(
            "{}: the benign baseline got no answer; endpoint not tested",
            s.label
        ));
        return;
    }
    if let Some(status @ (401 | 403)) = base.status(payloads::Context::Word) {
        s.notes.push(format!(
            "{}: the benign baseline was refused with {status} (are the credentials right?); endpoint not tested",
            s.label
        ));
        return;
    }
    s.tested = true;
    error_based::run(s, &base).await;
    if s.stop.is_some() {
        return;
    }
    boolean_based::run(s, &base).await;
    if s.stop.is_some() {
        return;
    }
    time_based::run(s, &base).await;
}

/// Totals over all endpoints.
#[derive(Default)]
struct Tally {
    endpoints: usize,
    tested: usize,
    sent: usize,
    no_response: usize,
    blocked: usize,
    cut_short: Option<Stop>,
    hits: Vec<(String, Hit)>,
    notes: Vec<String>,
}

impl Tally {
    fn absorb(&mut self, s: Session<'_>) {
        self.endpoints += 1;
        self.tested += usize::from(s.tested);
        self.sent += s.sent;
        self.no_response += s.no_response;
        self.blocked += s.blocked;
        if s.stop.is_some() && self.cut_short.is_none() {
            self.cut_short = s.stop;
        }
        self.notes.extend(s.notes);
        let label = s.label;
        self.hits
            .extend(s.hits.into_iter().map(|h| (label.clone(), h)));
    }

    fn finish(self, mut rec: Recorder) -> AttackOutcome {
        let mut techniques: Vec<&str> = self.hits.iter().map(|(_, h)| h.technique).collect();
        techniques.sort();
        techniques.dedup();
        rec.metric("endpoints", self.endpoints as u64);
        rec.metric("endpoints_tested", self.tested as u64);
        rec.metric("probes", self.sent as u64);
        rec.metric("blocked", self.blocked as u64);
        rec.metric("no_response", self.no_response as u64);
        rec.metric("techniques", techniques.clone());
        for (label, hit) in &self.hits {
            rec.finding(format!(
                "{} injection on {label} with {:?}: {}",
                hit.technique, hit.payload, hit.detail
            ));
        }
        for (_, hit) in self.hits.iter().take(MAX_SAMPLES) {
            rec.sample_raw(hit.sample.clone());
        }
        for note in &self.notes {
            rec.finding(note.clone());
        }
        if self.blocked > 0 {
            rec.finding(format!(
                "{} of {} probes were refused with a 4xx the baseline did not get",
                self.blocked, self.sent
            ));
        }
        let guardrail_triggered = self.blocked > 0;

        let (verdict, summary) = if !self.hits.is_empty() {
            let label = &self.hits[0].0;
            let summary = format!(
                "injectable: {} evidence on {label} ({} finding{} in {} probes)",
                techniques.join(", "),
                self.hits.len(),
                if self.hits.len() == 1 { "" } else { "s" },
                self.sent
            );
            (Verdict::Failed, summary)
        } else if self.tested == 0 {
            (
                Verdict::Inconclusive,
                format!(
                    "no endpoint could be tested ({} requests, {} unanswered)",
                    self.sent, self.no_response
                ),
            )
        } else if self.no_response * 2 > self.sent {
            (
                Verdict::Inconclusive,
                format!("{} of {} probes got no answer", self.no_response, self.sent),
            )
        } else if let Some(stop) = self.cut_short {
            let why = match stop {
                Stop::Deadline => "the attack's time limit",
                Stop::Budget => "the request budget",
                Stop::Halted => "a halt",
            };
            (
                Verdict::Inconclusive,
                format!(
                    "stopped by {why} after {} probes without evidence",
                    self.sent
                ),
            )
        } else {
            let summary = format!(
                "no injection evidence in {} probes on {} endpoint{} ({} blocked)",
                self.sent,
                self.tested,
                if self.tested == 1 { "" } else { "s" },
                self.blocked
            );
            (Verdict::Passed, summary)
        };
        // The verdict's own sentence first when it is not a hit.
        execute::concluded(verdict, summary, guardrail_triggered, rec)
    }
}
