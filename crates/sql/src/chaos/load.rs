//! Loading a chaos script: YAML → typed file model (first structural error, located) →
//! compiled [`ChaosScript`] (every remaining problem, located: unknown action types, missing
//! conditions, bad templates, bad parameters). Any error means no script.

use std::time::Duration;

use shakedown_core::system::tree::Located;
use shakedown_core::system::{Level, Problem, Problems};

use super::action::compile as compile_action;
use super::model::{Occurrence, ScenarioFile, TriggerFile, TriggerType};
use super::{
    ChaosScript, Condition, CountCondition, EventCondition, TablePattern, TimeCondition, Trigger,
};
use crate::event::SqlEventType;
use crate::policy::Operation;
use shakedown_core::located::{finish, parse, problem};

/// Reads and compiles a chaos script. `Ok` carries the script and any warnings.
pub fn load_chaos(text: &str) -> Result<(ChaosScript, Problems), Problems> {
    let (file, doc) = parse::<ScenarioFile>(text, "chaos script", "chaos-scripts")?;
    let mut problems = Vec::new();
    let script = compile(file, &doc, &mut problems);
    finish(script, Problems(problems))
}

fn event_type(
    doc: &Located,
    pointer: &str,
    s: &str,
    out: &mut Vec<Problem>,
) -> Option<SqlEventType> {
    match s.parse::<SqlEventType>() {
        Ok(e) => Some(e),
        Err(msg) => {
            out.push(problem(
                doc,
                pointer,
                Level::Error,
                msg,
                "ChaosTrace's SQL_RECEIVED style is accepted too",
            ));
            None
        }
    }
}

fn compile(file: ScenarioFile, doc: &Located, out: &mut Vec<Problem>) -> ChaosScript {
    if file.name.trim().is_empty() {
        out.push(problem(
            doc,
            "/name",
            Level::Error,
            "the script name is empty",
            "name the script, e.g. `name: db_lock_v1`",
        ));
    }
    if file.triggers.is_empty() {
        out.push(problem(
            doc,
            "",
            Level::Warning,
            "the script has no triggers, so it never does anything",
            "add a `triggers:` list",
        ));
    }
    let mut triggers = Vec::new();
    let mut names: Vec<String> = Vec::new();
    for (i, t) in file.triggers.into_iter().enumerate() {
        let base = format!("/triggers/{i}");
        if !t.name.is_empty() {
            if names.contains(&t.name) {
                out.push(problem(
                    doc,
                    &format!("{base}/name"),
                    Level::Warning,
                    format!("trigger name `{}` is used twice", t.name),
                    "give each trigger its own name so events tell them apart",
                ));
            }
            names.push(t.name.clone());
        }
        if let Some(trigger) = compile_trigger(t, i, &base, doc, out) {
            triggers.push(trigger);
        }
    }
    ChaosScript {
        name: file.name,
        version: file.version,
        description: file.description,
        enabled: file.enabled,
        max_total_chaos_events: file.max_total_chaos_events,
        triggers,
    }
}

fn compile_trigger(
    t: TriggerFile,
    index: usize,
    base: &str,
    doc: &Located,
    out: &mut Vec<Problem>,
) -> Option<Trigger> {
    let wanted = match t.trigger_type {
        TriggerType::Event => "event_condition",
        TriggerType::Time => "time_condition",
        TriggerType::Count => "count_condition",
    };
    for (field, present) in [
        ("event_condition", t.event_condition.is_some()),
        ("time_condition", t.time_condition.is_some()),
        ("count_condition", t.count_condition.is_some()),
    ] {
        if present && field != wanted {
            out.push(problem(
                doc,
                &format!("{base}/{field}"),
                Level::Warning,
                format!(
                    "`{field}` is ignored by a {} trigger",
                    t.trigger_type.as_str()
                ),
                format!("a {} trigger reads `{wanted}`", t.trigger_type.as_str()),
            ));
        }
    }
    // Problems in the condition do not stop the action being checked: report both.
    let mut bad = false;
    let condition = match t.trigger_type {
        TriggerType::Event => {
            let Some(c) = &t.event_condition else {
                out.push(problem(
                    doc,
                    &format!("{base}/trigger_type"),
                    Level::Error,
                    "Event trigger requires event_condition",
                    "add `event_condition: {event_type: SQL_RECEIVED, parsed_type: DELETE}`",
                ));
                return None;
            };
            let cb = format!("{base}/event_condition");
            let event_type = event_type(doc, &format!("{cb}/event_type"), &c.event_type, out);
            let parsed_type = match &c.parsed_type {
                Some(p) => {
                    let op = Operation::parse(p);
                    if op.is_none() {
                        out.push(problem(
                            doc,
                            &format!("{cb}/parsed_type"),
                            Level::Error,
                            format!("`{p}` is not an SQL statement type"),
                            "use a type such as SELECT, INSERT, UPDATE, DELETE, DROP",
                        ));
                        bad = true;
                    }
                    op
                }
                None => None,
            };
            let table_pattern = match &c.table_pattern {
                Some(p) => {
                    let tp = TablePattern::parse(p);
                    if tp.is_none() {
                        out.push(problem(
                            doc,
                            &format!("{cb}/table_pattern"),
                            Level::Error,
                            format!("`{p}` is not a table pattern"),
                            "write part of a table name (`users`) or a glob (`audit_*`)",
                        ));
                        bad = true;
                    }
                    tp
                }
                None => None,
            };
            if c.occurrence == Occurrence::Last {
                out.push(problem(
                    doc,
                    &format!("{cb}/occurrence"),
                    Level::Warning,
                    "`last` cannot be known while the run goes on: it fires on every match, as ChaosTrace does",
                    "use `every` to say so, or a number for the N-th match",
                ));
            }
            bad |= event_type.is_none();
            Condition::Event(EventCondition {
                event_type: event_type.unwrap_or(SqlEventType::SqlReceived),
                parsed_type,
                table_pattern,
                occurrence: c.occurrence,
                min_rows: c.min_rows,
            })
        }
        TriggerType::Time => {
            let Some(c) = &t.time_condition else {
                out.push(problem(
                    doc,
                    &format!("{base}/trigger_type"),
                    Level::Error,
                    "Time trigger requires time_condition",
                    "add `time_condition: {elapsed_seconds: 60}`",
                ));
                return None;
            };
            Condition::Time(TimeCondition {
                elapsed: Duration::from_secs(c.elapsed_seconds),
                jitter: Duration::from_secs(c.jitter_seconds),
            })
        }
        TriggerType::Count => {
            let Some(c) = &t.count_condition else {
                out.push(problem(
                    doc,
                    &format!("{base}/trigger_type"),
                    Level::Error,
                    "Count trigger requires count_condition",
                    "add `count_condition: {event_type: SQL_RECEIVED, count: 3}`",
                ));
                return None;
            };
            let cb = format!("{base}/count_condition");
            let event_type = event_type(doc, &format!("{cb}/event_type"), &c.event_type, out);
            if c.count == 0 {
                out.push(problem(
                    doc,
                    &format!("{cb}/count"),
                    Level::Error,
                    "count must be at least 1",
                    "write how many events to wait for, e.g. 3",
                ));
                bad = true;
            }
            bad |= event_type.is_none();
            Condition::Count(CountCondition {
                event_type: event_type.unwrap_or(SqlEventType::SqlReceived),
                count: c.count,
                reset_after_trigger: c.reset_after_trigger,
            })
        }
    };
    if t.max_triggers == 0 {
        out.push(problem(
            doc,
            &format!("{base}/max_triggers"),
            Level::Warning,
            "max_triggers 0: this trigger never fires",
            "set max_triggers to 1 or more, or `enabled: false`",
        ));
    }
    if matches!(condition, Condition::Time(_)) && t.max_triggers > 1 && t.cooldown_seconds == 0 {
        out.push(problem(
            doc,
            &format!("{base}/max_triggers"),
            Level::Warning,
            "a time trigger without cooldown_seconds fires once",
            "set cooldown_seconds to repeat it every N seconds",
        ));
    }
    let event_allowed = !matches!(condition, Condition::Time(_));
    let action = compile_action(
        &t.action,
        &format!("{base}/action"),
        event_allowed,
        doc,
        out,
    );
    if bad {
        return None;
    }
    Some(Trigger {
        name: if t.name.is_empty() {
            format!("trigger[{index}]")
        } else {
            t.name
        },
        enabled: t.enabled,
        condition,
        action: action?,
        max_triggers: t.max_triggers,
        cooldown: Duration::from_secs(t.cooldown_seconds),
    })
}
