//! Error budgets per environment, kept in `<data dir>/budgets.json`: a campaign is refused
//! while its environment's budget is below the threshold, and every injection it made burns
//! the budget afterwards. Updates hold `<data dir>/budgets.lock`, so concurrent campaigns never
//! lose a burn.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::path::Path;

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
