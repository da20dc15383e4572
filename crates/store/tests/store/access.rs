//! Accounts, tokens and approval requests: round trips, one revoke only, tokens need an
//! account, and a pending request is decided exactly once even when approvers race.

use std::sync::Arc;

use serde_json::json;
use shakedown_store::{AccountRow, ApprovalRequestRow, SqliteStore, Store, TokenRow};
use time::macros::datetime;

fn account(id: &str) -> AccountRow {
    AccountRow {
        id: id.into(),
        kind: "person".into(),
        roles: vec!["operator".into()],
        created_at: datetime!(2026-11-22 05:00 UTC),
    }
}

fn token(id: &str, account: &str, hash: &str) -> TokenRow {
    TokenRow {
        id: id.into(),
        account_id: account.into(),
        label: "ci".into(),
        hash: hash.into(),
        created_at: datetime!(2026-11-22 05:01 UTC),
        expires_at: Some(datetime!(2026-12-22 05:01 UTC)),
        revoked_at: None,
    }
}

fn request(id: &str) -> ApprovalRequestRow {
    ApprovalRequestRow {
        id: id.into(),
        kind: "campaign".into(),
        environment: "staging".into(),
        resource: "staging.yaml".into(),
        requested_by: "alice".into(),
        created_at: datetime!(2026-11-22 05:02 UTC),
        status: "pending".into(),
        plan: json!({"components": ["api"]}),
        plan_hash: "ab".repeat(32),
        risk: json!({"score": 0.45}),
        request: json!({"system": "version: 1"}),
        decided_by: None,
        decided_at: None,
        reason: None,
    }
}

#[test]
fn accounts_and_tokens_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_dir(dir.path()).unwrap();
    store.upsert_account(&account("alice")).unwrap();
    let mut again = account("alice");
    again.roles = vec!["viewer".into(), "approver".into()];
    again.kind = "service".into();
    store.upsert_account(&again).unwrap();
    assert_eq!(store.account("alice").unwrap().unwrap(), again);
    assert_eq!(store.accounts().unwrap().len(), 1);
    assert!(store.account("bob").unwrap().is_none());

    let t = token("tok_1", "alice", &"0f".repeat(32));
    store.insert_token(&t).unwrap();
    assert_eq!(store.token_by_hash(&"0f".repeat(32)).unwrap().unwrap(), t);
    assert!(store.token_by_hash(&"1f".repeat(32)).unwrap().is_none());
    assert_eq!(store.tokens().unwrap(), vec![t]);

    let at = datetime!(2026-11-23 00:00 UTC);
    assert!(store.revoke_token("tok_1", at).unwrap());
    assert!(
        !store.revoke_token("tok_1", at).unwrap(),
        "revoked once only"
    );
    assert!(!store.revoke_token("tok_nope", at).unwrap());
    let revoked = store.token_by_hash(&"0f".repeat(32)).unwrap().unwrap();
    assert_eq!(revoked.revoked_at, Some(at));
}

#[test]
fn a_token_needs_an_existing_account_and_a_unique_hash() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_dir(dir.path()).unwrap();
    let err = store
        .insert_token(&token("tok_1", "ghost", &"aa".repeat(32)))
        .unwrap_err();
    assert!(err.to_string().contains("ghost"), "{err}");
    store.upsert_account(&account("alice")).unwrap();
    store
        .insert_token(&token("tok_1", "alice", &"aa".repeat(32)))
        .unwrap();
    assert!(
        store
            .insert_token(&token("tok_2", "alice", &"aa".repeat(32)))
            .is_err()
    );
    assert_eq!(store.tokens().unwrap().len(), 1, "nothing half-written");
}

#[test]
fn approval_requests_round_trip_and_filter() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_dir(dir.path()).unwrap();
    store.insert_approval_request(&request("apr_1")).unwrap();
    let mut second = request("apr_2");
    second.created_at = datetime!(2026-11-22 05:03 UTC);
    store.insert_approval_request(&second).unwrap();
    assert_eq!(
        store.approval_request("apr_1").unwrap().unwrap(),
        request("apr_1")
    );
    let all = store.approval_requests(None, 10).unwrap();
    assert_eq!(
        all.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["apr_2", "apr_1"],
        "newest first"
    );
    let at = datetime!(2026-11-22 06:00 UTC);
    assert!(
        store
            .decide_approval_request("apr_1", "denied", "carol", at, Some("too risky"))
            .unwrap()
    );
    let pending = store.approval_requests(Some("pending"), 10).unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].id, "apr_2");
    let denied = store.approval_request("apr_1").unwrap().unwrap();
    assert_eq!(denied.status, "denied");
    assert_eq!(denied.decided_by.as_deref(), Some("carol"));
    assert_eq!(denied.reason.as_deref(), Some("too risky"));
    assert_eq!(denied.decided_at, Some(at));
}

#[test]
fn a_pending_request_is_decided_exactly_once_under_a_race() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open_dir(dir.path()).unwrap());
    store.insert_approval_request(&request("apr_race")).unwrap();
    let handles: Vec<_> = (0..16)
        .map(|i| {
            let store = store.clone();
            std::thread::spawn(move || {
                let status = if i % 2 == 0 { "approved" } else { "denied" };
                store
                    .decide_approval_request(
                        "apr_race",
                        status,
                        &format!("approver{i}"),
                        datetime!(2026-11-22 06:00 UTC),
                        None,
                    )
                    .unwrap()
            })
        })
        .collect();
    let wins = handles
        .into_iter()
        .map(|h| h.join().unwrap())
        .filter(|won| *won)
        .count();
    assert_eq!(wins, 1);
    assert!(
        !store
            .decide_approval_request(
                "nope",
                "approved",
                "x",
                datetime!(2026-11-22 06:00 UTC),
                None
            )
            .unwrap()
    );
}
