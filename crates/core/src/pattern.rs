//! The catalog of attack patterns: names, families, default severities, the guardrail each one
//! verifies, and which component kinds they apply to.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::component::ComponentKind;
use crate::severity::Severity;

/// Which part of the attack engine a pattern lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Owasp,
    Load,
    Data,
    Config,
    Network,
}

/// Every attack pattern Shakedown knows by name. Not every pattern is implemented for every
/// kind yet: see [`Pattern::implemented_for`].
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Pattern {
    SqlInjection,
    XssAttack,
    AuthBypass,
    RateLimitBreach,
    PayloadOverflow,
    BurstTraffic,
    Slowloris,
    ConnectionExhaustion,
    MalformedData,
    NullInjection,
    TypeConfusion,
    SchemaMutation,
    DiskFull,
    MemoryLeak,
    MissingSecrets,
    ConfigDrift,
    FeatureFlagChaos,
    NetworkPartition,
    DnsFailure,
    CascadingFailure,
}

/// Static facts about a pattern.
#[derive(Debug, Clone, Copy)]
pub struct PatternInfo {
    pub name: &'static str,
    pub family: Family,
    pub severity: Severity,
    /// The guardrail a pass demonstrates.
    pub guardrail: &'static str,
    pub description: &'static str,
}

impl Pattern {
    pub const ALL: [Pattern; 20] = [
        Pattern::SqlInjection,
        Pattern::XssAttack,
        Pattern::AuthBypass,
        Pattern::RateLimitBreach,
        Pattern::PayloadOverflow,
        Pattern::BurstTraffic,
        Pattern::Slowloris,
        Pattern::ConnectionExhaustion,
        Pattern::MalformedData,
        Pattern::NullInjection,
        Pattern::TypeConfusion,
        Pattern::SchemaMutation,
        Pattern::DiskFull,
        Pattern::MemoryLeak,
        Pattern::MissingSecrets,
        Pattern::ConfigDrift,
        Pattern::FeatureFlagChaos,
        Pattern::NetworkPartition,
        Pattern::DnsFailure,
        Pattern::CascadingFailure,
    ];

    /// The eleven patterns implemented for `api_endpoint`, in the order a campaign runs them
    /// (cheap probes first, load last so it cannot disturb the probes).
    pub const API_ENDPOINT: [Pattern; 11] = [
        Pattern::SqlInjection,
        Pattern::XssAttack,
        Pattern::AuthBypass,
        Pattern::MalformedData,
        Pattern::NullInjection,
        Pattern::TypeConfusion,
        Pattern::PayloadOverflow,
        Pattern::RateLimitBreach,
        Pattern::Slowloris,
        Pattern::ConnectionExhaustion,
        Pattern::BurstTraffic,
    ];

    pub fn info(self) -> PatternInfo {
        use Family::*;
        use Severity::*;
        let (name, family, severity, guardrail, description) = match self {
            Pattern::SqlInjection => (
                "sql_injection",
                Owasp,
                Critical,
                "input_validation",
                "error-, boolean- and time-based SQL injection probes on every {input}",
            ),
            Pattern::XssAttack => (
                "xss_attack",
                Owasp,
                High,
                "output_encoding",
                "unique canary payloads; fails when one comes back unescaped in HTML",
            ),
            Pattern::AuthBypass => (
                "auth_bypass",
                Owasp,
                Critical,
                "auth",
                "no, malformed and forged credentials (alg:none JWTs), header and path tricks",
            ),
            Pattern::RateLimitBreach => (
                "rate_limit_breach",
                Owasp,
                Medium,
                "rate_limit",
                "limit + 50% requests inside the window; 429 must appear by limit + 10%",
            ),
            Pattern::PayloadOverflow => (
                "payload_overflow",
                Owasp,
                Medium,
                "payload_size",
                "a streamed body of max_payload + 50%; must be refused (413 or closed)",
            ),
            Pattern::BurstTraffic => (
                "burst_traffic",
                Load,
                High,
                "circuit_breaker",
                "N concurrent requests; must be served or shed with 429/503, then recover",
            ),
            Pattern::Slowloris => (
                "slowloris",
                Load,
                High,
                "request_timeout",
                "connections trickling the request head; must be dropped while a probe is served",
            ),
            Pattern::ConnectionExhaustion => (
                "connection_exhaustion",
                Load,
                High,
                "connection_limit",
                "many idle connections held open; probe served or refused cleanly, then recovery",
            ),
            Pattern::MalformedData => (
                "malformed_data",
                Data,
                Medium,
                "schema_validation",
                "broken JSON, wrong content type, missing fields, deep nesting, invalid UTF-8",
            ),
            Pattern::NullInjection => (
                "null_injection",
                Data,
                Medium,
                "null_handling",
                "nulls, NUL bytes and null bodies; must be 4xx or handled, never 5xx",
            ),
            Pattern::TypeConfusion => (
                "type_confusion",
                Data,
                Medium,
                "type_validation",
                "swapped types, huge numbers, __proto__ keys; must be 4xx or handled, never 5xx",
            ),
            Pattern::SchemaMutation => (
                "schema_mutation",
                Data,
                High,
                "schema_migration",
                "the schema changes under the component",
            ),
            Pattern::DiskFull => (
                "disk_full",
                Data,
                High,
                "storage_limits",
                "writes fail with disk full",
            ),
            Pattern::MemoryLeak => (
                "memory_leak",
                Load,
                Medium,
                "memory_limits",
                "sustained load while memory is watched",
            ),
            Pattern::MissingSecrets => (
                "missing_secrets",
                Config,
                High,
                "secret_validation",
                "a required secret is removed",
            ),
            Pattern::ConfigDrift => (
                "config_drift",
                Config,
                Medium,
                "config_validation",
                "invalid configuration values",
            ),
            Pattern::FeatureFlagChaos => (
                "feature_flag_chaos",
                Config,
                Low,
                "flag_defaults",
                "feature flags flipped at random",
            ),
            Pattern::NetworkPartition => (
                "network_partition",
                Network,
                High,
                "partition_tolerance",
                "a dependency becomes unreachable",
            ),
            Pattern::DnsFailure => (
                "dns_failure",
                Network,
                Medium,
                "dns_fallback",
                "name resolution fails",
            ),
            Pattern::CascadingFailure => (
                "cascading_failure",
                Network,
                Critical,
                "isolation",
                "one failing dependency drags others down",
            ),
        };
        PatternInfo {
            name,
            family,
            severity,
            guardrail,
            description,
        }
    }

    pub fn name(self) -> &'static str {
        self.info().name
    }

    pub fn from_name(name: &str) -> Option<Pattern> {
        Pattern::ALL.into_iter().find(|p| p.name() == name)
    }

    /// Patterns a component of this kind is attacked with by default (the seed profiles).
    pub fn defaults_for(kind: ComponentKind) -> &'static [Pattern] {
        use Pattern::*;
        match kind {
            ComponentKind::ApiEndpoint => &Pattern::API_ENDPOINT,
            ComponentKind::Database => &[
                SqlInjection,
                SchemaMutation,
                ConnectionExhaustion,
                DiskFull,
                MalformedData,
                NullInjection,
            ],
            ComponentKind::RagPipeline => &[
                MalformedData,
                BurstTraffic,
                MemoryLeak,
                NullInjection,
                TypeConfusion,
            ],
            ComponentKind::RemoteAccess => &[
                AuthBypass,
                RateLimitBreach,
                ConnectionExhaustion,
                DnsFailure,
                MissingSecrets,
            ],
            ComponentKind::MessageBus => &[
                BurstTraffic,
                MalformedData,
                NetworkPartition,
                CascadingFailure,
            ],
            ComponentKind::Agent => &[],
        }
    }

    /// Whether this version can run the pattern against a component of `kind`.
    pub fn implemented_for(self, kind: ComponentKind) -> bool {
        kind == ComponentKind::ApiEndpoint && Pattern::API_ENDPOINT.contains(&self)
    }
}

impl std::fmt::Display for Pattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_match_serde() {
        for p in Pattern::ALL {
            assert_eq!(Pattern::from_name(p.name()), Some(p));
            let json = serde_json::to_string(&p).unwrap();
            assert_eq!(json, format!("\"{}\"", p.name()));
        }
    }

    #[test]
    fn api_endpoint_has_eleven_implemented_patterns() {
        let implemented: Vec<_> = Pattern::ALL
            .into_iter()
            .filter(|p| p.implemented_for(ComponentKind::ApiEndpoint))
            .collect();
        assert_eq!(implemented.len(), 11);
        assert!(!Pattern::SqlInjection.implemented_for(ComponentKind::Database));
    }
}
