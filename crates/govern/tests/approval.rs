//! Approvals against an injected clock: valid inside the TTL, refused when expired (also when a
//! skewed clock says so), when the clock is behind the issue time, when the plan changed, and
//! when any signed field was altered.

use serde_json::json;
use sha2::{Digest, Sha256};
use shakedown_govern::{Approval, ApprovalError, FixedClock, PlanHash, Signer};
use time::Duration;
use time::macros::datetime;

/// A keyed-hash signer for the tests (the control plane uses the ledger's Ed25519 key).
struct TestSigner(&'static str);

impl Signer for TestSigner {
    fn key_id(&self) -> String {
        self.0.to_string()
    }
    fn sign(&self, message: &[u8]) -> Vec<u8> {
        let mut h = Sha256::new();
        h.update(self.0.as_bytes());
        h.update(message);
        h.finalize().to_vec()
    }
    fn verify(&self, key_id: &str, message: &[u8], signature: &[u8]) -> bool {
        key_id == self.0 && self.sign(message) == signature
    }
}

fn plan(patterns: &[&str]) -> PlanHash {
    PlanHash::of(
        &json!({"components": ["backend_api"], "patterns": patterns, "policy": "strict@abc"}),
    )
}

#[test]
fn approval_lifecycle() {
    let clock = FixedClock::new(datetime!(2026-11-22 12:00 UTC));
    let signer = TestSigner("k1");
    let p = plan(&["sql_injection"]);
    let a = Approval::grant(p.clone(), "alice", Duration::minutes(30), &clock, &signer);
    assert_eq!(a.check(&p, &clock, &signer), Ok(()));
    clock.advance(Duration::minutes(29));
    assert_eq!(a.check(&p, &clock, &signer), Ok(()));
    clock.advance(Duration::minutes(1));
    assert!(matches!(
        a.check(&p, &clock, &signer),
        Err(ApprovalError::Expired { .. })
    ));
    // A clock skewed far ahead: expired, never a pass.
    clock.set(datetime!(2027-01-01 00:00 UTC));
    assert!(matches!(
        a.check(&p, &clock, &signer),
        Err(ApprovalError::Expired { .. })
    ));
    // A clock behind the issue time: refused too.
    clock.set(datetime!(2026-11-22 11:00 UTC));
    assert!(matches!(
        a.check(&p, &clock, &signer),
        Err(ApprovalError::NotYetValid { .. })
    ));
}

#[test]
fn a_changed_plan_or_an_altered_approval_is_refused() {
    let clock = FixedClock::new(datetime!(2026-11-22 12:00 UTC));
    let signer = TestSigner("k1");
    let p = plan(&["sql_injection"]);
    let a = Approval::grant(p.clone(), "alice", Duration::minutes(30), &clock, &signer);
    let changed = plan(&["sql_injection", "burst_traffic"]);
    assert!(matches!(
        a.check(&changed, &clock, &signer),
        Err(ApprovalError::PlanChanged { .. })
    ));
    // Stretching the expiry, swapping the approver or the plan hash breaks the signature.
    let mut longer = a.clone();
    longer.expires_at += Duration::days(1);
    let mut other = a.clone();
    other.approver = "mallory".into();
    let mut swapped = a.clone();
    swapped.plan_hash = changed.clone();
    for forged in [longer, other, swapped] {
        assert_eq!(
            forged.check(&forged.plan_hash.clone(), &clock, &signer),
            Err(ApprovalError::BadSignature)
        );
    }
    // An unknown key does not verify.
    assert_eq!(
        a.check(&p, &clock, &TestSigner("k2")),
        Err(ApprovalError::BadSignature)
    );
    // Plans hash the same whatever order their maps were built in.
    assert_eq!(
        PlanHash::of(&json!({"a": 1, "b": [1, 2]})),
        PlanHash::of(&serde_json::from_str::<serde_json::Value>(r#"{"b":[1,2],"a":1}"#).unwrap())
    );
}
