//! `xss_attack`: payloads carrying a marker unique to the run go into every `{input}`; the
//! attack fails when a text/html answer carries the dangerous part unescaped (reflected now,
//! or stored and shown later by a GET endpoint). Escaped reflections are fine, and JSON
//! answers are not XSS.

mod payload;

use shakedown_core::result::{AttackOutcome, Sample, Verdict};
use shakedown_core::system::{Endpoint, HttpMethod};
use tokio::time::Instant;

use crate::context::AttackContext;
use crate::evidence::{EXCERPT_CHARS, MAX_SAMPLES, Recorder, excerpt};
use crate::execute;
use crate::http::{HttpRequest, HttpResponse, Outcome};
use crate::input::{self, Input};

use super::paced::{self, Stop};

use payload::Payload;

/// Most requests sent to one endpoint.
const BUDGET_PER_ENDPOINT: usize = 60;
/// Unescaped reflections listed one by one in the findings.
const MAX_LISTED: usize = 6;

/// Runs the attack on every `{input}` endpoint of the component.
pub async fn run(ctx: &AttackContext) -> AttackOutcome {
    let endpoints: Vec<&Endpoint> = ctx.component.input_endpoints().collect();
    if endpoints.is_empty() {
        return execute::inconclusive(
            "no endpoint has an `{input}` placeholder: nothing to reflect (add one to `endpoints`)"
                .into(),
        );
    }
    let canary = format!("sd{:08x}", rand::random::<u32>());
    let payloads = payload::load(&canary);
    let mut a = Attack::new(ctx);
    a.rec.metric("canary", canary.clone());
    'endpoints: for ep in &endpoints {
        let label = endpoint_label(ep);
        // A benign request first, so the endpoint's ordinary 4xx (a missing id) is not
        // taken for a payload being refused.
        a.baseline_status = None;
        let benign = format!("sd{:08x}", rand::random::<u32>());
        let req = input::request(ctx, ep, &Input::Text(benign));
        let Some(outcome) = a.send(&req).await else {
            break 'endpoints;
        };
        a.baseline_status = outcome.status();
        for (sent, p) in payloads.iter().enumerate() {
            if sent >= BUDGET_PER_ENDPOINT {
                break;
            }
            let req = input::request(ctx, ep, &Input::Text(p.text.clone()));
            let Some(outcome) = a.send(&req).await else {
                break 'endpoints;
            };
            a.judge(&label, p, &req, &outcome, Source::Reflected);
        }
    }
    if a.stop.is_none() {
        a.revisit(&payloads).await;
    }
    if a.stop == Some(Stop::Halted) {
        return execute::halted();
    }
    a.finish()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// In the answer to the request that carried the payload.
    Reflected,
    /// In a later answer of a GET endpoint.
    Stored,
}

struct Attack<'a> {
    ctx: &'a AttackContext,
    rec: Recorder,
    deadline: Instant,
    stop: Option<Stop>,
    sent: usize,
    answered: usize,
    /// Refused with a 4xx the endpoint's benign request did not get.
    blocked: usize,
    baseline_status: Option<u16>,
    hits: Vec<(String, Sample)>,
    escaped: usize,
    non_html: usize,
    context_samples: Vec<Sample>,
}

impl<'a> Attack<'a> {
    fn new(ctx: &'a AttackContext) -> Attack<'a> {
        Attack {
            ctx,
            rec: Recorder::new(),
            deadline: Instant::now() + ctx.limits.max_attack_duration,
            stop: None,
            sent: 0,
            answered: 0,
            blocked: 0,
            baseline_status: None,
            hits: Vec::new(),
            escaped: 0,
            non_html: 0,
            context_samples: Vec::new(),
        }
    }

    /// One request, unless halted or too close to the deadline.
    async fn send(&mut self, req: &HttpRequest) -> Option<Outcome> {
        let timeout = self.ctx.limits.request_timeout;
        if let Some(stop) = paced::gate(self.ctx, self.deadline, timeout) {
            self.stop = Some(stop);
        }
        if self.stop.is_some() {
            return None;
        }
        // A 429 says nothing about escaping: wait it out and ask again.
        let (paced, requests) =
            paced::send(self.ctx, req, timeout, self.deadline, &mut self.rec).await;
        self.sent += requests;
        let Some(outcome) = paced else {
            self.stop = Some(Stop::Halted);
            return None;
        };
        if let Outcome::Response(r) = &outcome {
            self.answered += 1;
            if (400..500).contains(&r.status) && self.baseline_status.is_some_and(|b| b != r.status)
            {
                self.blocked += 1;
            }
        }
        Some(outcome)
    }

    /// Looks for `payloads` in the answer `outcome` to `req`.
    fn judge(
        &mut self,
        label: &str,
        p: &Payload,
        req: &HttpRequest,
        outcome: &Outcome,
        source: Source,
    ) {
        let Some(r) = outcome.response() else { return };
        let body = r.body_text();
        if !p.reflected(&body) {
            return;
        }
        let ct = r
            .header("content-type")
            .and_then(|c| c.split(';').next())
            .unwrap_or("no content-type")
            .trim()
            .to_string();
        if !r.is_html() {
            self.non_html += 1;
            self.context(
                req,
                r,
                format!(
                    "reflected in a {ct} answer (not HTML, not executable): {}",
                    excerpt(&body, EXCERPT_CHARS)
                ),
            );
            return;
        }
        match p.found_in(&body) {
            Some(around) => {
                let how = match source {
                    Source::Reflected => "reflected unescaped",
                    Source::Stored => "stored and served unescaped",
                };
                let finding = format!(
                    "{how} in a {} {ct} answer of {label}: payload {:?} → {around}",
                    r.status, p.text
                );
                let sample = Sample {
                    request: describe(req, &p.text),
                    status: Some(r.status),
                    outcome: "response".into(),
                    latency_ms: r.latency.as_secs_f64() * 1000.0,
                    excerpt: around,
                };
                self.hits.push((finding, sample));
            }
            None => {
                self.escaped += 1;
                let shown = body.find(&p.marker).map_or_else(String::new, |at| {
                    let from = body[..at]
                        .char_indices()
                        .rev()
                        .nth(60)
                        .map_or(0, |(i, _)| i);
                    excerpt(&body[from..], 160)
                });
                self.context(req, r, format!("reflected escaped: {shown}"));
            }
        }
    }

    fn context(&mut self, req: &HttpRequest, r: &HttpResponse, note: String) {
        if self.context_samples.len() < 2 {
            self.context_samples.push(Sample {
                request: req.describe(),
                status: Some(r.status),
                outcome: "response".into(),
                latency_ms: r.latency.as_secs_f64() * 1000.0,
                excerpt: note,
            });
        }
    }

    /// Stored XSS: fetches every GET endpoint once more (with a benign input) and looks for
    /// any payload of this run.
    async fn revisit(&mut self, payloads: &[Payload]) {
        let word = format!("sd{:08x}", rand::random::<u32>());
        self.baseline_status = None;
        for ep in self
            .ctx
            .component
            .endpoints
            .iter()
            .filter(|e| e.method == HttpMethod::Get)
        {
            let req = input::request(self.ctx, ep, &Input::Text(word.clone()));
            let Some(outcome) = self.send(&req).await else {
                return;
            };
            let label = endpoint_label(ep);
            for p in payloads {
                self.judge(&label, p, &req, &outcome, Source::Stored);
            }
        }
    }

    fn finish(mut self) -> AttackOutcome {
        let rec = &mut self.rec;
        rec.metric("probes", self.sent as u64);
        rec.metric("unescaped", self.hits.len() as u64);
        rec.metric("escaped", self.escaped as u64);
        rec.metric("non_html_reflections", self.non_html as u64);
        rec.metric("blocked", self.blocked as u64);
        for (finding, _) in self.hits.iter().take(MAX_LISTED) {
            rec.finding(finding.clone());
        }
        if self.hits.len() > MAX_LISTED {
            rec.finding(format!(
                "… and {} more unescaped payload(s)",
                self.hits.len() - MAX_LISTED
            ));
        }
        for (_, sample) in self.hits.iter().take(MAX_SAMPLES) {
            rec.sample_raw(sample.clone());
        }
        for s in self.context_samples {
            rec.sample_raw(s);
        }
        if self.escaped > 0 {
            rec.finding(format!(
                "{} reflection(s) in HTML were escaped",
                self.escaped
            ));
        }
        if self.non_html > 0 {
            rec.finding(format!("{} reflection(s) in non-HTML answers (e.g. JSON), which a browser does not execute", self.non_html));
        }
        if self.blocked > 0 {
            rec.finding(format!(
                "{} of {} requests were refused with a 4xx the benign request did not get",
                self.blocked, self.sent
            ));
        }
        let unanswered = self.sent - self.answered;
        let (verdict, summary) = if !self.hits.is_empty() {
            (
                Verdict::Failed,
                format!(
                    "{} payload(s) came back unescaped in HTML ({} requests)",
                    self.hits.len(),
                    self.sent
                ),
            )
        } else if self.answered == 0 {
            (
                Verdict::Inconclusive,
                format!("none of {} requests was answered", self.sent),
            )
        } else if unanswered * 2 > self.sent {
            (
                Verdict::Inconclusive,
                format!("{unanswered} of {} requests got no answer", self.sent),
            )
        } else if self.stop == Some(Stop::Deadline) {
            (
                Verdict::Inconclusive,
                format!(
                    "stopped by the attack's time limit after {} requests without an unescaped reflection",
                    self.sent
                ),
            )
        } else {
            let summary = format!(
                "no unescaped reflection in {} requests ({} escaped, {} non-HTML, {} blocked)",
                self.sent, self.escaped, self.non_html, self.blocked
            );
            (Verdict::Passed, summary)
        };
        execute::concluded(verdict, summary, self.blocked > 0, self.rec)
    }
}

/// The request line, plus the payload when it travels in the body.
fn describe(req: &HttpRequest, payload: &str) -> String {
    let mut s = req.describe();
    if !req.body.is_empty() {
        s.push_str(&format!(" (payload {payload:?} in the body)"));
    }
    s
}

/// `GET /search?q={input}`, for findings.
fn endpoint_label(ep: &Endpoint) -> String {
    let mut s = format!("{} {}", ep.method.as_str(), ep.path);
    for (i, (k, v)) in ep.query.iter().enumerate() {
        s.push(if i == 0 { '?' } else { '&' });
        s.push_str(&format!("{k}={v}"));
    }
    s
}
