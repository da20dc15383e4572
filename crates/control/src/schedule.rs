//! Scheduled campaigns ("Chaos Tuesday"): a YAML file of schedules, each naming a system file
//! and when to run it — `every: 6h`, or `at: "14:00"` (UTC) on some `weekdays`. A scheduled
//! campaign is started by the built-in `chaos_agent_service` account through the same path as
//! the CLI and the API (RBAC, halt latch, ledger, error budget, blast radius, risk decision),
//! so a schedule never runs what a person could not: in staging it waits for a human's
//! approval, in production the service account is refused.
//!
//! ```yaml
//! schedules:
//!   - name: chaos_tuesday
//!     system_file: staging.yaml
//!     at: "14:00"
//!     weekdays: [tue]
//!     patterns: [sql_injection, burst_traffic]
//!   - name: hourly_smoke
//!     system_file: test.yaml
//!     every: 1h
//! ```

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use shakedown_core::located::{self, problem};
use shakedown_core::system::{Level, Problems};
use shakedown_core::{HumanDuration, Pattern};
use time::{Duration, OffsetDateTime, Time, Weekday};

/// The shortest interval a schedule may use. A firing is skipped while the schedule's previous
/// campaign still runs, and budgets and the server's campaign cap still apply.
pub const MIN_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScheduleFileRaw {
    schedules: Vec<ScheduleRaw>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScheduleRaw {
    name: String,
    system_file: PathBuf,
    #[serde(default)]
    every: Option<HumanDuration>,
    #[serde(default)]
    at: Option<String>,
    #[serde(default)]
    weekdays: Vec<String>,
    #[serde(default)]
    targets: Option<Vec<String>>,
    #[serde(default)]
    patterns: Option<Vec<String>>,
    #[serde(default)]
    threshold: Option<f64>,
}

/// When a schedule fires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum When {
    /// Every interval, the first one interval after the scheduler starts.
    Every(std::time::Duration),
    /// At a UTC time of day, on these weekdays (every day when empty).
    At { time: Time, weekdays: Vec<Weekday> },
}

/// One schedule, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    pub name: String,
    /// Resolved against the schedule file's directory; read afresh at every firing.
    pub system_file: PathBuf,
    pub when: When,
    pub targets: Option<Vec<String>>,
    pub patterns: Option<Vec<Pattern>>,
    /// Pass threshold, 0..=1 (default 0.8).
    pub threshold: f64,
}

fn weekday(name: &str) -> Option<Weekday> {
    Some(match name.to_ascii_lowercase().as_str() {
        "mon" | "monday" => Weekday::Monday,
        "tue" | "tuesday" => Weekday::Tuesday,
        "wed" | "wednesday" => Weekday::Wednesday,
        "thu" | "thursday" => Weekday::Thursday,
        "fri" | "friday" => Weekday::Friday,
        "sat" | "saturday" => Weekday::Saturday,
        "sun" | "sunday" => Weekday::Sunday,
        _ => return None,
    })
}

fn time_of_day(s: &str) -> Option<Time> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    Time::from_hms(h.parse().ok()?, m.parse().ok()?, 0).ok()
}

/// Reads a schedule file; relative system files resolve against `base` (the file's
/// directory). Every problem is located (line:column); any error refuses the whole file.
pub fn load_schedules(text: &str, base: &Path) -> Result<(Vec<Schedule>, Problems), Problems> {
    let (raw, doc) = located::parse::<ScheduleFileRaw>(text, "schedule file", "governance")?;
    let mut problems = Vec::new();
    let mut out = Vec::new();
    let mut names = HashSet::new();
    let err = |pointer: String, message: String, hint: &str| {
        problem(&doc, &pointer, Level::Error, message, hint)
    };
    if raw.schedules.is_empty() {
        problems.push(err(
            "/schedules".into(),
            "no schedules".into(),
            "add at least one entry with a name, a system_file and `every` or `at`",
        ));
    }
    for (i, s) in raw.schedules.into_iter().enumerate() {
        let at = |field: &str| format!("/schedules/{i}/{field}");
        let ok_name = !s.name.is_empty()
            && s.name.len() <= 64
            && s.name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !ok_name {
            problems.push(err(
                at("name"),
                format!(
                    "schedule name `{}` is not 1–64 letters, digits, `_` or `-`",
                    s.name
                ),
                "rename it, e.g. chaos_tuesday",
            ));
        } else if !names.insert(s.name.clone()) {
            problems.push(err(
                at("name"),
                format!("schedule name `{}` is used twice", s.name),
                "give every schedule its own name",
            ));
        }
        let system_file = if s.system_file.is_absolute() {
            s.system_file.clone()
        } else {
            base.join(&s.system_file)
        };
        if !system_file.is_file() {
            problems.push(err(
                at("system_file"),
                format!("system file {} does not exist", system_file.display()),
                "give a path relative to the schedule file, or an absolute one",
            ));
        }
        let when = match (&s.every, &s.at) {
            (Some(every), None) => {
                if !s.weekdays.is_empty() {
                    problems.push(err(
                        at("weekdays"),
                        "`weekdays` only goes with `at`".into(),
                        "remove it, or use `at: \"HH:MM\"` instead of `every`",
                    ));
                }
                if every.as_duration() < MIN_EVERY {
                    problems.push(err(
                        at("every"),
                        format!("`every` is below the minimum of {} s", MIN_EVERY.as_secs()),
                        "use 1s or more (1m or more is usual)",
                    ));
                }
                Some(When::Every(every.as_duration()))
            }
            (None, Some(text)) => {
                let time = time_of_day(text);
                if time.is_none() {
                    problems.push(err(
                        at("at"),
                        format!("`at: {text}` is not a UTC time of day HH:MM"),
                        "write it like \"14:00\" (quoted)",
                    ));
                }
                let mut days = Vec::new();
                for (j, d) in s.weekdays.iter().enumerate() {
                    match weekday(d) {
                        Some(w) if !days.contains(&w) => days.push(w),
                        Some(_) => {}
                        None => problems.push(err(
                            format!("/schedules/{i}/weekdays/{j}"),
                            format!("`{d}` is not a weekday"),
                            "use mon, tue, wed, thu, fri, sat or sun",
                        )),
                    }
                }
                time.map(|time| When::At {
                    time,
                    weekdays: days,
                })
            }
            _ => {
                problems.push(err(
                    format!("/schedules/{i}"),
                    "give exactly one of `every` or `at`".into(),
                    "e.g. `every: 6h`, or `at: \"14:00\"` with `weekdays: [tue]`",
                ));
                None
            }
        };
        let mut patterns = None;
        if let Some(list) = &s.patterns {
            let mut ps = Vec::new();
            for (j, p) in list.iter().enumerate() {
                match Pattern::from_name(p) {
                    Some(p) => ps.push(p),
                    None => problems.push(err(
                        format!("/schedules/{i}/patterns/{j}"),
                        format!("unknown pattern `{p}`"),
                        "`shakedown patterns` lists them",
                    )),
                }
            }
            patterns = Some(ps);
        }
        let threshold = s.threshold.unwrap_or(0.8);
        if !(0.0..=1.0).contains(&threshold) {
            problems.push(err(
                at("threshold"),
                format!("threshold {threshold} is not between 0 and 1"),
                "e.g. 0.8",
            ));
        }
        if let Some(when) = when {
            out.push(Schedule {
                name: s.name,
                system_file,
                when,
                targets: s.targets,
                patterns,
                threshold,
            });
        }
    }
    located::finish(out, Problems(problems))
}

impl Schedule {
    /// The first firing strictly after `after`. `started` is when the scheduler began (an
    /// `every` schedule fires at started + k × interval, so a slow campaign never shifts it).
    pub fn next_fire(&self, started: OffsetDateTime, after: OffsetDateTime) -> OffsetDateTime {
        match &self.when {
            When::Every(every) => {
                let step = Duration::try_from(*every).unwrap_or(Duration::HOUR);
                let elapsed = (after - started).max(Duration::ZERO);
                let k = (elapsed.whole_nanoseconds() / step.whole_nanoseconds()) + 1;
                started + step * (k as f64)
            }
            When::At { time, weekdays } => {
                let after = after.to_offset(time::UtcOffset::UTC);
                (0..=8)
                    .map(|d| {
                        (after.date() + Duration::days(d))
                            .with_time(*time)
                            .assume_utc()
                    })
                    .find(|t| {
                        *t > after && (weekdays.is_empty() || weekdays.contains(&t.weekday()))
                    })
                    .expect("every weekday occurs within 8 days")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn load(text: &str) -> Result<Vec<Schedule>, Problems> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("staging.yaml"), "x").unwrap();
        load_schedules(text, dir.path()).map(|(s, _)| s)
    }

    #[test]
    fn both_kinds_load_and_fire_when_expected() {
        let s = load(
            "schedules:\n  - name: chaos_tuesday\n    system_file: staging.yaml\n    at: \"14:00\"\n    weekdays: [tue]\n    patterns: [sql_injection]\n  - name: hourly\n    system_file: staging.yaml\n    every: 1h\n",
        )
        .unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].patterns, Some(vec![Pattern::SqlInjection]));
        // 2026-11-22 is a Sunday: the next Tuesday 14:00 is the 24th.
        let sunday = datetime!(2026-11-22 06:00 UTC);
        assert_eq!(
            s[0].next_fire(sunday, sunday),
            datetime!(2026-11-24 14:00 UTC)
        );
        let tuesday = datetime!(2026-11-24 14:00 UTC);
        assert_eq!(
            s[0].next_fire(sunday, tuesday),
            datetime!(2026-12-01 14:00 UTC)
        );
        // `every` keeps to its grid whatever time it is asked at.
        assert_eq!(
            s[1].next_fire(sunday, sunday + Duration::minutes(90)),
            datetime!(2026-11-22 08:00 UTC)
        );
        assert_eq!(
            s[1].next_fire(sunday, sunday),
            datetime!(2026-11-22 07:00 UTC)
        );
    }

    #[test]
    fn every_problem_is_located() {
        let err = load(
            "schedules:\n  - name: a b\n    system_file: missing.yaml\n    every: 500ms\n  - name: x\n    system_file: staging.yaml\n    at: \"25:00\"\n    weekdays: [funday]\n    patterns: [nope]\n    threshold: 2\n  - name: y\n    system_file: staging.yaml\n",
        )
        .unwrap_err();
        let text = err.render("schedules.yaml");
        for needle in [
            "schedule name `a b`",
            "missing.yaml does not exist",
            "below the minimum",
            "`at: 25:00`",
            "`funday` is not a weekday",
            "unknown pattern `nope`",
            "threshold 2",
            "exactly one of `every` or `at`",
        ] {
            assert!(text.contains(needle), "{needle} missing from:\n{text}");
        }
        assert!(text.contains("schedules.yaml:2:"), "{text}");
        let err = load(
            "schedules:\n  - name: a\n    system_file: staging.yaml\n    every: 1h\n    cron: x\n",
        )
        .unwrap_err();
        assert!(err.render("f").contains("unknown field `cron`"));
    }
}
