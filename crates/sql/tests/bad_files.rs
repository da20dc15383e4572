//! Bad policy and chaos files are refused with located problems: line, column, the field's
//! JSON pointer, and a hint that says how to fix it.

use shakedown_core::system::{Level, Problem, Problems};
use shakedown_sql::chaos::load_chaos;
use shakedown_sql::policy::load_policy;

fn policy_errors(yaml: &str) -> Problems {
    match load_policy(yaml) {
        Ok(_) => panic!("accepted:\n{yaml}"),
        Err(p) => p,
    }
}

fn chaos_errors(yaml: &str) -> Problems {
    match load_chaos(yaml) {
        Ok(_) => panic!("accepted:\n{yaml}"),
        Err(p) => p,
    }
}

/// The only error, checked for position, pointer and words in message and hint.
fn only(p: &Problems, line: u64, column: u64, pointer: &str, message: &str, hint: &str) -> Problem {
    let errors: Vec<&Problem> = p.errors().collect();
    assert_eq!(errors.len(), 1, "{}", p.render("f.yaml"));
    let e = errors[0].clone();
    assert_eq!((e.line, e.column), (line, column), "{e}");
    assert_eq!(e.pointer, pointer, "{e}");
    assert!(e.message.contains(message), "{e}");
    assert!(e.hint.contains(hint), "{e}");
    e
}

#[test]
fn policy_unknown_fields_are_located() {
    let p = policy_errors("name: x\nhoneypot:\n  tables: [a]\n");
    let e = only(
        &p,
        2,
        1,
        "/honeypot",
        "unknown field `honeypot`",
        "honeypots",
    );
    assert!(
        p.render("strict.yaml")
            .starts_with("strict.yaml:2:1: error: unknown field"),
        "{e}"
    );

    let p =
        policy_errors("name: x\ntable_restrictions:\n  - table: users\n    operaitons: [DELETE]\n");
    only(
        &p,
        4,
        5,
        "/table_restrictions/0/operaitons",
        "unknown field",
        "operations",
    );

    let p = policy_errors(
        "name: x\nforbidden_sql:\n  patterns:\n    - pattern: a\n      severty: critical\n",
    );
    only(
        &p,
        5,
        7,
        "/forbidden_sql/patterns/0/severty",
        "unknown field",
        "severity",
    );

    let p = policy_errors("name: x\nforbidden_sql:\n  pattern: [a]\n");
    only(
        &p,
        3,
        3,
        "/forbidden_sql/pattern",
        "unknown field",
        "patterns",
    );
}

#[test]
fn policy_type_and_value_errors_are_located() {
    let p = policy_errors("name: x\nmax_query_length: lots\n");
    only(
        &p,
        2,
        19,
        "/max_query_length",
        "max_query_length",
        "docs/policies.md",
    );

    let p = policy_errors("name: x\nrow_limits:\n  - operation: DELETE\n    max_rows: -5\n");
    only(&p, 4, 15, "/row_limits/0/max_rows", "max_rows", "");

    let p = policy_errors("name: x\nhoneypots:\n  severity: fatal\n");
    only(&p, 3, 13, "/honeypots/severity", "not a severity", "");

    let p = policy_errors("version: '1'\n");
    only(&p, 1, 1, "", "missing required field `name`", "add `name:`");

    let p = policy_errors("name: x\nforbidden_sql: [\"DROP\", \n");
    assert!(
        p.0[0].message.starts_with("not valid YAML"),
        "{}",
        p.render("f")
    );
    assert!(p.0[0].line >= 2);

    policy_errors("- just\n- a list\n");
}

#[test]
fn policy_semantic_errors_are_all_reported() {
    let p = policy_errors(
        r#"name: x
forbidden_sql:
  - "DROP\\s+(TABLE"
  - pattern: "(?<=x)y"
table_restrictions:
  - table: users
    operations: [DELETE, DELTE]
row_limits:
  - operation: ERASE
    max_rows: 1
allowed_statement_types: [SELECT, SLECT]
known_tables: [""]
"#,
    );
    let errors: Vec<&Problem> = p.errors().collect();
    let pointers: Vec<&str> = errors.iter().map(|e| e.pointer.as_str()).collect();
    assert_eq!(
        pointers,
        vec![
            "/forbidden_sql/0",
            "/forbidden_sql/1/pattern",
            "/table_restrictions/0/operations/1",
            "/row_limits/0/operation",
            "/allowed_statement_types/1",
            "/known_tables/0",
        ],
        "{}",
        p.render("f")
    );
    assert_eq!((errors[0].line, errors[0].column), (3, 5));
    assert!(errors[1].message.contains("look-around"), "{}", errors[1]);
    assert!(errors[2].message.contains("`DELTE`"));
    assert!(errors[2].hint.contains("DELETE"));
    assert_eq!((errors[2].line, errors[2].column), (7, 26));
}

#[test]
fn policy_warnings_do_not_refuse() {
    let (_, warnings) = load_policy("name: x\nhoneypots:\n  files: [/etc/shadow]\n").unwrap();
    assert_eq!(warnings.0.len(), 1);
    assert_eq!(warnings.0[0].level, Level::Warning);
    assert_eq!(warnings.0[0].line, 3);
}

#[test]
fn chaos_unknown_fields_and_types_are_located() {
    let p = chaos_errors(
        "name: x\ntriggers:\n  - trigger_type: event\n    event_condition: {event_type: SQL_RECEIVED}\n    action: {type: lock_table, table: t}\n    cooldown_secnds: 5\n",
    );
    only(
        &p,
        6,
        5,
        "/triggers/0/cooldown_secnds",
        "unknown field",
        "cooldown_seconds",
    );

    let p = chaos_errors(
        "name: x\ntriggers:\n  - trigger_type: sometimes\n    action: {type: disk_full}\n",
    );
    only(
        &p,
        3,
        19,
        "/triggers/0/trigger_type",
        "unknown variant `sometimes`",
        "",
    );

    let p = chaos_errors(
        "name: x\ntriggers:\n  - trigger_type: time\n    time_condition: {elapsed_seconds: 5}\n    action:\n      type: drop_database\n",
    );
    only(
        &p,
        6,
        13,
        "/triggers/0/action/type",
        "`drop_database` is not a chaos action type",
        "lock_table",
    );

    let p = chaos_errors(
        "name: x\ntriggers:\n  - trigger_type: event\n    event_condition: {event_type: SQL_RECEIVED, occurrence: sometimes}\n    action: {type: disk_full}\n",
    );
    only(
        &p,
        4,
        61,
        "/triggers/0/event_condition/occurrence",
        "not an occurrence",
        "",
    );
}

#[test]
fn chaos_semantic_errors_are_all_reported() {
    let p = chaos_errors(
        r#"name: x
triggers:
  - name: missing_condition
    trigger_type: event
    action: {type: disk_full}
  - name: bad_event
    trigger_type: count
    count_condition: {event_type: SQL_RECIEVED, count: 2}
    action: {type: disk_full}
  - name: time_with_event_template
    trigger_type: time
    time_condition: {elapsed_seconds: 1}
    action: {type: lock_table, table: "{event.tables[0]}"}
  - name: bad_placeholder
    trigger_type: event
    event_condition: {event_type: sql_received}
    action: {type: lock_table, table: "{event.tabels[0]}"}
  - name: missing_params
    trigger_type: event
    event_condition: {event_type: sql_received, parsed_type: DELTE}
    action: {type: rename_column, table: users}
  - name: bad_values
    trigger_type: event
    event_condition: {event_type: sql_received}
    action:
      type: change_column_type
      table: users
      column: a
      new_type: "int; DROP TABLE users"
  - name: bad_parameters
    trigger_type: event
    event_condition: {event_type: sql_received}
    action: {type: packet_loss, percentage: 150, parameters: {index_name: x}}
  - name: bad_mode
    trigger_type: event
    event_condition: {event_type: sql_received}
    action: {type: lock_table, table: t, parameters: {mode: total}}
"#,
    );
    let errors: Vec<&Problem> = p.errors().collect();
    let got: Vec<(&str, &str)> = errors
        .iter()
        .map(|e| (e.pointer.as_str(), e.message.as_str()))
        .collect();
    let expect = [
        (
            "/triggers/0/trigger_type",
            "Event trigger requires event_condition",
        ),
        (
            "/triggers/1/count_condition/event_type",
            "`SQL_RECIEVED` is not an event type",
        ),
        (
            "/triggers/2/action/table",
            "needs an event, but time triggers have none",
        ),
        (
            "/triggers/3/action/table",
            "unknown placeholder `{event.tabels[0]}`",
        ),
        (
            "/triggers/4/event_condition/parsed_type",
            "`DELTE` is not an SQL statement type",
        ),
        ("/triggers/4/action", "rename_column needs `column`"),
        ("/triggers/4/action", "rename_column needs `new_name`"),
        ("/triggers/5/action/new_type", "is not one SQL data type"),
        (
            "/triggers/6/action/parameters/index_name",
            "unknown parameter `index_name` for packet_loss",
        ),
        (
            "/triggers/6/action/percentage",
            "percentage 150 is outside 0..100",
        ),
        (
            "/triggers/7/action/parameters/mode",
            "`total` is not a table lock mode",
        ),
    ];
    assert_eq!(errors.len(), expect.len(), "{}", p.render("f"));
    for (pointer, words) in expect {
        assert!(
            got.iter().any(|(p, m)| *p == pointer && m.contains(words)),
            "missing {pointer}: {words}\n{}",
            p.render("f")
        );
    }
    // Every problem is located on a real line of the file.
    assert!(errors.iter().all(|e| e.line >= 3));
}

#[test]
fn chaos_warnings_for_ignored_fields() {
    let (_, w) = load_chaos(
        "name: x\ntriggers:\n  - trigger_type: time\n    time_condition: {elapsed_seconds: 1}\n    event_condition: {event_type: sql_received}\n    action: {type: disk_full, latency_ms: 5}\n    max_triggers: 3\n",
    )
    .unwrap();
    let msgs: Vec<&str> = w.0.iter().map(|p| p.message.as_str()).collect();
    assert_eq!(msgs.len(), 3, "{msgs:?}");
    assert!(
        msgs.iter()
            .any(|m| m.contains("`event_condition` is ignored by a time trigger"))
    );
    assert!(
        msgs.iter()
            .any(|m| m.contains("`latency_ms` is ignored by disk_full"))
    );
    assert!(
        msgs.iter()
            .any(|m| m.contains("without cooldown_seconds fires once"))
    );
}
