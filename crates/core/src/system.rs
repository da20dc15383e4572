//! The system file (`shakedown.yaml`): the components of a system, where they live, what
//! guardrails they claim, and which hosts may be attacked.

mod check;
mod load;
mod problem;
mod scope;
pub mod tree;

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use load::{load_system, system_schema};
pub use problem::{Level, Problem, Problems};
pub use scope::{ScopeEntry, ScopeRule};

use crate::component::ComponentKind;
use crate::guardrail::Guardrails;
use crate::pattern::Pattern;
use crate::severity::Severity;
use crate::units::HumanDuration;

/// The placeholder in endpoint paths, queries and bodies where attack inputs go.
pub const INPUT_PLACEHOLDER: &str = "{input}";

/// A whole system file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Shakedown system file")]
pub struct SystemSpec {
    /// Where the system runs. Production campaigns need `--approve`.
    #[serde(default)]
    pub environment: Environment,
    /// Hosts that may be attacked. Default: loopback only.
    #[serde(default)]
    pub scope: Scope,
    /// Most components one campaign may attack (default 3).
    #[serde(default = "default_blast_radius")]
    #[schemars(range(min = 1, max = 1000))]
    pub blast_radius_limit: u32,
    /// Bounds of the attack engine (defaults suit most staging systems).
    #[serde(default)]
    pub engine: EngineSettings,
    /// The error budget of this system's environment. Default: staging and production get a
    /// budget (2% per injection, refilled over 1h, gated below 20%); test has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_budget: Option<ErrorBudgetSettings>,
    /// The components of the system.
    #[schemars(length(min = 1))]
    pub components: Vec<Component>,
}

/// An environment's error budget: every injection burns `cost_per_injection` of it, it refills
/// linearly over `refill_window`, and below `threshold` campaigns are refused until it is back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ErrorBudgetSettings {
    /// Fraction of the whole budget one injection (one attack) burns (default 0.02).
    #[serde(default = "default_cost")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub cost_per_injection: f64,
    /// Time for an empty budget to refill completely (default 1h).
    #[serde(default = "default_refill")]
    pub refill_window: HumanDuration,
    /// Below this fraction, campaigns are refused (default 0.2).
    #[serde(default = "default_threshold")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub threshold: f64,
}

fn default_cost() -> f64 {
    0.02
}

fn default_refill() -> HumanDuration {
    HumanDuration::from_secs(3600)
}

fn default_threshold() -> f64 {
    0.2
}

impl Default for ErrorBudgetSettings {
    fn default() -> Self {
        ErrorBudgetSettings {
            cost_per_injection: default_cost(),
            refill_window: default_refill(),
            threshold: default_threshold(),
        }
    }
}

impl SystemSpec {
    /// The budget that applies. Staging and production always have one, and a file can only
    /// make it stricter than the default (cost per injection ≥ 0.02, refill window ≥ 1h,
    /// threshold ≥ 0.2): whoever writes the system file — an API caller too — cannot switch
    /// the gate off. Test has none unless the file sets one.
    pub fn effective_error_budget(&self) -> Option<ErrorBudgetSettings> {
        match self.environment {
            Environment::Test => self.error_budget.clone(),
            _ => {
                let floor = ErrorBudgetSettings::default();
                let file = self.error_budget.clone().unwrap_or_default();
                Some(ErrorBudgetSettings {
                    cost_per_injection: file.cost_per_injection.max(floor.cost_per_injection),
                    refill_window: if file.refill_window.as_duration()
                        > floor.refill_window.as_duration()
                    {
                        file.refill_window
                    } else {
                        floor.refill_window
                    },
                    threshold: file.threshold.max(floor.threshold),
                })
            }
        }
    }
}

/// Optional overrides of the attack engine's bounds. Every attack stays bounded whatever is
/// set here; these only move the bounds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EngineSettings {
    /// Our own deadline for one ordinary request (default 10s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_timeout: Option<HumanDuration>,
    /// Longest one attack may run (default 2m).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attack_duration: Option<HumanDuration>,
    /// How long a component may take to answer its health probe after an attack (default 30s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_window: Option<HumanDuration>,
    /// Extra time past the claimed request_timeout before a slow connection counts as kept
    /// (default 5s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slowloris_grace: Option<HumanDuration>,
    /// Slow connections opened by slowloris (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 20000))]
    pub slowloris_connections: Option<u32>,
    /// Idle connections held by connection_exhaustion (default 1000; capped by the open-files
    /// limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 60000))]
    pub exhaustion_connections: Option<u32>,
    /// Delay asked of time-based SQL injection probes (default 3s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sql_sleep: Option<HumanDuration>,
    /// Requests fired at once by burst_traffic (default: the component's
    /// circuit_breaker.concurrency, 1000 when unclaimed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 20000))]
    pub burst_concurrency: Option<u32>,
}

fn default_blast_radius() -> u32 {
    3
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    #[default]
    Test,
    Staging,
    Production,
}

impl Environment {
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Test => "test",
            Environment::Staging => "staging",
            Environment::Production => "production",
        }
    }
}

impl std::fmt::Display for Environment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which targets may receive attack traffic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scope {
    /// IP addresses, CIDR blocks (`10.0.0.0/8`) or exact host names. Default: `127.0.0.0/8`
    /// and `::1`.
    #[serde(default = "default_allow")]
    pub allow: Vec<String>,
}

impl Default for Scope {
    fn default() -> Self {
        Scope {
            allow: default_allow(),
        }
    }
}

fn default_allow() -> Vec<String> {
    vec!["127.0.0.0/8".into(), "::1/128".into()]
}

/// One component of the system.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Component {
    /// Stable identifier: lowercase letters, digits, `_` and `-`.
    #[schemars(regex(pattern = r"^[a-z0-9][a-z0-9_-]{0,63}$"))]
    pub id: String,
    /// Display name (default: the id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub kind: ComponentKind,
    /// Base URL, e.g. `http://127.0.0.1:8080` or `http://127.0.0.1:8080/api`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Health path probed before and after every attack (default `/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<String>,
    /// Endpoints to attack; `{input}` marks where attack inputs go.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub endpoints: Vec<Endpoint>,
    /// How a legitimate request authenticates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<Auth>,
    /// Guardrails the component claims.
    #[serde(default)]
    pub guardrails: Guardrails,
    /// Patterns to run (default: every pattern implemented for the kind).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patterns: Option<Vec<Pattern>>,
    /// Severity overrides per pattern.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub severity: BTreeMap<Pattern, Severity>,
}

impl Component {
    pub fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.id)
    }
    pub fn health_path(&self) -> &str {
        self.health.as_deref().unwrap_or("/")
    }
    pub fn severity_of(&self, p: Pattern) -> Severity {
        self.severity.get(&p).copied().unwrap_or(p.info().severity)
    }
    /// Patterns explicitly asked for, or the kind's implemented defaults.
    pub fn requested_patterns(&self) -> Vec<Pattern> {
        match &self.patterns {
            Some(list) => list.clone(),
            None => Pattern::defaults_for(self.kind)
                .iter()
                .copied()
                .filter(|p| p.implemented_for(self.kind))
                .collect(),
        }
    }
    /// Endpoints that carry at least one `{input}` placeholder.
    pub fn input_endpoints(&self) -> impl Iterator<Item = &Endpoint> {
        self.endpoints.iter().filter(|e| e.has_input())
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    #[default]
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl HttpMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Post => "POST",
            HttpMethod::Put => "PUT",
            HttpMethod::Patch => "PATCH",
            HttpMethod::Delete => "DELETE",
        }
    }
}

/// One endpoint of an API component.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Endpoint {
    #[serde(default)]
    pub method: HttpMethod,
    /// Path below the target, starting with `/`; may hold `{input}`.
    pub path: String,
    /// Query parameters; values may hold `{input}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub query: BTreeMap<String, String>,
    /// JSON body; string values may hold `{input}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<serde_json::Value>,
    /// Extra request headers.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
}

impl Endpoint {
    pub fn has_input(&self) -> bool {
        self.path.contains(INPUT_PLACEHOLDER)
            || self.query.values().any(|v| v.contains(INPUT_PLACEHOLDER))
            || self.body.as_ref().is_some_and(json_has_input)
    }
}

fn json_has_input(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::String(s) => s.contains(INPUT_PLACEHOLDER),
        serde_json::Value::Array(a) => a.iter().any(json_has_input),
        serde_json::Value::Object(o) => o.values().any(json_has_input),
        _ => false,
    }
}

/// How a legitimate request authenticates. The secret never sits in the file: it is read
/// from the environment variable `token_env` when the campaign starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Auth {
    /// Header carrying the credential (default `Authorization`).
    #[serde(default = "default_auth_header")]
    pub header: String,
    /// Prefix before the secret (default `Bearer`; empty string for none).
    #[serde(default = "default_auth_scheme")]
    pub scheme: String,
    /// Environment variable holding the secret.
    #[schemars(regex(pattern = r"^[A-Za-z_][A-Za-z0-9_]*$"))]
    pub token_env: String,
}

fn default_auth_header() -> String {
    "Authorization".into()
}
fn default_auth_scheme() -> String {
    "Bearer".into()
}

impl Auth {
    /// The header value for a given secret.
    pub fn header_value(&self, secret: &str) -> String {
        if self.scheme.is_empty() {
            secret.to_string()
        } else {
            format!("{} {secret}", self.scheme)
        }
    }
}
