//! `malformed`: makes a body that was JSON no longer parse, deterministically. The first half
//! of the body is kept (so it still looks like the real answer) and `}{]` is appended: an open
//! string stays unterminated (the suffix has no quote) and outside a string `{]` can never be
//! valid, so no prefix can turn the result back into valid JSON.

/// The corrupted body.
pub fn corrupt(body: &[u8]) -> Vec<u8> {
    let mut cut = body.len() / 2;
    // Cut on a character boundary so the body stays valid UTF-8 (only its structure breaks).
    while cut > 0 && cut < body.len() && (body[cut] & 0xC0) == 0x80 {
        cut -= 1;
    }
    let mut out = body[..cut].to_vec();
    out.extend_from_slice(b"}{]");
    out
}

/// The corrupted text of one SSE `data:` payload.
pub fn corrupt_str(data: &str) -> String {
    String::from_utf8_lossy(&corrupt(data.as_bytes())).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_valid_json() {
        for body in [
            &br#"{"a":"b","c":[1,2,3]}"#[..],
            b"[1,2]",
            b"\"str\"",
            b"12345",
            b"",
            "{\"t\":\"ééé\"}".as_bytes(),
        ] {
            let c = corrupt(body);
            assert!(
                serde_json::from_slice::<serde_json::Value>(&c).is_err(),
                "{c:?}"
            );
            assert!(std::str::from_utf8(&c).is_ok());
        }
    }
}
