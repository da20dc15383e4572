//! Built-in fault profiles: ready-made configs embedded in the binary (`profiles/*.yaml`),
//! Flakestorm's seven with the same intent plus Shakedown's `rate_limit_storm`, `brownout` and
//! `stream_cut`. A profile is an ordinary fault config; its rule names carry a `PROFILE:`
//! prefix so events say where a fault came from.

use shakedown_core::system::Problems;

use crate::config::{FaultConfig, load_faults};

/// Every built-in profile: name and YAML source, in listing order.
const PROFILES: &[(&str, &str)] = &[
    ("api_outage", include_str!("../profiles/api_outage.yaml")),
    ("brownout", include_str!("../profiles/brownout.yaml")),
    (
        "cascading_failure",
        include_str!("../profiles/cascading_failure.yaml"),
    ),
    (
        "degraded_llm",
        include_str!("../profiles/degraded_llm.yaml"),
    ),
    (
        "high_latency",
        include_str!("../profiles/high_latency.yaml"),
    ),
    (
        "hostile_tools",
        include_str!("../profiles/hostile_tools.yaml"),
    ),
    (
        "indirect_injection",
        include_str!("../profiles/indirect_injection.yaml"),
    ),
    (
        "model_version_drift",
        include_str!("../profiles/model_version_drift.yaml"),
    ),
    (
        "rate_limit_storm",
        include_str!("../profiles/rate_limit_storm.yaml"),
    ),
    ("stream_cut", include_str!("../profiles/stream_cut.yaml")),
];

/// Why a profile cannot be had.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProfileError {
    #[error("unknown profile `{name}`; known profiles: {}", known.join(", "))]
    Unknown {
        name: String,
        known: Vec<&'static str>,
    },
    /// A built-in profile that does not load: a bug, caught by the crate's tests.
    #[error("built-in profile `{name}` is invalid:\n{}", problems.render(name))]
    Invalid { name: String, problems: Problems },
}

impl ProfileError {
    /// The names of the built-in profiles.
    pub fn known(&self) -> Vec<&'static str> {
        names()
    }
}

/// The names of the built-in profiles.
pub fn names() -> Vec<&'static str> {
    PROFILES.iter().map(|(n, _)| *n).collect()
}

/// Every built-in profile with its description (for `shakedown profiles`).
pub fn list() -> Vec<(&'static str, String)> {
    PROFILES
        .iter()
        .map(|(name, _)| {
            let description = get(name)
                .ok()
                .and_then(|c| c.description)
                .unwrap_or_default();
            (*name, description.trim().replace('\n', " "))
        })
        .collect()
}

/// A profile's YAML as shipped.
pub fn source(name: &str) -> Option<&'static str> {
    PROFILES.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}

/// Loads a built-in profile. Rule names become `PROFILE:NAME` and origins `profile PROFILE`.
pub fn get(name: &str) -> Result<FaultConfig, ProfileError> {
    let text = source(name).ok_or_else(|| ProfileError::Unknown {
        name: name.to_string(),
        known: names(),
    })?;
    let (mut config, _warnings) = load_faults(text).map_err(|problems| ProfileError::Invalid {
        name: name.to_string(),
        problems,
    })?;
    for rule in &mut config.rules {
        rule.name = format!("{name}:{}", rule.name);
        rule.origin = format!("profile {name} {}", rule.origin);
    }
    config.profile = Some(name.to_string());
    Ok(config)
}
