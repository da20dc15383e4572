//! Health probes before an attack (down = inconclusive) and recovery checks after it.

use std::time::{Duration, Instant};

use shakedown_core::result::{HealthCheck, Recovery};

use crate::context::AttackContext;
use crate::http::{self, Outcome};
use crate::input;

/// Interval between recovery probes.
pub const RECOVERY_POLL: Duration = Duration::from_millis(200);

/// One GET of the component's health path. Healthy = any 2xx/3xx answer, or 429: a server
/// throttling us (often right after a rate-limit attack spent the budget) is up and answering.
pub async fn probe(ctx: &AttackContext) -> HealthCheck {
    let req = input::get(ctx, ctx.component.health_path());
    let timeout = ctx.limits.request_timeout.min(Duration::from_secs(5));
    let outcome = http::send(&ctx.target, &req, timeout).await;
    match &outcome {
        Outcome::Response(r) => HealthCheck {
            healthy: (200..400).contains(&r.status) || r.status == 429,
            status: Some(r.status),
            latency_ms: r.latency.as_secs_f64() * 1000.0,
            detail: if r.status == 429 {
                format!("{} answered 429 (throttled, but up)", req.describe())
            } else {
                format!("{} answered {}", req.describe(), r.status)
            },
        },
        other => HealthCheck {
            healthy: false,
            status: None,
            latency_ms: 0.0,
            detail: format!("{}: {}", req.describe(), describe(other)),
        },
    }
}

fn describe(o: &Outcome) -> String {
    match o {
        Outcome::Response(r) => format!("status {}", r.status),
        Outcome::Timeout(d) => format!("no answer within {d:?}"),
        Outcome::ConnectError(e) => format!("cannot connect: {e}"),
        Outcome::Closed(e) => format!("connection closed: {e}"),
    }
}

/// Polls the health path until it is healthy or `ctx.limits.recovery_window` passes.
pub async fn wait_recovery(ctx: &AttackContext) -> Recovery {
    let window = ctx.limits.recovery_window;
    let start = Instant::now();
    loop {
        // A halt ends the wait before another probe is sent.
        if ctx.halt.is_cancelled() {
            return Recovery {
                recovered: false,
                recovery_ms: None,
                window_ms: window.as_millis() as u64,
            };
        }
        if probe(ctx).await.healthy {
            return Recovery {
                recovered: true,
                recovery_ms: Some(start.elapsed().as_millis() as u64),
                window_ms: window.as_millis() as u64,
            };
        }
        if start.elapsed() >= window || ctx.halt.is_cancelled() {
            return Recovery {
                recovered: false,
                recovery_ms: None,
                window_ms: window.as_millis() as u64,
            };
        }
        tokio::select! {
            _ = tokio::time::sleep(RECOVERY_POLL) => {}
            _ = ctx.halt.cancelled() => {}
        }
    }
}
