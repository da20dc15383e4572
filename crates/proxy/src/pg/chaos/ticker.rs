//! The runtime's driver task: fires time triggers when the engine's next deadline passes, and
//! when the script ends (halt, shutdown, or the runtime dropped) undoes whatever is still
//! applied, newest first. While the guardian's halt is in force it waits: a time trigger that
//! comes due meanwhile fires after the resume.

use std::sync::Arc;

use super::Inner;
use super::runner::Origin;

/// Bound on ticks: each one fires at least one action, and a script fires at most
/// `max_total_chaos_events` (a `u32`), so this is never the limit in practice.
const MAX_TICKS: u32 = 100_000;

pub(crate) async fn drive(inner: Arc<Inner>) {
    for _ in 0..MAX_TICKS {
        tokio::select! {
            () = inner.halt.cancelled() => break,
            () = inner.pause.running() => {}
        }
        let deadline = inner.engine().next_deadline();
        let Some(deadline) = deadline else {
            // No time trigger can fire any more.
            break;
        };
        tokio::select! {
            () = inner.halt.cancelled() => break,
            () = tokio::time::sleep_until(tokio::time::Instant::from_std(deadline)) => {}
            () = inner.pause.paused() => continue,
        }
        if inner.pause.is_paused() {
            continue;
        }
        let fired = inner.engine().on_tick(super::now_std());
        if fired.is_empty() {
            // Due but nothing rendered (a template without a value): it would stay due, so
            // stop ticking rather than spin.
            if inner.engine().next_deadline().is_some() {
                tracing::warn!(
                    "a time trigger is due but cannot render its action; time triggers stop"
                );
            }
            break;
        }
        inner.start(fired, &Origin::default());
    }
    inner.halt.cancelled().await;
    inner.unwind().await;
}
