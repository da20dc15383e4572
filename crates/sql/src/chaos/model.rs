//! The chaos script as written: ChaosTrace's `ChaosScenario` field for field, with its
//! defaults. Unknown fields are refused (pydantic would drop them, turning a misspelt
//! `cooldown_secnds` into no cooldown). Names and templates stay strings here and are checked,
//! with their location, when the script is compiled.

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer};

fn default_version() -> String {
    "1.0".into()
}

fn default_true() -> bool {
    true
}

fn default_max_total() -> u32 {
    100
}

fn default_max_triggers() -> u32 {
    1
}

fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum V {
        S(String),
        N(serde_json::Number),
    }
    Ok(match V::deserialize(d)? {
        V::S(s) => s,
        V::N(n) => n.to_string(),
    })
}

/// A whole chaos script (`ChaosScenario`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    pub name: String,
    #[serde(default = "default_version", deserialize_with = "string_or_number")]
    pub version: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub triggers: Vec<TriggerFile>,
    #[serde(default = "default_true")]
    pub enabled: bool,
    #[serde(default = "default_max_total")]
    pub max_total_chaos_events: u32,
}

/// `TriggerType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TriggerType {
    Event,
    Time,
    Count,
}

impl TriggerType {
    pub fn as_str(self) -> &'static str {
        match self {
            TriggerType::Event => "event",
            TriggerType::Time => "time",
            TriggerType::Count => "count",
        }
    }
}

/// `ChaosTrigger`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriggerFile {
    #[serde(default)]
    pub name: String,
    #[serde(default = "default_true")]
    pub enabled: bool,
    pub trigger_type: TriggerType,
    #[serde(default)]
    pub event_condition: Option<EventConditionFile>,
    #[serde(default)]
    pub time_condition: Option<TimeConditionFile>,
    #[serde(default)]
    pub count_condition: Option<CountConditionFile>,
    pub action: ActionFile,
    #[serde(default = "default_max_triggers")]
    pub max_triggers: u32,
    #[serde(default)]
    pub cooldown_seconds: u64,
}

/// `EventCondition.occurrence`: `first` (default), `every`, `last`, or the N-th match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Occurrence {
    #[default]
    First,
    Every,
    Last,
    Nth(u64),
}

impl fmt::Display for Occurrence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Occurrence::First => f.write_str("first"),
            Occurrence::Every => f.write_str("every"),
            Occurrence::Last => f.write_str("last"),
            Occurrence::Nth(n) => write!(f, "#{n}"),
        }
    }
}

impl<'de> Deserialize<'de> for Occurrence {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Occurrence;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("`first`, `every`, `last` or a positive integer")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Occurrence, E> {
                match v.trim().to_ascii_lowercase().as_str() {
                    "first" => Ok(Occurrence::First),
                    "every" => Ok(Occurrence::Every),
                    "last" => Ok(Occurrence::Last),
                    _ => Err(E::custom(format!(
                        "`{v}` is not an occurrence; use first, every, last or a positive integer"
                    ))),
                }
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Occurrence, E> {
                if v == 0 {
                    return Err(E::custom("occurrence counts from 1"));
                }
                Ok(Occurrence::Nth(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Occurrence, E> {
                u64::try_from(v)
                    .map_err(|_| E::custom("occurrence counts from 1"))
                    .and_then(|v| self.visit_u64(v))
            }
        }
        d.deserialize_any(V)
    }
}

/// `EventCondition`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventConditionFile {
    pub event_type: String,
    #[serde(default)]
    pub parsed_type: Option<String>,
    #[serde(default)]
    pub table_pattern: Option<String>,
    #[serde(default)]
    pub occurrence: Occurrence,
    #[serde(default)]
    pub min_rows: Option<u64>,
}

/// `TimeCondition`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeConditionFile {
    pub elapsed_seconds: u64,
    #[serde(default)]
    pub jitter_seconds: u64,
}

/// `CountCondition`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CountConditionFile {
    pub event_type: String,
    pub count: u64,
    #[serde(default)]
    pub reset_after_trigger: bool,
}

/// `ChaosAction`: the type and every parameter any type may use.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionFile {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub table: Option<String>,
    #[serde(default)]
    pub column: Option<String>,
    #[serde(default)]
    pub duration_seconds: Option<u64>,
    #[serde(default)]
    pub delay_seconds: u64,
    #[serde(default)]
    pub latency_ms: Option<u64>,
    #[serde(default)]
    pub new_name: Option<String>,
    #[serde(default)]
    pub new_type: Option<String>,
    #[serde(default)]
    pub percentage: Option<i64>,
    #[serde(default)]
    pub parameters: serde_json::Map<String, serde_json::Value>,
}
