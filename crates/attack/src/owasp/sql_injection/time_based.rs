//! Time-based probes: the database is asked to sleep N seconds (`pg_sleep`, `SLEEP`,
//! `WAITFOR DELAY`). A delay of at least 0.8·N over the baseline median counts only when
//! the same input with a zero delay is fast and a repeat is slow again.

use std::time::Duration;

use super::payloads::{self, Fill};
use super::session::{Baseline, Hit, Session};

pub(super) const TECHNIQUE: &str = "time-based";

/// Share of the requested delay that must show up.
const DELAY_SHARE: f64 = 0.8;

/// Runs the delay probes; stops at the first confirmed hit.
pub(super) async fn run(s: &mut Session<'_>, base: &Baseline) {
    let Some(median) = base.median_latency() else {
        return;
    };
    let secs = s.ctx.limits.sql_sleep.as_secs_f64().ceil().max(1.0) as u64;
    let needed = Duration::from_secs_f64(secs as f64 * DELAY_SHARE);
    // Room for the delay, twice over, on top of an ordinary request.
    let timeout = s
        .ctx
        .limits
        .request_timeout
        .max(Duration::from_secs(secs * 2 + 2));
    let extra = |d: Duration| d.saturating_sub(median);
    let fill = Fill {
        word: &base.word,
        num: &base.num,
        tag: "",
    };
    for delay in payloads::time(&fill) {
        let slow_input = delay.with_sleep(secs);
        let Some(first) = s.probe(&slow_input, Some(timeout)).await else {
            return;
        };
        if s.is_blocked(&first) {
            continue;
        }
        let Some(first_latency) = first.latency() else {
            continue;
        };
        if extra(first_latency) < needed {
            continue;
        }
        let control_input = delay.with_sleep(0);
        let Some(control) = s.probe(&control_input, Some(timeout)).await else {
            return;
        };
        let Some(control_latency) = control.latency() else {
            continue;
        };
        if extra(control_latency) >= needed / 2 {
            s.notes.push(format!(
                "{}: {slow_input:?} was slow, but so was the same input with a zero delay ({} ms); not counted",
                s.label,
                control_latency.as_millis()
            ));
            continue;
        }
        let Some(repeat) = s.probe(&slow_input, Some(timeout)).await else {
            return;
        };
        let Some(repeat_latency) = repeat.latency() else {
            continue;
        };
        if extra(repeat_latency) < needed {
            continue;
        }
        let detail = format!(
            "{slow_input:?} took {} ms and {} ms, the same input with a zero delay {} ms, baseline median {} ms (asked for {secs} s)",
            first_latency.as_millis(),
            repeat_latency.as_millis(),
            control_latency.as_millis(),
            median.as_millis()
        );
        let note = format!(
            "took {} ms (baseline median {} ms)",
            repeat_latency.as_millis(),
            median.as_millis()
        );
        let sample = repeat.sample(Some(note));
        s.hit(Hit {
            technique: TECHNIQUE,
            payload: slow_input,
            detail,
            sample,
        });
        return;
    }
}
