//! RFC 8785 (JSON Canonicalization Scheme) bytes of a value, and the I-JSON number rule that
//! makes those bytes a faithful fingerprint.
//!
//! The canonical form itself comes from `serde_json_canonicalizer` (keys sorted by UTF-16 code
//! units, minimal string escaping, numbers printed as ECMAScript's `Number.prototype.toString`
//! via `ryu-js`); the tests below pin it to the RFC's own examples. JCS treats every number as
//! an IEEE-754 double, so an integer beyond ±2^53 would be rounded before hashing and two
//! different ledgers could share a hash: such numbers are refused instead ([`check_numbers`]).

use serde::Serialize;
use serde_json::Value;

/// The largest integer every JSON reader represents exactly (2^53).
pub const MAX_SAFE_INTEGER: u64 = 1 << 53;

/// The RFC 8785 canonical bytes of `value`.
pub fn to_canonical_vec<T: Serialize>(value: &T) -> serde_json::Result<Vec<u8>> {
    serde_json_canonicalizer::to_vec(value)
}

/// Refuses integers a double cannot hold exactly, naming where the first one is.
pub fn check_numbers(value: &Value) -> Result<(), String> {
    walk(value, &mut String::from("data"))
}

fn walk(value: &Value, path: &mut String) -> Result<(), String> {
    match value {
        Value::Number(n) => {
            let too_big = match (n.as_u64(), n.as_i64()) {
                (Some(u), _) => u > MAX_SAFE_INTEGER,
                (None, Some(i)) => i.unsigned_abs() > MAX_SAFE_INTEGER,
                // A float: already a double, represented exactly by definition.
                (None, None) => false,
            };
            if too_big {
                return Err(format!(
                    "{path} = {n} is outside ±2^53, which canonical JSON (RFC 8785) cannot \
                     represent exactly; store it as a string"
                ));
            }
            Ok(())
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                walk(item, path)?;
                path.truncate(len);
            }
            Ok(())
        }
        Value::Object(map) => {
            for (k, item) in map {
                let len = path.len();
                path.push('.');
                path.push_str(k);
                walk(item, path)?;
                path.truncate(len);
            }
            Ok(())
        }
        Value::Null | Value::Bool(_) | Value::String(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn canon(v: &Value) -> String {
        String::from_utf8(to_canonical_vec(v).unwrap()).unwrap()
    }

    /// RFC 8785 appendix B: IEEE-754 bit patterns and their ECMAScript spelling.
    #[test]
    fn numbers_follow_rfc_8785_appendix_b() {
        let cases: &[(u64, &str)] = &[
            (0x0000000000000000, "0"),
            (0x8000000000000000, "0"),
            (0x0000000000000001, "5e-324"),
            (0x8000000000000001, "-5e-324"),
            (0x7fefffffffffffff, "1.7976931348623157e+308"),
            (0xffefffffffffffff, "-1.7976931348623157e+308"),
            (0x4340000000000000, "9007199254740992"),
            (0xc340000000000000, "-9007199254740992"),
            (0x4430000000000000, "295147905179352830000"),
            (0x44b52d02c7e14af5, "9.999999999999997e+22"),
            (0x44b52d02c7e14af6, "1e+23"),
            (0x44b52d02c7e14af7, "1.0000000000000001e+23"),
            (0x444b1ae4d6e2ef4e, "999999999999999700000"),
            (0x444b1ae4d6e2ef4f, "999999999999999900000"),
            (0x444b1ae4d6e2ef50, "1e+21"),
            (0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7"),
            (0x3eb0c6f7a0b5ed8d, "0.000001"),
            (0x41b3de4355555553, "333333333.3333332"),
            (0x41b3de4355555554, "333333333.33333325"),
            (0x41b3de4355555555, "333333333.3333333"),
            (0x41b3de4355555556, "333333333.3333334"),
            (0x41b3de4355555557, "333333333.33333343"),
            (0xbecbf647612f3696, "-0.0000033333333333333333"),
            (0x43143ff3c1cb0959, "1424953923781206.2"),
        ];
        for (bits, want) in cases {
            let v = json!(f64::from_bits(*bits));
            assert_eq!(canon(&v), *want, "bits {bits:#018x}");
        }
        // Integers are numbers too: no `.0`, no exponent below 1e21.
        assert_eq!(canon(&json!(42u64)), "42");
        assert_eq!(canon(&json!(-7i64)), "-7");
    }

    /// RFC 8785 §3.2.2: whitespace, number and string normalisation in one object.
    #[test]
    fn rfc_8785_serialization_example() {
        let input = r#"{
          "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
          "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
          "literals": [null, true, false]
        }"#;
        let v: Value = serde_json::from_str(input).unwrap();
        assert_eq!(
            canon(&v),
            "{\"literals\":[null,true,false],\"numbers\":[333333333.3333333,1e+30,4.5,0.002,1e-27],\
             \"string\":\"€$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"}"
        );
    }

    /// RFC 8785 §3.2.3: properties sorted by UTF-16 code units, not by UTF-8 bytes or chars.
    #[test]
    fn rfc_8785_sorting_example() {
        let input = r#"{
          "\u20ac": "Euro Sign",
          "\r": "Carriage Return",
          "\ufb33": "Hebrew Letter Dalet With Dagesh",
          "1": "One",
          "\ud83d\ude00": "Emoji: Grinning Face",
          "\u0080": "Control",
          "\u00f6": "Latin Small Letter O With Diaeresis"
        }"#;
        let v: Value = serde_json::from_str(input).unwrap();
        let out = canon(&v);
        let order = [
            "Carriage Return",
            "One",
            "Control",
            "Latin Small Letter O With Diaeresis",
            "Euro Sign",
            "Emoji: Grinning Face",
            "Hebrew Letter Dalet With Dagesh",
        ];
        let positions: Vec<usize> = order.iter().map(|s| out.find(s).unwrap()).collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{out}");
        assert!(out.starts_with("{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u{80}\":"));
    }

    #[test]
    fn unsafe_integers_are_refused_with_their_path() {
        assert!(
            check_numbers(&json!({"a": [1, 9007199254740992u64, -9007199254740992i64]})).is_ok()
        );
        let err = check_numbers(&json!({"a": [1, {"b": 9007199254740993u64}]})).unwrap_err();
        assert!(err.starts_with("data.a[1].b = 9007199254740993"), "{err}");
        assert!(check_numbers(&json!(i64::MIN)).is_err());
        assert!(check_numbers(&json!(1e300)).is_ok());
    }
}
