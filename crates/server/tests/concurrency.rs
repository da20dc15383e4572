//! 1,000 concurrent API calls without a race or a lost record: 1,000 simultaneous
//! `POST /api/chaos/run` that need approval become exactly 1,000 distinct pending requests and
//! 1,000 ledger entries, and the ledger verifies; two approvers racing to decide the same
//! requests never both win.

#[path = "api/support.rs"]
#[allow(dead_code)]
mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::json;
use support::{Api, practice, run_body, system};

const CALLS: usize = 1000;
const ACCOUNTS: usize = 10;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_concurrent_runs_needing_approval_lose_nothing() {
    let target = practice().await;
    let api = Api::start_with(|c| {
        c.max_in_flight = 2 * CALLS;
        c.max_connections = 2 * CALLS;
        c.request_timeout = Duration::from_secs(60);
    })
    .await;
    let tokens: Vec<String> = (0..ACCOUNTS)
        .map(|i| api.token(&format!("op{i}"), "operator"))
        .collect();
    let body = run_body(&system("staging", &target.url(), "svc"));
    let addr = api.addr;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..CALLS {
        let token = tokens[i % ACCOUNTS].clone();
        let payload = serde_json::to_vec(&body).unwrap();
        tasks.spawn(async move {
            support::call(
                addr,
                "POST",
                "/api/chaos/run",
                Some(&token),
                Some(("application/json", payload)),
            )
            .await
        });
    }
    let mut ids = BTreeSet::new();
    while let Some(r) = tasks.join_next().await {
        let r = r.unwrap();
        assert_eq!(r.status, 202, "{}", r.text);
        let v = r.json();
        assert_eq!(v["status"], "pending_approval", "{v}");
        assert!(
            ids.insert(v["approval_id"].as_str().unwrap().to_string()),
            "duplicate id"
        );
    }
    assert_eq!(ids.len(), CALLS);

    let stored = api
        .store
        .approval_requests(Some("pending"), 10 * CALLS)
        .unwrap();
    let stored_ids: BTreeSet<String> = stored.iter().map(|r| r.id.clone()).collect();
    assert_eq!(
        stored_ids, ids,
        "every answered request is stored, and nothing else"
    );
    let entries = api.ledger();
    assert_eq!(entries.len(), CALLS, "one ledger entry per request");
    let recorded: BTreeSet<String> = entries
        .iter()
        .filter(|e| e["action"] == "approval_requested")
        .map(|e| e["resource"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(recorded, ids);
    let seqs: Vec<u64> = entries.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(
        seqs,
        (1..=CALLS as u64).collect::<Vec<_>>(),
        "a gapless chain"
    );
    for i in 0..ACCOUNTS {
        let actor = format!("op{i}");
        let n = entries
            .iter()
            .filter(|e| e["actor"] == actor.as_str())
            .count();
        assert_eq!(n, CALLS / ACCOUNTS, "{actor}");
    }
    assert!(api.ledger_verifies());

    // Two approvers race to deny the same 100 requests: exactly one wins each.
    let a = api.token("amy", "approver");
    let b = api.token("ben", "approver");
    let racing: Vec<String> = ids.iter().take(100).cloned().collect();
    let mut tasks = tokio::task::JoinSet::new();
    for id in &racing {
        for t in [&a, &b] {
            let (id, t) = (id.clone(), t.clone());
            tasks.spawn(async move {
                let body = serde_json::to_vec(&json!({"reason": "race"})).unwrap();
                support::call(
                    addr,
                    "POST",
                    &format!("/api/approvals/{id}/deny"),
                    Some(&t),
                    Some(("application/json", body)),
                )
                .await
            });
        }
    }
    let (mut won, mut lost) = (0, 0);
    while let Some(r) = tasks.join_next().await {
        match r.unwrap().status {
            200 => won += 1,
            409 => lost += 1,
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!((won, lost), (100, 100));
    let denials = api
        .ledger()
        .iter()
        .filter(|e| e["action"] == "approval_denied")
        .count();
    assert_eq!(denials, 100);
    assert_eq!(
        api.store
            .approval_requests(Some("denied"), 10 * CALLS)
            .unwrap()
            .len(),
        100
    );
    assert!(api.ledger_verifies());
}
