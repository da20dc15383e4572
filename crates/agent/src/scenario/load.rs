//! Loading a scenario: YAML → file model (first structural error, located) → compiled
//! [`Scenario`] (every remaining problem, located). Any error means no scenario.

use std::path::Path;
use std::time::Duration;

use regex::{Regex, RegexBuilder};
use serde_json::Value;
use shakedown_core::located::{finish, parse, problem};
use shakedown_core::severity::Severity;
use shakedown_core::system::tree::Located;
use shakedown_core::system::{Level, Problem, Problems};

use super::file::{
    FileEntryFile, InvariantFile, ScenarioFile, SeedModificationFile, StateCheckFile,
};
use super::model::{FileAssert, FileEntry, Scenario, SqlExpect, StateCheck, StateCheckKind};
use crate::invariant::{Invariant, InvariantKind, When};

const MAX_TIMEOUT_SECONDS: u64 = 24 * 3600;
const DEFAULT_THRESHOLD: f64 = 0.8;
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Reads a file a scenario refers to (`seed_sql_file`), by its path as written.
pub type Resolver<'a> = &'a dyn Fn(&str) -> Result<String, String>;

/// Reads and compiles a scenario that refers to no other file. `Ok` carries it and any
/// warnings; `Err` every problem.
pub fn load_scenario(text: &str) -> Result<(Scenario, Problems), Problems> {
    load_scenario_in(text, &|path: &str| {
        Err(format!(
            "`{path}` cannot be resolved: this scenario was not read from a file"
        ))
    })
}

/// Reads and compiles a scenario, reading the files it refers to through `read`.
pub fn load_scenario_in(text: &str, read: Resolver<'_>) -> Result<(Scenario, Problems), Problems> {
    let (file, doc) = parse::<ScenarioFile>(text, "scenario", "scenarios")?;
    let mut out = Vec::new();
    let scenario = compile(file, &doc, read, &mut out);
    finish(scenario, Problems(out))
}

/// Reads a scenario file (files it refers to are relative to its directory); an unreadable
/// file is one problem naming the path.
pub fn load_scenario_file(path: &Path) -> Result<(Scenario, Problems), Problems> {
    let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let read = move |rel: &str| {
        let p = dir.join(rel);
        std::fs::read_to_string(&p).map_err(|e| format!("cannot read {}: {e}", p.display()))
    };
    match std::fs::read_to_string(path) {
        Ok(text) => load_scenario_in(&text, &read),
        Err(e) => Err(Problems(vec![Problem {
            level: Level::Error,
            line: 0,
            column: 0,
            pointer: String::new(),
            message: format!("cannot read scenario {}: {e}", path.display()),
            hint: "check the path, or use a built-in scenario name".into(),
        }])),
    }
}

struct Ctx<'a> {
    doc: &'a Located,
    out: &'a mut Vec<Problem>,
}

impl Ctx<'_> {
    fn error(&mut self, pointer: &str, message: impl Into<String>, hint: impl Into<String>) {
        self.out
            .push(problem(self.doc, pointer, Level::Error, message, hint));
    }
    fn warn(&mut self, pointer: &str, message: impl Into<String>, hint: impl Into<String>) {
        self.out
            .push(problem(self.doc, pointer, Level::Warning, message, hint));
    }
}

fn compile(f: ScenarioFile, doc: &Located, read: Resolver<'_>, out: &mut Vec<Problem>) -> Scenario {
    let mut cx = Ctx { doc, out };
    let mut seed_sql = Vec::new();
    if let Some(rel) = &f.seed_sql_file {
        match read(rel) {
            Ok(sql) => seed_sql.push(sql),
            Err(e) => cx.error(
                "/seed_sql_file",
                e,
                "give a path relative to the scenario file",
            ),
        }
    }
    seed_sql.extend(f.seed_sql.clone().filter(|s| !s.trim().is_empty()));
    if f.name.trim().is_empty() {
        cx.error(
            "/name",
            "`name` is empty",
            "name the scenario, e.g. `name: data_cleanup`",
        );
    }
    if f.task.trim().is_empty() {
        cx.error(
            "/task",
            "`task` is empty",
            "write the instructions the agent is given",
        );
    }
    if f.timeout_seconds == 0 || f.timeout_seconds > MAX_TIMEOUT_SECONDS {
        cx.error(
            "/timeout_seconds",
            format!("`timeout_seconds` is {}", f.timeout_seconds),
            format!("use a value from 1 to {MAX_TIMEOUT_SECONDS}"),
        );
    }
    let seed_updates = f
        .seed_modifications
        .iter()
        .enumerate()
        .flat_map(|(i, m)| seed_updates(&mut cx, i, m))
        .collect();
    let files = files(&mut cx, &f.files);
    let golden_prompts = if f.golden_prompts.is_empty() {
        vec![f.task.clone()]
    } else {
        for (i, p) in f.golden_prompts.iter().enumerate() {
            if p.trim().is_empty() {
                cx.error(
                    &format!("/golden_prompts/{i}"),
                    "empty golden prompt",
                    "remove it or write the prompt",
                );
            }
        }
        f.golden_prompts.clone()
    };
    let invariants: Vec<Invariant> = f
        .invariants
        .iter()
        .enumerate()
        .filter_map(|(i, inv)| invariant(&mut cx, i, inv))
        .collect();
    // Without `completes` an agent that crashes at once or is killed at its time limit can
    // still pass every other check (an empty answer excludes every pattern).
    if !invariants
        .iter()
        .any(|i: &Invariant| matches!(i.kind, InvariantKind::Completes) && !i.negate)
    {
        cx.warn(
            "/invariants",
            "no `completes` invariant: an agent that crashes or is killed at its time limit is not failed for it",
            "add `- {type: completes, severity: high}` under `invariants`",
        );
    }
    let state_checks = f
        .state_checks
        .iter()
        .enumerate()
        .filter_map(|(i, c)| state_check(&mut cx, i, c, &files))
        .collect();
    for (key, v) in [
        ("chaos_profile", &f.chaos_profile),
        ("policy_profile", &f.policy_profile),
        ("faults", &f.faults),
    ] {
        if v.as_deref().is_some_and(|s| s.trim().is_empty()) {
            cx.error(
                &format!("/{key}"),
                format!("`{key}` is empty"),
                "name a profile or remove the field",
            );
        }
    }
    if let Some(w) = &f.weights {
        for (k, v) in [
            ("safety", w.safety),
            ("resilience", w.resilience),
            ("utility", w.utility),
        ] {
            if !v.is_finite() || v < 0.0 {
                cx.error(
                    &format!("/weights/{k}"),
                    format!("weight {v} is negative"),
                    "use a number ≥ 0",
                );
            }
        }
        if w.safety + w.resilience + w.utility <= 0.0 {
            cx.error(
                "/weights",
                "every weight is 0",
                "give at least one phase a positive weight",
            );
        }
    }
    Scenario {
        name: f.name,
        version: f.version,
        description: f.description,
        task: f.task,
        expected_behavior: f.expected_behavior.into_vec(),
        red_flags: f.red_flags.into_vec(),
        seed_sql,
        seed_updates,
        chaos_profile: f.chaos_profile,
        policy_profile: f.policy_profile,
        faults: f.faults,
        timeout: Duration::from_secs(f.timeout_seconds),
        files,
        golden_prompts,
        invariants,
        state_checks,
        min_faults_fired: f.min_faults_fired,
        weights: f.weights,
    }
}

/// A dotted SQL name made of plain identifiers (`public.users`), emitted unquoted so
/// PostgreSQL folds case as it does for the scenario's own seed SQL.
fn sql_name(s: &str) -> bool {
    !s.is_empty()
        && s.split('.').all(|part| {
            let mut cs = part.chars();
            cs.next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && cs.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
        })
}

fn seed_updates(cx: &mut Ctx<'_>, i: usize, m: &SeedModificationFile) -> Vec<String> {
    let base = format!("/seed_modifications/{i}");
    if !sql_name(&m.table) {
        cx.error(
            &format!("{base}/table"),
            format!("`{}` is not a table name", m.table),
            "use a plain or schema-qualified name such as `users` or `public.users`",
        );
        return Vec::new();
    }
    let mut out = Vec::new();
    for (j, u) in m.updates.iter().enumerate() {
        let at = format!("{base}/updates/{j}");
        if u.conditions.trim().is_empty() {
            cx.error(
                &format!("{at}/conditions"),
                "`conditions` is empty",
                "give the WHERE clause, e.g. `id > 500` (use `true` to update every row)",
            );
            continue;
        }
        if u.set.is_empty() {
            cx.error(
                &format!("{at}/set"),
                "`set` is empty",
                "give at least one `column: value`",
            );
            continue;
        }
        let mut sets = Vec::new();
        for (col, v) in &u.set {
            if !sql_name(col) || col.contains('.') {
                cx.error(
                    &format!("{at}/set/{col}"),
                    format!("`{col}` is not a column name"),
                    "use a plain column name",
                );
                continue;
            }
            let expr = match v {
                Value::String(s) => s.clone(),
                Value::Bool(b) => b.to_string(),
                Value::Number(n) => n.to_string(),
                Value::Null => "NULL".into(),
                _ => {
                    cx.error(
                        &format!("{at}/set/{col}"),
                        "a seed value must be a string (an SQL expression), a number, a boolean or null",
                        "write lists and maps as SQL text, e.g. `\"'{1,2}'::int[]\"`",
                    );
                    continue;
                }
            };
            sets.push(format!("{col} = {expr}"));
        }
        out.push(format!(
            "UPDATE {} SET {} WHERE {}",
            m.table,
            sets.join(", "),
            u.conditions
        ));
    }
    out
}

/// A relative path inside the working directory, normalised lexically (`a/./b/../c` → `a/c`);
/// `None` if it is absolute or climbs out of the directory.
fn relative_path(p: &str) -> Option<String> {
    if p.starts_with('/') || p.contains('\0') || p.contains('\\') {
        return None;
    }
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            s => parts.push(s),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

fn files(cx: &mut Ctx<'_>, entries: &[FileEntryFile]) -> Vec<FileEntry> {
    let mut out: Vec<FileEntry> = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let Some(path) = relative_path(&e.path) else {
            cx.error(
                &format!("/files/{i}/path"),
                format!("`{}` is not a path inside the working directory", e.path),
                "use a relative path that stays inside, e.g. `data/customers.csv`",
            );
            continue;
        };
        if out.iter().any(|f| f.path == path) {
            cx.error(
                &format!("/files/{i}/path"),
                format!("`{path}` is listed twice"),
                "list each file once",
            );
            continue;
        }
        out.push(FileEntry {
            path,
            content: e.content.clone().unwrap_or_default(),
            honeypot: e.honeypot,
            sentinel: e.sentinel,
            read_only: e.read_only,
        });
    }
    out
}

fn severity(cx: &mut Ctx<'_>, pointer: &str, s: Option<&str>, default: Severity) -> Severity {
    match s {
        None => default,
        Some("low") => Severity::Low,
        Some("medium") => Severity::Medium,
        Some("high") => Severity::High,
        Some("critical") => Severity::Critical,
        Some(other) => {
            cx.error(
                pointer,
                format!("`{other}` is not a severity"),
                "use low, medium, high or critical",
            );
            default
        }
    }
}

fn regex(cx: &mut Ctx<'_>, pointer: &str, pattern: &str) -> Option<Regex> {
    match RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
    {
        Ok(r) => Some(r),
        Err(e) => {
            let first = e
                .to_string()
                .lines()
                .last()
                .unwrap_or("")
                .trim()
                .to_string();
            cx.error(
                pointer,
                format!("invalid regex: {first}"),
                "fix the pattern (Rust regex syntax)",
            );
            None
        }
    }
}

fn invariant(cx: &mut Ctx<'_>, i: usize, f: &InvariantFile) -> Option<Invariant> {
    let base = format!("/invariants/{i}");
    let sev = severity(
        cx,
        &format!("{base}/severity"),
        f.severity.as_deref(),
        Severity::Medium,
    );
    let when = match f.when.as_deref() {
        None => When::Always,
        Some(w) => match When::parse(w) {
            Some(w) => w,
            None => {
                cx.error(
                    &format!("{base}/when"),
                    format!("`{w}` is not a condition"),
                    format!("use one of: {}", When::NAMES.join(", ")),
                );
                When::Always
            }
        },
    };
    let threshold = match f.threshold {
        Some(t) if !(0.0..=1.0).contains(&t) => {
            cx.error(
                &format!("{base}/threshold"),
                format!("threshold {t} is outside 0..1"),
                "use a value from 0.0 to 1.0",
            );
            DEFAULT_THRESHOLD
        }
        Some(t) => t,
        None => DEFAULT_THRESHOLD,
    };
    let need = |cx: &mut Ctx<'_>, field: &str, present: bool| {
        if !present {
            cx.error(
                &base,
                format!("`{}` needs `{field}`", f.kind),
                format!("add `{field}:` to this invariant"),
            );
        }
        present
    };
    let kind = match f.kind.as_str() {
        "contains" => need(cx, "value", f.value.is_some()).then(|| InvariantKind::Contains {
            value: f.value.clone().unwrap_or_default(),
            ignore_case: f.ignore_case,
        })?,
        "contains_any" => {
            let ok = f.values.as_ref().is_some_and(|v| !v.is_empty());
            need(cx, "values", ok).then(|| InvariantKind::ContainsAny {
                values: f.values.clone().unwrap_or_default(),
                ignore_case: f.ignore_case,
            })?
        }
        "excludes_pattern" | "regex" => {
            if !need(cx, "pattern", f.pattern.is_some()) {
                return None;
            }
            let pattern = regex(
                cx,
                &format!("{base}/pattern"),
                f.pattern.as_deref().unwrap_or(""),
            )?;
            if f.kind == "regex" {
                InvariantKind::Regex { pattern }
            } else {
                InvariantKind::ExcludesPattern { pattern }
            }
        }
        "valid_json" => InvariantKind::ValidJson,
        "latency" => {
            need(cx, "max_ms", f.max_ms.is_some_and(|m| m > 0)).then(|| InvariantKind::Latency {
                max: Duration::from_millis(f.max_ms.unwrap_or(0)),
            })?
        }
        "output_not_empty" => InvariantKind::OutputNotEmpty,
        "completes" => InvariantKind::Completes,
        "excludes_pii" => InvariantKind::ExcludesPii,
        "refusal_check" => InvariantKind::RefusalCheck,
        "similarity" => {
            need(cx, "expected", f.expected.is_some()).then(|| InvariantKind::Similarity {
                expected: f.expected.clone().unwrap_or_default(),
                threshold,
            })?
        }
        "behavior_unchanged" => InvariantKind::BehaviorUnchanged { threshold },
        other => {
            cx.error(
                &format!("{base}/type"),
                format!("`{other}` is not an invariant type"),
                format!("use one of: {}", InvariantKind::NAMES.join(", ")),
            );
            return None;
        }
    };
    Some(Invariant {
        name: f.name.clone().unwrap_or_else(|| format!("{}[{i}]", f.kind)),
        description: f.description.clone(),
        kind,
        severity: sev,
        when,
        negate: f.negate,
    })
}

fn state_check(
    cx: &mut Ctx<'_>,
    i: usize,
    f: &StateCheckFile,
    files: &[FileEntry],
) -> Option<StateCheck> {
    let base = format!("/state_checks/{i}");
    let sev = severity(
        cx,
        &format!("{base}/severity"),
        f.severity.as_deref(),
        Severity::High,
    );
    let sql_fields = f.equals.is_some()
        || f.rows.is_some()
        || f.at_least.is_some()
        || f.at_most.is_some()
        || f.empty.is_some();
    let file_fields =
        f.exists.is_some() || f.unchanged.is_some() || f.contains.is_some() || f.excludes.is_some();
    let kind = match (&f.sql, &f.file) {
        (Some(_), Some(_)) | (None, None) => {
            cx.error(
                &base,
                "a state check needs exactly one of `sql` or `file`",
                "split it into two checks",
            );
            return None;
        }
        (Some(sql), None) => {
            if file_fields {
                cx.error(&base, "file assertions (`exists`, `unchanged`, `contains`, `excludes`) on an SQL check", "move them to a `file:` check");
            }
            if sql.trim().is_empty() {
                cx.error(
                    &format!("{base}/sql"),
                    "`sql` is empty",
                    "write the query to run",
                );
                return None;
            }
            let expect = match (
                &f.equals,
                &f.rows,
                f.at_least.is_some() || f.at_most.is_some(),
                f.empty,
            ) {
                (Some(v), None, false, None) => SqlExpect::Equals(v.clone()),
                (None, Some(r), false, None) => SqlExpect::Rows(r.clone()),
                (None, None, true, None) => {
                    if let (Some(lo), Some(hi)) = (f.at_least, f.at_most)
                        && lo > hi
                    {
                        cx.error(
                            &base,
                            format!("`at_least` {lo} is above `at_most` {hi}"),
                            "swap them",
                        );
                    }
                    SqlExpect::Range {
                        min: f.at_least,
                        max: f.at_most,
                    }
                }
                (None, None, false, Some(e)) => SqlExpect::Empty(e),
                _ if !sql_fields => {
                    cx.error(
                        &base,
                        "an SQL check needs an expectation",
                        "add one of `equals`, `rows`, `at_least`/`at_most`, `empty`",
                    );
                    return None;
                }
                _ => {
                    cx.error(
                        &base,
                        "an SQL check takes one expectation",
                        "keep one of `equals`, `rows`, `at_least`/`at_most`, `empty`",
                    );
                    return None;
                }
            };
            StateCheckKind::Sql {
                sql: sql.clone(),
                expect,
            }
        }
        (None, Some(path)) => {
            if sql_fields {
                cx.error(
                    &base,
                    "SQL expectations on a file check",
                    "move them to an `sql:` check",
                );
            }
            let Some(path) = relative_path(path) else {
                cx.error(
                    &format!("{base}/file"),
                    format!("`{path}` is not a path inside the working directory"),
                    "use a relative path that stays inside",
                );
                return None;
            };
            if !file_fields {
                cx.error(
                    &base,
                    "a file check needs an assertion",
                    "add `exists`, `unchanged`, `contains` or `excludes`",
                );
                return None;
            }
            if f.unchanged == Some(true) && !files.iter().any(|e| e.path == path) {
                cx.warn(&format!("{base}/file"), format!("`{path}` is not one of the scenario's `files`"), "`unchanged` compares with the file as it was before the run; list it under `files` so it exists");
            }
            StateCheckKind::File(FileAssert {
                path,
                exists: f.exists,
                unchanged: f.unchanged,
                contains: f.contains.clone(),
                excludes: f.excludes.clone(),
            })
        }
    };
    Some(StateCheck {
        name: f
            .name
            .clone()
            .unwrap_or_else(|| format!("state_checks[{i}]")),
        severity: sev,
        kind,
    })
}
