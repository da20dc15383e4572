//! The verdict: turns what the attack saw into an [`AttackOutcome`] with its evidence, by the
//! rules in the parent module's docs.

use std::time::Duration;

use shakedown_core::result::{AttackOutcome, Sample, Verdict};

use crate::evidence::Recorder;
use crate::http::Outcome;
use crate::load::sockets::ms;

use super::connection::{Cause, End};
use super::{DROP_QUORUM, Observed, Plan};

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[Duration], q: f64) -> Duration {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn served(o: &Outcome) -> bool {
    o.status().is_some_and(|s| (200..400).contains(&s))
}

pub(super) fn judge(plan: &Plan, seen: Observed) -> AttackOutcome {
    let mut rec = Recorder::new();
    let wanted = plan.budget.wanted;
    let planned = plan.connections();
    let limit = plan.claimed + plan.grace;
    if let Some(note) = plan.budget.note() {
        rec.finding(note);
    }

    let mut opened = 0usize;
    let mut connect_errors = Vec::new();
    let mut in_time = Vec::new();
    let mut late = 0usize;
    let mut still_open = 0usize;
    let mut bytes = 0u64;
    let mut dropped_sampled = false;
    let mut open_sampled = false;
    for c in &seen.conns {
        bytes += c.bytes_sent;
        let describe = format!(
            "slowloris connection #{}: GET {}, 1 byte every ~{} ms",
            c.index,
            plan.path,
            plan.byte_interval.as_millis()
        );
        match &c.end {
            End::NeverOpened(e) => {
                rec.record_label("slow: connect_error", None);
                connect_errors.push(e.clone());
            }
            End::Dropped { after, how } => {
                opened += 1;
                rec.record_label(&format!("slow: {}", how.label()), None);
                if *after <= limit {
                    in_time.push(*after);
                } else {
                    late += 1;
                }
                if !dropped_sampled {
                    dropped_sampled = true;
                    rec.sample_raw(Sample {
                        request: describe,
                        status: match how {
                            Cause::Answered { status, .. } => *status,
                            _ => None,
                        },
                        outcome: format!("dropped: {}", how.describe()),
                        latency_ms: ms(*after),
                        excerpt: format!("{} bytes of the head sent", c.bytes_sent),
                    });
                }
            }
            End::StillOpen { after } => {
                opened += 1;
                still_open += 1;
                rec.record_label("slow: still_open", None);
                if !open_sampled {
                    open_sampled = true;
                    rec.sample_raw(Sample {
                        request: describe,
                        status: None,
                        outcome: "still open when the attack stopped".into(),
                        latency_ms: ms(*after),
                        excerpt: format!("{} bytes of the head sent", c.bytes_sent),
                    });
                }
            }
        }
    }
    in_time.sort();

    let mut probes_ok = 0usize;
    let mut while_open = 0usize;
    let mut ok_while_open = 0usize;
    let mut failed_sampled = false;
    let mut ok_sampled = false;
    for p in &seen.probes {
        let latency = match &p.outcome {
            Outcome::Response(r) => Some(r.latency),
            Outcome::Timeout(d) => Some(*d),
            _ => None,
        };
        rec.record_label(&format!("probe: {}", p.outcome.label()), latency);
        let ok = served(&p.outcome);
        probes_ok += ok as usize;
        if p.open_at_send > 0 {
            while_open += 1;
            ok_while_open += ok as usize;
        }
        let label = format!(
            "probe {} ({} slow connections open)",
            plan.probe.describe(),
            p.open_at_send
        );
        if (ok && !ok_sampled) || (!ok && !failed_sampled) {
            rec.sample_described(label, &p.outcome);
            ok_sampled |= ok;
            failed_sampled |= !ok;
        }
    }
    let probes = seen.probes.len();

    rec.metric("connections_wanted", wanted);
    rec.metric("connections_planned", planned);
    rec.metric("connections_opened", opened);
    rec.metric("connect_errors", connect_errors.len());
    rec.metric("dropped", in_time.len());
    rec.metric("dropped_late", late);
    rec.metric("still_open", still_open);
    if !in_time.is_empty() {
        rec.metric("drop_ms_p50", ms(percentile(&in_time, 0.50)));
        rec.metric("drop_ms_p90", ms(percentile(&in_time, 0.90)));
        rec.metric("drop_ms_max", ms(percentile(&in_time, 1.0)));
    }
    rec.metric("probes_sent", probes);
    rec.metric("probes_ok", probes_ok);
    rec.metric("probes_failed", probes - probes_ok);
    rec.metric("probes_while_open", while_open);
    rec.metric("probes_ok_while_open", ok_while_open);
    rec.metric("bytes_trickled", bytes);
    rec.metric("byte_interval_ms", plan.byte_interval.as_millis() as u64);
    rec.metric("deadline_ms", limit.as_millis() as u64);
    rec.metric("watched_ms", seen.watched.as_millis() as u64);
    rec.metric("deadline_capped", seen.capped);
    rec.metric("fd_soft_limit", plan.budget.soft_limit);

    let triggered = !in_time.is_empty();
    let outcome = |verdict, summary: String, rec: Recorder| AttackOutcome {
        verdict,
        summary,
        guardrail_triggered: triggered,
        evidence: rec.finish(),
    };

    if opened == 0 || opened * 2 < planned {
        let first = connect_errors
            .first()
            .cloned()
            .unwrap_or_else(|| "no error recorded".into());
        let summary =
            format!("only {opened} of {planned} slow connections could be opened ({first})");
        rec.finding(format!(
            "{summary}: the target refused the attack from the start, so nothing was verified"
        ));
        return outcome(Verdict::Inconclusive, summary, rec);
    }

    let not_dropped = opened - in_time.len();
    let drops_ok = in_time.len() as f64 >= DROP_QUORUM * opened as f64;
    let starved = probes == 0
        || probes_ok == 0
        || probes_ok * 2 < probes
        || (while_open > 0 && ok_while_open == 0);

    let mut failures = Vec::new();
    if !drops_ok {
        let mut f = format!(
            "{not_dropped} of {opened} slow connections still open after {} (claimed request_timeout {} + grace {})",
            human(limit),
            human(plan.claimed),
            human(plan.grace)
        );
        if late > 0 {
            f.push_str(&format!("; {late} were dropped only after that deadline"));
        }
        if seen.capped {
            f.push_str(&format!(
                ", but max_attack_duration ({}) cut the window to {}",
                human(plan.max_duration),
                human(seen.watched)
            ));
        }
        rec.finding(f.clone());
        failures.push(f);
    } else {
        rec.finding(format!(
            "{} of {opened} slow connections dropped within {} (p50 {} ms, max {} ms)",
            in_time.len(),
            human(limit),
            ms(percentile(&in_time, 0.5)),
            ms(percentile(&in_time, 1.0))
        ));
    }
    if starved {
        let f = if probes == 0 {
            "no probe could be sent while under slowloris".to_string()
        } else {
            format!(
                "server unavailable while under slowloris: {probes_ok} of {probes} probes served \
                 ({ok_while_open} of {while_open} while slow connections were open)"
            )
        };
        rec.finding(f.clone());
        failures.push(f);
    } else {
        rec.finding(format!(
            "{probes_ok} of {probes} probes served while under slowloris ({ok_while_open} of {while_open} \
             while slow connections were open)"
        ));
    }

    if failures.is_empty() {
        let summary = format!(
            "{} of {opened} slow connections dropped in time; {probes_ok}/{probes} probes served",
            in_time.len()
        );
        return outcome(Verdict::Passed, summary, rec);
    }
    // Connections outliving a window cut short by max_attack_duration prove nothing on their
    // own: the server may still honour its longer claim.
    if seen.capped && !starved {
        rec.finding(
            "window shorter than the claimed timeout: raise max_attack_duration to verify"
                .to_string(),
        );
        return outcome(Verdict::Inconclusive, failures.join("; "), rec);
    }
    outcome(Verdict::Failed, failures.join("; "), rec)
}

fn human(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let v: Vec<Duration> = (1..=10).map(Duration::from_millis).collect();
        assert_eq!(percentile(&v, 0.5), Duration::from_millis(5));
        assert_eq!(percentile(&v, 0.9), Duration::from_millis(9));
        assert_eq!(percentile(&v, 1.0), Duration::from_millis(10));
    }
}
