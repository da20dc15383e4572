//! Approvals: a signature by an account holding `approve` over the hash of the exact plan
//! (components, patterns, policy snapshot), valid until it expires. Checking uses the clock it
//! is given: an expired approval — including one a skewed clock makes look expired — is
//! refused; a plan that changed after approval is refused; a bad signature is refused. Never
//! an accidental pass.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::clock::Clock;

/// The SHA-256 (hex) of a plan's canonical JSON.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PlanHash(pub String);

impl PlanHash {
    /// Hashes a plan. `serde_json` writes object keys in sorted order (no `preserve_order`), so
    /// equal plans hash equally whatever order their maps were built in.
    pub fn of<T: Serialize>(plan: &T) -> PlanHash {
        let bytes = serde_json::to_vec(plan).expect("plans serialise");
        PlanHash(
            Sha256::digest(&bytes)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
        )
    }
}

/// Signs and verifies approvals (the ledger's Ed25519 key in the control plane).
pub trait Signer: Send + Sync {
    fn key_id(&self) -> String;
    fn sign(&self, message: &[u8]) -> Vec<u8>;
    fn verify(&self, key_id: &str, message: &[u8], signature: &[u8]) -> bool;
}

/// A granted approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    pub plan_hash: PlanHash,
    pub approver: String,
    #[serde(with = "time::serde::rfc3339")]
    pub issued_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    pub key_id: String,
    /// Hex signature over [`Approval::message`].
    pub signature: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApprovalError {
    #[error("approval expired at {expires_at} (now {now}); ask for a new approval")]
    Expired {
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    },
    #[error("approval was issued at {issued_at}, after now ({now}): the clock is wrong; refusing")]
    NotYetValid {
        issued_at: OffsetDateTime,
        now: OffsetDateTime,
    },
    #[error(
        "the plan changed after it was approved (approved {approved}, now {actual}); approve the new plan"
    )]
    PlanChanged { approved: String, actual: String },
    #[error("the approval's signature does not verify; it was altered or signed by an unknown key")]
    BadSignature,
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

impl Approval {
    /// What is signed: every field but the signature, in a fixed order.
    fn message(
        plan: &PlanHash,
        approver: &str,
        issued: OffsetDateTime,
        expires: OffsetDateTime,
        key_id: &str,
    ) -> Vec<u8> {
        format!(
            "shakedown-approval-v1\n{}\n{approver}\n{}\n{}\n{key_id}",
            plan.0,
            issued.unix_timestamp(),
            expires.unix_timestamp()
        )
        .into_bytes()
    }

    /// Grants an approval of `plan` by `approver`, valid for `ttl` from the clock's now.
    pub fn grant(
        plan: PlanHash,
        approver: &str,
        ttl: time::Duration,
        clock: &dyn Clock,
        signer: &dyn Signer,
    ) -> Approval {
        let issued_at = clock.now();
        let expires_at = issued_at + ttl;
        let key_id = signer.key_id();
        let signature = hex(&signer.sign(&Self::message(
            &plan, approver, issued_at, expires_at, &key_id,
        )));
        Approval {
            plan_hash: plan,
            approver: approver.to_string(),
            issued_at,
            expires_at,
            key_id,
            signature,
        }
    }

    /// Checks the approval for `plan` now. Signature first (a forged expiry must not pass),
    /// then the plan, then time.
    pub fn check(
        &self,
        plan: &PlanHash,
        clock: &dyn Clock,
        signer: &dyn Signer,
    ) -> Result<(), ApprovalError> {
        let msg = Self::message(
            &self.plan_hash,
            &self.approver,
            self.issued_at,
            self.expires_at,
            &self.key_id,
        );
        let sig = unhex(&self.signature).ok_or(ApprovalError::BadSignature)?;
        if !signer.verify(&self.key_id, &msg, &sig) {
            return Err(ApprovalError::BadSignature);
        }
        if &self.plan_hash != plan {
            return Err(ApprovalError::PlanChanged {
                approved: self.plan_hash.0.clone(),
                actual: plan.0.clone(),
            });
        }
        let now = clock.now();
        if now < self.issued_at {
            return Err(ApprovalError::NotYetValid {
                issued_at: self.issued_at,
                now,
            });
        }
        if now >= self.expires_at {
            return Err(ApprovalError::Expired {
                expires_at: self.expires_at,
                now,
            });
        }
        Ok(())
    }
}
