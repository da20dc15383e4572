//! `rate_limit_breach`: sends the claimed limit plus 50% requests inside one window and checks
//! that the server answers 429 no later than the limit plus 10%.
//!
//! The request is the first endpoint without `{input}` (a plain, repeatable call), else the
//! first endpoint with a benign input, else the health path; a real endpoint is preferred
//! because health paths are often exempt from rate limits. Requests go over keep-alive
//! connections, one at a time while that is fast enough to fit the window (so request numbers
//! are exact), with eight in flight when the claimed rate is higher.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::future::join_all;
use shakedown_core::guardrail::RateLimit;
use shakedown_core::result::{AttackOutcome, Verdict};
use tokio::time::Instant;

use crate::context::AttackContext;
use crate::evidence::{EXCERPT_CHARS, Recorder};
use crate::execute::{halted, inconclusive};
use crate::http::{HttpRequest, HttpResponse, Outcome};
use crate::input::{self, Input};
use crate::load::engine::{Client, ErrorKind, RequestTemplate};

/// Claimed rates up to this many requests per second are tested one request at a time
/// (about 2 ms per request leaves room even for a slow target).
const SEQUENTIAL_MAX_RATE: f64 = 500.0;
/// Requests in flight when the claimed rate is higher than [`SEQUENTIAL_MAX_RATE`].
const CONCURRENT_IN_FLIGHT: usize = 8;

/// The request to repeat, and why it was chosen.
fn pick_request(ctx: &AttackContext) -> (HttpRequest, &'static str) {
    let eps = &ctx.component.endpoints;
    if let Some(ep) = eps.iter().find(|e| !e.has_input()) {
        let req = input::request(ctx, ep, &Input::Text(String::new()));
        return (req, "first endpoint without {input}");
    }
    if let Some(ep) = eps.first() {
        let req = input::request(ctx, ep, &Input::Text("shakedown".into()));
        return (req, "first endpoint, with the benign input `shakedown`");
    }
    (
        input::get(ctx, ctx.component.health_path()),
        "health path (no endpoints declared)",
    )
}

/// One request's fate. `index` is 1-based in issue order; `at` is when it completed.
#[derive(Debug, Clone, Copy)]
struct Hit {
    index: u64,
    result: Result<u16, ErrorKind>,
    latency: Duration,
    at: Duration,
}

/// What one connection saw: its hits (in increasing index order), the first response of each
/// status (so the globally first 429 is among them), and 429s without `Retry-After`.
#[derive(Default)]
struct WorkerLog {
    hits: Vec<Hit>,
    firsts: BTreeMap<u16, (u64, HttpResponse)>,
    no_retry_after: u64,
}

struct Plan<'a> {
    ctx: &'a AttackContext,
    template: &'a RequestTemplate,
    total: u64,
    next: AtomicU64,
    start: Instant,
    deadline: Instant,
}

async fn worker(plan: &Plan<'_>) -> WorkerLog {
    let mut log = WorkerLog::default();
    let mut client = Client::new(plan.ctx.target.addr).keep_body(EXCERPT_CHARS * 4);
    loop {
        let index = plan.next.fetch_add(1, Ordering::Relaxed) + 1;
        let sent = Instant::now();
        if index > plan.total || sent >= plan.deadline || plan.ctx.halt.is_cancelled() {
            break;
        }
        let timeout = (sent + plan.ctx.limits.request_timeout).min(plan.deadline);
        let result = tokio::select! {
            r = client.exchange(plan.template) => Some(r),
            _ = tokio::time::sleep_until(timeout) => None,
            _ = plan.ctx.halt.cancelled() => break,
        };
        let at = plan.start.elapsed();
        let result = match result {
            // Cut off by the end of the window: it cannot count either way.
            None if Instant::now() >= plan.deadline => break,
            None => {
                client.reset();
                Err(ErrorKind::Timeout)
            }
            Some(Err(kind)) => Err(kind),
            Some(Ok(x)) => {
                let status = x.status.as_u16();
                if status == 429 && !x.headers.contains_key(http::header::RETRY_AFTER) {
                    log.no_retry_after += 1;
                }
                log.firsts.entry(status).or_insert_with(|| {
                    let resp = HttpResponse {
                        status,
                        headers: x.headers,
                        body: x.body,
                        latency: sent.elapsed(),
                    };
                    (index, resp)
                });
                Ok(status)
            }
        };
        log.hits.push(Hit {
            index,
            result,
            latency: sent.elapsed(),
            at,
        });
    }
    log
}

/// Longest window the attack waits out before counting (see `run`).
pub const SETTLE_MAX: Duration = Duration::from_secs(10);

pub async fn run(ctx: &AttackContext) -> AttackOutcome {
    let Some(limit) = ctx.component.guardrails.rate_limit else {
        return inconclusive(
            "no rate limit claimed: add `guardrails.rate_limit: {requests: N, per: 1m}` to test it"
                .into(),
        );
    };
    let window = limit.per.as_duration();
    if window.is_zero() {
        return inconclusive("the claimed rate limit has a zero-length window".into());
    }
    let (req, why) = pick_request(ctx);
    let template = match RequestTemplate::new(&ctx.target, &req) {
        Ok(t) => t,
        Err(e) => return inconclusive(format!("cannot build {}: {e}", req.describe())),
    };
    // Earlier attacks in the campaign may have spent part of this window's budget, which
    // would make the first 429 arrive early and prove little. For short windows, wait one
    // full window first so the count starts from an empty budget.
    let settle = window <= SETTLE_MAX && window * 4 <= ctx.limits.max_attack_duration;
    if settle {
        tokio::select! {
            _ = tokio::time::sleep(window) => {}
            _ = ctx.halt.cancelled() => return halted(),
        }
    }
    let n = u64::from(limit.requests);
    let total = (n * 3).div_ceil(2);
    let rate = total as f64 / window.as_secs_f64();
    let in_flight = if rate <= SEQUENTIAL_MAX_RATE {
        1
    } else {
        CONCURRENT_IN_FLIGHT
    };
    let start = Instant::now();
    let plan = Plan {
        ctx,
        template: &template,
        total,
        next: AtomicU64::new(0),
        start,
        deadline: start + window.min(ctx.limits.max_attack_duration),
    };
    let logs = join_all((0..in_flight).map(|_| worker(&plan))).await;
    if ctx.halt.is_cancelled() {
        return halted();
    }
    let mut rec = Recorder::new();
    rec.finding(format!("target: {} ({why})", req.describe()));
    rec.metric("endpoint", req.describe());
    rec.metric("in_flight", in_flight as u64);
    rec.metric(
        "settled_ms",
        if settle { window.as_millis() as u64 } else { 0 },
    );
    judge(
        rec,
        req.describe(),
        limit,
        total,
        window,
        merge(logs),
        start.elapsed(),
    )
    .into_outcome()
}

/// Every worker's hits in index order, the globally first response of each status, and the
/// count of 429s without `Retry-After`.
fn merge(logs: Vec<WorkerLog>) -> WorkerLog {
    let mut all = WorkerLog::default();
    for log in logs {
        all.hits.extend(log.hits);
        all.no_retry_after += log.no_retry_after;
        for (status, (index, resp)) in log.firsts {
            if all.firsts.get(&status).is_none_or(|(i, _)| index < *i) {
                all.firsts.insert(status, (index, resp));
            }
        }
    }
    all.hits.sort_by_key(|h| h.index);
    all
}

struct Judged {
    verdict: Verdict,
    summary: String,
    triggered: bool,
    rec: Recorder,
}

impl Judged {
    fn into_outcome(self) -> AttackOutcome {
        AttackOutcome {
            verdict: self.verdict,
            summary: self.summary,
            guardrail_triggered: self.triggered,
            evidence: self.rec.finish(),
        }
    }
}

fn judge(
    mut rec: Recorder,
    target: String,
    limit: RateLimit,
    total: u64,
    window: Duration,
    log: WorkerLog,
    elapsed: Duration,
) -> Judged {
    let n = u64::from(limit.requests);
    let allowed = (n * 11).div_ceil(10);
    let per = limit.per;
    let WorkerLog {
        hits,
        firsts,
        no_retry_after,
    } = log;
    for h in &hits {
        let label = match h.result {
            Ok(status) => status.to_string(),
            Err(kind) => kind.label().to_string(),
        };
        let latency = h.result.is_ok().then_some(h.latency);
        rec.record_label(&label, latency);
    }
    let in_window = |h: &&Hit| h.at <= window;
    let first_with = |status: u16| {
        hits.iter()
            .filter(in_window)
            .find(|h| h.result == Ok(status))
            .map(|h| h.index)
    };
    let first_429 = first_with(429);
    let first_503 = first_with(503);
    let limited = |h: &Hit| matches!(h.result, Ok(429 | 503));
    let served = hits
        .iter()
        .filter(in_window)
        .filter(|h| h.result.is_ok() && !limited(h));
    let allowed_until = served.clone().count() as u64;
    let early_served = served.filter(|h| h.index <= allowed).count() as u64;
    let errors = hits.iter().filter(|h| h.result.is_err()).count() as u64;
    let sent_in_window = hits.iter().filter(in_window).count() as u64;

    for status in [200, 429, 503] {
        if let Some((index, resp)) = firsts.get(&status) {
            rec.sample_described(
                format!("{target} (request #{index})"),
                &Outcome::Response(resp.clone()),
            );
        }
    }
    if let Some((index, resp)) = firsts
        .iter()
        .find(|(s, _)| ![200, 429, 503].contains(*s))
        .map(|(_, v)| v)
    {
        rec.sample_described(
            format!("{target} (request #{index})"),
            &Outcome::Response(resp.clone()),
        );
    }
    let retry_after = firsts
        .get(&429)
        .and_then(|(_, r)| r.header("retry-after").map(str::to_string));
    rec.metric("limit", n);
    rec.metric("window_ms", window.as_millis() as u64);
    rec.metric("requests_planned", total);
    rec.metric("allowed", allowed);
    rec.metric("first_429_at", first_429);
    rec.metric("first_503_at", first_503);
    rec.metric("allowed_until", allowed_until);
    rec.metric("retry_after", retry_after.clone());
    rec.metric("errors", errors);
    rec.metric("sent_in_window", sent_in_window);
    rec.metric("elapsed_ms", elapsed.as_millis() as u64);

    if first_429.is_some() && retry_after.is_none() {
        rec.finding(
            "the first 429 carries no Retry-After header; clients cannot tell when to retry",
        );
    } else if no_retry_after > 0 {
        rec.finding(format!(
            "{no_retry_after} responses with 429 carried no Retry-After header"
        ));
    }
    if elapsed > window {
        rec.finding(format!(
            "sending took {} ms, longer than the {per} window; only requests answered inside it count",
            elapsed.as_millis()
        ));
    }

    let limit_text = format!("limit {n} per {per}");
    if let Some(at) = first_429.filter(|at| *at <= allowed) {
        rec.finding(format!(
            "first 429 at request {at} ({limit_text}, allowed up to {allowed}); {allowed_until} requests served in the window"
        ));
        return Judged {
            verdict: Verdict::Passed,
            summary: format!("429 at request {at} of {total} ({limit_text})"),
            triggered: true,
            rec,
        };
    }
    if let Some(at) = first_503 {
        rec.finding(format!(
            "limited with 503 instead of 429 (first 503 at request {at}, {limit_text}); nginx's \
             limit_req answers 503 by default: add `limit_req_status 429;`"
        ));
        return Judged {
            verdict: Verdict::Failed,
            summary: format!("503 instead of 429 from request {at} ({limit_text})"),
            triggered: first_429.is_some(),
            rec,
        };
    }
    if early_served >= allowed {
        let (summary, finding) = match first_429 {
            Some(at) => (
                format!("429 only at request {at} ({limit_text})"),
                format!(
                    "429 too late: first at request {at}, but {limit_text} allows at most {allowed}; \
                     {allowed_until} requests were served inside the window"
                ),
            ),
            None => (
                format!("no 429 after {sent_in_window} requests ({limit_text})"),
                format!(
                    "no 429 after {sent_in_window} requests, {limit_text}; {allowed_until} were served"
                ),
            ),
        };
        rec.finding(finding);
        return Judged {
            verdict: Verdict::Failed,
            summary,
            triggered: first_429.is_some(),
            rec,
        };
    }
    let reason = format!(
        "only {early_served} of the first {allowed} requests were answered inside the {per} window \
         ({errors} errors, {sent_in_window} of {total} sent in time); cannot tell whether the limit holds"
    );
    rec.finding(reason.clone());
    Judged {
        verdict: Verdict::Inconclusive,
        summary: reason,
        triggered: first_429.is_some(),
        rec,
    }
}
