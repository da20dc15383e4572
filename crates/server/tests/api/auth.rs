//! Every route but health needs a token; each role gets exactly what the RBAC matrix grants,
//! including the service account's refusals.

use serde_json::json;
use shakedown_server::routes::catalog;

use crate::support::{Api, call, practice, run_body, system};

/// A concrete path for a catalog template.
fn concrete(path: &str) -> String {
    path.replace("{id}", "nope")
}

#[tokio::test]
async fn every_route_but_health_refuses_without_a_valid_token() {
    let api = Api::start().await;
    let health = api.get("/api/health", None).await;
    assert_eq!(health.status, 200, "{}", health.text);
    assert_eq!(health.json()["status"], "ok");
    let bad_tokens: [Option<&str>; 3] = [
        None,
        Some("not-a-token"),
        Some("shk_0000000000000000000000000000000000000000000000000000000000000000"),
    ];
    let routes = catalog();
    assert!(
        routes.iter().any(|r| r.path.starts_with("/api/runs"))
            && routes.iter().any(|r| r.path.starts_with("/api/reports")),
        "the sweep covers the run API"
    );
    for route in &routes {
        if route.permission.is_none() {
            continue;
        }
        for t in bad_tokens {
            let body = (route.method == "POST").then(|| ("application/json", b"{}".to_vec()));
            let r = call(api.addr, route.method, &concrete(route.path), t, body).await;
            assert_eq!(
                r.status, 401,
                "{} {} with {t:?}: {}",
                route.method, route.path, r.text
            );
            assert_eq!(r.code(), "unauthorized");
            assert!(
                r.header("www-authenticate")
                    .is_some_and(|h| h.starts_with("Bearer"))
            );
            assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
            assert_eq!(r.header("cache-control"), Some("no-store"));
        }
    }
    // A revoked token is refused too.
    let t = api.token("gone", "admin");
    let row = api
        .store
        .tokens()
        .unwrap()
        .into_iter()
        .find(|r| r.account_id == "gone")
        .unwrap();
    assert_eq!(api.get("/api/chaos/status", Some(&t)).await.status, 200);
    api.store
        .revoke_token(&row.id, time::OffsetDateTime::now_utc())
        .unwrap();
    let r = api.get("/api/chaos/status", Some(&t)).await;
    assert_eq!(r.status, 401);
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("revoked")
    );
}

#[tokio::test]
async fn every_role_can_read_every_read_route() {
    let api = Api::start().await;
    for role in [
        "viewer",
        "operator",
        "approver",
        "admin",
        "chaos_agent_service",
    ] {
        let t = api.token(role, role);
        for route in catalog() {
            if route.method != "GET" || route.path.contains("{id}") || route.path == "/api/events" {
                continue;
            }
            let r = api.get(route.path, Some(&t)).await;
            assert_eq!(r.status, 200, "{role} GET {}: {}", route.path, r.text);
        }
    }
}

/// The role × action × environment matrix on the routes that act.
#[tokio::test]
async fn the_role_action_environment_matrix() {
    let target = practice().await;
    let api = Api::start().await;
    let roles = [
        "viewer",
        "operator",
        "approver",
        "admin",
        "chaos_agent_service",
    ];
    let tokens: Vec<(&str, String)> = roles.iter().map(|r| (*r, api.token(r, r))).collect();
    for env in ["test", "staging", "production"] {
        let body = run_body(&system(env, &target.url(), "svc"));
        for (role, t) in &tokens {
            let r = api.post_json("/api/chaos/run", Some(t), &body).await;
            let may = match *role {
                "operator" | "chaos_agent_service" => env != "production",
                "admin" => true,
                _ => false,
            };
            if may {
                assert_eq!(r.status, 202, "{role} run in {env}: {}", r.text);
                let v = r.json();
                let expect = if env == "test" {
                    "running"
                } else {
                    "pending_approval"
                };
                assert_eq!(v["status"], expect, "{role} {env}: {v}");
                if let Some(id) = v["campaign_id"].as_str() {
                    api.wait_campaign(id, t).await;
                }
            } else {
                assert_eq!(r.status, 403, "{role} run in {env}: {}", r.text);
                assert_eq!(r.code(), "forbidden");
                assert!(r.text.contains("may not execute"), "{}", r.text);
            }
        }
    }
    // The service account may execute in staging but never approve; only approvers and
    // admins may, and never their own request.
    let pending = api.store.approval_requests(Some("pending"), 100).unwrap();
    assert!(!pending.is_empty());
    let staging = pending.iter().find(|r| r.environment == "staging").unwrap();
    for (role, t) in &tokens {
        if ["viewer", "operator", "chaos_agent_service"].contains(role) {
            let r = api
                .post_json(
                    &format!("/api/approvals/{}/approve", staging.id),
                    Some(t),
                    &json!({}),
                )
                .await;
            assert_eq!(r.status, 403, "{role}: {}", r.text);
            assert!(r.text.contains("may not approve"), "{}", r.text);
        }
    }
    // Halt: any role with halt somewhere; resume needs halt everywhere.
    for (role, t) in &tokens {
        let r = api
            .post_json("/api/chaos/halt", Some(t), &json!({"reason": "matrix"}))
            .await;
        let may_halt = ["operator", "approver", "admin"].contains(role);
        assert_eq!(
            r.status,
            if may_halt { 200 } else { 403 },
            "{role} halt: {}",
            r.text
        );
        let r = api
            .post_json("/api/chaos/resume", Some(t), &json!({}))
            .await;
        let may_resume = ["approver", "admin"].contains(role);
        assert_eq!(
            r.status,
            if may_resume { 200 } else { 403 },
            "{role} resume: {}",
            r.text
        );
    }
    // Everything done was recorded as the acting account.
    let actors: std::collections::BTreeSet<String> = api
        .ledger()
        .iter()
        .map(|e| e["actor"].as_str().unwrap().to_string())
        .collect();
    for who in ["operator", "admin", "chaos_agent_service", "approver"] {
        assert!(actors.contains(who), "{who} missing from {actors:?}");
    }
    assert!(api.ledger_verifies());
}
