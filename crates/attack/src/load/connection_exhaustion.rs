//! `connection_exhaustion`: open many idle TCP connections (within our fd budget), hold them
//! for a few seconds, and meanwhile ask for a normal request on a fresh connection.
//!
//! Passed = while the connections are held, the probe is served (2xx/3xx) or refused cleanly
//! (connection refused or reset, or a 503/429, all quickly: not a hang), and after we release
//! them the probe is served again within the recovery window. Failed = the probe hangs or gets
//! an unexpected answer while connections are held, or the service does not come back.
//! Inconclusive = no connection could be opened at all, or the baseline probe failed.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use shakedown_core::result::{AttackOutcome, Sample, Verdict};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::context::AttackContext;
use crate::evidence::{Recorder, excerpt};
use crate::execute;
use crate::http::{self, HttpRequest, Outcome};
use crate::input;
use crate::load::fd_limit::{self, FdBudget};

/// Longest we hold the connections (further capped by `max_attack_duration`).
pub const MAX_HOLD: Duration = Duration::from_secs(5);
/// Gap between probes while the connections are held.
pub const PROBE_INTERVAL: Duration = Duration::from_secs(1);
/// Gap between probes after the release, until the probe is served again.
pub const RECOVERY_POLL: Duration = Duration::from_millis(200);
/// A refusal (closed connection, connect error, 503/429) faster than this is "clean"; a
/// slower one is a client left hanging.
pub const QUICK: Duration = Duration::from_secs(1);
/// Connects in flight at once, so a burst of SYNs does not overflow the listen backlog.
const CONNECT_PARALLELISM: usize = 64;
/// Our own cap on connect and probe deadlines.
const MAX_OWN_TIMEOUT: Duration = Duration::from_secs(5);
/// How long we wait for the holding tasks to close their sockets.
const COLLECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Runs the attack; see the module docs for the verdict rules.
pub async fn run(ctx: &AttackContext) -> AttackOutcome {
    let plan = Plan::new(ctx);
    if plan.budget.granted == 0 {
        return execute::inconclusive(format!(
            "no file descriptors left for idle connections (soft limit {}, {} open)",
            plan.budget.soft_limit, plan.budget.open_now
        ));
    }
    let baseline = tokio::select! {
        p = probe(ctx, &plan) => p,
        _ = ctx.halt.cancelled() => return execute::halted(),
    };
    if baseline.class != Class::Served {
        let mut rec = Recorder::new();
        record_probe(&mut rec, "baseline", &plan.probe, &baseline, true);
        let reason = format!(
            "baseline probe {} not served before holding any connection ({}), so nothing can be verified",
            plan.probe.describe(),
            baseline.outcome.label()
        );
        rec.finding(reason.clone());
        return AttackOutcome {
            verdict: Verdict::Inconclusive,
            summary: reason,
            guardrail_triggered: false,
            evidence: rec.finish(),
        };
    }
    let seen = attack(ctx, &plan).await;
    if ctx.halt.is_cancelled() {
        return execute::halted();
    }
    judge(&plan, baseline, seen)
}

struct Plan {
    budget: FdBudget,
    hold: Duration,
    connect_timeout: Duration,
    probe_timeout: Duration,
    recovery_window: Duration,
    probe: HttpRequest,
}

impl Plan {
    fn new(ctx: &AttackContext) -> Plan {
        let own = ctx.limits.request_timeout.min(MAX_OWN_TIMEOUT);
        Plan {
            budget: fd_limit::budget(ctx.limits.exhaustion_connections),
            hold: MAX_HOLD.min(ctx.limits.max_attack_duration),
            connect_timeout: own,
            probe_timeout: own,
            recovery_window: ctx.limits.recovery_window,
            probe: input::get(ctx, ctx.component.health_path()),
        }
    }
}

/// How a probe fared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// 2xx/3xx.
    Served,
    /// 503 or 429, quickly.
    Shed,
    /// Connection refused, reset or closed, quickly.
    Refused,
    /// No answer within our deadline, or a refusal that took longer than [`QUICK`].
    Hung,
    /// Any other status.
    Unexpected,
}

impl Class {
    fn clean(self) -> bool {
        matches!(self, Class::Served | Class::Shed | Class::Refused)
    }
}

struct ProbeResult {
    outcome: Outcome,
    elapsed: Duration,
    class: Class,
}

async fn probe(ctx: &AttackContext, plan: &Plan) -> ProbeResult {
    let start = Instant::now();
    let outcome = http::send(&ctx.target, &plan.probe, plan.probe_timeout).await;
    let elapsed = start.elapsed();
    let quick = elapsed < QUICK;
    let class = match &outcome {
        Outcome::Response(r) if (200..400).contains(&r.status) => Class::Served,
        Outcome::Response(r) if matches!(r.status, 429 | 503) && quick => Class::Shed,
        Outcome::Response(r) if matches!(r.status, 429 | 503) => Class::Hung,
        Outcome::Response(_) => Class::Unexpected,
        Outcome::ConnectError(_) | Outcome::Closed(_) if quick => Class::Refused,
        Outcome::ConnectError(_) | Outcome::Closed(_) | Outcome::Timeout(_) => Class::Hung,
    };
    ProbeResult {
        outcome,
        elapsed,
        class,
    }
}

/// Counters shared by the holding tasks.
#[derive(Default)]
struct Progress {
    attempted: AtomicUsize,
    /// Connections ever opened.
    opened: AtomicUsize,
    /// Connections open right now.
    open: AtomicUsize,
    changed: Notify,
}

/// How one held connection ended.
#[derive(Debug, Clone)]
enum End {
    Refused(String),
    ConnectTimeout,
    /// The server closed (or answered and closed) the idle connection by itself.
    ServerClosed {
        after: Duration,
        how: String,
        status: Option<u16>,
    },
    /// Still open when we released it.
    Released,
    /// Released (or halted) before its connect could start.
    NotAttempted,
}

struct Held {
    index: usize,
    end: End,
}

struct Observed {
    held: Vec<Held>,
    under_load: Vec<ProbeResult>,
    /// Connections still held when the hold ended.
    held_at_end: usize,
    hold_elapsed: Duration,
    recovery: Vec<ProbeResult>,
    recovered_after: Option<Duration>,
}

async fn attack(ctx: &AttackContext, plan: &Plan) -> Observed {
    let n = plan.budget.granted;
    // `stop` ends everything (halt, or this future dropped: the guard cancels it and the
    // JoinSet aborts the tasks, closing their sockets). `release` ends the hold.
    let stop = ctx.halt.child_token();
    let _stop_on_drop = stop.clone().drop_guard();
    let release = stop.child_token();
    let progress = Arc::new(Progress::default());
    let gate = Arc::new(Semaphore::new(CONNECT_PARALLELISM));
    let mut tasks = JoinSet::new();
    for index in 0..n {
        tasks.spawn(hold_connection(
            index,
            ctx.target.addr,
            plan.connect_timeout,
            gate.clone(),
            release.clone(),
            progress.clone(),
        ));
    }

    // Phase 1: every connect attempt finishes, bounded by the connect timeout per batch.
    let batches = n.div_ceil(CONNECT_PARALLELISM) as u32;
    let connect_limit = Instant::now() + plan.connect_timeout * batches + Duration::from_secs(1);
    while progress.attempted.load(Ordering::SeqCst) < n
        && Instant::now() < connect_limit
        && !stop.is_cancelled()
    {
        tokio::select! {
            _ = progress.changed.notified() => {}
            _ = tokio::time::sleep_until(connect_limit) => {}
            _ = stop.cancelled() => {}
        }
    }

    // Phase 2: hold, probing once per interval (at least once).
    let hold_start = Instant::now();
    let hold_until = hold_start + plan.hold;
    let mut under_load = Vec::new();
    let max_probes = (plan.hold.as_secs() + 1) as usize;
    // Even if the server already closed every one of them, the probe shows how it copes.
    if progress.opened.load(Ordering::SeqCst) > 0 {
        while !stop.is_cancelled() && under_load.len() < max_probes {
            let sent = Instant::now();
            let result = tokio::select! {
                p = probe(ctx, plan) => p,
                _ = stop.cancelled() => break,
            };
            under_load.push(result);
            let next = sent + PROBE_INTERVAL;
            if next >= hold_until {
                break;
            }
            tokio::select! {
                _ = tokio::time::sleep_until(next) => {}
                _ = stop.cancelled() => {}
            }
        }
    }
    // Hold for the whole period even when the last probe came back early, so servers with
    // an idle timeout shorter than the hold get to show it.
    tokio::select! {
        _ = tokio::time::sleep_until(hold_until) => {}
        _ = stop.cancelled() => {}
    }
    let held_at_end = progress.open.load(Ordering::SeqCst);
    let hold_elapsed = hold_start.elapsed();

    // Phase 3: release every connection and wait until the sockets are closed.
    release.cancel();
    let mut held = Vec::with_capacity(n);
    let _ = tokio::time::timeout(COLLECT_TIMEOUT, async {
        while let Some(joined) = tasks.join_next().await {
            if let Ok(h) = joined {
                held.push(h);
            }
        }
    })
    .await;
    tasks.shutdown().await;
    held.sort_by_key(|h| h.index);

    // Phase 4: the probe must be served again within the recovery window.
    let released = Instant::now();
    let mut recovery = Vec::new();
    let mut recovered_after = None;
    let max_polls =
        (plan.recovery_window.as_millis() / RECOVERY_POLL.as_millis()).max(1) as usize + 1;
    while !stop.is_cancelled() && recovery.len() < max_polls {
        let result = tokio::select! {
            p = probe(ctx, plan) => p,
            _ = stop.cancelled() => break,
        };
        let served = result.class == Class::Served;
        recovery.push(result);
        if served {
            recovered_after = Some(released.elapsed());
            break;
        }
        if released.elapsed() >= plan.recovery_window {
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep(RECOVERY_POLL) => {}
            _ = stop.cancelled() => {}
        }
    }

    Observed {
        held,
        under_load,
        held_at_end,
        hold_elapsed,
        recovery,
        recovered_after,
    }
}

async fn hold_connection(
    index: usize,
    addr: std::net::SocketAddr,
    connect_timeout: Duration,
    gate: Arc<Semaphore>,
    release: CancellationToken,
    progress: Arc<Progress>,
) -> Held {
    let attempted = || {
        progress.attempted.fetch_add(1, Ordering::SeqCst);
        progress.changed.notify_one();
    };
    let connected = tokio::select! {
        c = async {
            let _permit = gate.acquire().await;
            tokio::time::timeout(connect_timeout, TcpStream::connect(addr)).await
        } => c,
        _ = release.cancelled() => {
            attempted();
            return Held { index, end: End::NotAttempted };
        }
    };
    let mut stream = match connected {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            attempted();
            return Held {
                index,
                end: End::Refused(e.to_string()),
            };
        }
        Err(_) => {
            attempted();
            return Held {
                index,
                end: End::ConnectTimeout,
            };
        }
    };
    let opened = Instant::now();
    progress.opened.fetch_add(1, Ordering::SeqCst);
    progress.open.fetch_add(1, Ordering::SeqCst);
    attempted();

    // Idle: we send nothing. Anything the server does is its own decision.
    let mut buf = [0u8; 256];
    let end = tokio::select! {
        _ = release.cancelled() => End::Released,
        r = stream.read(&mut buf) => {
            let after = opened.elapsed();
            let (how, status) = match r {
                Ok(0) => ("closed".to_string(), None),
                Ok(n) => {
                    let text = String::from_utf8_lossy(&buf[..n]);
                    let line = text.lines().next().unwrap_or_default().to_string();
                    let status = line
                        .strip_prefix("HTTP/")
                        .and_then(|rest| rest.split_whitespace().nth(1))
                        .and_then(|code| code.parse().ok());
                    (format!("answered `{}` and closed", excerpt(&line, 120)), status)
                }
                Err(e) => (format!("reset ({e})"), None),
            };
            progress.open.fetch_sub(1, Ordering::SeqCst);
            End::ServerClosed { after, how, status }
        }
    };
    // The stream drops here: the socket is closed whether released or closed by the server.
    Held { index, end }
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0 * 10.0).round() / 10.0
}

/// Records one probe under `phase` (`baseline`, `under load`, `after release`).
fn record_probe(rec: &mut Recorder, phase: &str, req: &HttpRequest, p: &ProbeResult, sample: bool) {
    rec.record_label(&format!("{phase}: {}", p.outcome.label()), Some(p.elapsed));
    if sample {
        rec.sample_described(format!("{phase} probe {}", req.describe()), &p.outcome);
    }
}

fn judge(plan: &Plan, baseline: ProbeResult, seen: Observed) -> AttackOutcome {
    let mut rec = Recorder::new();
    let planned = plan.budget.granted;
    if let Some(note) = plan.budget.note() {
        rec.finding(note);
    }
    record_probe(&mut rec, "baseline", &plan.probe, &baseline, true);

    let mut accepted = 0usize;
    let mut refused = Vec::new();
    let mut timeouts = 0usize;
    let mut server_closed = Vec::new();
    let mut first_close_sampled = false;
    for h in &seen.held {
        match &h.end {
            End::Refused(e) => {
                rec.record_label("held: refused", None);
                refused.push(e.clone());
            }
            End::NotAttempted => rec.record_label("held: not_attempted", None),
            End::ConnectTimeout => {
                timeouts += 1;
                rec.record_label("held: connect_timeout", None);
            }
            End::Released => {
                accepted += 1;
                rec.record_label("held: open_until_release", None);
            }
            End::ServerClosed { after, how, status } => {
                accepted += 1;
                server_closed.push(*after);
                let label = status.map_or_else(
                    || "closed_by_server".to_string(),
                    |s| format!("closed_by_server_{s}"),
                );
                rec.record_label(&format!("held: {label}"), None);
                if !first_close_sampled {
                    first_close_sampled = true;
                    rec.sample_raw(Sample {
                        request: format!("idle connection #{} (nothing sent)", h.index),
                        status: *status,
                        outcome: format!("server {how}"),
                        latency_ms: ms(*after),
                        excerpt: String::new(),
                    });
                }
            }
        }
    }

    let mut sampled_bad = false;
    for (i, p) in seen.under_load.iter().enumerate() {
        let bad = p.class != Class::Served;
        let sample = i == 0 || (bad && !sampled_bad);
        sampled_bad |= bad && sample;
        record_probe(&mut rec, "under load", &plan.probe, p, sample);
    }
    for (i, p) in seen.recovery.iter().enumerate() {
        record_probe(
            &mut rec,
            "after release",
            &plan.probe,
            p,
            i + 1 == seen.recovery.len(),
        );
    }

    let count = |c: Class| seen.under_load.iter().filter(|p| p.class == c).count();
    let (served, shed, clean_refused, hung, unexpected) = (
        count(Class::Served),
        count(Class::Shed),
        count(Class::Refused),
        count(Class::Hung),
        count(Class::Unexpected),
    );
    rec.metric("connections_wanted", plan.budget.wanted);
    rec.metric("connections_planned", planned);
    rec.metric("connections_accepted", accepted);
    rec.metric("connect_refused", refused.len());
    rec.metric("connect_timeouts", timeouts);
    rec.metric("closed_by_server", server_closed.len());
    if let Some(first) = server_closed.iter().min() {
        rec.metric("first_server_close_ms", ms(*first));
    }
    rec.metric("held_at_end", seen.held_at_end);
    rec.metric("hold_ms", seen.hold_elapsed.as_millis() as u64);
    rec.metric("baseline_latency_ms", ms(baseline.elapsed));
    if let Some(first) = seen.under_load.first() {
        rec.metric("probe_latency_ms", ms(first.elapsed));
    }
    rec.metric("probes_under_load", seen.under_load.len());
    rec.metric("probes_served", served);
    rec.metric("probes_shed", shed);
    rec.metric("probes_refused", clean_refused);
    rec.metric("probes_hung", hung);
    rec.metric("probes_unexpected", unexpected);
    rec.metric("recovered", seen.recovered_after.is_some());
    if let Some(r) = seen.recovered_after {
        rec.metric("recovery_ms", ms(r));
    }
    rec.metric("fd_soft_limit", plan.budget.soft_limit);

    let triggered = shed + clean_refused > 0 || !server_closed.is_empty();
    let outcome = |verdict, summary: String, rec: Recorder| AttackOutcome {
        verdict,
        summary,
        guardrail_triggered: triggered,
        evidence: rec.finish(),
    };

    if accepted == 0 {
        let first = refused
            .first()
            .cloned()
            .unwrap_or_else(|| "connects timed out".into());
        let summary = format!("none of {planned} connections could be opened ({first})");
        rec.finding(format!(
            "{summary}: nothing was held, so nothing was verified"
        ));
        return outcome(Verdict::Inconclusive, summary, rec);
    }
    if seen.under_load.is_empty() {
        let summary = "no probe could be sent while connections were held".to_string();
        rec.finding(summary.clone());
        return outcome(Verdict::Inconclusive, summary, rec);
    }

    rec.finding(format!(
        "{accepted} of {planned} idle connections opened (handshake completed, possibly only in \
         the listen backlog); {} still held after {} ms",
        seen.held_at_end,
        seen.hold_elapsed.as_millis()
    ));
    if !refused.is_empty() {
        rec.finding(format!(
            "{} connections refused while opening ({})",
            refused.len(),
            refused[0]
        ));
    }
    if timeouts > 0 {
        rec.finding(format!(
            "{timeouts} connects hung past {} ms: the listen backlog was full",
            plan.connect_timeout.as_millis()
        ));
    }
    if let Some(first) = server_closed.iter().min() {
        rec.finding(format!(
            "server closed {} idle connections by itself (first after {} ms): an idle timeout or \
             connection cap is working",
            server_closed.len(),
            ms(*first)
        ));
    }

    let mut failures = Vec::new();
    if hung > 0 {
        let worst = seen
            .under_load
            .iter()
            .filter(|p| p.class == Class::Hung)
            .map(|p| p.elapsed)
            .max();
        failures.push(format!(
            "probe hung: {hung} of {} probes got no timely answer (up to {} ms) while {} idle connections were held",
            seen.under_load.len(),
            ms(worst.unwrap_or_default()),
            seen.held_at_end
        ));
    }
    if unexpected > 0 {
        let labels: Vec<String> = seen
            .under_load
            .iter()
            .filter(|p| p.class == Class::Unexpected)
            .map(|p| p.outcome.label())
            .collect();
        failures.push(format!(
            "probe answered {} while idle connections were held (expected 2xx/3xx or a quick 503/429)",
            labels.join(", ")
        ));
    }
    if let Some(r) = seen.recovered_after {
        rec.finding(format!(
            "probe served again {} ms after releasing the connections",
            ms(r)
        ));
    } else {
        failures.push(format!(
            "service did not come back within {} ms after releasing {accepted} connections",
            plan.recovery_window.as_millis()
        ));
    }
    for f in &failures {
        rec.finding(f.clone());
    }
    if !failures.is_empty() {
        return outcome(Verdict::Failed, failures.join("; "), rec);
    }

    debug_assert!(seen.under_load.iter().all(|p| p.class.clean()));
    let under = if served == seen.under_load.len() {
        let latency = seen
            .under_load
            .iter()
            .map(|p| p.elapsed)
            .max()
            .unwrap_or_default();
        format!(
            "probe served under load (max {} ms vs baseline {} ms)",
            ms(latency),
            ms(baseline.elapsed)
        )
    } else {
        let parts: Vec<String> = [
            (served, "served"),
            (shed, "shed with 503/429"),
            (clean_refused, "refused quickly"),
        ]
        .iter()
        .filter(|(k, _)| *k > 0)
        .map(|(k, what)| format!("{k} {what}"))
        .collect();
        format!("probes under load: {}", parts.join(", "))
    };
    let recovered = seen.recovered_after.map(ms).unwrap_or_default();
    rec.finding(under.clone());
    let summary = format!("{accepted} idle connections held; {under}; recovered in {recovered} ms");
    outcome(Verdict::Passed, summary, rec)
}
