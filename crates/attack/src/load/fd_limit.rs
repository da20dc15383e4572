//! How many sockets a load attack may open without starving our own process of file
//! descriptors: the soft `Max open files` limit from `/proc/self/limits`, minus the
//! descriptors already open, minus a fixed headroom for probes, logs and the store.

use std::path::Path;

/// Descriptors always left free for probes, the database, log files and the runtime.
pub const HEADROOM: u64 = 64;

/// Assumed soft limit where `/proc/self/limits` cannot be read (non-Linux): the common
/// default, so we err on the side of opening too few.
pub const FALLBACK_SOFT_LIMIT: u64 = 1024;

/// How many connections an attack may open, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdBudget {
    /// Connections the attack may open: `min(wanted, soft - open - HEADROOM)`.
    pub granted: usize,
    /// What the attack asked for.
    pub wanted: usize,
    /// The soft open-files limit (`u64::MAX` when unlimited).
    pub soft_limit: u64,
    /// Descriptors open in this process when the budget was taken.
    pub open_now: u64,
    /// Whether the limit was read from `/proc/self/limits` (false: [`FALLBACK_SOFT_LIMIT`]).
    pub from_proc: bool,
}

impl FdBudget {
    /// Whether the fd limit cut the attack below what was configured.
    pub fn capped(&self) -> bool {
        self.granted < self.wanted
    }

    /// A finding explaining the cap, when there is one.
    pub fn note(&self) -> Option<String> {
        self.capped().then(|| {
            let source = if self.from_proc {
                "soft limit"
            } else {
                "assumed limit"
            };
            format!(
                "capped at {} of {} connections by the open-files {source} ({}; {} already open, \
                 {HEADROOM} kept free); raise `ulimit -n` to test more",
                self.granted, self.wanted, self.soft_limit, self.open_now
            )
        })
    }
}

/// The budget for an attack that wants `wanted` sockets.
pub fn budget(wanted: usize) -> FdBudget {
    let limits = std::fs::read_to_string("/proc/self/limits").ok();
    let soft = limits.as_deref().and_then(parse_soft_nofile);
    let open_now = count_open(Path::new("/proc/self/fd")).unwrap_or(0);
    compute(wanted, soft, open_now)
}

/// Pure part of [`budget`], separate so it can be tested without touching the process.
pub fn compute(wanted: usize, soft: Option<u64>, open_now: u64) -> FdBudget {
    let soft_limit = soft.unwrap_or(FALLBACK_SOFT_LIMIT);
    let free = soft_limit.saturating_sub(open_now).saturating_sub(HEADROOM);
    let granted = usize::try_from(free).unwrap_or(usize::MAX).min(wanted);
    FdBudget {
        granted,
        wanted,
        soft_limit,
        open_now,
        from_proc: soft.is_some(),
    }
}

/// The soft limit from the `Max open files` line of a `/proc/<pid>/limits` text;
/// `unlimited` is `u64::MAX`.
pub fn parse_soft_nofile(limits: &str) -> Option<u64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let soft = line["Max open files".len()..].split_whitespace().next()?;
    if soft == "unlimited" {
        return Some(u64::MAX);
    }
    soft.parse().ok()
}

fn count_open(dir: &Path) -> Option<u64> {
    Some(std::fs::read_dir(dir).ok()?.count() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: &str = "Limit                     Soft Limit           Hard Limit           Units     \n\
Max cpu time              unlimited            unlimited            seconds   \n\
Max open files            1024                 524288               files     \n\
Max locked memory         8388608              8388608              bytes     \n";

    #[test]
    fn parses_the_soft_limit() {
        assert_eq!(parse_soft_nofile(LIMITS), Some(1024));
        let unlimited = LIMITS.replace("1024                 524288", "unlimited  unlimited");
        assert_eq!(parse_soft_nofile(&unlimited), Some(u64::MAX));
        assert_eq!(parse_soft_nofile("Max cpu time unlimited"), None);
    }

    #[test]
    fn budget_keeps_headroom_and_never_exceeds_wanted() {
        let b = compute(5000, Some(1024), 10);
        assert_eq!(b.granted, 1024 - 10 - HEADROOM as usize);
        assert!(b.capped());
        assert!(b.note().unwrap().contains("950 of 5000"));
        let b = compute(100, Some(u64::MAX), 10);
        assert_eq!(b.granted, 100);
        assert!(b.note().is_none());
        assert_eq!(compute(100, Some(50), 10).granted, 0);
        assert!(!compute(100, None, 0).from_proc);
    }

    #[test]
    fn reads_this_process() {
        // Linux test machines have /proc; the budget must be positive and bounded.
        let b = budget(10);
        assert!(b.from_proc);
        assert!(b.open_now > 0);
        assert_eq!(b.granted, 10);
    }
}
