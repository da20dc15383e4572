//! The chaos trigger engine with time passed in by hand: occurrences, counts, cooldowns,
//! max_triggers, the global cap, time triggers with jitter, templates, and the shipped scripts.

use std::time::{Duration, Instant};

use shakedown_sql::chaos::{
    ChaosAction, ChaosEngine, ChaosScript, PartitionMode, SqlEvent, TriggerType, load_chaos,
};
use shakedown_sql::classify::{ClassifyOptions, StatementType, TableName, classify};
use shakedown_sql::event::SqlEventType;

fn script(yaml: &str) -> ChaosScript {
    match load_chaos(yaml) {
        Ok((s, _)) => s,
        Err(p) => panic!("{}", p.render("test.yaml")),
    }
}

fn shipped(name: &str) -> ChaosScript {
    let path = format!(
        "{}/../../chaos_scripts/{name}.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    match load_chaos(&std::fs::read_to_string(&path).unwrap()) {
        Ok((s, warnings)) => {
            assert!(warnings.0.is_empty(), "{}", warnings.render(&path));
            s
        }
        Err(p) => panic!("{}", p.render(&path)),
    }
}

fn sql_event(event_type: SqlEventType, sql: &str) -> SqlEvent {
    let c = &classify(sql, &ClassifyOptions::default())[0];
    SqlEvent::from_classification(event_type, c)
}

fn received(sql: &str) -> SqlEvent {
    sql_event(SqlEventType::SqlReceived, sql)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[test]
fn shipped_scripts_load_with_their_intent() {
    let s = shipped("db_lock_v1");
    assert_eq!(s.max_total_chaos_events, 10);
    assert_eq!(s.triggers.len(), 3);
    for name in [
        "latency_spike",
        "schema_mutation",
        "network_chaos",
        "resource_exhaustion",
    ] {
        let s = shipped(name);
        assert_eq!(s.name, name);
        assert!(!s.triggers.is_empty());
    }
    assert!(!shipped("schema_mutation").triggers[2].enabled);
}

#[test]
fn db_lock_v1_locks_the_first_deleted_table() {
    let t0 = Instant::now();
    let mut e = ChaosEngine::new(shipped("db_lock_v1"), t0).with_seed(7);
    assert!(e.on_event(&received("SELECT 1"), t0).is_empty());
    let fired = e.on_event(&received("DELETE FROM orders WHERE id = 1"), t0 + secs(1));
    // The DELETE is the second statement: the count trigger (3) waits.
    let kinds: Vec<&str> = fired.iter().map(|f| f.trigger.as_str()).collect();
    assert_eq!(kinds, vec!["first_delete_lock"]);
    assert_eq!(
        fired[0].action,
        ChaosAction::LockTable {
            table: TableName::new(None, "orders"),
            mode: "ACCESS EXCLUSIVE",
            duration: secs(30),
        }
    );
    assert_eq!(fired[0].trigger_type, TriggerType::Event);
    // Only the first DELETE.
    let fired = e.on_event(&received("DELETE FROM users WHERE id = 1"), t0 + secs(2));
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].trigger, "timeout_on_bulk");
    assert_eq!(fired[0].action.sqlstate(), Some("57014"));
    // Count trigger: max 2, 30 s cooldown.
    assert!(e.on_event(&received("SELECT 1"), t0 + secs(10)).is_empty());
    let fired = e.on_event(&received("SELECT 1"), t0 + secs(32));
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].fire_count, 2);
    assert!(e.on_event(&received("SELECT 1"), t0 + secs(100)).is_empty());
    // The time trigger, with its jitter drawn from the seed.
    let due = e.next_deadline().unwrap();
    assert!(
        due >= t0 + secs(60) && due <= t0 + secs(70),
        "{:?}",
        due - t0
    );
    assert!(e.on_tick(due - Duration::from_millis(1)).is_empty());
    let fired = e.on_tick(due);
    assert_eq!(
        fired[0].action,
        ChaosAction::AddLatency {
            latency: Duration::from_millis(5000),
            duration: secs(30)
        }
    );
    assert!(e.on_tick(due + secs(100)).is_empty());
    assert_eq!(e.next_deadline(), None);
    assert_eq!(e.total_fired(), 4);
}

#[test]
fn occurrences_first_nth_and_every() {
    let s = script(
        r#"
name: t
triggers:
  - name: third
    trigger_type: event
    event_condition: {event_type: sql_allowed, table_pattern: user, occurrence: 3}
    action: {type: simulate_timeout}
  - name: each
    trigger_type: event
    event_condition: {event_type: sql_allowed, parsed_type: update, occurrence: every}
    action: {type: disk_full, duration_seconds: 5}
    max_triggers: 10
"#,
    );
    let t0 = Instant::now();
    let mut e = ChaosEngine::new(s, t0);
    let ev = |sql: &str| sql_event(SqlEventType::SqlAllowed, sql);
    let names = |f: Vec<shakedown_sql::chaos::FiredAction>| -> Vec<String> {
        f.into_iter().map(|f| f.trigger).collect()
    };
    assert!(names(e.on_event(&ev("SELECT * FROM users"), t0)).is_empty());
    // Substring match (ChaosTrace's table_pattern): `user` matches `app_users`.
    assert!(names(e.on_event(&ev("SELECT * FROM app_users"), t0)).is_empty());
    assert!(names(e.on_event(&ev("SELECT * FROM orders"), t0)).is_empty());
    assert_eq!(
        names(e.on_event(&ev("UPDATE users SET a = 1 WHERE id = 1"), t0)),
        vec!["third", "each"]
    );
    assert_eq!(
        names(e.on_event(&ev("UPDATE t SET a = 1 WHERE id = 1"), t0)),
        vec!["each"]
    );
    // Other event types do not count.
    assert!(e.on_event(&received("UPDATE t SET a = 1"), t0).is_empty());
    assert_eq!(e.fire_counts(), vec![("third", 1), ("each", 2)]);
}

#[test]
fn parsed_type_sees_writes_inside_with() {
    let s = script(
        r#"
name: t
triggers:
  - trigger_type: event
    event_condition: {event_type: SQL_RECEIVED, parsed_type: DELETE, table_pattern: "acc*"}
    action: {type: lock_table, table: "{event.tables[0]}", duration_seconds: 3, parameters: {mode: share}}
"#,
    );
    let t0 = Instant::now();
    let mut e = ChaosEngine::new(s, t0);
    let f = e.on_event(
        &received("WITH d AS (DELETE FROM accounts RETURNING *) SELECT * FROM d"),
        t0,
    );
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].trigger, "trigger[0]");
    assert_eq!(
        f[0].action,
        ChaosAction::LockTable {
            table: TableName::new(None, "accounts"),
            mode: "SHARE",
            duration: secs(3)
        }
    );
}

#[test]
fn unparsed_statements_match_by_keyword() {
    let s = script(
        "name: t\ntriggers:\n  - trigger_type: event\n    event_condition: {event_type: sql_received, parsed_type: DELETE}\n    action: {type: simulate_timeout}\n",
    );
    let t0 = Instant::now();
    let mut e = ChaosEngine::new(s, t0);
    let ev = received("DELETE FROM ONLY users u WHERE u.id = 1");
    assert_eq!(ev.statement_type, Some(StatementType::Delete));
    assert_eq!(e.on_event(&ev, t0).len(), 1);
}

#[test]
fn cooldown_max_triggers_and_global_cap() {
    let s = script(
        r#"
name: t
max_total_chaos_events: 3
triggers:
  - name: a
    trigger_type: event
    event_condition: {event_type: sql_received, occurrence: every}
    action: {type: packet_loss, percentage: 25}
    max_triggers: 5
    cooldown_seconds: 10
  - name: b
    trigger_type: event
    event_condition: {event_type: sql_received, occurrence: every}
    action: {type: cpu_throttle}
    max_triggers: 5
"#,
    );
    let t0 = Instant::now();
    let mut e = ChaosEngine::new(s, t0);
    let ev = received("SELECT 1");
    let f = e.on_event(&ev, t0);
    assert_eq!(f.len(), 2);
    assert_eq!(
        f[0].action,
        ChaosAction::PacketLoss {
            percentage: 25,
            duration: secs(60)
        }
    );
    assert_eq!(
        f[1].action,
        ChaosAction::CpuThrottle {
            percentage: 50,
            duration: secs(60)
        }
    );
    // a is cooling down; b fires; the cap (3) is then reached.
    let f = e.on_event(&ev, t0 + secs(5));
    assert_eq!(
        f.iter().map(|f| f.trigger.as_str()).collect::<Vec<_>>(),
        vec!["b"]
    );
    assert!(e.on_event(&ev, t0 + secs(20)).is_empty());
    assert_eq!(e.total_fired(), 3);
}

#[test]
fn cooldown_is_measured_from_the_last_fire() {
    let s = script(
        r#"
name: t
triggers:
  - name: a
    trigger_type: event
    event_condition: {event_type: sql_received, occurrence: every}
    action: {type: simulate_timeout, duration_seconds: 2}
    max_triggers: 3
    cooldown_seconds: 10
"#,
    );
    let t0 = Instant::now();
    let mut e = ChaosEngine::new(s, t0);
    let ev = received("SELECT 1");
    let at = |e: &mut ChaosEngine, s: u64| e.on_event(&ev, t0 + secs(s)).len();
    assert_eq!(at(&mut e, 0), 1);
    assert_eq!(at(&mut e, 9), 0);
    assert_eq!(at(&mut e, 10), 1);
    assert_eq!(at(&mut e, 15), 0);
    assert_eq!(at(&mut e, 20), 1);
    assert_eq!(at(&mut e, 40), 0); // max_triggers reached
}

#[test]
fn count_triggers_reset_or_keep_firing() {
    let s = script(
        r#"
name: t
triggers:
  - name: every_two
    trigger_type: count
    count_condition: {event_type: sql_result, count: 2, reset_after_trigger: true}
    action: {type: memory_pressure, percentage: 90, duration_seconds: 1}
    max_triggers: 10
"#,
    );
    let t0 = Instant::now();
    let mut e = ChaosEngine::new(s, t0);
    let ev = SqlEvent::new(SqlEventType::SqlResult);
    let fired: Vec<usize> = (0..6)
        .map(|i| e.on_event(&ev, t0 + secs(i)).len())
        .collect();
    assert_eq!(fired, vec![0, 1, 0, 1, 0, 1]);
}

#[test]
fn time_triggers_repeat_with_cooldown_and_respect_disabled() {
    let t0 = Instant::now();
    let mut e = ChaosEngine::new(shipped("network_chaos"), t0).with_seed(1);
    assert_eq!(e.next_deadline(), Some(t0 + secs(20)));
    let f = e.on_tick(t0 + secs(20));
    assert_eq!(
        f[0].action,
        ChaosAction::NetworkPartition {
            mode: PartitionMode::Blackhole,
            duration: secs(5)
        }
    );
    assert_eq!(e.next_deadline(), Some(t0 + secs(45)));
    assert_eq!(e.on_tick(t0 + secs(45)).len(), 1); // light packet loss
    assert_eq!(e.next_deadline(), Some(t0 + secs(50)));
    assert_eq!(e.on_tick(t0 + secs(50))[0].trigger, "brief_partition");
    assert_eq!(e.on_tick(t0 + secs(80))[0].fire_count, 3);
    assert!(e.on_tick(t0 + secs(85)).is_empty());
    // The event trigger drops the connection, after a 1 s delay.
    let f = e.on_event(&received("DELETE FROM t WHERE id = 1"), t0 + secs(86));
    assert_eq!(f[0].delay, secs(1));
    assert_eq!(
        f[0].action,
        ChaosAction::NetworkPartition {
            mode: PartitionMode::Drop,
            duration: secs(10)
        }
    );

    // A disabled trigger (change_column_type) never fires; a disabled script does nothing.
    let mut e = ChaosEngine::new(shipped("schema_mutation"), t0);
    let f = e.on_tick(t0 + secs(1000));
    assert_eq!(f.len(), 1);
    assert_eq!(
        f[0].action,
        ChaosAction::DropIndex {
            table: Some(TableName::new(None, "users")),
            index: "idx_users_last_active".into(),
            duration: None
        }
    );
    let mut off = shipped("latency_spike");
    off.enabled = false;
    let mut e = ChaosEngine::new(off, t0);
    assert!(e.on_tick(t0 + secs(1000)).is_empty());
    assert_eq!(e.next_deadline(), None);
}

#[test]
fn jitter_is_deterministic_per_seed_and_bounded() {
    let yaml = r#"
name: t
triggers:
  - trigger_type: time
    time_condition: {elapsed_seconds: 10, jitter_seconds: 5}
    action: {type: disk_full}
"#;
    let t0 = Instant::now();
    let d = |seed| {
        ChaosEngine::new(script(yaml), t0)
            .with_seed(seed)
            .next_deadline()
            .unwrap()
    };
    assert_eq!(d(42), d(42));
    let mut seen = std::collections::BTreeSet::new();
    for seed in 0..200 {
        let off = d(seed) - t0;
        assert!(off >= secs(10) && off <= secs(15));
        seen.insert(off);
    }
    assert!(seen.len() > 1, "jitter never varies");
}

#[test]
fn templates_render_against_the_event() {
    let s = script(
        r#"
name: t
triggers:
  - trigger_type: event
    event_condition: {event_type: sql_received, parsed_type: SELECT, occurrence: every}
    action:
      type: rename_column
      table: "{event.tables[1]}"
      column: "\"Email\""
      new_name: "email_{run.id}"
      duration_seconds: 60
    max_triggers: 5
  - trigger_type: event
    event_condition: {event_type: sql_received, parsed_type: DELETE, min_rows: 10}
    action: {type: drop_index, table: "{event.table}"}
"#,
    );
    let t0 = Instant::now();
    let mut e = ChaosEngine::new(s, t0).with_run_id("r42");
    // Only one table: `{event.tables[1]}` has no value, so nothing fires.
    assert!(e.on_event(&received("SELECT * FROM a"), t0).is_empty());
    let f = e.on_event(&received("SELECT * FROM a JOIN \"S\".b ON true"), t0);
    assert_eq!(
        f[0].action,
        ChaosAction::RenameColumn {
            table: TableName::new(Some("S"), "b"),
            column: "Email".into(),
            new_name: "email_r42".into(),
            duration: Some(secs(60)),
        }
    );
    // min_rows needs a row count at least that large.
    let del = received("DELETE FROM logs WHERE id > 1");
    assert!(e.on_event(&del, t0).is_empty());
    assert!(e.on_event(&del.clone().with_rows(9), t0).is_empty());
    let f = e.on_event(&del.with_rows(10), t0);
    assert_eq!(
        f[0].action,
        ChaosAction::DropIndex {
            table: Some(TableName::new(None, "logs")),
            index: "idx_logs_id".into(),
            duration: None,
        }
    );
    assert_eq!(
        serde_json::to_value(&f[0]).unwrap()["action"],
        serde_json::json!({"type": "drop_index", "table": {"schema": null, "name": "logs"}, "index": "idx_logs_id", "duration": null})
    );
}

#[test]
fn all_twelve_actions_render_with_defaults() {
    let s = script(
        r#"
name: t
triggers:
  - {trigger_type: time, time_condition: {elapsed_seconds: 0}, action: {type: lock_table, table: t}}
  - {trigger_type: time, time_condition: {elapsed_seconds: 0}, action: {type: add_latency}}
  - {trigger_type: time, time_condition: {elapsed_seconds: 0}, action: {type: revoke_credentials, parameters: {role: Agent}}}
  - {trigger_type: time, time_condition: {elapsed_seconds: 0}, action: {type: rename_column, table: t, column: a, new_name: b}}
  - {trigger_type: time, time_condition: {elapsed_seconds: 0}, action: {type: change_column_type, table: t, column: a, new_type: "varchar(64)"}}
  - {trigger_type: time, time_condition: {elapsed_seconds: 0}, action: {type: drop_index, parameters: {index_name: i}}}
  - {trigger_type: time, time_condition: {elapsed_seconds: 0}, action: {type: simulate_timeout}}
  - {trigger_type: time, time_condition: {elapsed_seconds: 0}, action: {type: disk_full}}
  - {trigger_type: time, time_condition: {elapsed_seconds: 0}, action: {type: memory_pressure}}
  - {trigger_type: time, time_condition: {elapsed_seconds: 0}, action: {type: cpu_throttle}}
  - {trigger_type: time, time_condition: {elapsed_seconds: 0}, action: {type: network_partition}}
  - {trigger_type: time, time_condition: {elapsed_seconds: 0}, action: {type: packet_loss}}
"#,
    );
    let t0 = Instant::now();
    let mut e = ChaosEngine::new(s, t0);
    let f: Vec<ChaosAction> = e.on_tick(t0).into_iter().map(|f| f.action).collect();
    let t = TableName::new(None, "t");
    assert_eq!(
        f,
        vec![
            ChaosAction::LockTable {
                table: t.clone(),
                mode: "ACCESS EXCLUSIVE",
                duration: secs(30)
            },
            ChaosAction::AddLatency {
                latency: Duration::from_millis(1000),
                duration: secs(60)
            },
            ChaosAction::RevokeCredentials {
                role: Some("agent".into()),
                duration: None
            },
            ChaosAction::RenameColumn {
                table: t.clone(),
                column: "a".into(),
                new_name: "b".into(),
                duration: None
            },
            ChaosAction::ChangeColumnType {
                table: t,
                column: "a".into(),
                new_type: "varchar(64)".into(),
                duration: None
            },
            ChaosAction::DropIndex {
                table: None,
                index: "i".into(),
                duration: None
            },
            ChaosAction::SimulateTimeout { duration: None },
            ChaosAction::DiskFull { duration: secs(60) },
            ChaosAction::MemoryPressure {
                percentage: 80,
                duration: secs(60)
            },
            ChaosAction::CpuThrottle {
                percentage: 50,
                duration: secs(60)
            },
            ChaosAction::NetworkPartition {
                mode: PartitionMode::Blackhole,
                duration: secs(30)
            },
            ChaosAction::PacketLoss {
                percentage: 10,
                duration: secs(60)
            },
        ]
    );
    let sqlstates: Vec<Option<&str>> = f.iter().map(|a| a.sqlstate()).collect();
    assert_eq!(sqlstates.iter().flatten().count(), 3);
    assert!(f.iter().any(|a| a.kind().as_str() == "cpu_throttle"));
    assert_eq!(f[6].duration(), None);
}
