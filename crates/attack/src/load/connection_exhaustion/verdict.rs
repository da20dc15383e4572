//! The verdict: turns the probes and the held connections into an [`AttackOutcome`] with its
//! evidence, by the rules in the parent module's docs.

use shakedown_core::result::{AttackOutcome, Sample, Verdict};

use crate::evidence::Recorder;
use crate::load::sockets::ms;

use super::hold::End;
use super::probe::{Class, ProbeResult, record_probe};
use super::{Observed, Plan};

pub(super) fn judge(plan: &Plan, baseline: ProbeResult, seen: Observed) -> AttackOutcome {
    let mut rec = Recorder::new();
    let planned = plan.budget.granted;
    if let Some(note) = plan.budget.note() {
        rec.finding(note);
    }
    record_probe(&mut rec, "baseline", &plan.probe, &baseline, true);

    let mut accepted = 0usize;
    let mut refused = Vec::new();
    let mut timeouts = 0usize;
    let mut server_closed = Vec::new();
    let mut first_close_sampled = false;
    for h in &seen.held {
        match &h.end {
            End::Refused(e) => {
                rec.record_label("held: refused", None);
                refused.push(e.clone());
            }
            End::NotAttempted => rec.record_label("held: not_attempted", None),
            End::ConnectTimeout => {
                timeouts += 1;
                rec.record_label("held: connect_timeout", None);
            }
            End::Released => {
                accepted += 1;
                rec.record_label("held: open_until_release", None);
            }
            End::ServerClosed { after, how, status } => {
                accepted += 1;
                server_closed.push(*after);
                let label = status.map_or_else(
                    || "closed_by_server".to_string(),
                    |s| format!("closed_by_server_{s}"),
                );
                rec.record_label(&format!("held: {label}"), None);
                if !first_close_sampled {
                    first_close_sampled = true;
                    rec.sample_raw(Sample {
                        request: format!("idle connection #{} (nothing sent)", h.index),
                        status: *status,
                        outcome: format!("server {how}"),
                        latency_ms: ms(*after),
                        excerpt: String::new(),
                    });
                }
            }
        }
    }

    let mut sampled_bad = false;
    for (i, p) in seen.under_load.iter().enumerate() {
        let bad = p.class != Class::Served;
        let sample = i == 0 || (bad && !sampled_bad);
        sampled_bad |= bad && sample;
        record_probe(&mut rec, "under load", &plan.probe, p, sample);
    }
    for (i, p) in seen.recovery.iter().enumerate() {
        record_probe(
            &mut rec,
            "after release",
            &plan.probe,
            p,
            i + 1 == seen.recovery.len(),
        );
    }

    let count = |c: Class| seen.under_load.iter().filter(|p| p.class == c).count();
    let (served, shed, clean_refused, hung, unexpected) = (
        count(Class::Served),
        count(Class::Shed),
        count(Class::Refused),
        count(Class::Hung),
        count(Class::Unexpected),
    );
    rec.metric("connections_wanted", plan.budget.wanted);
    rec.metric("connections_planned", planned);
    rec.metric("connections_accepted", accepted);
    rec.metric("connect_refused", refused.len());
    rec.metric("connect_timeouts", timeouts);
    rec.metric("closed_by_server", server_closed.len());
    if let Some(first) = server_closed.iter().min() {
        rec.metric("first_server_close_ms", ms(*first));
    }
    rec.metric("held_at_end", seen.held_at_end);
    rec.metric("hold_ms", seen.hold_elapsed.as_millis() as u64);
    rec.metric("baseline_latency_ms", ms(baseline.elapsed));
    if let Some(first) = seen.under_load.first() {
        rec.metric("probe_latency_ms", ms(first.elapsed));
    }
    rec.metric("probes_under_load", seen.under_load.len());
    rec.metric("probes_served", served);
    rec.metric("probes_shed", shed);
    rec.metric("probes_refused", clean_refused);
    rec.metric("probes_hung", hung);
    rec.metric("probes_unexpected", unexpected);
    rec.metric("recovered", seen.recovered_after.is_some());
    if let Some(r) = seen.recovered_after {
        rec.metric("recovery_ms", ms(r));
    }
    rec.metric("fd_soft_limit", plan.budget.soft_limit);

    let triggered = shed + clean_refused > 0 || !server_closed.is_empty();
    let outcome = |verdict, summary: String, rec: Recorder| AttackOutcome {
        verdict,
        summary,
        guardrail_triggered: triggered,
        evidence: rec.finish(),
    };

    if accepted == 0 {
        let first = refused
            .first()
            .cloned()
            .unwrap_or_else(|| "connects timed out".into());
        let summary = format!("none of {planned} connections could be opened ({first})");
        rec.finding(format!(
            "{summary}: nothing was held, so nothing was verified"
        ));
        return outcome(Verdict::Inconclusive, summary, rec);
    }
    if seen.under_load.is_empty() {
        let summary = "no probe could be sent while connections were held".to_string();
        rec.finding(summary.clone());
        return outcome(Verdict::Inconclusive, summary, rec);
    }

    rec.finding(format!(
        "{accepted} of {planned} idle connections opened (handshake completed, possibly only in \
         the listen backlog); {} still held after {} ms",
        seen.held_at_end,
        seen.hold_elapsed.as_millis()
    ));
    if !refused.is_empty() {
        rec.finding(format!(
            "{} connections refused while opening ({})",
            refused.len(),
            refused[0]
        ));
    }
    if timeouts > 0 {
        rec.finding(format!(
            "{timeouts} connects hung past {} ms: the listen backlog was full",
            plan.connect_timeout.as_millis()
        ));
    }
    if let Some(first) = server_closed.iter().min() {
        rec.finding(format!(
            "server closed {} idle connections by itself (first after {} ms): an idle timeout or \
             connection cap is working",
            server_closed.len(),
            ms(*first)
        ));
    }

    let mut failures = Vec::new();
    if hung > 0 {
        let worst = seen
            .under_load
            .iter()
            .filter(|p| p.class == Class::Hung)
            .map(|p| p.elapsed)
            .max();
        failures.push(format!(
            "probe hung: {hung} of {} probes got no timely answer (up to {} ms) while {} idle connections were held",
            seen.under_load.len(),
            ms(worst.unwrap_or_default()),
            seen.held_at_end
        ));
    }
    if unexpected > 0 {
        let labels: Vec<String> = seen
            .under_load
            .iter()
            .filter(|p| p.class == Class::Unexpected)
            .map(|p| p.outcome.label())
            .collect();
        failures.push(format!(
            "probe answered {} while idle connections were held (expected 2xx/3xx or a quick 503/429)",
            labels.join(", ")
        ));
    }
    if let Some(r) = seen.recovered_after {
        rec.finding(format!(
            "probe served again {} ms after releasing the connections",
            ms(r)
        ));
    } else {
        failures.push(format!(
            "service did not come back within {} ms after releasing {accepted} connections",
            plan.recovery_window.as_millis()
        ));
    }
    for f in &failures {
        rec.finding(f.clone());
    }
    if !failures.is_empty() {
        return outcome(Verdict::Failed, failures.join("; "), rec);
    }

    debug_assert!(seen.under_load.iter().all(|p| p.class.clean()));
    let under = if served == seen.under_load.len() {
        let latency = seen
            .under_load
            .iter()
            .map(|p| p.elapsed)
            .max()
            .unwrap_or_default();
        format!(
            "probe served under load (max {} ms vs baseline {} ms)",
            ms(latency),
            ms(baseline.elapsed)
        )
    } else {
        let parts: Vec<String> = [
            (served, "served"),
            (shed, "shed with 503/429"),
            (clean_refused, "refused quickly"),
        ]
        .iter()
        .filter(|(k, _)| *k > 0)
        .map(|(k, what)| format!("{k} {what}"))
        .collect();
        format!("probes under load: {}", parts.join(", "))
    };
    let recovered = seen.recovered_after.map(ms).unwrap_or_default();
    rec.finding(under.clone());
    let summary = format!("{accepted} idle connections held; {under}; recovered in {recovered} ms");
    outcome(Verdict::Passed, summary, rec)
}
