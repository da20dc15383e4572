//! The probe: an ordinary request on a fresh connection, before, while and after the idle
//! connections are held, classified by how quickly and how it was answered.

use std::time::Duration;

use tokio::time::Instant;

use crate::context::AttackContext;
use crate::evidence::Recorder;
use crate::http::{self, HttpRequest, Outcome};

use super::{Plan, QUICK};

/// How a probe fared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Class {
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
    pub(super) fn clean(self) -> bool {
        matches!(self, Class::Served | Class::Shed | Class::Refused)
    }
}

pub(super) struct ProbeResult {
    pub(super) outcome: Outcome,
    pub(super) elapsed: Duration,
    pub(super) class: Class,
}

/// Sends the probe on a fresh connection and classifies how it fared.
pub(super) async fn probe(ctx: &AttackContext, plan: &Plan) -> ProbeResult {
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

/// Records one probe under `phase` (`baseline`, `under load`, `after release`).
pub(super) fn record_probe(
    rec: &mut Recorder,
    phase: &str,
    req: &HttpRequest,
    p: &ProbeResult,
    sample: bool,
) {
    rec.record_label(&format!("{phase}: {}", p.outcome.label()), Some(p.elapsed));
    if sample {
        rec.sample_described(format!("{phase} probe {}", req.describe()), &p.outcome);
    }
}
