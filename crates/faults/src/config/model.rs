//! The fault config file as written: Flakestorm's `ToolFaultConfig`, `LlmFaultConfig` and
//! `ContextAttackConfig` field for field, plus Shakedown's extensions. Modes and enumerated
//! names stay strings here so that a wrong one is reported with its location and the list of
//! valid ones, alongside every other problem, when the rules are resolved.

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use shakedown_core::HumanDuration;

/// `version: 2.0` (a number) is as good as `"2.0"`.
fn opt_string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum V {
        S(String),
        N(serde_json::Number),
    }
    Ok(Option::<V>::deserialize(d)?.map(|v| match v {
        V::S(s) => s,
        V::N(n) => n.to_string(),
    }))
}

/// The whole file. `chaos` and `proxy` are read section by section so a problem in one rule
/// does not hide the problems in the others.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FaultFile {
    #[serde(default, deserialize_with = "opt_string_or_number")]
    #[schemars(with = "Option<super::schema::Version>")]
    pub version: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// Start from this built-in profile (Shakedown extension).
    #[serde(default)]
    pub profile: Option<String>,
    #[serde(default)]
    #[schemars(with = "Option<ChaosBlock>")]
    pub chaos: Option<Value>,
    /// Shakedown extension: how the proxy listens and routes.
    #[serde(default)]
    #[schemars(with = "Option<crate::server::ProxySettings>")]
    pub proxy: Option<Value>,
}

/// Flakestorm's `ChaosConfig`. `context_attacks` is a list or a mapping keyed by type (the
/// "addendum" format), so it stays a value until resolved.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChaosBlock {
    #[serde(default)]
    #[schemars(with = "Option<Vec<ToolFaultFile>>")]
    pub tool_faults: Option<Vec<Value>>,
    #[serde(default)]
    #[schemars(with = "Option<Vec<LlmFaultFile>>")]
    pub llm_faults: Option<Vec<Value>>,
    #[serde(default)]
    #[schemars(with = "Option<super::schema::ContextAttacks>")]
    pub context_attacks: Option<Value>,
}

/// `window: {start_after: 10s, duration: 30s}` (Shakedown extension).
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WindowFile {
    #[serde(default)]
    pub start_after: Option<HumanDuration>,
    #[serde(default)]
    pub duration: Option<HumanDuration>,
}

/// Schedule and naming fields every rule accepts (Shakedown extensions, except
/// `after_calls`, which Flakestorm has on tool and LLM faults).
#[derive(Debug, Clone, Default)]
pub struct Common {
    pub name: Option<String>,
    pub after_calls: Option<u64>,
    pub every_n_calls: Option<u64>,
    pub max_fires: Option<u64>,
    pub window: Option<WindowFile>,
}

/// One `tool_faults` entry.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ToolFaultFile {
    /// Required by Flakestorm; Shakedown lets a rule with `match_url` omit it (URL only).
    #[serde(default)]
    pub tool: Option<String>,
    pub mode: String,
    #[serde(default)]
    pub match_url: Option<String>,
    #[serde(default)]
    pub delay_ms: Option<u64>,
    #[serde(default)]
    pub error_code: Option<i64>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub probability: Option<f64>,
    #[serde(default)]
    pub after_calls: Option<u64>,
    #[serde(default)]
    pub payload: Option<String>,
    // Shakedown extensions.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub every_n_calls: Option<u64>,
    #[serde(default)]
    pub max_fires: Option<u64>,
    #[serde(default)]
    pub window: Option<WindowFile>,
}

/// One `llm_faults` entry.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LlmFaultFile {
    pub mode: String,
    #[serde(default)]
    pub max_tokens: Option<u32>,
    #[serde(default)]
    pub delay_ms: Option<u64>,
    #[serde(default)]
    pub probability: Option<f64>,
    #[serde(default)]
    pub after_calls: Option<u64>,
    #[serde(default)]
    pub drift_type: Option<String>,
    #[serde(default)]
    pub severity: Option<String>,
    #[serde(default)]
    pub direction: Option<String>,
    #[serde(default)]
    pub factor: Option<f64>,
    // Shakedown extensions.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub every_n_calls: Option<u64>,
    #[serde(default)]
    pub max_fires: Option<u64>,
    #[serde(default)]
    pub window: Option<WindowFile>,
    /// Only streamed (`true`) or only whole (`false`) answers.
    #[serde(default)]
    pub stream: Option<bool>,
    /// `rate_limit`: the `retry-after` the 429 carries.
    #[serde(default)]
    pub retry_after_ms: Option<u64>,
    /// `error`: status and message.
    #[serde(default)]
    pub error_code: Option<i64>,
    #[serde(default)]
    pub message: Option<String>,
    /// `stream_cut`, `stream_error_event`: events passed before the fault.
    #[serde(default)]
    pub after_events: Option<u32>,
    /// `stream_malformed_chunk`: the 0-based event replaced.
    #[serde(default)]
    pub at_event: Option<u32>,
}

/// One `context_attacks` entry (list form), or the value under a type key (mapping form).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContextAttackFile {
    /// Required in the list form; the key gives it in the mapping form.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// `overflow` only: how many tokens to inject — the payload's whitespace-separated words
    /// cycled to exactly this many (1 to 1,000,000; default 4000).
    #[serde(default)]
    pub inject_tokens: Option<u64>,
    #[serde(default)]
    pub payloads: Option<Vec<String>>,
    #[serde(default)]
    pub trigger_probability: Option<f64>,
    #[serde(default)]
    pub inject_at: Option<String>,
    #[serde(default)]
    pub payload: Option<String>,
    #[serde(default)]
    pub strategy: Option<String>,
    /// The mapping form's `enabled: false` switches an attack off.
    #[serde(default)]
    pub enabled: Option<bool>,
    // Shakedown extensions.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub tool: Option<String>,
    #[serde(default)]
    pub match_url: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub after_calls: Option<u64>,
    #[serde(default)]
    pub every_n_calls: Option<u64>,
    #[serde(default)]
    pub max_fires: Option<u64>,
    #[serde(default)]
    pub window: Option<WindowFile>,
}

/// The schedule fields every rule kind shares, gathered for the resolver (serde cannot
/// flatten them under `deny_unknown_fields`).
macro_rules! impl_common {
    ($($t:ty),*) => {$(
        impl $t {
            pub fn common(&self) -> Common {
                Common {
                    name: self.name.clone(),
                    after_calls: self.after_calls,
                    every_n_calls: self.every_n_calls,
                    max_fires: self.max_fires,
                    window: self.window,
                }
            }
        }
    )*};
}

impl_common!(ToolFaultFile, LlmFaultFile, ContextAttackFile);
