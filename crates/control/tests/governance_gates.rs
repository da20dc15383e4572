//! The governance gates of a campaign, through the product's `CampaignRunner` (not the govern
//! library alone): the runner's injected clock decides whether an approval holds, an
//! escalated plan needs an approver account holding `approve` that is not its requester, and
//! the error budget is reserved before the first attack (so concurrent campaigns cannot
//! overshoot it) and settled to what was injected even when the campaign fails part-way. Every
//! refusal is checked for "nothing started": no connection to the target, no campaign record,
//! no `started` in the ledger.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use shakedown_control::approval_signer::LedgerSigner;
use shakedown_control::auth::{TokenRequest, create_token};
use shakedown_control::{
    CampaignError, CampaignRunner, EventBus, Governance, Progress, RunOptions, planned,
};
use shakedown_core::Pattern;
use shakedown_core::campaign::CampaignStatus;
use shakedown_core::system::{SystemSpec, load_system};
use shakedown_govern::{Approval, FixedClock, SharedClock};
use shakedown_ledger::ExportFormat;
use shakedown_store::{SqliteStore, Store};
use time::OffsetDateTime;
use tokio::net::TcpListener;

/// A listener that counts every connection it accepts (and drops it).
async fn counting_listener() -> (u16, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
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

fn spec(env: &str, port: u16, extra: &str) -> SystemSpec {
    let yaml = format!(
        "environment: {env}\n{extra}components:\n  - id: api\n    kind: api_endpoint\n    target: http://127.0.0.1:{port}\n    endpoints:\n      - path: /s\n        query: {{q: \"{{input}}\"}}\n"
    );
    load_system(&yaml).expect("valid system").0
}

fn actions(gov: &Governance) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    gov.ledger.export(ExportFormat::Jsonl, &mut out).unwrap();
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn names(entries: &[serde_json::Value]) -> Vec<String> {
    entries
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect()
}

fn opts(patterns: &[Pattern]) -> RunOptions {
    let mut o = RunOptions::new("gates.yaml");
    o.plan.patterns = Some(patterns.to_vec());
    o
}

/// Nothing started: no connection, no campaign, no `started`.
async fn nothing_started(hits: &AtomicUsize, store: &dyn Store, gov: &Governance) {
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(hits.load(Ordering::SeqCst), 0, "no packet to the target");
    assert!(
        store.campaigns(10).unwrap().is_empty(),
        "no campaign record"
    );
    assert!(
        !names(&actions(gov)).contains(&"started".to_string()),
        "nothing started"
    );
}

#[tokio::test]
async fn a_skewed_runner_clock_refuses_the_approval_and_starts_nothing() {
    let (port, hits) = counting_listener().await;
    let data = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory().unwrap());
    let gov = Governance::open(data.path(), "alice").unwrap();
    let spec = spec("staging", port, "");
    let o = opts(&[Pattern::XssAttack]);
    let (_, _, hash) = planned(store.as_ref(), &spec, &o).unwrap();
    let t0 = OffsetDateTime::now_utc();
    let issuing = FixedClock::new(t0);
    let approval = Approval::grant(
        hash,
        "alice",
        time::Duration::minutes(30),
        &issuing,
        &LedgerSigner(gov.ledger.keys()),
    );
    let mut o = o;
    o.approval = Some(approval);

    // The runner's clock is an hour ahead: expired, whatever the system clock says.
    let clock = Arc::new(FixedClock::new(t0 + time::Duration::hours(1)));
    let runner = CampaignRunner::new(store.clone(), EventBus::new(store.clone()), gov.clone())
        .with_clock(SharedClock(clock.clone()));
    let err = runner.run(&spec, &o).await.unwrap_err();
    assert!(matches!(err, CampaignError::Approval(_)), "{err}");
    assert!(err.to_string().contains("approval expired"), "{err}");
    nothing_started(&hits, store.as_ref(), &gov).await;
    let entries = actions(&gov);
    let denied = entries.last().unwrap();
    assert_eq!(denied["action"], "denied");
    assert!(
        denied["data"]["reason"]
            .as_str()
            .unwrap()
            .contains("approval expired"),
        "{denied}"
    );

    // An hour behind: the approval is not yet valid — a refusal too, never a pass.
    clock.set(t0 - time::Duration::hours(1));
    let err = runner.run(&spec, &o).await.unwrap_err();
    assert!(err.to_string().contains("the clock is wrong"), "{err}");
    nothing_started(&hits, store.as_ref(), &gov).await;

    // Within its validity the same approval admits the plan (the refusals were the clock's).
    clock.set(t0 + time::Duration::minutes(1));
    let record = runner.run(&spec, &o).await.unwrap();
    assert_eq!(record.status, CampaignStatus::Completed);
    assert!(hits.load(Ordering::SeqCst) > 0, "the approved plan ran");
    assert!(gov.ledger.verify().unwrap().problem.is_none());
}

fn account(store: &dyn Store, name: &str, role: &str) {
    create_token(
        store,
        &TokenRequest {
            account: name.into(),
            kind: "person".into(),
            roles: vec![role.into()],
            label: "test".into(),
            expires_at: None,
        },
        OffsetDateTime::now_utc(),
    )
    .unwrap();
}

#[tokio::test]
async fn an_escalated_plan_needs_an_approver_account_other_than_the_requester() {
    let (port, hits) = counting_listener().await;
    let data = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory().unwrap());
    account(store.as_ref(), "bob", "approver");
    account(store.as_ref(), "carol", "viewer");
    account(store.as_ref(), "alice", "approver");
    // alice requests (she is the ledger actor of the run).
    let gov = Governance::open(data.path(), "alice").unwrap();
    let spec = spec("production", port, "");
    let runner = CampaignRunner::new(store.clone(), EventBus::new(store.clone()), gov.clone());
    let base = opts(&[Pattern::XssAttack]);
    let (_, _, hash) = planned(store.as_ref(), &spec, &base).unwrap();
    let signed_by = |who: &str| {
        let mut o = base.clone();
        o.approval = Some(Approval::grant(
            hash.clone(),
            who,
            time::Duration::minutes(30),
            &shakedown_govern::SystemClock,
            &LedgerSigner(gov.ledger.keys()),
        ));
        o
    };

    // The operator's --approve is not enough for production.
    let mut o = base.clone();
    o.plan.approved = true;
    let err = runner.run(&spec, &o).await.unwrap_err();
    assert!(
        matches!(err, CampaignError::NeedsEscalatedApproval { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("--token"), "{err}");
    // An approver that is no account, one without `approve`, and the requester herself.
    for (who, expect) in [
        ("mallory", "is not an account"),
        ("carol", "may not approve"),
        ("alice", "requested this escalated plan"),
    ] {
        let err = runner.run(&spec, &signed_by(who)).await.unwrap_err();
        assert!(err.to_string().contains(expect), "{who}: {err}");
    }
    nothing_started(&hits, store.as_ref(), &gov).await;
    let entries = actions(&gov);
    let denied: Vec<&serde_json::Value> =
        entries.iter().filter(|e| e["action"] == "denied").collect();
    assert_eq!(denied.len(), 4);
    assert!(
        denied
            .iter()
            .all(|e| e["data"]["decision"] == "escalated" && e["data"]["requested_by"] == "alice")
    );

    // bob holds `approve` in production and is not the requester: it runs, recorded so.
    let record = runner.run(&spec, &signed_by("bob")).await.unwrap();
    assert_eq!(record.status, CampaignStatus::Completed);
    let entries = actions(&gov);
    let approved = entries.iter().find(|e| e["action"] == "approved").unwrap();
    assert_eq!(approved["data"]["approver"], "bob");
    assert_eq!(approved["data"]["requested_by"], "alice");
    assert_eq!(approved["data"]["decision"], "escalated");
}

const BUDGET: &str =
    "error_budget: {cost_per_injection: 0.45, refill_window: 1h, threshold: 0.2}\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_campaigns_cannot_overshoot_the_budget() {
    let (port, hits) = counting_listener().await;
    let data = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory().unwrap());
    let spec = spec("staging", port, BUDGET);
    // Two attacks reserve 0.9: one campaign leaves 0.1, below the threshold.
    let mut o = opts(&[Pattern::XssAttack, Pattern::SqlInjection]);
    o.plan.approved = true;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..4 {
        let gov = Governance::open(data.path(), format!("op{i}")).unwrap();
        let runner = CampaignRunner::new(store.clone(), EventBus::new(store.clone()), gov)
            .with_data_dir(data.path());
        let (spec, o) = (spec.clone(), o.clone());
        tasks.spawn(async move { runner.run(&spec, &o).await });
    }
    let (mut ran, mut refused) = (0, 0);
    while let Some(r) = tasks.join_next().await {
        match r.unwrap() {
            Ok(record) => {
                assert_eq!(record.results.len(), 2);
                ran += 1;
            }
            Err(CampaignError::Refused(refusal)) => {
                assert_eq!(refusal.gate(), "BudgetExhausted", "{refusal}");
                refused += 1;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(
        (ran, refused),
        (1, 3),
        "exactly one campaign fits the budget"
    );
    assert!(hits.load(Ordering::SeqCst) > 0);
    let gov = Governance::open(data.path(), "check").unwrap();
    let entries = actions(&gov);
    let n = |a: &str| entries.iter().filter(|e| e["action"] == a).count();
    assert_eq!(n("started"), 1);
    assert_eq!(n("budget_gate"), 3);
    let left =
        shakedown_control::launch::budget_remaining(data.path(), &spec, OffsetDateTime::now_utc())
            .unwrap()
            .unwrap();
    assert!((left - 0.1).abs() < 0.01, "burned once: {left}");
    assert!(gov.ledger.verify().unwrap().problem.is_none());
}

/// Exposes the ledger's signing key as the first attack starts: the attack is sent, but its
/// ledger entry cannot be written, so the campaign fails part-way.
struct ExposeKeyOnFirstAttack(std::path::PathBuf, AtomicUsize);

impl Progress for ExposeKeyOnFirstAttack {
    fn attack_started(&self, _component_id: &str, _pattern: Pattern) {
        if self.1.fetch_add(1, Ordering::SeqCst) == 0 {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&self.0, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
    }
}

#[tokio::test]
async fn a_campaign_that_fails_part_way_burns_what_it_injected() {
    let (port, hits) = counting_listener().await;
    let data = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory().unwrap());
    let spec = spec("staging", port, BUDGET);
    let gov = Governance::open(data.path(), "alice").unwrap();
    let key = gov.ledger.current_key_id().unwrap();
    let secret = gov.ledger.keys().dir().join(format!("{key}.secret"));
    let runner = CampaignRunner::new(store.clone(), EventBus::new(store.clone()), gov)
        .with_data_dir(data.path())
        .with_progress(Arc::new(ExposeKeyOnFirstAttack(
            secret,
            AtomicUsize::new(0),
        )));
    let mut o = opts(&[Pattern::XssAttack, Pattern::SqlInjection]);
    o.plan.approved = true;
    let err = runner.run(&spec, &o).await.unwrap_err();
    assert!(matches!(err, CampaignError::Ledger(_)), "{err}");
    assert!(hits.load(Ordering::SeqCst) > 0, "the first attack was sent");
    // One of two reserved injections was made: 0.45 stays burned, 0.45 is given back.
    let left =
        shakedown_control::launch::budget_remaining(data.path(), &spec, OffsetDateTime::now_utc())
            .unwrap()
            .unwrap();
    assert!((left - 0.55).abs() < 0.01, "{left}");
}
