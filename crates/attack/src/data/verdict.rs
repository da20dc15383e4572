//! The judgement shared by the data attacks. Each probe is one bounded request; a 4xx is a
//! rejection, a 2xx/3xx is "handled" (unless the probe is syntactically broken and had to be
//! rejected), and a 5xx, a dropped connection, no answer or a service that stops accepting
//! connections fails the attack. Runs the probes in order within the attack's time budget,
//! stops on halt, and turns what it saw into an [`AttackOutcome`] with evidence. `tally`
//! reads and counts the answers; this file sends the requests and gives the verdict.

mod tally;

use std::collections::HashSet;
use std::time::Duration;

use bytes::Bytes;
use shakedown_core::result::{AttackOutcome, Verdict};
use shakedown_core::system::Endpoint;
use tokio::time::Instant;

use super::probe;
use crate::context::AttackContext;
use crate::execute;
use crate::http::{self, HttpRequest, Outcome};

use tally::{Answer, Tally};

/// Probes sent per endpoint at most.
pub const MAX_PROBES_PER_ENDPOINT: usize = 40;
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

/// Plans `probes` against every `{input}` endpoint of the component and judges them by
/// `rule`; inconclusive, with nothing sent, when no endpoint has an `{input}`.
pub async fn judge_inputs(
    ctx: &AttackContext,
    rule: Rule,
    probes: fn(&AttackContext, &Endpoint) -> Vec<Probe>,
) -> AttackOutcome {
    let plans: Vec<Plan> = ctx
        .component
        .input_endpoints()
        .map(|ep| probe::plan(ctx, ep, probes(ctx, ep)))
        .collect();
    if plans.is_empty() {
        return execute::inconclusive(format!(
            "{}: no endpoint has an {{input}} placeholder",
            rule.pattern
        ));
    }
    judge(ctx, rule, plans).await
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

    const LENIENT: Rule = Rule {
        pattern: "null_injection",
        preferred: None,
    };

    #[test]
    fn connect_errors_alone_are_inconclusive() {
        let mut t = Tally::new(LENIENT);
        let p = Probe::handle("p", HttpRequest::get("/x"));
        t.probe("GET /x", &p, &Outcome::ConnectError("refused".into()));
        let out = finish(t, 1, None);
        assert_eq!(out.verdict, Verdict::Inconclusive);
    }
}
