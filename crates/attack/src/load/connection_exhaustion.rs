//! `connection_exhaustion`: open many idle TCP connections (within our fd budget), hold them
//! for a few seconds, and meanwhile ask for a normal request on a fresh connection.
//!
//! Passed = while the connections are held, the probe is served (2xx/3xx) or refused cleanly
//! (connection refused or reset, or a 503/429, all quickly: not a hang), and after we release
//! them the probe is served again within the recovery window. Failed = the probe hangs or gets
//! an unexpected answer while connections are held, or the service does not come back.
//! Inconclusive = no connection could be opened at all, or the baseline probe failed.
//!
//! This file plans the attack and runs its phases; `hold` is one idle connection, `probe` the
//! ordinary client, `verdict` the judgement.

mod hold;
mod probe;
mod verdict;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use shakedown_core::result::{AttackOutcome, Verdict};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::context::AttackContext;
use crate::evidence::Recorder;
use crate::execute;
use crate::http::HttpRequest;
use crate::input;
use crate::load::fd_limit::{self, FdBudget};
use crate::load::sockets::{self, CONNECT_PARALLELISM, MAX_OWN_TIMEOUT};

use hold::{Held, Progress};
use probe::{Class, ProbeResult, probe, record_probe};

/// Longest we hold the connections (further capped by `max_attack_duration`).
pub const MAX_HOLD: Duration = Duration::from_secs(5);
/// Gap between probes while the connections are held.
pub const PROBE_INTERVAL: Duration = Duration::from_secs(1);
/// Gap between probes after the release, until the probe is served again.
pub const RECOVERY_POLL: Duration = Duration::from_millis(200);
/// A refusal (closed connection, connect error, 503/429) faster than this is "clean"; a
/// slower one is a client left hanging.
pub const QUICK: Duration = Duration::from_secs(1);

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
    verdict::judge(&plan, baseline, seen)
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
        tasks.spawn(hold::hold_connection(
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
    sockets::wait_for(&progress.changed, &stop, connect_limit, || {
        progress.attempted.load(Ordering::SeqCst) >= n
    })
    .await;

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
    let mut held = sockets::collect(tasks).await;
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
