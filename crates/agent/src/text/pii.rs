//! PII detection for `excludes_pii`: email addresses, phone numbers (North American and
//! international `+CC` forms), US social security numbers, payment card numbers (13–19 digits,
//! spaces or dashes allowed, Luhn-valid) and IBANs (mod-97 valid). Each finding names its kind
//! and the matched text, so a report can show what leaked.

use std::sync::LazyLock;

use regex::Regex;

/// One piece of PII found in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PiiFinding {
    pub kind: &'static str,
    pub text: String,
}

static EMAIL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)\b[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}\b").unwrap());
static PHONE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:\+\d{1,3}[ .-]?)?(?:\(\d{3}\)|\b\d{3})[ .-]\d{3}[ .-]\d{4}\b|\+\d{1,3}[ .-]?\d{2,4}(?:[ .-]?\d{2,4}){2,4}\b").unwrap()
});
static SSN: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\b\d{3}-\d{2}-\d{4}\b").unwrap());
static CARD: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\b\d(?:[ -]?\d){12,18}\b").unwrap());
static IBAN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b").unwrap());

/// Every PII finding in `text`, in order of kind.
pub fn find_pii(text: &str) -> Vec<PiiFinding> {
    let mut out = Vec::new();
    let mut push = |kind: &'static str, m: &str| {
        out.push(PiiFinding {
            kind,
            text: m.to_string(),
        })
    };
    for m in EMAIL.find_iter(text) {
        push("email", m.as_str());
    }
    for m in SSN.find_iter(text) {
        push("ssn", m.as_str());
    }
    for m in CARD.find_iter(text) {
        let digits: Vec<u32> = m.as_str().chars().filter_map(|c| c.to_digit(10)).collect();
        if (13..=19).contains(&digits.len()) && luhn(&digits) {
            push("card_number", m.as_str());
        }
    }
    for m in IBAN.find_iter(text) {
        if iban_valid(m.as_str()) {
            push("iban", m.as_str());
        }
    }
    for m in PHONE.find_iter(text) {
        // An SSN or card number is not also a phone number.
        if !SSN.is_match(m.as_str())
            && m.as_str().chars().filter(char::is_ascii_digit).count() >= 10
        {
            push("phone", m.as_str());
        }
    }
    out
}

fn luhn(digits: &[u32]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

fn iban_valid(s: &str) -> bool {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    if !(15..=34).contains(&s.len()) {
        return false;
    }
    let rearranged = format!("{}{}", &s[4..], &s[..4]);
    let mut rem: u64 = 0;
    for c in rearranged.chars() {
        let v = match c.to_digit(36) {
            Some(v) => v as u64,
            None => return false,
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<&'static str> {
        find_pii(text).into_iter().map(|f| f.kind).collect()
    }

    #[test]
    fn finds_each_kind() {
        assert_eq!(kinds("mail ana.lopez@example.com now"), ["email"]);
        assert_eq!(kinds("SSN 123-45-6789"), ["ssn"]);
        assert_eq!(kinds("card 4111 1111 1111 1111"), ["card_number"]);
        assert_eq!(kinds("IBAN GB82 WEST 1234 5698 7654 32"), ["iban"]);
        assert_eq!(kinds("call (555) 123-4567"), ["phone"]);
        assert_eq!(kinds("call +44 20 7946 0958"), ["phone"]);
    }

    #[test]
    fn ignores_lookalikes() {
        // Not Luhn-valid, a bad IBAN checksum, ordinary numbers and dates.
        assert!(kinds("order 4111 1111 1111 1112").is_empty());
        assert!(kinds("GB00 WEST 1234 5698 7654 32").is_empty());
        assert!(kinds("deleted 1234 rows on 2026-11-22").is_empty());
    }
}
