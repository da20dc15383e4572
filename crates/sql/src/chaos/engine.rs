//! The trigger engine: pure state over a compiled script. The proxy calls
//! [`ChaosEngine::on_event`] for every SQL event and [`ChaosEngine::on_tick`] when
//! [`ChaosEngine::next_deadline`] passes (or on a timer); both take `now` explicitly, so tests
//! drive time by hand and tokio's paused clock works (`tokio::time::Instant::into_std`).
//!
//! Semantics (ChaosTrace's intent, with its bugs fixed; see docs/chaos-scripts.md):
//! - event triggers count matching events; `first` fires on the first match, `N` on the N-th,
//!   `every` and `last` on each match;
//! - count triggers count events of their type and fire once the count is reached (again on
//!   later events while it stays reached, or from zero with `reset_after_trigger`);
//! - time triggers fire at start + elapsed (+ a deterministic jitter), then again every
//!   `cooldown_seconds` while `max_triggers` allows;
//! - every trigger respects `max_triggers` and `cooldown_seconds`; the script respects
//!   `max_total_chaos_events` and `enabled`. A trigger whose template has no value for the
//!   event (say `{event.tables[0]}` for a statement without tables) does not fire.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::action::ChaosAction;
use super::template::RenderContext;
use super::{ChaosScript, Condition, SqlEvent, Trigger, TriggerType};
use crate::chaos::model::Occurrence;

/// An action the proxy must execute now (after `delay`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FiredAction {
    /// The trigger's name (`trigger[i]` when unnamed).
    pub trigger: String,
    pub trigger_index: usize,
    pub trigger_type: TriggerType,
    /// What was met, in words (for `chaos_triggered`).
    pub condition: String,
    pub action: ChaosAction,
    /// Wait this long before starting the action (`delay_seconds`).
    #[serde(skip)]
    pub delay: Duration,
    #[serde(skip)]
    pub fired_at: Instant,
    /// How many times this trigger has fired, this one included.
    pub fire_count: u32,
}

#[derive(Debug, Clone, Default)]
struct TriggerState {
    fires: u32,
    last_fired: Option<Instant>,
    /// Matching events seen (event triggers) or events counted (count triggers).
    seen: u64,
    /// Jitter drawn for a time trigger.
    jitter: Duration,
}

/// Runtime state of one script.
#[derive(Debug, Clone)]
pub struct ChaosEngine {
    script: ChaosScript,
    start: Instant,
    run_id: String,
    states: Vec<TriggerState>,
    total: u32,
}

/// splitmix64: a tiny deterministic generator for jitter.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

impl ChaosEngine {
    /// Starts a script at `start` (the run's start: time triggers count from it). Jitter is
    /// drawn from a random seed; use [`ChaosEngine::with_seed`] for a reproducible run.
    pub fn new(script: ChaosScript, start: Instant) -> Self {
        let seed = RandomState::new().hash_one(0u8);
        let states = vec![TriggerState::default(); script.triggers.len()];
        let mut e = ChaosEngine {
            script,
            start,
            run_id: String::new(),
            states,
            total: 0,
        };
        e.draw_jitter(seed);
        e
    }

    /// Redraws time-trigger jitter from `seed` (same seed, same schedule).
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.draw_jitter(seed);
        self
    }

    /// The value of `{run.id}` in templates.
    pub fn with_run_id(mut self, run_id: impl Into<String>) -> Self {
        self.run_id = run_id.into();
        self
    }

    fn draw_jitter(&mut self, seed: u64) {
        for (i, (t, s)) in self
            .script
            .triggers
            .iter()
            .zip(&mut self.states)
            .enumerate()
        {
            if let Condition::Time(c) = &t.condition {
                let span = c.jitter.as_secs();
                let draw = if span == 0 {
                    0
                } else {
                    mix(seed ^ mix(i as u64)) % (span + 1)
                };
                s.jitter = Duration::from_secs(draw);
            }
        }
    }

    pub fn script(&self) -> &ChaosScript {
        &self.script
    }

    /// Actions fired so far, all triggers together.
    pub fn total_fired(&self) -> u32 {
        self.total
    }

    /// How many times each trigger has fired, in script order.
    pub fn fire_counts(&self) -> Vec<(&str, u32)> {
        self.script
            .triggers
            .iter()
            .zip(&self.states)
            .map(|(t, s)| (t.name.as_str(), s.fires))
            .collect()
    }

    fn active(&self) -> bool {
        self.script.enabled && self.total < self.script.max_total_chaos_events
    }

    fn ready(t: &Trigger, s: &TriggerState, now: Instant) -> bool {
        t.enabled
            && s.fires < t.max_triggers
            && s.last_fired
                .is_none_or(|last| now.saturating_duration_since(last) >= t.cooldown)
    }

    /// When a time trigger is next due, for trigger `i`.
    fn due(&self, i: usize) -> Option<Instant> {
        let t = &self.script.triggers[i];
        let s = &self.states[i];
        let Condition::Time(c) = &t.condition else {
            return None;
        };
        if !t.enabled || s.fires >= t.max_triggers {
            return None;
        }
        match s.last_fired {
            None => Some(self.start + c.elapsed + s.jitter),
            // Repeats need a cooldown: without one a time trigger fires once.
            Some(_) if t.cooldown.is_zero() => None,
            Some(last) => Some(last + t.cooldown),
        }
    }

    /// The earliest instant at which [`ChaosEngine::on_tick`] would fire something.
    pub fn next_deadline(&self) -> Option<Instant> {
        if !self.active() {
            return None;
        }
        (0..self.states.len()).filter_map(|i| self.due(i)).min()
    }

    fn fire(&mut self, i: usize, event: Option<&SqlEvent>, now: Instant) -> Option<FiredAction> {
        let t = &self.script.triggers[i];
        let ctx = RenderContext {
            event,
            run_id: &self.run_id,
        };
        let action = t.action.render(&ctx)?;
        let s = &mut self.states[i];
        s.fires += 1;
        s.last_fired = Some(now);
        self.total += 1;
        Some(FiredAction {
            trigger: t.name.clone(),
            trigger_index: i,
            trigger_type: t.condition.trigger_type(),
            condition: t.condition.describe(),
            action,
            delay: t.action.delay,
            fired_at: now,
            fire_count: s.fires,
        })
    }

    /// Feeds one SQL event to the event and count triggers; returns the actions that fire.
    pub fn on_event(&mut self, event: &SqlEvent, now: Instant) -> Vec<FiredAction> {
        let mut fired = Vec::new();
        if !self.script.enabled {
            return fired;
        }
        for i in 0..self.script.triggers.len() {
            let t = &self.script.triggers[i];
            if !t.enabled {
                continue;
            }
            let due = match &t.condition {
                Condition::Event(c) => {
                    if !c.matches(event) {
                        continue;
                    }
                    let s = &mut self.states[i];
                    s.seen += 1;
                    match c.occurrence {
                        Occurrence::First => s.seen == 1,
                        Occurrence::Nth(n) => s.seen == n,
                        Occurrence::Every | Occurrence::Last => true,
                    }
                }
                Condition::Count(c) => {
                    if event.event_type != c.event_type {
                        continue;
                    }
                    let s = &mut self.states[i];
                    s.seen += 1;
                    s.seen >= c.count
                }
                Condition::Time(_) => continue,
            };
            let t = &self.script.triggers[i];
            if !due || !self.active() || !Self::ready(t, &self.states[i], now) {
                continue;
            }
            let reset = matches!(&t.condition, Condition::Count(c) if c.reset_after_trigger);
            if let Some(f) = self.fire(i, Some(event), now) {
                fired.push(f);
                if reset {
                    self.states[i].seen = 0;
                }
            }
        }
        fired
    }

    /// Fires the time triggers that are due at `now`.
    pub fn on_tick(&mut self, now: Instant) -> Vec<FiredAction> {
        let mut fired = Vec::new();
        for i in 0..self.script.triggers.len() {
            if !self.active() {
                break;
            }
            if self.due(i).is_some_and(|d| now >= d)
                && Self::ready(&self.script.triggers[i], &self.states[i], now)
                && let Some(f) = self.fire(i, None, now)
            {
                fired.push(f);
            }
        }
        fired
    }
}
