//! A fault config: Flakestorm's `chaos:` block accepted verbatim, Shakedown's extensions
//! (schedules, model globs, stream faults, the `proxy:` block, `profile:`), loaded with
//! located problems and resolved into [`Rule`]s (matcher + schedule + fault) the
//! [`crate::engine::FaultEngine`] runs. The full mapping is in docs/fault-config.md.

mod load;
mod model;
mod rules;
mod schema;

pub use load::{load_faults, load_faults_file};
pub use schema::faults_schema;

use crate::matcher::Matcher;
use crate::schedule::Schedule;
use crate::server::ProxySettings;
use crate::{Fault, FaultFamily};

/// A loaded, validated fault config.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FaultConfig {
    /// `version:` as written (`"2.0"`); informative only.
    pub version: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    /// The built-in profile the file started from (its rules come first in [`Self::rules`]).
    pub profile: Option<String>,
    /// Every rule, in evaluation order: the profile's, then `tool_faults`, `llm_faults`,
    /// `context_attacks` in file order. A rule's index here seeds its draws.
    pub rules: Vec<Rule>,
    /// The `proxy:` block (defaults when absent).
    pub proxy: ProxySettings,
}

/// One rule: which calls it considers, when it fires, and what it does.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// The `name:` given, or `tool_faults[0]`-style; prefixed `PROFILE:` for profile rules.
    pub name: String,
    pub family: FaultFamily,
    pub matcher: Matcher,
    pub schedule: Schedule,
    /// What the rule does; never empty. With several entries (a context attack with several
    /// `payloads`), each fire picks one with the fire's seeded draw.
    pub choices: Vec<Fault>,
    /// Where the rule was written (`/chaos/tool_faults/0`, or `profile api_outage`).
    pub origin: String,
}

impl Rule {
    /// The fault's short name (`rate_limit`, `stream_cut`, …) for listings.
    pub fn fault_name(&self) -> &'static str {
        self.choices.first().map_or("none", Fault::name)
    }
}

impl FaultConfig {
    /// Puts `base`'s rules (a profile) before this config's. Names must stay unique; the
    /// caller resolves clashes (profile rule names carry a `PROFILE:` prefix, so they only
    /// clash with a rule named that way on purpose).
    pub fn layered_on(mut self, base: FaultConfig) -> FaultConfig {
        let mut rules = base.rules;
        rules.append(&mut self.rules);
        self.rules = rules;
        if self.profile.is_none() {
            self.profile = base.profile.or(base.name);
        }
        self
    }

    /// The index of the rule with this name.
    pub fn rule_index(&self, name: &str) -> Option<usize> {
        self.rules.iter().position(|r| r.name == name)
    }
}
