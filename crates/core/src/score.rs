//! Resilience scoring: a severity-weighted pass ratio per campaign, smoothed across campaigns.

use crate::result::{AttackResult, Verdict};

/// Weight of the previous ranking score when a new campaign result arrives.
pub const EWMA_OLD_WEIGHT: f64 = 0.7;

/// Severity-weighted pass ratio over non-inconclusive results (critical 3, high 2, medium 1,
/// low 1). `None` when every result was inconclusive: nothing was learned.
pub fn resilience<'a>(results: impl IntoIterator<Item = &'a AttackResult>) -> Option<f64> {
    let (mut passed, mut total) = (0.0, 0.0);
    for r in results {
        let w = r.severity.weight();
        match r.verdict {
            Verdict::Passed => {
                passed += w;
                total += w;
            }
            Verdict::Failed => total += w,
            Verdict::Inconclusive => {}
        }
    }
    (total > 0.0).then(|| passed / total)
}

/// The ranking score after a campaign: `0.7·old + 0.3·new`, seeded by the first campaign.
pub fn ewma(old: Option<f64>, new: f64) -> f64 {
    match old {
        Some(old) => EWMA_OLD_WEIGHT * old + (1.0 - EWMA_OLD_WEIGHT) * new,
        None => new,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pattern::Pattern;
    use crate::result::{Evidence, HealthCheck};
    use crate::severity::Severity;

    fn result(severity: Severity, verdict: Verdict) -> AttackResult {
        AttackResult {
            component_id: "api".into(),
            pattern: Pattern::SqlInjection,
            verdict,
            severity,
            guardrail: "g".into(),
            guardrail_triggered: false,
            summary: String::new(),
            evidence: Evidence::default(),
            health_before: HealthCheck {
                healthy: true,
                status: Some(200),
                latency_ms: 1.0,
                detail: String::new(),
            },
            recovery: None,
            started_at: time::OffsetDateTime::UNIX_EPOCH,
            duration_ms: 0,
        }
    }

    #[test]
    fn weighted_ratio_ignores_inconclusive() {
        let rs = [
            result(Severity::Critical, Verdict::Passed),
            result(Severity::High, Verdict::Failed),
            result(Severity::Low, Verdict::Passed),
            result(Severity::Critical, Verdict::Inconclusive),
        ];
        // (3 + 1) / (3 + 2 + 1)
        assert!((resilience(&rs).unwrap() - 4.0 / 6.0).abs() < 1e-12);
        assert_eq!(
            resilience(&[result(Severity::High, Verdict::Inconclusive)]),
            None
        );
    }

    #[test]
    fn ewma_seeds_then_smooths() {
        assert_eq!(ewma(None, 0.5), 0.5);
        assert!((ewma(Some(0.5), 1.0) - 0.65).abs() < 1e-12);
        assert!((ewma(Some(0.65), 0.0) - 0.455).abs() < 1e-12);
    }
}
