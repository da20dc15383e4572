//! `auth_bypass`: every protected endpoint (all declared endpoints but the health path) is
//! requested without the legitimate credential — no or malformed credentials, forged JWTs,
//! header tricks, path tricks. Passed = every attempt refused (401/403; 404/405 for path
//! tricks) while the legitimate request, when `auth` is given, gets through. Failed = any
//! attempt served with a 2xx. Anything else is inconclusive, with the reason.

mod attempt;
mod jwt;

use shakedown_core::result::{AttackOutcome, Sample, Verdict};
use shakedown_core::system::{Endpoint, HttpMethod};
use time::OffsetDateTime;
use tokio::time::Instant;

use crate::context::AttackContext;
use crate::evidence::{EXCERPT_CHARS, MAX_SAMPLES, Recorder, excerpt};
use crate::execute;
use crate::http::{HttpRequest, HttpResponse, Outcome};

use super::paced::{self, Stop};

use attempt::{Attempt, Family, Protected};

/// Most endpoints attacked (each gets about 30 attempts).
const MAX_ENDPOINTS: usize = 10;
/// Answers listed one by one in the findings, per kind.
const MAX_LISTED: usize = 6;

/// Runs the attack.
pub async fn run(ctx: &AttackContext) -> AttackOutcome {
    if !ctx.component.guardrails.auth_required() {
        return execute::inconclusive(
            "the component does not claim `guardrails.auth_required: true`: nothing to verify"
                .into(),
        );
    }
    let word = format!("sd{:08x}", rand::random::<u32>());
    let targets = protected(ctx, &word);
    if targets.is_empty() {
        return execute::inconclusive(format!(
            "no endpoint to attack besides the health path {} (declare the protected `endpoints`)",
            ctx.component.health_path()
        ));
    }
    let mut a = Attack::new(ctx);
    let Some(controls) = a.controls(&word).await else {
        return a.stopped(targets.len());
    };
    let now = OffsetDateTime::now_utc().unix_timestamp();
    for p in &targets {
        let legit = if ctx.auth.is_some() {
            let Some(o) = a.send(&p.legit).await else {
                return a.stopped(targets.len());
            };
            a.legit(p, &o);
            o.response().cloned()
        } else {
            None
        };
        for at in attempt::all(ctx, p, now, &word) {
            let Some(o) = a.send(&at.req).await else {
                return a.stopped(targets.len());
            };
            let class = classify(&at, &o, &controls, legit.as_ref());
            a.tally(p, &at, &o, class);
        }
    }
    a.finish(targets.len())
}

/// Every declared endpoint except the health path (usually public), deduplicated, or `/`
/// when nothing else is declared and `/` is not the health path.
fn protected(ctx: &AttackContext, word: &str) -> Vec<Protected> {
    let health = ctx.component.health_path();
    let fallback;
    let endpoints: Vec<&Endpoint> = if ctx.component.endpoints.is_empty() && health != "/" {
        fallback = Endpoint {
            method: HttpMethod::Get,
            path: "/".into(),
            query: Default::default(),
            body: None,
            headers: Default::default(),
        };
        vec![&fallback]
    } else {
        ctx.component
            .endpoints
            .iter()
            .filter(|e| e.path != health)
            .collect()
    };
    let mut seen = Vec::new();
    let mut out = Vec::new();
    for ep in endpoints {
        let p = Protected::new(ctx, ep, word);
        let key = (p.bare.method.clone(), p.bare.path_and_query.clone());
        if !seen.contains(&key) {
            seen.push(key);
            out.push(p);
        }
        if out.len() >= MAX_ENDPOINTS {
            break;
        }
    }
    out
}

/// Answers without credentials to compare tricks with: `/` (twice, to see whether it is
/// stable) and a path that cannot exist (a catch-all page is not a bypass).
struct Controls {
    root: Option<HttpResponse>,
    root_stable: bool,
    missing: Option<HttpResponse>,
}

/// How one attempt was answered.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Class {
    /// 401/403, 400/431/494 (a malformed request refused outright), or a redirect (to log in).
    Refused,
    /// Served: the trick got through.
    Bypassed,
    /// Not served, but not by the guard either (404/405 for a path trick, the public `/`
    /// page for a URL override, a catch-all page).
    NotServed(String),
    /// Neither refused nor served: the guard's behaviour cannot be told.
    Unclear(String),
    NoAnswer,
}

fn classify(at: &Attempt, o: &Outcome, c: &Controls, legit: Option<&HttpResponse>) -> Class {
    let Some(r) = o.response() else {
        return Class::NoAnswer;
    };
    let same_body = |other: &Option<HttpResponse>| {
        other
            .as_ref()
            .is_some_and(|x| x.status == r.status && x.body == r.body)
    };
    match r.status {
        401 | 403 | 400 | 431 | 494 => Class::Refused,
        // A path trick redirected (usually to the canonical path) is not served; any other
        // redirect without credentials is the guard sending the client to log in.
        s @ 300..=399 if at.family == Family::Path => Class::NotServed(format!(
            "{s} redirect to {}",
            r.header("location").unwrap_or("?")
        )),
        300..=399 => Class::Refused,
        s if at.via_root && same_body(&c.root) && c.root_stable => {
            Class::NotServed(format!("answered {s} like a plain `/` (header ignored)"))
        }
        200..=299 if at.via_root && !c.root_stable && legit.is_none_or(|l| l.body != r.body) => {
            Class::Unclear(format!(
                "{}, but `/` itself changes between requests, so the override cannot be told apart",
                r.status
            ))
        }
        200..=299 if at.family == Family::Path && same_body(&c.missing) => {
            Class::NotServed(format!(
                "{} with the same page as a path that does not exist (a catch-all)",
                r.status
            ))
        }
        200..=299 => Class::Bypassed,
        404 | 405 if at.family == Family::Path => Class::NotServed(r.status.to_string()),
        s => Class::Unclear(s.to_string()),
    }
}

struct Attack<'a> {
    ctx: &'a AttackContext,
    rec: Recorder,
    deadline: Instant,
    stop: Option<Stop>,
    attempts: usize,
    answered: usize,
    refused: usize,
    no_answer: usize,
    bypasses: Vec<(String, Sample)>,
    not_served: Vec<String>,
    unclear: Vec<String>,
    legit_failures: Vec<String>,
    legit_ok: usize,
    refused_sample: Option<Sample>,
}

impl<'a> Attack<'a> {
    fn new(ctx: &'a AttackContext) -> Attack<'a> {
        Attack {
            ctx,
            rec: Recorder::new(),
            deadline: Instant::now() + ctx.limits.max_attack_duration,
            stop: None,
            attempts: 0,
            answered: 0,
            refused: 0,
            no_answer: 0,
            bypasses: Vec::new(),
            not_served: Vec::new(),
            unclear: Vec::new(),
            legit_failures: Vec::new(),
            legit_ok: 0,
            refused_sample: None,
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
        // A 429 is neither a refusal nor a bypass: wait it out and ask again.
        let (paced, _) = paced::send(self.ctx, req, timeout, self.deadline, &mut self.rec).await;
        if paced.is_none() {
            self.stop = Some(Stop::Halted);
        }
        paced
    }

    async fn controls(&mut self, word: &str) -> Option<Controls> {
        let root = HttpRequest::get(self.ctx.target.path("/"));
        let first = self.send(&root).await?.response().cloned();
        let second = self.send(&root).await?.response().cloned();
        let missing = HttpRequest::get(self.ctx.target.path(&format!("/{word}-missing")));
        let missing = self.send(&missing).await?.response().cloned();
        let root_stable = match (&first, &second) {
            (Some(a), Some(b)) => a.status == b.status && a.body == b.body,
            _ => false,
        };
        Some(Controls {
            root: first,
            root_stable,
            missing,
        })
    }

    /// Judges the legitimate request: it must get through the guard.
    fn legit(&mut self, p: &Protected, o: &Outcome) {
        let ok = match o.status() {
            Some(200..=399) => true,
            // A random `{input}` value is usually missing: the handler's 4xx proves the
            // credential passed the guard.
            Some(s)
                if p.has_input
                    && (400..500).contains(&s)
                    && !matches!(s, 401 | 403 | 407 | 429) =>
            {
                true
            }
            _ => false,
        };
        if ok {
            self.legit_ok += 1;
        } else {
            let what = match o {
                Outcome::Response(r) => format!("answered {}", r.status),
                other => format!("got no answer ({})", other.label()),
            };
            self.legit_failures
                .push(format!("the legitimate request to {} {what}", p.label));
        }
    }

    fn tally(&mut self, p: &Protected, at: &Attempt, o: &Outcome, class: Class) {
        self.attempts += 1;
        if o.response().is_some() {
            self.answered += 1;
        }
        let what = format!("{} on {}", at.name, p.label);
        match class {
            Class::Refused => {
                self.refused += 1;
                if self.refused_sample.is_none() {
                    self.refused_sample = Some(sample(at, o));
                }
            }
            Class::Bypassed => {
                let r = o
                    .response()
                    .map(|r| (r.status, excerpt(&r.body_text(), 120)))
                    .unwrap_or_default();
                self.bypasses.push((
                    format!(
                        "bypass: {what} answered {} without the credential: {}",
                        r.0, r.1
                    ),
                    sample(at, o),
                ));
            }
            Class::NotServed(why) => self.not_served.push(format!("{what}: {why}")),
            Class::Unclear(why) => self
                .unclear
                .push(format!("{what}: answered {why} (expected 401/403)")),
            Class::NoAnswer => {
                self.no_answer += 1;
                self.unclear
                    .push(format!("{what}: no answer ({})", o.label()));
            }
        }
    }

    fn stopped(self, endpoints: usize) -> AttackOutcome {
        match self.stop {
            Some(Stop::Halted) | None => execute::halted(),
            Some(Stop::Deadline) => {
                let mut out = self.finish(endpoints);
                if out.verdict == Verdict::Passed {
                    out.verdict = Verdict::Inconclusive;
                    out.summary = format!(
                        "stopped by the attack's time limit after {} attempts",
                        out.evidence.requests_sent
                    );
                    out.evidence.findings.insert(0, out.summary.clone());
                }
                out
            }
        }
    }

    fn finish(mut self, endpoints: usize) -> AttackOutcome {
        let rec = &mut self.rec;
        rec.metric("endpoints", endpoints as u64);
        rec.metric("attempts", self.attempts as u64);
        rec.metric("refused", self.refused as u64);
        rec.metric("bypassed", self.bypasses.len() as u64);
        rec.metric("not_served", self.not_served.len() as u64);
        rec.metric("unclear", self.unclear.len() as u64);
        rec.metric("legitimate_ok", self.legit_ok as u64);
        for (f, _) in self.bypasses.iter().take(MAX_LISTED) {
            rec.finding(f.clone());
        }
        if self.bypasses.len() > MAX_LISTED {
            rec.finding(format!(
                "… and {} more bypasses",
                self.bypasses.len() - MAX_LISTED
            ));
        }
        for f in &self.legit_failures {
            rec.finding(format!(
                "{f}: cannot tell a broken credential from a working guard"
            ));
        }
        list(rec, "neither refused nor served", &self.unclear);
        list(
            rec,
            "not served, though not refused by the guard",
            &self.not_served,
        );
        for (_, s) in self.bypasses.iter().take(MAX_SAMPLES - 1) {
            rec.sample_raw(s.clone());
        }
        if let Some(s) = self.refused_sample.take() {
            rec.sample_raw(s);
        }

        let (verdict, summary) = if let Some((first, _)) = self.bypasses.first() {
            let first = first
                .split(" answered")
                .next()
                .unwrap_or(first)
                .trim_start_matches("bypass: ");
            (
                Verdict::Failed,
                format!(
                    "{} of {} attempts got through, e.g. {first}",
                    self.bypasses.len(),
                    self.attempts
                ),
            )
        } else if let Some(f) = self.legit_failures.first() {
            (
                Verdict::Inconclusive,
                format!("{f}; {} attempts, none got through", self.attempts),
            )
        } else if self.answered == 0 {
            (
                Verdict::Inconclusive,
                format!("none of {} attempts was answered", self.attempts),
            )
        } else if self.no_answer * 2 > self.attempts {
            (
                Verdict::Inconclusive,
                format!(
                    "{} of {} attempts got no answer",
                    self.no_answer, self.attempts
                ),
            )
        } else if !self.unclear.is_empty() {
            (
                Verdict::Inconclusive,
                format!(
                    "{} of {} attempts were neither refused nor served",
                    self.unclear.len(),
                    self.attempts
                ),
            )
        } else {
            let mut s = format!(
                "all {} attempts refused on {endpoints} endpoint(s)",
                self.attempts
            );
            if !self.not_served.is_empty() {
                s.push_str(&format!(
                    " ({} answered 404/405 or a public page instead of 401/403)",
                    self.not_served.len()
                ));
            }
            (Verdict::Passed, s)
        };
        execute::concluded(verdict, summary, self.refused > 0, self.rec)
    }
}

fn list(rec: &mut Recorder, what: &str, items: &[String]) {
    if items.is_empty() {
        return;
    }
    let shown: Vec<&str> = items.iter().take(MAX_LISTED).map(String::as_str).collect();
    let more = items.len().saturating_sub(MAX_LISTED);
    let tail = if more > 0 {
        format!("; … and {more} more")
    } else {
        String::new()
    };
    rec.finding(format!(
        "{} attempt(s) {what}: {}{tail}",
        items.len(),
        shown.join("; ")
    ));
}

fn sample(at: &Attempt, o: &Outcome) -> Sample {
    let (status, outcome, latency, body) = match o {
        Outcome::Response(r) => (Some(r.status), "response", r.latency, r.body_text()),
        Outcome::Timeout(d) => (None, "timeout", *d, String::new()),
        Outcome::ConnectError(e) => (None, "connect error", Default::default(), e.clone()),
        Outcome::Closed(e) => (None, "connection closed", Default::default(), e.clone()),
    };
    Sample {
        request: excerpt(&format!("[{}] {}", at.name, at.req.describe()), 300),
        status,
        outcome: outcome.into(),
        latency_ms: latency.as_secs_f64() * 1000.0,
        excerpt: excerpt(&body, EXCERPT_CHARS),
    }
}

/// `GET /users/{input}`, for findings.
fn endpoint_label(ep: &Endpoint) -> String {
    let mut s = format!("{} {}", ep.method.as_str(), ep.path);
    for (i, (k, v)) in ep.query.iter().enumerate() {
        s.push(if i == 0 { '?' } else { '&' });
        s.push_str(&format!("{k}={v}"));
    }
    s
}
