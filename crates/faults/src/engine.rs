//! The rule engine: numbers each call per family, asks every rule whether it matches and
//! fires, and returns the faults that fire — the [`Decider`] the proxy runs.
//!
//! Counting (docs/fault-config.md): LLM calls are numbered together across all LLM APIs;
//! tool calls are numbered per tool name and across all tool calls. A rule with `tool: "*"`
//! (or none) counts all tool calls; a rule naming a tool counts the calls to the called tool.
//! Whether a rule fires on call `n` depends only on the seed, the rule's index and `n` (and
//! its window and `max_fires`), never on other rules or thread timing.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::config::{FaultConfig, Rule};
use crate::schedule::{Clock, SALT_PICK, SALT_SEED, TokioClock, draw};
use crate::{ApiKind, CallInfo, Decider, FiredFault};

/// Runs a [`FaultConfig`]'s rules on calls.
pub struct FaultEngine {
    config: FaultConfig,
    seed: u64,
    clock: Arc<dyn Clock>,
    /// Call counters; held only while a call is numbered.
    state: Mutex<State>,
    /// Times each rule fired, by rule index.
    fired: Vec<AtomicU64>,
}

#[derive(Default)]
struct State {
    llm_calls: u64,
    tool_calls: u64,
    per_tool: HashMap<String, u64>,
}

impl std::fmt::Debug for FaultEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultEngine")
            .field("rules", &self.config.rules.len())
            .field("seed", &self.seed)
            .finish()
    }
}

impl FaultEngine {
    /// An engine whose windows are measured from now, on tokio's clock.
    pub fn new(config: FaultConfig, seed: u64) -> FaultEngine {
        FaultEngine::with_clock(config, seed, Arc::new(TokioClock::start()))
    }

    /// An engine measuring windows on `clock` (tests pass a
    /// [`crate::schedule::ManualClock`]).
    pub fn with_clock(config: FaultConfig, seed: u64, clock: Arc<dyn Clock>) -> FaultEngine {
        let fired = config.rules.iter().map(|_| AtomicU64::new(0)).collect();
        FaultEngine {
            config,
            seed,
            clock,
            state: Mutex::new(State::default()),
            fired,
        }
    }

    /// The config the engine runs.
    pub fn config(&self) -> &FaultConfig {
        &self.config
    }

    /// The run seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// How many times each rule has fired so far, by rule index.
    pub fn fired_counts(&self) -> Vec<(String, u64)> {
        self.config
            .rules
            .iter()
            .zip(&self.fired)
            .map(|(r, n)| (r.name.clone(), n.load(Ordering::SeqCst)))
            .collect()
    }

    /// The call numbers in `1..=calls` (of the rule's own count) on which rule `rule` fires
    /// with this engine's seed, assuming every one of those calls matches the rule and its
    /// window is open. Empty for an unknown index. See [`crate::schedule::draw`] for the
    /// algorithm, so other languages can compute the same.
    pub fn predict(&self, rule: usize, calls: u64) -> Vec<u64> {
        self.config
            .rules
            .get(rule)
            .map(|r| r.schedule.predict(self.seed, rule, calls))
            .unwrap_or_default()
    }

    /// The seed a fault fired by rule `rule` on call `n` carries.
    pub fn fault_seed(&self, rule: usize, n: u64) -> u64 {
        draw(self.seed, rule, n, SALT_SEED)
    }
}

/// The numbers one call gets: in its family, and (tool calls) across all tools.
struct Numbers {
    own: u64,
    all_tools: u64,
}

fn number(state: &mut State, call: &CallInfo) -> Numbers {
    if call.api.is_llm() {
        state.llm_calls += 1;
        return Numbers {
            own: state.llm_calls,
            all_tools: 0,
        };
    }
    state.tool_calls += 1;
    let own = match &call.tool {
        Some(tool) => {
            // Tool names come from requests; bound the map so a client cannot grow it
            // without limit (past the bound, unseen names count across all tools).
            if state.per_tool.len() >= MAX_TOOL_NAMES && !state.per_tool.contains_key(tool) {
                state.tool_calls
            } else {
                let n = state.per_tool.entry(tool.clone()).or_insert(0);
                *n += 1;
                *n
            }
        }
        None => state.tool_calls,
    };
    Numbers {
        own,
        all_tools: state.tool_calls,
    }
}

/// Distinct tool names counted separately.
const MAX_TOOL_NAMES: usize = 10_000;

fn counted(rule: &Rule, call: &CallInfo, n: &Numbers) -> u64 {
    if call.api != ApiKind::Tool || rule.matcher.counts_per_tool() {
        n.own
    } else {
        n.all_tools
    }
}

impl Decider for FaultEngine {
    fn decide(&self, call: &mut CallInfo) -> Vec<FiredFault> {
        let elapsed = self.clock.elapsed();
        let numbers = {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            number(&mut state, call)
        };
        call.call_number = numbers.own;
        let mut out = Vec::new();
        for (i, rule) in self.config.rules.iter().enumerate() {
            if !rule.matcher.matches(call) {
                continue;
            }
            let n = counted(rule, call, &numbers);
            if !rule.schedule.allows(self.seed, i, n, elapsed) {
                continue;
            }
            // Claim one of the rule's fires atomically, so `max_fires` holds under
            // concurrent calls.
            let max = rule.schedule.max_fires;
            let claimed = self.fired[i].fetch_update(Ordering::SeqCst, Ordering::SeqCst, |f| {
                max.is_none_or(|m| f < m).then_some(f + 1)
            });
            if claimed.is_err() {
                continue;
            }
            let pick = if rule.choices.len() > 1 {
                (draw(self.seed, i, n, SALT_PICK) % rule.choices.len() as u64) as usize
            } else {
                0
            };
            let fault = rule.choices[pick].clone();
            // Once the proxy answers by itself, later rules could not act on this call:
            // they neither fire nor spend their `max_fires`.
            let last = fault.short_circuits();
            out.push(FiredFault {
                rule: rule.name.clone(),
                family: rule.family,
                call_number: n,
                fault,
                seed: draw(self.seed, i, n, SALT_SEED),
            });
            if last {
                break;
            }
        }
        out
    }
}
