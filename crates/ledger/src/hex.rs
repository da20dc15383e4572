//! Lowercase hex for hashes, keys and signatures (no dependency for twenty lines).

/// Lowercase hex of `bytes`.
pub fn encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    out
}

/// Decodes lowercase hex of exactly `N` bytes; uppercase is refused so that every value has
/// one spelling (a hash written two ways would be two different canonical entries).
pub fn decode<const N: usize>(text: &str) -> Option<[u8; N]> {
    let raw = text.as_bytes();
    if raw.len() != N * 2 {
        return None;
    }
    let mut out = [0u8; N];
    for (i, pair) in raw.chunks_exact(2).enumerate() {
        out[i] = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(out)
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_bad_input() {
        let bytes = [0u8, 1, 0x7f, 0x80, 0xff];
        let text = encode(&bytes);
        assert_eq!(text, "00017f80ff");
        assert_eq!(decode::<5>(&text), Some(bytes));
        assert_eq!(decode::<5>("00017F80FF"), None, "uppercase");
        assert_eq!(decode::<5>("00017f80f"), None, "odd length");
        assert_eq!(decode::<4>(&text), None, "wrong size");
        assert_eq!(decode::<1>("zz"), None);
    }
}
