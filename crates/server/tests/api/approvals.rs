//! The approval flow through the API: a staging campaign waits for a human; the requester may
//! not approve it; another approver starts it from the frozen plan; a decided request stays
//! decided; a plan that changed since the request is refused and recorded.

use serde_json::json;
use shakedown_core::campaign::{CampaignRecord, CampaignStatus};
use shakedown_core::system::Environment;
use time::OffsetDateTime;

use crate::support::{Api, practice, run_body, system, two_components};

fn actions(api: &Api) -> Vec<(String, String, String)> {
    api.ledger()
        .iter()
        .map(|e| {
            (
                e["actor"].as_str().unwrap().to_string(),
                e["action"].as_str().unwrap().to_string(),
                e["resource"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_pending_request_is_approved_by_another_account_and_runs_the_frozen_plan() {
    let target = practice().await;
    let api = Api::start().await;
    let alice = api.token("alice", "admin");
    let bob = api.token("bob", "approver");
    let viewer = api.token("vic", "viewer");

    let r = api
        .post_json(
            "/api/chaos/run",
            Some(&alice),
            &run_body(&system("staging", &target.url(), "svc")),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let v = r.json();
    assert_eq!(v["status"], "pending_approval");
    let risk = v["risk"]["score"].as_f64().unwrap();
    assert!((0.3..=0.7).contains(&risk), "{v}");
    let id = v["approval_id"].as_str().unwrap().to_string();

    let list = api
        .get("/api/approvals?status=pending", Some(&viewer))
        .await
        .json();
    assert_eq!(list["approvals"][0]["id"], id.as_str());
    assert_eq!(list["approvals"][0]["requested_by"], "alice");
    assert!(
        list["approvals"][0]["request"]["system"]
            .as_str()
            .unwrap()
            .contains("staging")
    );

    // The requester may not approve their own request, even as admin.
    let r = api
        .post_json(
            &format!("/api/approvals/{id}/approve"),
            Some(&alice),
            &json!({}),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert!(r.text.contains("may not approve it"), "{}", r.text);

    let r = api
        .post_json(
            &format!("/api/approvals/{id}/approve"),
            Some(&bob),
            &json!({"reason": "change 42"}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let campaign_id = r.json()["campaign_id"].as_str().unwrap().to_string();
    let done = api.wait_campaign(&campaign_id, &bob).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["environment"], "staging");

    // Decided once: a second approval or a denial is refused.
    for action in ["approve", "deny"] {
        let r = api
            .post_json(
                &format!("/api/approvals/{id}/{action}"),
                Some(&bob),
                &json!({}),
            )
            .await;
        assert_eq!(r.status, 409, "{}", r.text);
        assert_eq!(r.code(), "not_pending");
    }
    let row = api.store.approval_request(&id).unwrap().unwrap();
    assert_eq!(
        (row.status.as_str(), row.decided_by.as_deref()),
        ("approved", Some("bob"))
    );

    let a = actions(&api);
    let has = |actor: &str, action: &str| a.iter().any(|(w, x, _)| w == actor && x == action);
    assert!(has("alice", "approval_requested"), "{a:?}");
    assert!(has("bob", "approval_granted"), "{a:?}");
    assert!(has("bob", "started"), "{a:?}");
    assert!(has("bob", "completed"), "{a:?}");
    // The campaign's own approval was the signed one, checked by the runner.
    let approved = api
        .ledger()
        .into_iter()
        .find(|e| e["action"] == "approved" && e["resource"] == campaign_id.as_str())
        .unwrap();
    assert_eq!(approved["data"]["by"], "approval");
    assert_eq!(approved["data"]["approver"], "bob");
    assert!(api.ledger_verifies());
}

#[tokio::test]
async fn a_denied_request_never_runs() {
    let target = practice().await;
    let api = Api::start().await;
    let op = api.token("olga", "operator");
    let bob = api.token("bob", "approver");
    let r = api
        .post_json(
            "/api/chaos/run",
            Some(&op),
            &run_body(&system("staging", &target.url(), "svc")),
        )
        .await;
    let id = r.json()["approval_id"].as_str().unwrap().to_string();
    let r = api
        .post_json(
            &format!("/api/approvals/{id}/deny"),
            Some(&bob),
            &json!({"reason": "not today"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = api
        .post_json(
            &format!("/api/approvals/{id}/approve"),
            Some(&bob),
            &json!({}),
        )
        .await;
    assert_eq!(r.status, 409);
    assert!(api.store.campaigns(10).unwrap().is_empty());
    let denied = api
        .ledger()
        .into_iter()
        .find(|e| e["action"] == "approval_denied")
        .unwrap();
    assert_eq!(denied["actor"], "bob");
    assert_eq!(denied["data"]["reason"], "not today");
}

#[tokio::test]
async fn a_plan_changed_since_the_request_is_refused_and_recorded() {
    let target = practice().await;
    let api = Api::start().await;
    let op = api.token("olga", "operator");
    let bob = api.token("bob", "approver");
    // Two components, blast radius 1: the least resilient is chosen (neither ranked: api_a).
    let body =
        json!({"system": two_components("staging", &target.url()), "patterns": ["sql_injection"]});
    let r = api.post_json("/api/chaos/run", Some(&op), &body).await;
    assert_eq!(r.status, 202, "{}", r.text);
    let id = r.json()["approval_id"].as_str().unwrap().to_string();
    let row = api.store.approval_request(&id).unwrap().unwrap();
    assert!(
        row.plan["components"].get("api_a").is_some(),
        "{}",
        row.plan
    );

    // Rankings move: api_a proves resilient, so api_b would be picked now.
    let now = OffsetDateTime::now_utc();
    let record = CampaignRecord {
        campaign_id: "chaos_earlier".into(),
        status: CampaignStatus::Completed,
        environment: Environment::Staging,
        system_file: "x".into(),
        target_components: vec!["api_a".into()],
        threshold: 0.8,
        started_at: now,
        finished_at: Some(now),
        score: Some(0.95),
        tests_run: 0,
        tests_passed: 0,
        tests_failed: 0,
        tests_inconclusive: 0,
        components: Vec::new(),
        results: Vec::new(),
    };
    api.store.insert_campaign(&record).unwrap();
    api.store
        .record_campaign_score("api_a", "api_a", "chaos_earlier", 0.95, 10, now)
        .unwrap();

    let r = api
        .post_json(
            &format!("/api/approvals/{id}/approve"),
            Some(&bob),
            &json!({}),
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(r.code(), "plan_changed");
    let row = api.store.approval_request(&id).unwrap().unwrap();
    assert_eq!(row.status, "denied");
    assert!(row.reason.unwrap().contains("plan changed"));
    let refused = api
        .ledger()
        .into_iter()
        .find(|e| e["action"] == "approval_refused")
        .unwrap();
    assert_eq!(refused["actor"], "bob");
    assert_eq!(refused["data"]["reason"], "plan_changed");
    // Nothing ran.
    assert_eq!(api.store.campaigns(10).unwrap().len(), 1);
    assert!(api.ledger_verifies());
}

#[tokio::test]
async fn a_request_not_decided_in_time_expires() {
    let target = practice().await;
    let api = Api::start_with(|c| c.request_ttl = std::time::Duration::from_millis(50)).await;
    let op = api.token("olga", "operator");
    let bob = api.token("bob", "approver");
    let r = api
        .post_json(
            "/api/chaos/run",
            Some(&op),
            &run_body(&system("staging", &target.url(), "svc")),
        )
        .await;
    let id = r.json()["approval_id"].as_str().unwrap().to_string();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let r = api
        .post_json(
            &format!("/api/approvals/{id}/approve"),
            Some(&bob),
            &json!({}),
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(r.code(), "expired");
    assert_eq!(
        api.store.approval_request(&id).unwrap().unwrap().status,
        "expired"
    );
    assert!(
        api.ledger()
            .iter()
            .any(|e| e["action"] == "approval_expired")
    );
    assert!(api.store.campaigns(10).unwrap().is_empty());
}

#[tokio::test]
async fn production_always_waits_for_an_approver_and_then_runs() {
    let target = practice().await;
    let api = Api::start().await;
    let admin = api.token("root", "admin");
    let op = api.token("olga", "operator");
    let bob = api.token("bob", "approver");
    let body = run_body(&system("production", &target.url(), "svc"));
    // The operator may not even ask in production.
    assert_eq!(
        api.post_json("/api/chaos/run", Some(&op), &body)
            .await
            .status,
        403
    );
    let r = api.post_json("/api/chaos/run", Some(&admin), &body).await;
    assert_eq!(r.status, 202, "{}", r.text);
    let v = r.json();
    assert_eq!(v["status"], "pending_approval");
    assert_eq!(v["risk"]["decision"], "escalated", "{v}");
    let id = v["approval_id"].as_str().unwrap();
    let r = api
        .post_json(
            &format!("/api/approvals/{id}/approve"),
            Some(&bob),
            &json!({}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let campaign = r.json()["campaign_id"].as_str().unwrap().to_string();
    let done = api.wait_campaign(&campaign, &bob).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["environment"], "production");
    assert!(api.ledger_verifies());
}

#[tokio::test]
async fn a_skewed_server_clock_expires_the_request_and_starts_nothing() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    // The target counts every connection: nothing may reach it.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        while let Ok((_s, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
        }
    });
    let t0 = OffsetDateTime::now_utc();
    let clock = Arc::new(shakedown_govern::FixedClock::new(t0));
    let c = clock.clone();
    let api = Api::start_with(move |cfg| cfg.clock = shakedown_govern::SharedClock(c)).await;
    let op = api.token("olga", "operator");
    let bob = api.token("bob", "approver");
    let r = api
        .post_json(
            "/api/chaos/run",
            Some(&op),
            &run_body(&system("staging", &url, "svc")),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let v = r.json();
    assert_eq!(v["risk"]["decision"], "pending_manual", "{v}");
    let id = v["approval_id"].as_str().unwrap().to_string();
    // The server's clock jumps two days ahead (the request TTL is 24 h): the approval is
    // refused as expired — never granted — and nothing starts.
    clock.advance(time::Duration::days(2));
    let r = api
        .post_json(
            &format!("/api/approvals/{id}/approve"),
            Some(&bob),
            &json!({}),
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(r.code(), "expired");
    assert!(r.text.contains("expired"), "{}", r.text);
    assert_eq!(
        api.store.approval_request(&id).unwrap().unwrap().status,
        "expired"
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(hits.load(Ordering::SeqCst), 0, "no traffic to the target");
    assert!(api.store.campaigns(10).unwrap().is_empty());
    let acts = actions(&api);
    assert!(acts.iter().any(|(_, a, _)| a == "approval_expired"));
    assert!(
        !acts
            .iter()
            .any(|(_, a, _)| a == "approval_granted" || a == "started")
    );
    assert!(api.ledger_verifies());
}
