//! One endpoint under test: sends probes within the request budget, the attack's deadline
//! and the halt token, keeps the benign baseline, and collects hits and counters.

use std::time::Duration;

use shakedown_core::result::Sample;
use shakedown_core::system::Endpoint;
use tokio::time::Instant;

use crate::context::AttackContext;
use crate::evidence::{EXCERPT_CHARS, Recorder, excerpt};
use crate::http::{HttpResponse, Outcome};
use crate::input::{self, Input};
use crate::owasp::paced;

use super::compare::{Noise, Shape};
use super::payloads::Context;

/// Most requests sent to one endpoint.
pub(super) const BUDGET_PER_ENDPOINT: usize = 60;

/// Why a session stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stop {
    Halted,
    Deadline,
    Budget,
}

/// One probe sent and what came back.
pub(super) struct Probe {
    pub input: String,
    /// The request line, plus the input when it travels in the body.
    pub request: String,
    pub outcome: Outcome,
}

impl Probe {
    pub fn response(&self) -> Option<&HttpResponse> {
        self.outcome.response()
    }
    /// Time to the complete answer; a timeout counts as its full duration.
    pub fn latency(&self) -> Option<Duration> {
        match &self.outcome {
            Outcome::Response(r) => Some(r.latency),
            Outcome::Timeout(d) => Some(*d),
            _ => None,
        }
    }
    pub fn shape(&self) -> Option<Shape> {
        self.response().map(|r| Shape::of(r, &self.input))
    }
    /// A sample for the evidence, with `excerpt` in place of the body start when given.
    pub fn sample(&self, excerpt_text: Option<String>) -> Sample {
        let (status, outcome, latency, body) = match &self.outcome {
            Outcome::Response(r) => (Some(r.status), "response", r.latency, r.body_text()),
            Outcome::Timeout(d) => (None, "timeout", *d, String::new()),
            Outcome::ConnectError(e) => (None, "connect error", Duration::ZERO, e.clone()),
            Outcome::Closed(e) => (None, "connection closed", Duration::ZERO, e.clone()),
        };
        Sample {
            request: self.request.clone(),
            status,
            outcome: outcome.into(),
            latency_ms: latency.as_secs_f64() * 1000.0,
            excerpt: excerpt_text.unwrap_or_else(|| excerpt(&body, EXCERPT_CHARS)),
        }
    }
}

/// Evidence of injection on one endpoint.
pub(super) struct Hit {
    pub technique: &'static str,
    pub payload: String,
    pub detail: String,
    pub sample: Sample,
}

/// Benign requests the probes are judged against.
pub(super) struct Baseline {
    pub word: String,
    pub num: String,
    /// Two requests per context with different benign values: their difference is the noise.
    pub words: Vec<Probe>,
    pub nums: Vec<Probe>,
}

impl Baseline {
    pub fn probes(&self, context: Context) -> &[Probe] {
        match context {
            Context::Word => &self.words,
            Context::Number => &self.nums,
        }
    }
    /// The first baseline shape of `context` and the noise between its two requests, when
    /// both were answered.
    pub fn reference(&self, context: Context) -> Option<(Shape, Noise)> {
        let p = self.probes(context);
        let a = p.first()?.shape()?;
        let b = p.get(1)?.shape()?;
        let noise = Noise::between(&a, &b);
        Some((a, noise))
    }
    pub fn all(&self) -> impl Iterator<Item = &Probe> {
        self.words.iter().chain(&self.nums)
    }
    /// Median latency of the answered baseline requests.
    pub fn median_latency(&self) -> Option<Duration> {
        let mut l: Vec<Duration> = self
            .all()
            .filter(|p| p.response().is_some())
            .filter_map(Probe::latency)
            .collect();
        l.sort();
        l.get(l.len() / 2).copied()
    }
    pub fn status(&self, context: Context) -> Option<u16> {
        self.probes(context)
            .first()
            .and_then(|p| p.response())
            .map(|r| r.status)
    }
}

/// The state of one endpoint's test.
pub(super) struct Session<'a> {
    pub ctx: &'a AttackContext,
    ep: &'a Endpoint,
    /// e.g. `GET /users?name={input}`.
    pub label: String,
    rec: &'a mut Recorder,
    deadline: Instant,
    pub sent: usize,
    pub no_response: usize,
    pub blocked: usize,
    pub stop: Option<Stop>,
    /// The baseline was answered and accepted, so the techniques ran.
    pub tested: bool,
    pub hits: Vec<Hit>,
    pub notes: Vec<String>,
    /// Statuses of the baseline, to tell a blocking 4xx from the endpoint's normal 4xx.
    baseline_statuses: Vec<u16>,
}

impl<'a> Session<'a> {
    pub fn new(
        ctx: &'a AttackContext,
        ep: &'a Endpoint,
        rec: &'a mut Recorder,
        deadline: Instant,
    ) -> Session<'a> {
        Session {
            ctx,
            ep,
            label: label(ep),
            rec,
            deadline,
            sent: 0,
            no_response: 0,
            blocked: 0,
            stop: None,
            tested: false,
            hits: Vec::new(),
            notes: Vec::new(),
            baseline_statuses: Vec::new(),
        }
    }

    /// Sends the benign baseline: two random words and two random numbers.
    pub async fn baseline(&mut self) -> Option<Baseline> {
        let word = random_word();
        let num = rand::random_range(100_000_000u64..999_999_999).to_string();
        let word2 = random_word();
        let num2 = rand::random_range(100_000_000u64..999_999_999).to_string();
        let mut words = Vec::new();
        for w in [&word, &word2] {
            words.push(self.probe(w, None).await?);
        }
        let mut nums = Vec::new();
        for n in [&num, &num2] {
            nums.push(self.probe(n, None).await?);
        }
        let b = Baseline {
            word,
            num,
            words,
            nums,
        };
        self.baseline_statuses = b
            .all()
            .filter_map(|p| p.response())
            .map(|r| r.status)
            .collect();
        Some(b)
    }

    /// Sends `input` to the endpoint (with the legitimate credentials). `None` when the
    /// session must stop: halted, past the deadline or out of budget.
    pub async fn probe(&mut self, input: &str, timeout: Option<Duration>) -> Option<Probe> {
        if self.ctx.halt.is_cancelled() {
            self.stop = Some(Stop::Halted);
        } else if self.sent >= BUDGET_PER_ENDPOINT {
            self.stop = Some(Stop::Budget);
        }
        let remaining = self.deadline.saturating_duration_since(Instant::now());
        let timeout = timeout.unwrap_or(self.ctx.limits.request_timeout);
        // A probe cut short by the deadline would read as a timeout (or a delay): don't start it.
        if self.stop.is_none() && remaining < timeout {
            self.stop = Some(Stop::Deadline);
        }
        if self.stop.is_some() {
            return None;
        }
        let req = input::request(self.ctx, self.ep, &Input::Text(input.to_string()));
        // A 429 says nothing about the input: wait it out and ask again.
        let (paced, requests) = paced::send(self.ctx, &req, timeout, self.deadline, self.rec).await;
        self.sent += requests;
        let Some(outcome) = paced else {
            self.stop = Some(Stop::Halted);
            return None;
        };
        match outcome.status() {
            None => self.no_response += 1,
            Some(s)
                if (400..500).contains(&s)
                    && !self.baseline_statuses.contains(&s)
                    && !self.baseline_statuses.is_empty() =>
            {
                self.blocked += 1
            }
            Some(_) => {}
        }
        let mut request = req.describe();
        if !req.body.is_empty() {
            request.push_str(&format!(" (input {input:?} in the body)"));
        }
        Some(Probe {
            input: input.to_string(),
            request,
            outcome,
        })
    }

    pub fn hit(&mut self, hit: Hit) {
        self.hits.push(hit);
    }

    /// The probe was refused with a 4xx the baseline did not get.
    pub fn is_blocked(&self, p: &Probe) -> bool {
        p.response().is_some_and(|r| {
            (400..500).contains(&r.status) && !self.baseline_statuses.contains(&r.status)
        })
    }
}

/// A random benign word, e.g. `sd3fa9c1e2`.
pub(super) fn random_word() -> String {
    format!("sd{:08x}", rand::random::<u32>())
}

/// `GET /users?name={input}`, for findings.
pub(super) fn label(ep: &Endpoint) -> String {
    let mut s = format!("{} {}", ep.method.as_str(), ep.path);
    let mut first = true;
    for (k, v) in &ep.query {
        s.push(if first { '?' } else { '&' });
        first = false;
        s.push_str(&format!("{k}={v}"));
    }
    if ep.body.is_some() {
        s.push_str(" (JSON body)");
    }
    s
}
