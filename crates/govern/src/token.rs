//! Bearer tokens: 256 random bits shown once as `shk_<64 hex>`; only their SHA-256 is kept, so
//! a stolen database yields no usable token. A token has a public id (`tok_…`) for listing and
//! revoking.

use sha2::{Digest, Sha256};

/// The prefix every Shakedown token carries (it makes leaked tokens easy to scan for).
pub const TOKEN_PREFIX: &str = "shk_";

/// A freshly minted token: the secret is shown to the user once and never stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewToken {
    pub id: String,
    pub secret: String,
    pub hash: String,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Mints a token from the operating system's random source.
pub fn generate() -> NewToken {
    let secret_bytes: [u8; 32] = rand::random();
    let id_bytes: [u8; 6] = rand::random();
    let secret = format!("{TOKEN_PREFIX}{}", hex(&secret_bytes));
    NewToken {
        id: format!("tok_{}", hex(&id_bytes)),
        hash: hash(&secret),
        secret,
    }
}

/// Lower-case hex SHA-256 of a presented token: what the store keeps and looks up.
pub fn hash(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

/// Whether `s` has the shape of a Shakedown token (prefix and 64 hex digits). Checked before
/// any lookup so a malformed header gets its own clear error.
pub fn well_formed(s: &str) -> bool {
    s.strip_prefix(TOKEN_PREFIX)
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_well_formed_and_hashed() {
        let a = generate();
        let b = generate();
        assert_ne!(a.secret, b.secret);
        assert_ne!(a.id, b.id);
        assert!(well_formed(&a.secret), "{}", a.secret);
        assert_eq!(a.hash, hash(&a.secret));
        assert_eq!(a.hash.len(), 64);
        assert!(
            !a.hash.contains(&a.secret[4..]),
            "the hash is not the secret"
        );
    }

    #[test]
    fn malformed_tokens_are_recognised() {
        for bad in [
            "",
            "shk_",
            "Bearer shk_00",
            "shk_zz",
            &format!("tok_{}", "0".repeat(64)),
        ] {
            assert!(!well_formed(bad), "{bad}");
        }
        assert!(well_formed(&format!("shk_{}", "a".repeat(64))));
    }
}
