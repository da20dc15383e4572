//! `payload_overflow`: streams a body 50% larger than the claimed `max_payload` (default
//! 10MB, so 15MB) and checks that the server refuses it — a 413, or the connection closed
//! before the body was read — instead of swallowing it.
//!
//! Two probes over raw sockets, so we see an early answer or a close while still writing:
//! one with `Content-Length` declared up front, one with `Transfer-Encoding: chunked` and no
//! length (a path size checks often forget; a 411 there is a refusal too). The body is one
//! JSON string (`"aaa…"`) so content-type checks do not refuse it for the wrong reason.
//!
//! This file picks the target and gives the verdict; `wire` sends one probe, `verdict` reads it.

mod verdict;
mod wire;

use shakedown_core::result::{AttackOutcome, Verdict};
use shakedown_core::system::Endpoint;
use tokio::time::Instant;

use crate::context::AttackContext;
use crate::evidence::Recorder;
use crate::execute::{halted, inconclusive};
use crate::input::{self, Input};

use verdict::{Judgement, judge, record};
use wire::{Ended, probe, request_head};

/// How the body's length is told: declared up front, or in chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    ContentLength,
    Chunked,
}

impl Framing {
    fn name(self) -> &'static str {
        match self {
            Framing::ContentLength => "content_length",
            Framing::Chunked => "chunked",
        }
    }
}

/// Method, path and extra headers of the request that carries the oversized body, and why.
fn pick_target(ctx: &AttackContext) -> (String, String, Vec<(String, String)>, &'static str) {
    let benign = Input::Text("shakedown".into());
    let takes_body = |e: &&Endpoint| matches!(e.method.as_str(), "POST" | "PUT" | "PATCH");
    let headers = |e: &Endpoint| {
        e.headers
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    if let Some(ep) = ctx.component.endpoints.iter().find(takes_body) {
        let path = input::path_and_query(&ctx.target, ep, &benign);
        return (
            ep.method.as_str().into(),
            path,
            headers(ep),
            "first endpoint that takes a body",
        );
    }
    if let Some(ep) = ctx.component.endpoints.first() {
        let path = input::path_and_query(&ctx.target, ep, &benign);
        return (
            "POST".into(),
            path,
            headers(ep),
            "POST to the first endpoint's path",
        );
    }
    (
        "POST".into(),
        ctx.target.path("/"),
        Vec::new(),
        "POST to the target root (no endpoints)",
    )
}

/// Runs both probes; see the module docs for what counts as a refusal.
pub async fn run(ctx: &AttackContext) -> AttackOutcome {
    let max = ctx.component.guardrails.max_payload().bytes();
    if max == 0 {
        return inconclusive("the claimed max_payload is 0 bytes; nothing to overflow".into());
    }
    let total = (max + max / 2).max(2);
    let (method, path, extra, why) = pick_target(ctx);
    let mut rec = Recorder::new();
    rec.metric("max_payload", max);
    rec.metric("body_bytes", total);
    rec.metric("endpoint", format!("{method} {path}"));
    rec.finding(format!(
        "target: {method} {path} ({why}); body {total} bytes, max {max}"
    ));

    let per_probe = ctx.limits.max_attack_duration / 2;
    let mut judgements = Vec::new();
    for framing in [Framing::ContentLength, Framing::Chunked] {
        let head = request_head(ctx, &method, &path, &extra, framing, total);
        let p = probe(ctx, &head, framing, total, Instant::now() + per_probe).await;
        if matches!(p.ended, Ended::Halted) || ctx.halt.is_cancelled() {
            return halted();
        }
        let described = match framing {
            Framing::ContentLength => format!("{method} {path} (Content-Length: {total})"),
            Framing::Chunked => {
                format!("{method} {path} (Transfer-Encoding: chunked, {total} bytes)")
            }
        };
        record(&mut rec, &p, described);
        let (j, finding) = judge(&p, total, max);
        rec.finding(finding);
        judgements.push((framing, j));
    }

    let of = |want: Judgement| -> Vec<&str> {
        judgements
            .iter()
            .filter(|(_, j)| *j == want)
            .map(|(f, _)| f.name())
            .collect()
    };
    let (accepted, refused) = (of(Judgement::Accepted), of(Judgement::Refused));
    let unknown = of(Judgement::Unknown);
    let (verdict, summary) = if !accepted.is_empty() {
        if accepted == ["chunked"] && refused == ["content_length"] {
            rec.finding("the size limit holds for Content-Length but a chunked body bypasses it");
        }
        let how = accepted.join(", ");
        (
            Verdict::Failed,
            format!("{total}-byte body accepted ({how}; max {max})"),
        )
    } else if unknown.is_empty() {
        (
            Verdict::Passed,
            format!("{total}-byte body refused (max {max})"),
        )
    } else {
        let (r, u) = (refused.join(", "), unknown.join(", "));
        (
            Verdict::Inconclusive,
            format!("{total}-byte body: refused [{r}], no verdict [{u}]"),
        )
    };
    AttackOutcome {
        verdict,
        summary,
        guardrail_triggered: !refused.is_empty(),
        evidence: rec.finish(),
    }
}
