//! `burst_traffic`: N requests at the same instant, each on its own connection (N =
//! `limits.burst_concurrency`, else the claimed `circuit_breaker.concurrency`, default 1000;
//! capped by our open-files limit). All connections are opened first and the requests are
//! released together, so the server sees one burst rather than a ramp.
//!
//! Passed: connection errors, timeouts and 5xx other than 503 stay below [`FAILURE_SHARE`] of
//! N — every other request was served (2xx/3xx), shed cleanly (429/503) or answered. Failed:
//! they reach it. Running out of sockets on our side is inconclusive, never the server's
//! fault. Recovery afterwards is checked by `execute`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use shakedown_core::result::{AttackOutcome, Verdict};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::context::AttackContext;
use crate::evidence::{EXCERPT_CHARS, Recorder};
use crate::execute::{halted, inconclusive};
use crate::http::{HttpRequest, HttpResponse, Outcome};
use crate::input::{self, Input};
use crate::load::engine::{Client, ErrorKind, RequestTemplate};
use crate::load::fd_limit;

/// Share of N that connection errors, timeouts and non-503 5xx may reach before the burst
/// counts as failed: a handful of stragglers is noise, a tenth is a server that buckled.
pub const FAILURE_SHARE: f64 = 0.10;

/// What one request of the burst came to.
enum Shot {
    Done(Outcome),
    /// Our own process could not open the socket (out of descriptors or ports).
    LocalError(String),
    Halted,
}

/// The request to fire, and why it was chosen.
fn pick_request(ctx: &AttackContext) -> (HttpRequest, &'static str) {
    match ctx.component.endpoints.iter().find(|e| !e.has_input()) {
        Some(ep) => (
            input::request(ctx, ep, &Input::Text(String::new())),
            "first endpoint without {input}",
        ),
        None => (
            input::get(ctx, ctx.component.health_path()),
            "health path (no endpoint without {input})",
        ),
    }
}

/// Errors that say more about our process than about the target.
fn is_local(e: &std::io::Error) -> bool {
    // EMFILE and ENFILE have no stable ErrorKind; 23/24 on Linux and the BSDs alike.
    e.kind() == std::io::ErrorKind::AddrNotAvailable || matches!(e.raw_os_error(), Some(23 | 24))
}

struct Burst {
    addr: std::net::SocketAddr,
    template: RequestTemplate,
    timeout: Duration,
    connect_deadline: Instant,
    go: CancellationToken,
    halt: CancellationToken,
}

async fn shot(b: Arc<Burst>, settled: mpsc::UnboundedSender<()>) -> Shot {
    let connect = tokio::time::timeout_at(b.connect_deadline, TcpStream::connect(b.addr));
    let connected = tokio::select! {
        r = connect => r,
        _ = b.halt.cancelled() => return Shot::Halted,
    };
    let _ = settled.send(());
    let stream = match connected {
        Ok(Ok(s)) => s,
        Ok(Err(e)) if is_local(&e) => return Shot::LocalError(e.to_string()),
        Ok(Err(e)) => return Shot::Done(Outcome::ConnectError(e.to_string())),
        Err(_) => return Shot::Done(Outcome::ConnectError("connect timed out".into())),
    };
    tokio::select! {
        _ = b.go.cancelled() => {}
        _ = b.halt.cancelled() => return Shot::Halted,
    }
    let start = Instant::now();
    let mut client = Client::from_stream(b.addr, stream).keep_body(EXCERPT_CHARS * 4);
    let result = tokio::select! {
        r = tokio::time::timeout(b.timeout, client.exchange(&b.template)) => r,
        _ = b.halt.cancelled() => return Shot::Halted,
    };
    let latency = start.elapsed();
    Shot::Done(match result {
        Ok(Ok(x)) => Outcome::Response(HttpResponse {
            status: x.status.as_u16(),
            headers: x.headers,
            body: x.body,
            latency,
        }),
        Ok(Err(ErrorKind::Timeout)) | Err(_) => Outcome::Timeout(latency),
        Ok(Err(kind)) => Outcome::Closed(kind.label().replace('_', " ")),
    })
}

#[derive(Default)]
struct Tally {
    served: u64,
    shed: u64,
    other_4xx: u64,
    server_errors: u64,
    connect_errors: u64,
    closed: u64,
    timeouts: u64,
    local_errors: u64,
}

impl Tally {
    fn add(&mut self, o: &Outcome) {
        match o {
            Outcome::Response(r) => match r.status {
                429 | 503 => self.shed += 1,
                s if s < 400 => self.served += 1,
                s if s < 500 => self.other_4xx += 1,
                _ => self.server_errors += 1,
            },
            Outcome::Timeout(_) => self.timeouts += 1,
            Outcome::ConnectError(_) => self.connect_errors += 1,
            Outcome::Closed(_) => self.closed += 1,
        }
    }
    fn transport_errors(&self) -> u64 {
        self.connect_errors + self.closed + self.timeouts
    }
}

pub async fn run(ctx: &AttackContext) -> AttackOutcome {
    let guardrails = &ctx.component.guardrails;
    let wanted = ctx
        .limits
        .burst_concurrency
        .unwrap_or(guardrails.concurrency() as usize);
    if wanted == 0 {
        return inconclusive(
            "burst size is 0; set `circuit_breaker.concurrency` to 1 or more".into(),
        );
    }
    let fds = fd_limit::budget(wanted);
    let n = fds.granted;
    if n == 0 {
        return inconclusive(format!(
            "no file descriptors to spare for a burst ({} open, soft limit {}); raise `ulimit -n`",
            fds.open_now, fds.soft_limit
        ));
    }
    let (req, why) = pick_request(ctx);
    let template = match RequestTemplate::new(&ctx.target, &req) {
        Ok(t) => t,
        Err(e) => return inconclusive(format!("cannot build {}: {e}", req.describe())),
    };
    let timeout = guardrails
        .request_timeout()
        .as_duration()
        .min(ctx.limits.request_timeout);
    let start = Instant::now();
    let burst = Arc::new(Burst {
        addr: ctx.target.addr,
        template,
        timeout,
        // Connecting is our set-up, not the burst: a listen backlog that overflows costs a SYN
        // retransmit (1 s), so it gets the engine's bound rather than the claimed timeout.
        connect_deadline: start + ctx.limits.request_timeout.max(timeout),
        go: CancellationToken::new(),
        halt: ctx.halt.child_token(),
    });
    let (tx, mut settled) = mpsc::unbounded_channel();
    let mut shots = JoinSet::new();
    for _ in 0..n {
        shots.spawn(shot(Arc::clone(&burst), tx.clone()));
    }
    drop(tx);

    // Release the burst once every connect has succeeded or failed (or the connect deadline).
    let mut connected = 0;
    while connected < n {
        tokio::select! {
            s = settled.recv() => match s {
                Some(()) => connected += 1,
                None => break,
            },
            _ = tokio::time::sleep_until(burst.connect_deadline) => break,
            _ = ctx.halt.cancelled() => return halted(),
        }
    }
    let connect_phase = start.elapsed();
    burst.go.cancel();

    let mut rec = Recorder::new();
    let mut tally = Tally::default();
    let mut sampled = BTreeMap::new();
    let mut local_sample = None;
    while let Some(joined) = shots.join_next().await {
        match joined {
            Ok(Shot::Done(o)) => {
                tally.add(&o);
                rec.record(&o);
                sampled.entry(o.label()).or_insert(o);
            }
            Ok(Shot::LocalError(e)) => {
                tally.local_errors += 1;
                rec.record_label("local_error", None);
                local_sample.get_or_insert(e);
            }
            Ok(Shot::Halted) | Err(_) => {}
        }
    }
    if ctx.halt.is_cancelled() {
        return halted();
    }
    for o in sampled.values() {
        rec.sample(&req, o);
    }
    judge(
        rec,
        &tally,
        n,
        &fds,
        &req,
        why,
        timeout,
        connect_phase,
        local_sample,
    )
}

#[allow(clippy::too_many_arguments)]
fn judge(
    mut rec: Recorder,
    t: &Tally,
    n: usize,
    fds: &fd_limit::FdBudget,
    req: &HttpRequest,
    why: &str,
    timeout: Duration,
    connect_phase: Duration,
    local_sample: Option<String>,
) -> AttackOutcome {
    let nf = n as f64;
    let failures = t.transport_errors() + t.server_errors;
    let share = failures as f64 / nf;
    for (k, v) in [
        ("served", t.served),
        ("shed", t.shed),
        ("other_4xx", t.other_4xx),
        ("server_errors", t.server_errors),
        ("connect_errors", t.connect_errors),
        ("closed", t.closed),
        ("timeouts", t.timeouts),
        ("local_errors", t.local_errors),
    ] {
        rec.metric(k, v);
    }
    rec.metric("concurrency", n as u64);
    rec.metric("concurrency_wanted", fds.wanted as u64);
    rec.metric("failure_share", share);
    rec.metric("timeout_ms", timeout.as_millis() as u64);
    rec.metric("connect_phase_ms", connect_phase.as_millis() as u64);
    rec.finding(format!(
        "target: {} ({why}); {n} connections opened, then released at once",
        req.describe()
    ));
    if let Some(note) = fds.note() {
        rec.finding(note);
    }
    let counts = format!(
        "{} served, {} shed (429/503), {} other 4xx, {} 5xx, {} connection errors, {} closed, {} timeouts",
        t.served, t.shed, t.other_4xx, t.server_errors, t.connect_errors, t.closed, t.timeouts
    );
    rec.finding(format!("{n} concurrent requests: {counts}"));

    if t.local_errors as f64 >= FAILURE_SHARE * nf {
        let reason = format!(
            "{} of {n} sockets could not be opened on our side ({}); the burst says nothing about the \
             target — raise `ulimit -n` or lower `burst_concurrency`",
            t.local_errors,
            local_sample.unwrap_or_default()
        );
        rec.finding(reason.clone());
        return outcome(Verdict::Inconclusive, reason, t.shed > 0, rec);
    }
    if share >= FAILURE_SHARE {
        let pct = share * 100.0;
        let finding = if t.server_errors > t.transport_errors() {
            format!(
                "{} of {n} requests got a 5xx other than 503 ({pct:.0}% failed, limit 10%)",
                t.server_errors
            )
        } else {
            format!(
                "connection errors and timeouts dominate: {} of {n} ({pct:.0}% failed, limit 10%; timeout {} ms)",
                t.transport_errors(),
                timeout.as_millis()
            )
        };
        rec.finding(finding.clone());
        return outcome(Verdict::Failed, finding, t.shed > 0, rec);
    }
    let summary = format!(
        "{n} at once: {} served, {} shed, {failures} failed ({:.1}% < 10%)",
        t.served,
        t.shed,
        share * 100.0
    );
    outcome(Verdict::Passed, summary, t.shed > 0, rec)
}

fn outcome(verdict: Verdict, summary: String, triggered: bool, rec: Recorder) -> AttackOutcome {
    AttackOutcome {
        verdict,
        summary,
        guardrail_triggered: triggered,
        evidence: rec.finish(),
    }
}
