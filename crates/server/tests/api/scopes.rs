//! The global reads (`/api/chaos/resilience`, `/components`, `/status`, `/api/budgets`) show
//! only what the caller's `read` scopes cover, like campaigns, approvals, the ledger and events:
//! the service account (test and staging) never sees what a production campaign scored, a
//! production budget or a production campaign's process.

use std::collections::BTreeSet;

use serde_json::{Value, json};
use shakedown_core::campaign::{CampaignRecord, CampaignStatus};
use shakedown_core::system::{Environment, ErrorBudgetSettings};
use time::OffsetDateTime;

use crate::support::Api;

fn campaign(id: &str, environment: Environment) -> CampaignRecord {
    CampaignRecord {
        campaign_id: id.into(),
        status: CampaignStatus::Completed,
        environment,
        system_file: "shakedown.yaml".into(),
        target_components: vec![],
        threshold: 0.8,
        started_at: OffsetDateTime::now_utc(),
        finished_at: Some(OffsetDateTime::now_utc()),
        score: Some(0.5),
        tests_run: 1,
        tests_passed: 1,
        tests_failed: 0,
        tests_inconclusive: 0,
        components: vec![],
        results: vec![],
    }
}

fn ids(v: &Value, list: &str, field: &str) -> BTreeSet<String> {
    v[list]
        .as_array()
        .unwrap_or_else(|| panic!("no `{list}` in {v}"))
        .iter()
        .map(|x| {
            let id = if field.is_empty() { x } else { &x[field] };
            id.as_str().unwrap().to_string()
        })
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// A process that lives for the test (killed and reaped on drop), registered in the halt
/// registry as carrying `kind` `id`.
struct Registered(std::process::Child);

impl Registered {
    fn new(api: &Api, kind: &str, id: &str) -> Registered {
        let child = std::process::Command::new("sleep")
            .arg("60")
            .spawn()
            .unwrap();
        let dir = api.data().join("active");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join(child.id().to_string()),
            serde_json::to_vec(&json!({"pid": child.id(), "kind": kind, "id": id})).unwrap(),
        )
        .unwrap();
        Registered(child)
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn global_reads_show_only_readable_environments() {
    let api = Api::start().await;
    let now = OffsetDateTime::now_utc();
    // web: scored in test only; queue: staging only; db: test AND production; pay: production.
    for (id, env) in [
        ("chaos_0000000a", Environment::Test),
        ("chaos_0000000b", Environment::Staging),
        ("chaos_0000000c", Environment::Production),
    ] {
        api.store.insert_campaign(&campaign(id, env)).unwrap();
    }
    for (component, campaign_id) in [
        ("web", "chaos_0000000a"),
        ("queue", "chaos_0000000b"),
        ("db", "chaos_0000000a"),
        ("db", "chaos_0000000c"),
        ("pay", "chaos_0000000c"),
    ] {
        api.store
            .record_campaign_score(component, component, campaign_id, 0.5, 1, now)
            .unwrap();
    }
    for env in [
        Environment::Test,
        Environment::Staging,
        Environment::Production,
    ] {
        shakedown_control::budget_gate::check(
            api.data(),
            env,
            &ErrorBudgetSettings::default(),
            now,
        )
        .unwrap();
    }
    // Processes carrying a production campaign, a test campaign, an agent run (test) and a
    // campaign not stored yet (environment unknown).
    let _procs = [
        Registered::new(&api, "campaign", "chaos_0000000c"),
        Registered::new(&api, "campaign", "chaos_0000000a"),
        Registered::new(&api, "agent_run", "run-0000000000000001"),
        Registered::new(&api, "campaign", "chaos_000000ff"),
    ];

    let viewer = api.token("vera", "viewer");
    let service = api.token("svc", "chaos_agent_service");
    let all = set(&["web", "queue", "db", "pay"]);
    let service_sees = set(&["web", "queue"]);

    for (token, components, budgets, active) in [
        (
            &viewer,
            all.clone(),
            set(&["test", "staging", "production"]),
            set(&[
                "chaos_0000000c",
                "chaos_0000000a",
                "run-0000000000000001",
                "chaos_000000ff",
            ]),
        ),
        (
            &service,
            service_sees.clone(),
            set(&["test", "staging"]),
            set(&["chaos_0000000a", "run-0000000000000001"]),
        ),
    ] {
        let r = api.get("/api/chaos/resilience", Some(token)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(ids(&r.json(), "rankings", "component_id"), components);

        let r = api.get("/api/chaos/components", Some(token)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let v = r.json();
        let seen: BTreeSet<String> = v["components"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["ranking"]["component_id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(seen, components);
        // Every history step shown is of a campaign the caller may read.
        for c in v["components"].as_array().unwrap() {
            for h in c["history"].as_array().unwrap() {
                let cid = h["campaign_id"].as_str().unwrap();
                assert!(
                    token == &viewer || cid != "chaos_0000000c",
                    "a production step shown: {v}"
                );
            }
        }

        let r = api.get("/api/budgets", Some(token)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let seen: BTreeSet<String> = r
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["environment"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(seen, budgets);

        let r = api.get("/api/chaos/status", Some(token)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let v = r.json();
        let seen: BTreeSet<String> = v["budgets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["environment"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(seen, budgets, "{v}");
        assert_eq!(ids(&v, "active_processes", "id"), active, "{v}");
        // The latch and the ledger's health are everyone's.
        assert_eq!(v["ledger"]["writable"], true, "{v}");
        assert!(v.get("halted").is_some(), "{v}");
    }
}
