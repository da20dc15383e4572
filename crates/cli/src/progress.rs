//! Live campaign progress on stderr: a spinner per running attack (when stderr is a terminal)
//! and one line per finished attack, like "→ sql_injection: 3/3 blocked ✓".

use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use shakedown_control::{Plan, PlannedComponent, Progress};
use shakedown_core::campaign::ComponentScore;
use shakedown_core::{AttackResult, Pattern, Verdict};

pub struct TerminalProgress {
    bar: Mutex<Option<ProgressBar>>,
    total: Mutex<u64>,
}

impl TerminalProgress {
    pub fn new() -> TerminalProgress {
        TerminalProgress {
            bar: Mutex::new(None),
            total: Mutex::new(0),
        }
    }

    fn println(&self, line: String) {
        match self.bar.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            Some(bar) if !bar.is_hidden() => bar.println(line),
            _ => eprintln!("{line}"),
        }
    }
}

impl Default for TerminalProgress {
    fn default() -> Self {
        Self::new()
    }
}

pub fn mark(v: Verdict) -> &'static str {
    match v {
        Verdict::Passed => "✓",
        Verdict::Failed => "✗ FAILED",
        Verdict::Inconclusive => "? inconclusive",
    }
}

impl Progress for TerminalProgress {
    fn campaign_started(&self, plan: &Plan) {
        *self.total.lock().unwrap_or_else(|p| p.into_inner()) = plan.attack_count() as u64;
        eprintln!(
            "Campaign: {} attacks on {} component(s) [{}]",
            plan.attack_count(),
            plan.components.len(),
            plan.environment
        );
        for (id, why) in &plan.not_selected {
            eprintln!("  (skipping component {id}: {why})");
        }
        let bar = ProgressBar::with_draw_target(
            Some(plan.attack_count() as u64),
            ProgressDrawTarget::stderr(),
        );
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        *self.bar.lock().unwrap_or_else(|p| p.into_inner()) = Some(bar);
    }

    fn component_started(&self, c: &PlannedComponent) {
        self.println(format!(
            "\nTesting component: {} ({} patterns)",
            c.component.display_name(),
            c.patterns.len()
        ));
        for (p, why) in &c.skipped {
            self.println(format!("  - {p}: skipped ({why})"));
        }
    }

    fn attack_started(&self, component_id: &str, pattern: Pattern) {
        if let Some(bar) = self.bar.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            bar.set_message(format!("{component_id} / {pattern}"));
        }
    }

    fn attack_finished(&self, r: &AttackResult) {
        self.println(format!(
            "  → {}: {} {}",
            r.pattern,
            r.summary,
            mark(r.verdict)
        ));
        if let Some(bar) = self.bar.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            bar.inc(1);
        }
    }

    fn component_finished(&self, s: &ComponentScore) {
        self.println(crate::table::component_line(s));
    }
}

impl Drop for TerminalProgress {
    fn drop(&mut self) {
        if let Some(bar) = self.bar.lock().unwrap_or_else(|p| p.into_inner()).take() {
            bar.finish_and_clear();
        }
    }
}

/// Clears the bar once the campaign is over (before the final table is printed).
pub fn finish(p: &TerminalProgress) {
    if let Some(bar) = p.bar.lock().unwrap_or_else(|p| p.into_inner()).take() {
        bar.finish_and_clear();
    }
}
