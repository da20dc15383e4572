//! Rankings over several campaigns against real practice APIs: selection order (lowest first,
//! never tested = 0), EWMA values, history, and results attributed to the right component.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use shakedown_attack::Limits;
use shakedown_control::{CampaignRunner, EventBus, Governance, NoProgress, RunOptions};
use shakedown_core::campaign::CampaignRecord;
use shakedown_core::score::ewma;
use shakedown_core::system::load_system;
use shakedown_practice::{PracticeConfig, PracticeServer, start};
use shakedown_store::{SqliteStore, Store};
use tokio_util::sync::CancellationToken;

const TOKEN: &str = "rank-token";

fn component(id: &str, url: &str) -> String {
    format!(
        "  - id: {id}\n    kind: api_endpoint\n    target: {url}\n    health: /health\n    auth: {{token_env: RANK_TOKEN}}\n    endpoints:\n      - path: /users\n        query: {{name: \"{{input}}\"}}\n      - path: /search\n        query: {{q: \"{{input}}\"}}\n    patterns: [sql_injection, xss_attack]\n"
    )
}

async fn run(store: &Arc<dyn Store>, yaml: &str) -> CampaignRecord {
    let (spec, _) = load_system(yaml).unwrap();
    let data = tempfile::tempdir().unwrap();
    let runner = CampaignRunner::new(
        store.clone(),
        EventBus::new(store.clone()),
        Governance::open(data.path(), "tester").unwrap(),
    )
    .with_progress(Arc::new(NoProgress))
    .with_halt(CancellationToken::new());
    let mut opts = RunOptions::new("rankings.yaml");
    // Injection patterns in the test environment score "pending manual": approve.
    opts.plan.approved = true;
    opts.limits = Limits {
        sql_sleep: Duration::from_millis(500),
        ..Limits::default()
    };
    opts.secrets = Arc::new(|name| (name == "RANK_TOKEN").then(|| TOKEN.to_string()));
    runner.run(&spec, &opts).await.unwrap()
}

fn score_of(r: &CampaignRecord, id: &str) -> f64 {
    r.components
        .iter()
        .find(|c| c.component_id == id)
        .unwrap()
        .resilience
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weakest_components_are_tested_first_and_rankings_smooth() {
    let listen = "127.0.0.1:0".parse().unwrap();
    let servers: Vec<PracticeServer> = vec![
        start(PracticeConfig::guarded(TOKEN), listen).await.unwrap(),
        start(PracticeConfig::weak(), listen).await.unwrap(),
        start(PracticeConfig::weak(), listen).await.unwrap(),
    ];
    let ids = ["strong", "weak_a", "weak_b"];
    let mut yaml = String::from("blast_radius_limit: 2\ncomponents:\n");
    for (id, s) in ids.iter().zip(&servers) {
        yaml.push_str(&component(id, &s.url()));
    }
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory().unwrap());
    let seen = |i: usize| servers[i].requests_seen();

    // Campaign 1: nothing tested yet, all count as 0 → file order: strong, weak_a.
    let c1 = run(&store, &yaml).await;
    assert_eq!(c1.target_components, ["strong", "weak_a"]);
    assert_eq!(seen(2), 0, "weak_b was not selected and received nothing");
    assert_eq!(score_of(&c1, "strong"), 1.0);
    let weak_a_1 = score_of(&c1, "weak_a");
    assert_eq!(weak_a_1, 0.0, "both patterns fail on the weak API");
    for r in &c1.results {
        let expected = if r.component_id == "strong" {
            "passed"
        } else {
            "failed"
        };
        assert_eq!(
            r.verdict.as_str(),
            expected,
            "{} / {}",
            r.component_id,
            r.pattern
        );
    }

    // Campaign 2: weak_b never tested (0) and weak_a (0.0) are the lowest; strong (1.0) waits.
    let strong_seen = seen(0);
    let c2 = run(&store, &yaml).await;
    assert_eq!(c2.target_components, ["weak_a", "weak_b"]);
    assert_eq!(
        seen(0),
        strong_seen,
        "strong was not selected and received nothing"
    );
    assert!(seen(2) > 0);
    for r in &c2.results {
        assert!(["weak_a", "weak_b"].contains(&r.component_id.as_str()));
    }

    let rankings: HashMap<String, f64> = store
        .rankings()
        .unwrap()
        .into_iter()
        .map(|r| (r.component_id, r.resilience_score))
        .collect();
    assert_eq!(rankings["strong"], 1.0);
    let expected_weak_a = ewma(Some(weak_a_1), score_of(&c2, "weak_a"));
    assert!((rankings["weak_a"] - expected_weak_a).abs() < 1e-9);
    assert_eq!(
        rankings["weak_b"],
        score_of(&c2, "weak_b"),
        "seeded by its first campaign"
    );

    let history = store.history("weak_a").unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[0].campaign_id, c1.campaign_id);
    assert_eq!(history[1].campaign_id, c2.campaign_id);
    assert!((history[1].ranking_score - expected_weak_a).abs() < 1e-9);
    assert_eq!(store.ranking("weak_a").unwrap().unwrap().campaigns, 2);
    assert_eq!(store.ranking("weak_a").unwrap().unwrap().test_count, 4);

    // The stored injection events carry the same attribution as the results.
    let events = store.events(Some(&c2.campaign_id)).unwrap();
    for e in events.iter().filter(|e| e.event_type == "chaos.injection") {
        assert_eq!(e.component_id.as_deref(), e.data["component_id"].as_str());
        assert!(["weak_a", "weak_b"].contains(&e.data["component_id"].as_str().unwrap()));
    }
    for s in servers {
        s.shutdown().await;
    }
}
