//! Scheduled campaigns: each firing is submitted as `chaos_agent_service` through the API's
//! own path, so in test it runs, in staging it waits for a human's approval, in production the
//! service account is refused, and a plan over the blast radius is refused — every firing is
//! in the ledger.

use std::time::Duration;

use serde_json::Value;
use shakedown_control::schedule::load_schedules;

use crate::support::{Api, practice, system, two_components};

fn schedule_entries(api: &Api) -> Vec<Value> {
    api.ledger()
        .into_iter()
        .filter(|e| e["category"] == "schedule")
        .collect()
}

#[tokio::test]
async fn schedules_go_through_rbac_gates_blast_radius_and_approval() {
    let target = practice().await;
    let url = target.url().to_string();
    let files = tempfile::tempdir().unwrap();
    let write = |name: &str, text: String| std::fs::write(files.path().join(name), text).unwrap();
    write("test.yaml", system("test", &url, "api"));
    write("staging.yaml", system("staging", &url, "api"));
    write("prod.yaml", system("production", &url, "api"));
    write("wide.yaml", two_components("test", &url));
    let mut text = String::from("schedules:\n");
    for (name, file, extra) in [
        ("smoke", "test.yaml", ""),
        ("staging_tuesday", "staging.yaml", ""),
        ("prod", "prod.yaml", ""),
        ("wide", "wide.yaml", "    targets: [api_a, api_b]\n"),
    ] {
        text.push_str(&format!(
            "  - name: {name}\n    system_file: {file}\n    every: 1s\n    patterns: [sql_injection]\n{extra}"
        ));
    }
    let (schedules, _) = load_schedules(&text, files.path()).unwrap();
    let api = Api::start_with(|c| c.schedules = schedules).await;
    let admin = api.token("root", "admin");

    // Wait (bounded) until every schedule fired at least once and a scheduled campaign ended.
    let mut done = None;
    for _ in 0..150 {
        let entries = schedule_entries(&api);
        let by = |name: &str| entries.iter().any(|e| e["resource"] == name);
        let started = entries.iter().find_map(|e| {
            (e["resource"] == "smoke" && e["action"] == "fired")
                .then(|| e["data"]["campaign_id"].as_str().map(str::to_string))
                .flatten()
        });
        if ["smoke", "staging_tuesday", "prod", "wide"]
            .iter()
            .all(|n| by(n))
            && let Some(id) = started
        {
            done = Some(id);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let campaign_id = done.expect("every schedule fired within 15 s");
    let campaign = api.wait_campaign(&campaign_id, &admin).await;
    assert_eq!(campaign["status"], "completed", "{campaign}");

    let entries = schedule_entries(&api);
    assert!(entries.iter().all(|e| e["actor"] == "chaos_agent_service"));
    let first = |name: &str| {
        entries
            .iter()
            .find(|e| e["resource"] == name)
            .unwrap()
            .clone()
    };
    // Staging: the service account may execute, but a human must approve.
    let staging = first("staging_tuesday");
    assert_eq!(staging["action"], "fired");
    assert_eq!(staging["data"]["status"], "pending_approval");
    let approval_id = staging["data"]["approval_id"].as_str().unwrap();
    let pending = api.get("/api/approvals", Some(&admin)).await.json();
    let req = pending["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == approval_id)
        .unwrap_or_else(|| panic!("{approval_id} not listed: {pending}"));
    assert_eq!(req["requested_by"], "chaos_agent_service");
    // Production: never for the service account.
    let prod = first("prod");
    assert_eq!(prod["action"], "refused");
    assert_eq!(prod["data"]["status"], 403);
    assert!(
        prod["data"]["reason"]
            .as_str()
            .unwrap()
            .contains("chaos_agent_service may not execute"),
        "{prod}"
    );
    // Over the blast radius: refused before anything is planned.
    let wide = first("wide");
    assert_eq!(wide["action"], "refused");
    assert!(
        wide["data"]["reason"]
            .as_str()
            .unwrap()
            .contains("blast_radius_limit is 1"),
        "{wide}"
    );
    // The scheduled campaign itself is recorded as the service account's.
    let ledger = api.ledger();
    assert!(ledger.iter().any(|e| e["resource"] == campaign_id.as_str()
        && e["action"] == "started"
        && e["actor"] == "chaos_agent_service"));
    assert!(api.ledger_verifies());
}
