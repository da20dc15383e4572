//! One ledger entry: its fields, its hash (SHA-256 of the RFC 8785 canonical JSON of every field
//! but `hash` and `signature`) and its Ed25519 signature (over the 32 hash bytes).

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::canonical::{MAX_SAFE_INTEGER, check_numbers, to_canonical_vec};
use crate::hex;

/// `prev_hash` of the first entry.
pub const GENESIS_PREV_HASH: &str =
    "0000000000000000000000000000000000000000000000000000000000000000";

/// `category` of the entries the ledger writes about itself (key rotation).
pub const LEDGER_CATEGORY: &str = "ledger";
/// `action` of a key rotation entry; its `data` is a [`KeyRotation`].
pub const KEY_ROTATED_ACTION: &str = "key_rotated";

/// One signed record of a chaos action. Field order here is the order on disk; the hash does
/// not depend on it (canonical JSON sorts keys). Unknown fields are refused when reading, so a
/// field slipped into a line cannot escape the hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// 1 for the first entry, then +1 per entry.
    pub seq: u64,
    /// When it was appended: RFC 3339, UTC. Kept as the exact string that was hashed.
    pub timestamp: String,
    /// Who did it: an account, a service account, or `shakedown` itself.
    pub actor: String,
    /// What kind of thing: `campaign`, `run`, `approval`, `halt`, `budget`, `ledger`, ….
    pub category: String,
    /// A finer kind within the category (pattern, environment, …); may be empty.
    pub subcategory: String,
    /// What happened: `requested`, `approved`, `denied`, `started`, `halted`, ….
    pub action: String,
    /// What it happened to: a campaign, run or component id.
    pub resource: String,
    /// Free-form details (JSON; integers must stay within ±2^53).
    pub data: Value,
    /// `hash` of the previous entry; 64 zeros for the first.
    pub prev_hash: String,
    /// Which key signed it: the first 16 hex digits of SHA-256 of the Ed25519 public key.
    /// Hashed with the rest, so an entry cannot be re-attributed to another key.
    pub key_id: String,
    /// Lowercase hex SHA-256 of the canonical JSON of every other field but `signature`.
    pub hash: String,
    /// Lowercase hex Ed25519 signature of the 32 bytes `hash` spells.
    pub signature: String,
}

/// The hashed part of an entry: every field but `hash` and `signature`.
#[derive(Serialize)]
struct Body<'a> {
    seq: u64,
    timestamp: &'a str,
    actor: &'a str,
    category: &'a str,
    subcategory: &'a str,
    action: &'a str,
    resource: &'a str,
    data: &'a Value,
    prev_hash: &'a str,
    key_id: &'a str,
}

/// The `data` of a key rotation entry, signed by the old key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRotation {
    /// The key that signed the rotation entry and signs nothing after it.
    pub old_key_id: String,
    /// The key that signs every entry after the rotation.
    pub new_key_id: String,
    /// The new Ed25519 public key, lowercase hex, so the chain itself vouches for it.
    pub new_public_key: String,
}

impl Entry {
    /// The hash this entry's content should have (whatever its `hash` field says).
    pub fn compute_hash(&self) -> Result<String, serde_json::Error> {
        let body = Body {
            seq: self.seq,
            timestamp: &self.timestamp,
            actor: &self.actor,
            category: &self.category,
            subcategory: &self.subcategory,
            action: &self.action,
            resource: &self.resource,
            data: &self.data,
            prev_hash: &self.prev_hash,
            key_id: &self.key_id,
        };
        Ok(hex::encode(&Sha256::digest(to_canonical_vec(&body)?)))
    }

    /// Fills `hash` and `signature` (and `key_id`) for `key`.
    pub(crate) fn seal(&mut self, key_id: &str, key: &SigningKey) -> Result<(), serde_json::Error> {
        self.key_id = key_id.to_string();
        self.hash = self.compute_hash()?;
        let digest = hex::decode::<32>(&self.hash).unwrap_or([0; 32]);
        self.signature = hex::encode(&key.sign(&digest).to_bytes());
        Ok(())
    }

    /// Whether `signature` is `key`'s signature of `hash`; the reason when not.
    pub fn check_signature(&self, key: &VerifyingKey) -> Result<(), String> {
        let digest = hex::decode::<32>(&self.hash).ok_or("hash is not 64 lowercase hex digits")?;
        let sig = hex::decode::<64>(&self.signature)
            .ok_or("signature is not 128 lowercase hex digits")?;
        key.verify(&digest, &Signature::from_bytes(&sig))
            .map_err(|_| "the signature does not match the hash".to_string())
    }

    /// The rotation this entry announces, if it is a key rotation entry.
    pub fn key_rotation(&self) -> Option<KeyRotation> {
        if self.category != LEDGER_CATEGORY || self.action != KEY_ROTATED_ACTION {
            return None;
        }
        serde_json::from_value(self.data.clone()).ok()
    }

    /// Reads one ledger line, refusing what this crate never writes (unknown fields, numbers a
    /// double cannot hold, hashes not in lowercase hex): such a line was edited by hand.
    pub fn parse_line(line: &str) -> Result<Entry, String> {
        let entry: Entry = serde_json::from_str(line).map_err(|e| format!("not an entry: {e}"))?;
        if entry.seq > MAX_SAFE_INTEGER {
            return Err(format!("seq {} is outside ±2^53", entry.seq));
        }
        check_numbers(&entry.data)?;
        for (name, value) in [("prev_hash", &entry.prev_hash), ("hash", &entry.hash)] {
            if hex::decode::<32>(value).is_none() {
                return Err(format!("{name} is not 64 lowercase hex digits"));
            }
        }
        Ok(entry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Entry {
        Entry {
            seq: 1,
            timestamp: "2026-01-02T03:04:05.000006Z".into(),
            actor: "alice".into(),
            category: "campaign".into(),
            subcategory: "staging".into(),
            action: "started".into(),
            resource: "c-1".into(),
            data: json!({"patterns": ["latency"], "score": 0.5}),
            prev_hash: GENESIS_PREV_HASH.into(),
            key_id: String::new(),
            hash: String::new(),
            signature: String::new(),
        }
    }

    #[test]
    fn hash_is_sha256_of_canonical_body() {
        let e = sample();
        let canonical = "{\"action\":\"started\",\"actor\":\"alice\",\"category\":\"campaign\",\
            \"data\":{\"patterns\":[\"latency\"],\"score\":0.5},\"key_id\":\"\",\
            \"prev_hash\":\"0000000000000000000000000000000000000000000000000000000000000000\",\
            \"resource\":\"c-1\",\"seq\":1,\"subcategory\":\"staging\",\
            \"timestamp\":\"2026-01-02T03:04:05.000006Z\"}";
        assert_eq!(
            e.compute_hash().unwrap(),
            hex::encode(&Sha256::digest(canonical.as_bytes()))
        );
    }

    #[test]
    fn seal_signs_and_any_change_breaks_hash_or_signature() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let mut e = sample();
        e.seal("k1", &key).unwrap();
        assert_eq!(e.hash, e.compute_hash().unwrap());
        assert!(e.check_signature(&key.verifying_key()).is_ok());
        let other = SigningKey::from_bytes(&[8; 32]).verifying_key();
        assert!(e.check_signature(&other).is_err());
        let mut changed = e.clone();
        changed.actor = "mallory".into();
        assert_ne!(changed.compute_hash().unwrap(), e.hash);
        let line = serde_json::to_string(&e).unwrap();
        assert_eq!(Entry::parse_line(&line).unwrap(), e);
    }

    #[test]
    fn parse_refuses_what_we_never_write() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let mut e = sample();
        e.seal("k1", &key).unwrap();
        let mut v = serde_json::to_value(&e).unwrap();
        v["extra"] = json!(1);
        assert!(
            Entry::parse_line(&v.to_string())
                .unwrap_err()
                .contains("unknown field")
        );
        let mut v = serde_json::to_value(&e).unwrap();
        v["hash"] = json!(e.hash.to_uppercase());
        assert!(Entry::parse_line(&v.to_string()).is_err());
        let mut v = serde_json::to_value(&e).unwrap();
        v["data"] = json!({"n": 9007199254740993u64});
        assert!(
            Entry::parse_line(&v.to_string())
                .unwrap_err()
                .contains("2^53")
        );
    }
}
