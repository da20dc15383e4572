//! Error budgets per environment, kept in `<data dir>/budgets.json`: a campaign or agent run is
//! refused while its environment's budget is below the threshold. Before its first injection
//! it *reserves* what it plans to inject — checked and burned under one lock — so concurrent
//! campaigns each see the others' reservations and cannot together overshoot the threshold;
//! when it ends (completed, halted or failed) it settles: what it reserved but did not inject
//! is given back, what it injected stays burned. A process that dies before settling leaves
//! its whole reservation burned (fail safe). Updates hold `<data dir>/budgets.lock`, so
//! concurrent writers never lose a burn.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use shakedown_core::system::{Environment, ErrorBudgetSettings};
pub use shakedown_govern::BudgetDecision;
use shakedown_govern::ErrorBudget;
use time::OffsetDateTime;

type Budgets = BTreeMap<String, ErrorBudget>;

fn lock(data_dir: &Path) -> std::io::Result<File> {
    std::fs::create_dir_all(data_dir)?;
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(data_dir.join("budgets.lock"))?;
    f.lock()?;
    Ok(f)
}

fn load(data_dir: &Path) -> std::io::Result<Budgets> {
    match std::fs::read_to_string(data_dir.join("budgets.json")) {
        Ok(t) => serde_json::from_str(&t).map_err(|e| {
            std::io::Error::other(format!(
                "{} is unreadable ({e}); move it away to reset the budgets",
                data_dir.join("budgets.json").display()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Budgets::new()),
        Err(e) => Err(e),
    }
}

fn save(data_dir: &Path, b: &Budgets) -> std::io::Result<()> {
    let path = data_dir.join("budgets.json");
    let tmp = path.with_extension("json.tmp");
    std::fs::write(
        &tmp,
        serde_json::to_vec_pretty(b).map_err(std::io::Error::other)?,
    )?;
    std::fs::rename(tmp, path)
}

/// Runs `f` on the environment's budget (created full, settings applied) under the lock.
fn with_budget<T>(
    data_dir: &Path,
    env: Environment,
    settings: &ErrorBudgetSettings,
    now: OffsetDateTime,
    f: impl FnOnce(&mut ErrorBudget) -> T,
) -> std::io::Result<T> {
    let _lock = lock(data_dir)?;
    let mut all = load(data_dir)?;
    let window = time::Duration::try_from(settings.refill_window.as_duration())
        .unwrap_or(time::Duration::hours(1));
    let b = all
        .entry(env.as_str().to_string())
        .or_insert_with(|| ErrorBudget::new(now, window, settings.threshold));
    b.refill_window_secs = window.whole_seconds().max(1) as u64;
    b.threshold = settings.threshold;
    let out = f(b);
    save(data_dir, &all)?;
    Ok(out)
}

/// May a campaign start in `env` now?
pub fn check(
    data_dir: &Path,
    env: Environment,
    settings: &ErrorBudgetSettings,
    now: OffsetDateTime,
) -> std::io::Result<BudgetDecision> {
    with_budget(data_dir, env, settings, now, |b| b.check(now))
}

/// Burns the cost of `injections` injections; returns what remains.
pub fn burn(
    data_dir: &Path,
    env: Environment,
    settings: &ErrorBudgetSettings,
    now: OffsetDateTime,
    injections: usize,
) -> std::io::Result<f64> {
    with_budget(data_dir, env, settings, now, |b| {
        b.burn(now, settings.cost_per_injection * injections as f64);
        b.remaining
    })
}

/// The budget settings agent runs count against: their sandbox's environment is `test`, one
/// fired fault is one injection at the default cost, and the refill window and threshold are
/// those of the stored `test` budget (set by a test campaign's `error_budget`), else the
/// defaults — so a run never loosens what a campaign configured.
pub fn agent_run_settings(data_dir: &Path) -> std::io::Result<ErrorBudgetSettings> {
    let _lock = lock(data_dir)?;
    let all = load(data_dir)?;
    let mut s = ErrorBudgetSettings::default();
    if let Some(b) = all.get(Environment::Test.as_str()) {
        s.refill_window = shakedown_core::HumanDuration(std::time::Duration::from_secs(
            b.refill_window_secs.max(1),
        ));
        s.threshold = b.threshold;
    }
    Ok(s)
}

/// What one campaign or run reserved of its environment's budget; [`Reservation::settle`]
/// when it ends.
#[derive(Debug)]
#[must_use = "a reservation is settled when the campaign ends, or its whole cost stays burned"]
pub struct Reservation {
    data_dir: PathBuf,
    env: Environment,
    settings: ErrorBudgetSettings,
    planned: usize,
}

/// Reserves `planned` injections in `env` at `now`: refused (the budget untouched) when the
/// budget is below the threshold, otherwise their cost is burned at once.
pub fn reserve(
    data_dir: &Path,
    env: Environment,
    settings: &ErrorBudgetSettings,
    now: OffsetDateTime,
    planned: usize,
) -> std::io::Result<Result<Reservation, BudgetDecision>> {
    let decision = with_budget(data_dir, env, settings, now, |b| match b.check(now) {
        BudgetDecision::Allowed { .. } => {
            b.burn(now, settings.cost_per_injection * planned as f64);
            BudgetDecision::Allowed {
                remaining: b.remaining,
            }
        }
        exhausted => exhausted,
    })?;
    Ok(match decision {
        BudgetDecision::Allowed { .. } => Ok(Reservation {
            data_dir: data_dir.to_path_buf(),
            env,
            settings: settings.clone(),
            planned,
        }),
        exhausted => Err(exhausted),
    })
}

impl Reservation {
    /// Settles after `injected` injections: the unused part of the reservation is given back
    /// (injections beyond it are burned). Returns what remains.
    pub fn settle(self, now: OffsetDateTime, injected: usize) -> std::io::Result<f64> {
        let cost = self.settings.cost_per_injection;
        let (planned, settings) = (self.planned, self.settings.clone());
        with_budget(&self.data_dir, self.env, &settings, now, |b| {
            if injected < planned {
                b.refund(now, cost * (planned - injected) as f64);
            } else {
                b.burn(now, cost * (injected - planned) as f64);
            }
            b.remaining
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(cost: f64) -> ErrorBudgetSettings {
        ErrorBudgetSettings {
            cost_per_injection: cost,
            refill_window: "1h".parse().unwrap(),
            threshold: 0.2,
        }
    }

    #[test]
    fn reservations_see_each_other_and_settle_to_what_was_injected() {
        let dir = tempfile::tempdir().unwrap();
        let now = OffsetDateTime::now_utc();
        let s = settings(0.3);
        // 3 × 0.3 reserved: 0.1 left, below the threshold, so the next is refused untouched.
        let first = reserve(dir.path(), Environment::Staging, &s, now, 3)
            .unwrap()
            .unwrap();
        let refused = reserve(dir.path(), Environment::Staging, &s, now, 1).unwrap();
        assert!(matches!(refused, Err(BudgetDecision::Exhausted { .. })));
        // Only one of the three ran: two are given back.
        let left = first.settle(now, 1).unwrap();
        assert!((left - 0.7).abs() < 1e-9, "{left}");
        assert!(
            reserve(dir.path(), Environment::Staging, &s, now, 1)
                .unwrap()
                .is_ok()
        );
    }
}
