//! Conversions between domain values and SQLite columns: timestamps as sortable RFC 3339 text,
//! enums by their serde names, structured values as JSON, u64 as checked i64.

use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;
use time::format_description::FormatItem;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};

use crate::StoreError;

/// RFC 3339 in UTC with exactly nine fractional digits: every stored timestamp has the same
/// width, so text order is time order and indexes on these columns sort correctly.
const TIMESTAMP: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:9]Z");

/// Formats a timestamp for storage. The instant is kept to the nanosecond; the offset is
/// normalised to UTC (`OffsetDateTime` equality compares instants, so records still compare
/// equal after a round trip).
pub(crate) fn ts_to_sql(t: OffsetDateTime) -> Result<String, StoreError> {
    t.to_offset(UtcOffset::UTC)
        .format(TIMESTAMP)
        .map_err(|e| invalid("a timestamp", e))
}

/// Parses any RFC 3339 timestamp (ours, or one written by another tool).
pub(crate) fn ts_from_sql(s: &str) -> Result<OffsetDateTime, String> {
    OffsetDateTime::parse(s, &Rfc3339).map_err(|e| format!("bad timestamp {s:?}: {e}"))
}

/// The serde name of a unit enum variant (`Verdict::Passed` → `passed`).
pub(crate) fn enum_to_sql<T: Serialize>(v: &T) -> Result<String, StoreError> {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => Ok(s),
        Ok(other) => Err(invalid(
            "an enum",
            format!("serialises to {other}, not a name"),
        )),
        Err(e) => Err(invalid("an enum", e)),
    }
}

/// Reads a unit enum back from its serde name.
pub(crate) fn enum_from_sql<T: DeserializeOwned>(s: &str) -> Result<T, String> {
    serde_json::from_value(serde_json::Value::String(s.to_owned()))
        .map_err(|e| format!("unknown {} {s:?}: {e}", short_type_name::<T>()))
}

/// Serialises a structured value into a JSON column.
pub(crate) fn json_to_sql<T: Serialize>(what: &str, v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| invalid(what, e))
}

/// Reads a JSON column back.
pub(crate) fn json_from_sql<T: DeserializeOwned>(what: &str, s: &str) -> Result<T, String> {
    serde_json::from_str(s).map_err(|e| format!("bad {what} JSON: {e}"))
}

/// SQLite integers are signed 64-bit; refuse (rather than wrap) anything larger.
pub(crate) fn u64_to_sql(what: &str, v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| invalid(what, format!("{v} exceeds the largest storable integer")))
}

/// Reads back a column written by [`u64_to_sql`].
pub(crate) fn u64_from_sql(what: &str, v: i64) -> Result<u64, String> {
    u64::try_from(v).map_err(|_| format!("negative {what} {v}"))
}

/// Reads back a u32 counter.
pub(crate) fn u32_from_sql(what: &str, v: i64) -> Result<u32, String> {
    u32::try_from(v).map_err(|_| format!("{what} {v} out of range"))
}

/// SQLite turns NaN into NULL, which would silently change a record; refuse it up front.
pub(crate) fn finite(what: &str, v: f64) -> Result<f64, StoreError> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(invalid(what, format!("{v} is not a finite number")))
    }
}

fn invalid(what: &str, detail: impl std::fmt::Display) -> StoreError {
    StoreError::InvalidValue {
        what: what.to_owned(),
        detail: detail.to_string(),
    }
}

fn short_type_name<T>() -> &'static str {
    let full = std::any::type_name::<T>();
    full.rsplit("::").next().unwrap_or(full)
}

/// Attaches the database path to SQLite errors: `query(..).or_store(path)?`.
pub(crate) trait OrStore<T> {
    fn or_store(self, path: &Path) -> Result<T, StoreError>;
}

impl<T> OrStore<T> for rusqlite::Result<T> {
    fn or_store(self, path: &Path) -> Result<T, StoreError> {
        self.map_err(|e| StoreError::sqlite(path, e))
    }
}

/// The extended result code of a failed statement (e.g. `SQLITE_CONSTRAINT_PRIMARYKEY`).
pub(crate) fn extended_code(e: &rusqlite::Error) -> Option<i32> {
    e.sqlite_error().map(|f| f.extended_code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use shakedown_core::campaign::CampaignStatus;
    use shakedown_core::{Pattern, Severity, Verdict};
    use time::macros::datetime;

    #[test]
    fn timestamps_are_fixed_width_utc_and_round_trip() {
        let t = datetime!(2025-03-04 05:06:07.000000008 +02:00);
        let s = ts_to_sql(t).unwrap();
        assert_eq!(s, "2025-03-04T03:06:07.000000008Z");
        assert_eq!(ts_from_sql(&s).unwrap(), t);
        // Same width whatever the sub-second part, so text order is time order.
        let whole = ts_to_sql(datetime!(2025-03-04 03:06:07 UTC)).unwrap();
        assert_eq!(whole.len(), s.len());
        assert!(whole < s);
    }

    #[test]
    fn enums_use_serde_names() {
        assert_eq!(enum_to_sql(&Verdict::Inconclusive).unwrap(), "inconclusive");
        assert_eq!(
            enum_to_sql(&CampaignStatus::HaltedByGuardian).unwrap(),
            "halted_by_guardian"
        );
        assert_eq!(
            enum_to_sql(&Pattern::RateLimitBreach).unwrap(),
            "rate_limit_breach"
        );
        assert_eq!(
            enum_from_sql::<Severity>("critical").unwrap(),
            Severity::Critical
        );
        let err = enum_from_sql::<Verdict>("maybe").unwrap_err();
        assert!(err.contains("Verdict") && err.contains("maybe"), "{err}");
    }

    #[test]
    fn refuses_nan_and_huge_integers() {
        assert!(finite("score", f64::NAN).is_err());
        assert!(finite("score", f64::INFINITY).is_err());
        assert_eq!(finite("score", 0.25).unwrap(), 0.25);
        assert!(u64_to_sql("duration_ms", u64::MAX).is_err());
        assert_eq!(u64_from_sql("duration_ms", 7).unwrap(), 7);
        assert!(u64_from_sql("duration_ms", -1).is_err());
    }
}
