//! Human-written units in system files: durations (`30s`, `500ms`, `1m`) and sizes (`10MB`).

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Regex the JSON Schema uses for durations; kept in sync with [`HumanDuration::from_str`].
pub const DURATION_PATTERN: &str = r"^\s*[0-9]+(\.[0-9]+)?\s*(ms|s|m|h)\s*$";
/// Regex the JSON Schema uses for sizes; kept in sync with [`ByteSize::from_str`].
pub const SIZE_PATTERN: &str = r"^\s*[0-9]+(\.[0-9]+)?\s*([kKmMgG]i?[bB]?|[bB])?\s*$";

/// A duration written as a number and a unit: `ms`, `s`, `m` or `h`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HumanDuration(pub Duration);

impl HumanDuration {
    pub const fn from_secs(s: u64) -> Self {
        HumanDuration(Duration::from_secs(s))
    }
    pub const fn from_millis(ms: u64) -> Self {
        HumanDuration(Duration::from_millis(ms))
    }
    pub fn as_duration(self) -> Duration {
        self.0
    }
}

/// Why a unit string could not be read; the message says what a valid one looks like.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{input}` is not a valid {what}: {hint}")]
pub struct UnitError {
    pub input: String,
    pub what: &'static str,
    pub hint: &'static str,
}

fn split_number(s: &str) -> Option<(f64, &str)> {
    let s = s.trim();
    let end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(end);
    let value: f64 = num.parse().ok()?;
    (value.is_finite() && value >= 0.0).then_some((value, unit.trim()))
}

impl FromStr for HumanDuration {
    type Err = UnitError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || UnitError {
            input: s.to_string(),
            what: "duration",
            hint: "write a number and a unit, for example 500ms, 30s, 1m or 2h",
        };
        let (value, unit) = split_number(s).ok_or_else(err)?;
        let secs = match unit {
            "ms" => value / 1000.0,
            "s" => value,
            "m" => value * 60.0,
            "h" => value * 3600.0,
            _ => return Err(err()),
        };
        if secs > 10.0 * 365.0 * 86_400.0 {
            return Err(err());
        }
        Ok(HumanDuration(Duration::from_secs_f64(secs)))
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if ms.is_multiple_of(3_600_000) && ms > 0 {
            write!(f, "{}h", ms / 3_600_000)
        } else if ms.is_multiple_of(60_000) && ms > 0 {
            write!(f, "{}m", ms / 60_000)
        } else if ms.is_multiple_of(1000) {
            write!(f, "{}s", ms / 1000)
        } else {
            write!(f, "{ms}ms")
        }
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for HumanDuration {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": DURATION_PATTERN,
            "description": "A duration: a number and a unit (ms, s, m, h), e.g. 30s",
            "examples": ["500ms", "30s", "1m"]
        })
    }
}

/// A size in bytes, written like nginx does: `10MB`, `512KB`, `1GB` (binary multiples,
/// so `10MB` = 10 × 1024 × 1024 bytes, the same as nginx's `client_max_body_size 10m`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(pub u64);

impl ByteSize {
    pub const KIB: u64 = 1024;
    pub const MIB: u64 = 1024 * 1024;
    pub fn bytes(self) -> u64 {
        self.0
    }
}

impl FromStr for ByteSize {
    type Err = UnitError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || UnitError {
            input: s.to_string(),
            what: "size",
            hint: "write a number and a unit, for example 512KB, 10MB or 1GB",
        };
        let (value, unit) = split_number(s).ok_or_else(err)?;
        let mult = match unit.to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "k" | "kb" | "kib" => ByteSize::KIB,
            "m" | "mb" | "mib" => ByteSize::MIB,
            "g" | "gb" | "gib" => 1024 * ByteSize::MIB,
            _ => return Err(err()),
        };
        let bytes = value * mult as f64;
        if bytes > (1u64 << 40) as f64 {
            return Err(err());
        }
        Ok(ByteSize(bytes.round() as u64))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        if b >= ByteSize::MIB && b.is_multiple_of(ByteSize::MIB) {
            write!(f, "{}MB", b / ByteSize::MIB)
        } else if b >= ByteSize::KIB && b.is_multiple_of(ByteSize::KIB) {
            write!(f, "{}KB", b / ByteSize::KIB)
        } else {
            write!(f, "{b}B")
        }
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for ByteSize {
    fn schema_name() -> Cow<'static, str> {
        "Size".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": SIZE_PATTERN,
            "description": "A size: a number and a unit (B, KB, MB, GB; binary multiples), e.g. 10MB",
            "examples": ["512KB", "10MB"]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_print() {
        assert_eq!(
            "30s".parse::<HumanDuration>().unwrap(),
            HumanDuration::from_secs(30)
        );
        assert_eq!(
            "1m".parse::<HumanDuration>().unwrap(),
            HumanDuration::from_secs(60)
        );
        assert_eq!(
            " 250ms".parse::<HumanDuration>().unwrap(),
            HumanDuration::from_millis(250)
        );
        assert_eq!(
            "1.5s".parse::<HumanDuration>().unwrap(),
            HumanDuration::from_millis(1500)
        );
        assert_eq!(HumanDuration::from_secs(60).to_string(), "1m");
        assert_eq!(HumanDuration::from_millis(1500).to_string(), "1500ms");
        for bad in ["30", "s", "-1s", "1d", "", "1e9s"] {
            assert!(bad.parse::<HumanDuration>().is_err(), "{bad}");
        }
    }

    #[test]
    fn sizes_parse_and_print() {
        assert_eq!(
            "10MB".parse::<ByteSize>().unwrap().bytes(),
            10 * 1024 * 1024
        );
        assert_eq!("512kb".parse::<ByteSize>().unwrap().bytes(), 512 * 1024);
        assert_eq!("100".parse::<ByteSize>().unwrap().bytes(), 100);
        assert_eq!(ByteSize(10 * ByteSize::MIB).to_string(), "10MB");
        for bad in ["10XB", "MB", "-3MB", "5TB"] {
            assert!(bad.parse::<ByteSize>().is_err(), "{bad}");
        }
    }
}
