//! The probe: an ordinary request on a fresh connection once per [`PROBE_INTERVAL`] while the
//! slow connections trickle, noting how many of them were open when it was sent.

use std::sync::atomic::Ordering;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::context::AttackContext;
use crate::http::{self, Outcome};

use super::connection::Progress;
use super::{PROBE_INTERVAL, Plan};

/// One probe and its answer.
pub(super) struct Probe {
    pub(super) outcome: Outcome,
    /// Slow connections open when the probe was sent.
    pub(super) open_at_send: usize,
}

/// One probe per [`PROBE_INTERVAL`] until `deadline`; once every slow connection has ended,
/// one more probe and stop.
pub(super) async fn probe_loop(
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
