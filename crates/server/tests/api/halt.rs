//! The halt lever through the API and from another process: campaigns running in the server
//! stop and are stored as halted, nothing new starts (423) until resume.

use std::time::Duration;

use serde_json::json;

use crate::support::{Api, practice, system};

/// A campaign with the load patterns: long enough to be halted mid-way.
fn long_body(url: &str) -> serde_json::Value {
    json!({
        "system": system("test", url, "svc"),
        "patterns": ["sql_injection", "xss_attack", "null_injection", "type_confusion", "burst_traffic", "slowloris", "connection_exhaustion"],
    })
}

async fn started(api: &Api, token: &str, url: &str) -> String {
    let r = api
        .post_json("/api/chaos/run", Some(token), &long_body(url))
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let id = r.json()["campaign_id"]
        .as_str()
        .unwrap_or_else(|| panic!("{}", r.text))
        .to_string();
    // Until the campaign is stored (it resolves its targets first).
    for _ in 0..100 {
        if api.store.campaign(&id).unwrap().is_some() {
            return id;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("campaign {id} was never stored");
}

#[tokio::test]
async fn halt_stops_the_servers_campaigns_and_blocks_new_ones_until_resume() {
    let target = practice().await;
    let api = Api::start().await;
    let op = api.token("olga", "operator");
    let boss = api.token("bob", "approver");
    let id = started(&api, &op, &target.url()).await;

    let r = api
        .post_json(
            "/api/chaos/halt",
            Some(&op),
            &json!({"reason": "pager went off"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let v = r.json();
    assert_eq!(v["cancelled_here"][0], id.as_str(), "{v}");
    // No attack traffic reaches the target later than 100 ms after the halt was answered.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let seen = target.requests_seen();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        target.requests_seen(),
        seen,
        "attack traffic after the halt"
    );
    let done = api.wait_campaign(&id, &op).await;
    assert_eq!(done["status"], "halted_by_guardian", "{done}");

    let status = api.get("/api/chaos/status", Some(&op)).await.json();
    assert_eq!(status["halted"]["reason"], "pager went off");
    let r = api
        .post_json("/api/chaos/run", Some(&op), &long_body(&target.url()))
        .await;
    assert_eq!(r.status, 423, "{}", r.text);
    assert_eq!(r.code(), "halted");
    assert_eq!(r.header("x-gate-enforced"), Some("Halted"));

    let r = api
        .post_json("/api/chaos/resume", Some(&boss), &json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["resumed"], true);
    let r = api
        .post_json(
            "/api/chaos/run",
            Some(&op),
            &json!({"system": system("test", &target.url(), "svc"), "patterns": ["sql_injection"]}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    api.wait_campaign(r.json()["campaign_id"].as_str().unwrap(), &op)
        .await;

    let actions: Vec<(String, String)> = api
        .ledger()
        .iter()
        .map(|e| {
            (
                e["actor"].as_str().unwrap().into(),
                e["action"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert!(
        actions.contains(&("olga".into(), "halted".into())),
        "{actions:?}"
    );
    assert!(
        actions.contains(&("bob".into(), "resumed".into())),
        "{actions:?}"
    );
    assert!(api.ledger_verifies());
}

#[tokio::test]
async fn a_halt_from_another_process_reaches_the_servers_campaigns() {
    let target = practice().await;
    let api = Api::start().await;
    let op = api.token("olga", "operator");
    let id = started(&api, &op, &target.url()).await;
    // What `shakedown halt` does in its own process: latch, signals, ledger.
    shakedown_control::halt::halt_all(api.data(), "cli-user", "from the terminal").unwrap();
    let done = api.wait_campaign(&id, &op).await;
    assert_eq!(done["status"], "halted_by_guardian", "{done}");
    shakedown_control::halt::resume(api.data(), "cli-user").unwrap();
    assert!(api.ledger_verifies());
}

#[tokio::test]
async fn concurrent_halts_all_land() {
    let api = Api::start().await;
    let t = api.token("h", "operator");
    let calls = (0..40).map(|i| {
        let (addr, t) = (api.addr, t.clone());
        async move {
            crate::support::call(
                addr,
                "POST",
                "/api/chaos/halt",
                Some(&t),
                Some((
                    "application/json",
                    serde_json::to_vec(&serde_json::json!({"reason": format!("drill {i}")}))
                        .unwrap(),
                )),
            )
            .await
        }
    });
    let answers = futures_util::future::join_all(calls).await;
    for r in &answers {
        assert_eq!(r.status, 200, "{}", r.text);
    }
    assert!(shakedown_control::halt_latch::halted(api.data()).is_some());
    // No temporary latch file is left behind.
    let leftovers: Vec<_> = std::fs::read_dir(api.data())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert!(api.ledger_verifies());
}
