//! The request step of the attacks that judge what one request does (auth_bypass,
//! xss_attack, sql_injection): a `429` is waited out and the request sent again
//! ([`http::send_paced`]), every outcome recorded. [`gate`] says when no request may start
//! (sql_injection keeps its own, which also counts a request budget).

use std::time::Duration;

use tokio::time::Instant;

use crate::context::AttackContext;
use crate::evidence::Recorder;
use crate::http::{self, HttpRequest, Outcome};

/// Times one request is sent again after a 429.
pub(super) const RATE_RETRIES: u32 = 3;

/// Why an attack stopped sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stop {
    Halted,
    Deadline,
}

/// Why no further request that may take `timeout` can start: halted, or less than `timeout`
/// left before `deadline` (a request cut short by the deadline would read as the server's
/// silence). `None`: go ahead.
pub(super) fn gate(ctx: &AttackContext, deadline: Instant, timeout: Duration) -> Option<Stop> {
    if ctx.halt.is_cancelled() {
        Some(Stop::Halted)
    } else if deadline.saturating_duration_since(Instant::now()) < timeout {
        Some(Stop::Deadline)
    } else {
        None
    }
}

/// Sends `req` to the target with `timeout`, waiting out 429s at most [`RATE_RETRIES`] times
/// within `deadline`, and records every outcome (the 429s included) in `rec`. Returns the last
/// outcome, `None` when halted first, and the number of requests sent.
pub(super) async fn send(
    ctx: &AttackContext,
    req: &HttpRequest,
    timeout: Duration,
    deadline: Instant,
    rec: &mut Recorder,
) -> (Option<Outcome>, usize) {
    let mut requests = 0;
    let mut seen = |o: &Outcome| {
        requests += 1;
        rec.record(o);
    };
    let outcome = http::send_paced(
        &ctx.target,
        req,
        timeout,
        RATE_RETRIES,
        deadline,
        &ctx.halt,
        &mut seen,
    )
    .await;
    (outcome, requests)
}
