//! The SQL event vocabulary shared by the proxy, the chaos engine and reports. The proxy maps
//! each of these to a `shakedown_core::Event` with the same name as its `event_type`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What happened to a statement, or to a chaos action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SqlEventType {
    /// A statement arrived from the client (before the policy).
    SqlReceived,
    /// The policy allowed it.
    SqlAllowed,
    /// The policy blocked it; the client got an ErrorResponse.
    SqlBlocked,
    /// The policy allowed it but flagged it (warning-level rule).
    SqlFlagged,
    /// The server answered with an error.
    SqlError,
    /// The server completed it (rows affected, latency).
    SqlResult,
    /// A honeypot table or column was touched.
    HoneypotAccessed,
    /// A chaos action fired.
    ChaosTriggered,
    /// A chaos action ended (and was undone where it changes state).
    ChaosCompleted,
}

impl SqlEventType {
    pub const ALL: [SqlEventType; 9] = [
        SqlEventType::SqlReceived,
        SqlEventType::SqlAllowed,
        SqlEventType::SqlBlocked,
        SqlEventType::SqlFlagged,
        SqlEventType::SqlError,
        SqlEventType::SqlResult,
        SqlEventType::HoneypotAccessed,
        SqlEventType::ChaosTriggered,
        SqlEventType::ChaosCompleted,
    ];

    /// The wire name, e.g. `sql_received`.
    pub fn as_str(self) -> &'static str {
        match self {
            SqlEventType::SqlReceived => "sql_received",
            SqlEventType::SqlAllowed => "sql_allowed",
            SqlEventType::SqlBlocked => "sql_blocked",
            SqlEventType::SqlFlagged => "sql_flagged",
            SqlEventType::SqlError => "sql_error",
            SqlEventType::SqlResult => "sql_result",
            SqlEventType::HoneypotAccessed => "honeypot_accessed",
            SqlEventType::ChaosTriggered => "chaos_triggered",
            SqlEventType::ChaosCompleted => "chaos_completed",
        }
    }
}

impl fmt::Display for SqlEventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SqlEventType {
    type Err = String;
    /// Accepts the wire name in any case: ChaosTrace scripts write `SQL_RECEIVED`.
    fn from_str(s: &str) -> Result<Self, String> {
        SqlEventType::ALL
            .into_iter()
            .find(|e| e.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                let names: Vec<&str> = SqlEventType::ALL.iter().map(|e| e.as_str()).collect();
                format!(
                    "`{s}` is not an event type; use one of {}",
                    names.join(", ")
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_in_any_case() {
        for e in SqlEventType::ALL {
            assert_eq!(e.as_str().parse::<SqlEventType>(), Ok(e));
            assert_eq!(e.as_str().to_uppercase().parse::<SqlEventType>(), Ok(e));
            assert_eq!(serde_json::to_value(e).unwrap(), e.as_str());
        }
        assert!("sql_recieved".parse::<SqlEventType>().is_err());
    }
}
