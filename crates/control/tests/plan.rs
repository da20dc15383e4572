//! Planning: environment rule, selection order, blast radius, pattern applicability.

use std::collections::HashMap;

use shakedown_control::{CampaignError, PlanOptions, plan};
use shakedown_core::Pattern;
use shakedown_core::system::{SystemSpec, load_system};

fn spec(extra_top: &str, n: usize) -> SystemSpec {
    let mut yaml = format!("{extra_top}components:\n");
    for i in 0..n {
        yaml.push_str(&format!(
            "  - id: c{i}\n    kind: api_endpoint\n    target: http://127.0.0.1:{}\n",
            9000 + i
        ));
    }
    yaml.push_str("  - id: db\n    kind: database\n");
    load_system(&yaml).expect("valid").0
}

fn ids(p: &shakedown_control::Plan) -> Vec<String> {
    p.components
        .iter()
        .map(|c| c.component.id.clone())
        .collect()
}

#[test]
fn lowest_resilience_first_up_to_the_blast_radius() {
    let s = spec("", 5);
    let rankings = HashMap::from([
        ("c0".to_string(), 0.9),
        ("c1".to_string(), 0.2),
        ("c3".to_string(), 0.5),
        ("c4".to_string(), 0.0),
    ]);
    let p = plan(&s, &PlanOptions::default(), &rankings).unwrap();
    // c2 never tested counts as 0 and precedes c4 (also 0) by file order.
    assert_eq!(ids(&p), ["c2", "c4", "c1"]);
    assert!(
        p.not_selected
            .iter()
            .any(|(id, why)| id == "c0" && why.contains("blast radius"))
    );
    assert!(
        p.not_selected
            .iter()
            .any(|(id, why)| id == "db" && why.contains("database"))
    );
}

#[test]
fn production_needs_approval() {
    let s = spec("environment: production\n", 1);
    let err = plan(&s, &PlanOptions::default(), &HashMap::new()).unwrap_err();
    assert!(matches!(err, CampaignError::ProductionNeedsApproval));
    assert!(err.to_string().contains("--approve"));
    let ok = plan(
        &s,
        &PlanOptions {
            approved: true,
            ..Default::default()
        },
        &HashMap::new(),
    );
    assert!(ok.is_ok());
}

#[test]
fn named_targets_are_checked() {
    let s = spec("blast_radius_limit: 2\n", 4);
    let named = |t: &[&str]| PlanOptions {
        targets: Some(t.iter().map(|s| s.to_string()).collect()),
        ..Default::default()
    };
    let p = plan(&s, &named(&["c3", "c1"]), &HashMap::new()).unwrap();
    assert_eq!(ids(&p), ["c3", "c1"]);
    let err = plan(&s, &named(&["c1", "c2", "c3"]), &HashMap::new()).unwrap_err();
    assert!(matches!(
        err,
        CampaignError::BlastRadius {
            requested: 3,
            limit: 2
        }
    ));
    let err = plan(&s, &named(&["nope"]), &HashMap::new()).unwrap_err();
    assert!(
        err.to_string().contains("unknown component `nope`"),
        "{err}"
    );
    let err = plan(&s, &named(&["db"]), &HashMap::new()).unwrap_err();
    assert!(matches!(err, CampaignError::NothingTestable { .. }));
}

#[test]
fn patterns_without_claims_or_inputs_are_skipped_with_reasons() {
    let s = spec("", 1);
    let p = plan(&s, &PlanOptions::default(), &HashMap::new()).unwrap();
    let c = &p.components[0];
    // No endpoints, no rate limit, no auth claim.
    assert_eq!(
        c.patterns,
        [
            Pattern::PayloadOverflow,
            Pattern::Slowloris,
            Pattern::ConnectionExhaustion,
            Pattern::BurstTraffic
        ]
    );
    let reason = |pat| {
        c.skipped
            .iter()
            .find(|(p, _)| *p == pat)
            .map(|(_, r)| r.clone())
            .unwrap()
    };
    assert!(reason(Pattern::RateLimitBreach).contains("rate_limit"));
    assert!(reason(Pattern::AuthBypass).contains("auth_required"));
    assert!(reason(Pattern::SqlInjection).contains("{input}"));

    let only = PlanOptions {
        patterns: Some(vec![Pattern::SqlInjection]),
        ..Default::default()
    };
    let err = plan(&s, &only, &HashMap::new()).unwrap_err();
    assert!(
        matches!(err, CampaignError::NothingTestable { .. }),
        "{err}"
    );
}

#[test]
fn engine_settings_override_the_limits() {
    use shakedown_attack::Limits;
    use shakedown_control::campaign::apply_engine_settings;
    let s = load_system(
        "engine:\n  recovery_window: 5s\n  slowloris_connections: 20\n  burst_concurrency: 50\ncomponents:\n  - id: a\n    kind: api_endpoint\n    target: http://127.0.0.1:1\n",
    )
    .unwrap()
    .0;
    let l = apply_engine_settings(Limits::default(), &s.engine);
    assert_eq!(l.recovery_window.as_secs(), 5);
    assert_eq!(l.slowloris_connections, 20);
    assert_eq!(l.burst_concurrency, Some(50));
    assert_eq!(
        l.sql_sleep,
        Limits::default().sql_sleep,
        "unset fields keep their value"
    );
    let bad = load_system(
        "engine:\n  slowloris_conections: 2\ncomponents:\n  - id: a\n    kind: api_endpoint\n    target: http://127.0.0.1:1\n",
    )
    .unwrap_err();
    assert!(
        bad.render("f")
            .contains("f:2:3: error: unknown field `slowloris_conections`"),
        "{}",
        bad.render("f")
    );
}
