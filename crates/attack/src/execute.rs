//! Running one pattern against one component: health before → attack → recovery after.

use std::time::Instant;

use shakedown_core::result::{AttackOutcome, AttackResult, Evidence, Verdict};
use shakedown_core::{Pattern, Severity};
use time::OffsetDateTime;

use crate::context::AttackContext;
use crate::evidence::Recorder;
use crate::{data, health, load, owasp};

/// Dispatches to the pattern's module. Patterns not implemented for HTTP APIs are
/// inconclusive with a reason (the planner never schedules them).
pub async fn run_pattern(pattern: Pattern, ctx: &AttackContext) -> AttackOutcome {
    match pattern {
        Pattern::SqlInjection => owasp::sql_injection::run(ctx).await,
        Pattern::XssAttack => owasp::xss_attack::run(ctx).await,
        Pattern::AuthBypass => owasp::auth_bypass::run(ctx).await,
        Pattern::RateLimitBreach => owasp::rate_limit_breach::run(ctx).await,
        Pattern::PayloadOverflow => owasp::payload_overflow::run(ctx).await,
        Pattern::BurstTraffic => load::burst_traffic::run(ctx).await,
        Pattern::Slowloris => load::slowloris::run(ctx).await,
        Pattern::ConnectionExhaustion => load::connection_exhaustion::run(ctx).await,
        Pattern::MalformedData => data::malformed_data::run(ctx).await,
        Pattern::NullInjection => data::null_injection::run(ctx).await,
        Pattern::TypeConfusion => data::type_confusion::run(ctx).await,
        other => inconclusive(format!(
            "{other} is not implemented for api_endpoint components"
        )),
    }
}

/// An inconclusive outcome with a reason and no traffic.
pub fn inconclusive(reason: String) -> AttackOutcome {
    AttackOutcome {
        verdict: Verdict::Inconclusive,
        summary: reason.clone(),
        guardrail_triggered: false,
        evidence: Evidence {
            findings: vec![reason],
            ..Evidence::default()
        },
    }
}

/// The outcome for an attack stopped by a halt.
pub fn halted() -> AttackOutcome {
    inconclusive("halted before the attack finished".into())
}

/// The outcome of an attack that judged the answers to its own requests. Unless it failed
/// (its findings then say why), the summary also heads the findings.
pub fn concluded(
    verdict: Verdict,
    summary: String,
    guardrail_triggered: bool,
    rec: Recorder,
) -> AttackOutcome {
    let mut evidence = rec.finish();
    if verdict != Verdict::Failed {
        evidence.findings.insert(0, summary.clone());
    }
    AttackOutcome {
        verdict,
        summary,
        guardrail_triggered,
        evidence,
    }
}

/// Runs `pattern` with the health probe before and the recovery check after.
/// Target down before = inconclusive (never passed); not recovered after = failed, critical.
pub async fn execute(pattern: Pattern, ctx: &AttackContext) -> AttackResult {
    let started_at = OffsetDateTime::now_utc();
    let start = Instant::now();
    let info = pattern.info();
    let mut severity = ctx.component.severity_of(pattern);
    let health_before = health::probe(ctx).await;

    let (outcome, recovery) = if ctx.halt.is_cancelled() {
        (halted(), None)
    } else if !health_before.healthy {
        let reason = format!(
            "target unhealthy before the attack ({})",
            health_before.detail
        );
        (inconclusive(reason), None)
    } else {
        let outcome = tokio::select! {
            o = run_pattern(pattern, ctx) => o,
            _ = ctx.halt.cancelled() => halted(),
        };
        // After a halt nothing more goes to the target, not even the recovery probe.
        let recovery = if ctx.halt.is_cancelled() {
            None
        } else {
            Some(health::wait_recovery(ctx).await)
        };
        (outcome, recovery)
    };

    let mut verdict = outcome.verdict;
    let mut summary = outcome.summary;
    let mut evidence = outcome.evidence;
    if let Some(r) = &recovery
        && !r.recovered
        && !ctx.halt.is_cancelled()
    {
        verdict = Verdict::Failed;
        severity = Severity::Critical;
        let note = format!(
            "no recovery: health still failing {} ms after the attack",
            r.window_ms
        );
        summary = format!("{summary}; {note}");
        evidence.findings.push(note);
    }
    AttackResult {
        component_id: ctx.component.id.clone(),
        pattern,
        verdict,
        severity,
        guardrail: info.guardrail.to_string(),
        guardrail_triggered: outcome.guardrail_triggered,
        summary,
        evidence,
        health_before,
        recovery,
        started_at,
        duration_ms: start.elapsed().as_millis() as u64,
    }
}
