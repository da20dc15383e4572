//! `blast_radius_limit` on the API: a request naming more components than the limit is
//! refused with 422 before anything is planned, recorded or sent; without `targets` the
//! planner picks at most the limit.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::json;

use crate::support::{Api, two_components};

#[tokio::test]
async fn more_targets_than_the_blast_radius_are_refused_and_nothing_starts() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        while let Ok((_s, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
        }
    });
    let api = Api::start().await;
    let admin = api.token("root", "admin");
    // Test environment (auto-approved), two components, blast radius 1.
    let system = two_components("test", &url);
    let r = api
        .post_json(
            "/api/chaos/run",
            Some(&admin),
            &json!({"system": system, "targets": ["api_a", "api_b"], "patterns": ["xss_attack"]}),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    let msg = r.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(
        msg.contains("2 components requested but blast_radius_limit is 1"),
        "{msg}"
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(hits.load(Ordering::SeqCst), 0, "no traffic");
    assert!(api.store.campaigns(10).unwrap().is_empty(), "no campaign");
    assert!(
        api.store.approval_requests(None, 10).unwrap().is_empty(),
        "no approval request"
    );
    assert_eq!(api.ledger_len(), 0, "nothing recorded, nothing started");

    // Without targets the planner stays within the limit: one component.
    let r = api
        .post_json(
            "/api/chaos/run",
            Some(&admin),
            &json!({"system": system, "patterns": ["xss_attack"]}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let id = r.json()["campaign_id"].as_str().unwrap().to_string();
    let done = api.wait_campaign(&id, &admin).await;
    assert_eq!(
        done["target_components"].as_array().unwrap().len(),
        1,
        "{done}"
    );
}
