//! Approvals are signed with the ledger's Ed25519 key: the key that signs the record of what
//! was done also signs the permission to do it, and a rotated key still verifies the
//! approvals it signed.

use ed25519_dalek::{Signature, Signer as _};
use shakedown_govern::Signer;
use shakedown_ledger::KeyStore;

/// The ledger's key store as an approval signer.
pub struct LedgerSigner<'a>(pub &'a KeyStore);

impl Signer for LedgerSigner<'_> {
    fn key_id(&self) -> String {
        self.0.current_id().ok().flatten().unwrap_or_default()
    }

    fn sign(&self, message: &[u8]) -> Vec<u8> {
        match self.0.load_current() {
            Ok(Some(key)) => key.signing.sign(message).to_bytes().to_vec(),
            // No key: an empty signature, which never verifies (fail closed).
            _ => Vec::new(),
        }
    }

    fn verify(&self, key_id: &str, message: &[u8], signature: &[u8]) -> bool {
        let Ok(Some(public)) = self.0.public_key(key_id) else {
            return false;
        };
        let Ok(bytes) = <[u8; 64]>::try_from(signature) else {
            return false;
        };
        public
            .verify_strict(message, &Signature::from_bytes(&bytes))
            .is_ok()
    }
}
