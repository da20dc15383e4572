//! Campaign safety: targets outside the scope are refused before any connection, and an
//! unreachable target never scores as passed.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use shakedown_attack::Limits;
use shakedown_control::{
    CampaignError, CampaignRunner, EventBus, Governance, NoProgress, RunOptions,
};
use shakedown_core::Verdict;
use shakedown_core::campaign::CampaignStatus;
use shakedown_core::system::load_system;
use shakedown_ledger::ExportFormat;
use shakedown_store::{SqliteStore, Store};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// A runner whose signed ledger lives in a temporary data dir (kept alive by the caller).
fn runner(store: Arc<dyn Store>) -> (CampaignRunner, tempfile::TempDir) {
    let data = tempfile::tempdir().unwrap();
    let governance = Governance::open(data.path(), "tester").unwrap();
    let runner = CampaignRunner::new(store.clone(), EventBus::new(store), governance)
        .with_progress(Arc::new(NoProgress))
        .with_halt(CancellationToken::new());
    (runner, data)
}

/// Test-environment campaigns with every pattern score "pending manual": approve them.
fn approved(file: &str) -> RunOptions {
    let mut opts = RunOptions::new(file);
    opts.plan.approved = true;
    opts
}

/// The actions of the ledger's entries, in order.
fn ledger_actions(runner: &CampaignRunner) -> Vec<String> {
    let mut out = Vec::new();
    runner
        .governance
        .ledger
        .export(ExportFormat::Jsonl, &mut out)
        .unwrap();
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["action"].as_str().unwrap().to_string()
        })
        .collect()
}

/// A listener that counts every connection it accepts.
async fn counting_listener(ip: &str) -> (u16, Arc<AtomicUsize>) {
    let l = TcpListener::bind((ip, 0)).await.unwrap();
    let port = l.local_addr().unwrap().port();
    let n = Arc::new(AtomicUsize::new(0));
    let counter = n.clone();
    tokio::spawn(async move {
        while let Ok((_s, _)) = l.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
        }
    });
    (port, n)
}

#[tokio::test]
async fn a_target_outside_the_scope_stops_the_campaign_before_any_connection() {
    let (in_port, in_count) = counting_listener("127.0.0.1").await;
    let (out_port, out_count) = counting_listener("127.0.0.2").await;
    let yaml = format!(
        "scope:\n  allow: [127.0.0.1/32, 127.0.0.2/32]\ncomponents:\n  - id: inside\n    kind: api_endpoint\n    target: http://127.0.0.1:{in_port}\n  - id: outside\n    kind: api_endpoint\n    target: http://127.0.0.2:{out_port}\n"
    );
    // Validation refuses a literal IP outside the scope already…
    let narrowed = yaml.replace(
        "allow: [127.0.0.1/32, 127.0.0.2/32]",
        "allow: [127.0.0.1/32]",
    );
    let problems = load_system(&narrowed).unwrap_err();
    assert!(problems.render("f").contains("outside the scope"));
    // …and the runner refuses on its own, before touching any target (even the in-scope one).
    let (mut spec, _) = load_system(&yaml).unwrap();
    spec.scope.allow = vec!["127.0.0.1/32".into()];
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory().unwrap());
    let (runner, _data) = runner(store.clone());
    let err = runner.run(&spec, &approved("t")).await.unwrap_err();
    assert!(matches!(err, CampaignError::Scope(_)), "{err}");
    assert!(err.to_string().contains("outside the scope"), "{err}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        in_count.load(Ordering::SeqCst),
        0,
        "no packet to the in-scope target either"
    );
    assert_eq!(out_count.load(Ordering::SeqCst), 0);
    assert!(
        store.campaigns(10).unwrap().is_empty(),
        "nothing half-written"
    );
    // The ledger holds the request, its risk, the approval and the refusal, and verifies.
    assert_eq!(
        ledger_actions(&runner),
        ["requested", "risk_scored", "approved", "refused"]
    );
    assert!(runner.governance.ledger.verify().unwrap().problem.is_none());

    // In staging the same plan needs a human: without --approve it is denied before the scope
    // is even looked at.
    spec.environment = shakedown_core::system::Environment::Staging;
    let err = runner.run(&spec, &RunOptions::new("t")).await.unwrap_err();
    assert!(matches!(err, CampaignError::NeedsApproval { .. }), "{err}");
    assert!(err.to_string().contains("--approve"), "{err}");
    assert_eq!(ledger_actions(&runner).last().unwrap(), "denied");
}

#[tokio::test]
async fn an_unreachable_target_is_never_passed() {
    // Bind then drop: the port is closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let yaml = format!(
        "components:\n  - id: down\n    kind: api_endpoint\n    target: http://127.0.0.1:{port}\n    endpoints:\n      - path: /s\n        query: {{q: \"{{input}}\"}}\n    guardrails:\n      rate_limit: {{requests: 5, per: 1s}}\n      auth_required: true\n"
    );
    let (spec, _) = load_system(&yaml).unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory().unwrap());
    let mut opts = approved("t");
    opts.limits = Limits {
        recovery_window: Duration::from_millis(300),
        ..Limits::default()
    };
    let (runner, _data) = runner(store.clone());
    let record = runner.run(&spec, &opts).await.unwrap();
    assert_eq!(record.status, CampaignStatus::Completed);
    assert_eq!(record.results.len(), 11);
    for r in &record.results {
        assert_eq!(
            r.verdict,
            Verdict::Inconclusive,
            "{} on a closed port",
            r.pattern
        );
        assert!(!r.health_before.healthy);
        assert_eq!(r.component_id, "down");
    }
    assert_eq!(record.score, None);
    assert!(
        store.rankings().unwrap().is_empty(),
        "nothing learned, no ranking"
    );
    let stored = store.campaign(&record.campaign_id).unwrap().unwrap();
    assert_eq!(stored.results.len(), 11);
    let events = store.events(Some(&record.campaign_id)).unwrap();
    assert_eq!(
        events
            .iter()
            .filter(|e| e.event_type == "chaos.injection")
            .count(),
        11
    );
    assert_eq!(events.first().unwrap().event_type, "chaos.campaign.started");
    assert_eq!(
        events.last().unwrap().event_type,
        "chaos.campaign.completed"
    );
}
