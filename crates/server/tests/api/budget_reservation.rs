//! The error budget through the API under concurrency: campaigns accepted at the same time
//! each reserve their planned attacks before the first one, so together they cannot overshoot
//! the budget — the ones that no longer fit end as failed to start with `BudgetExhausted` (or
//! are refused at the door with 429 when another's reservation already landed), and the budget
//! is burned exactly once.

use std::time::Duration;

use serde_json::json;

use crate::support::{Api, practice, system};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_api_campaigns_cannot_overshoot_the_budget() {
    let target = practice().await;
    let api = Api::start().await;
    let op = api.token("olga", "operator");
    // Test environment (auto-approved): two attacks at 0.45 reserve 0.9 of a full budget.
    let file = system("test", &target.url(), "svc").replace(
        "blast_radius_limit: 3\n",
        "blast_radius_limit: 3\nerror_budget: {cost_per_injection: 0.45, refill_window: 1h, threshold: 0.2}\n",
    );
    let body = json!({"system": file, "patterns": ["sql_injection", "xss_attack"]});
    let calls = (0..4).map(|_| api.post_json("/api/chaos/run", Some(&op), &body));
    let answers = futures_util::future::join_all(calls).await;
    let mut ids = Vec::new();
    let mut refused = 0;
    for r in &answers {
        match r.status {
            // Accepted at the door (the budget looked full); the reservation decides.
            202 => ids.push(r.json()["campaign_id"].as_str().unwrap().to_string()),
            // Or refused at the door, when another's reservation already landed.
            429 => {
                assert_eq!(r.header("x-gate-enforced"), Some("BudgetExhausted"));
                refused += 1;
            }
            s => panic!("{s}: {}", r.text),
        }
    }
    let mut ran = 0;
    for id in &ids {
        let v = api.wait_campaign(id, &op).await;
        match v["status"].as_str().unwrap() {
            "completed" => ran += 1,
            "failed_to_start" => {
                let err = v["error"].as_str().unwrap();
                assert!(err.contains("BudgetExhausted"), "{err}");
                refused += 1;
            }
            other => panic!("{other}: {v}"),
        }
    }
    assert_eq!((ran, refused), (1, 3), "exactly one campaign fits");
    let entries = api.ledger();
    let n = |a: &str| entries.iter().filter(|e| e["action"] == a).count();
    assert_eq!(n("started"), 1);
    assert_eq!(
        n("budget_gate"),
        3,
        "every refusal is recorded, at the door or at reservation"
    );
    // Burned once (0.9), not four times.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let budgets = api.get("/api/budgets", Some(&op)).await.json();
    let test = budgets
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["environment"] == "test")
        .unwrap_or_else(|| panic!("{budgets}"));
    let left = test["remaining"].as_f64().unwrap();
    assert!((left - 0.1).abs() < 0.01, "{left}");
    assert!(api.ledger_verifies());
}
