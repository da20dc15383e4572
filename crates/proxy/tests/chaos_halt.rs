//! The guardian's halt of a chaos script against a real PostgreSQL: a table lock another
//! client waits on, a latency window and an action still in its delay are all removed at once
//! (the lock released, the waiting statement through), nothing fires while halted, and after
//! `resume` the script fires again; applied schema changes (a renamed column, a changed type)
//! are put back by the halt too.

#[path = "chaos_support/support.rs"]
mod chaos_support;

use std::time::Duration;

use anyhow::Result;
use chaos_support::{Lab, LabOptions, connect, events, outcome};
use shakedown_proxy::pg::chaos::{ChaosEvent, ChaosOutcome, ChaosSession};
use shakedown_sql::SqlEventType;

const SETUP: &str = "\
CREATE TABLE accounts (id int PRIMARY KEY, n int NOT NULL); \
INSERT INTO accounts VALUES (1, 0); \
ALTER TABLE accounts OWNER TO shakedown";

const SCRIPT: &str = r#"
name: halt
triggers:
  - name: lock_on_delete
    trigger_type: event
    event_condition: {event_type: SQL_RECEIVED, parsed_type: DELETE, table_pattern: accounts, occurrence: every}
    action: {type: lock_table, table: "{event.tables[0]}", duration_seconds: 60}
    max_triggers: 5
  - name: slow_selects
    trigger_type: event
    event_condition: {event_type: SQL_RECEIVED, parsed_type: SELECT, table_pattern: accounts}
    action: {type: add_latency, latency_ms: 2000, duration_seconds: 60}
  - name: late_rename
    trigger_type: event
    event_condition: {event_type: SQL_RECEIVED, parsed_type: DELETE, table_pattern: accounts}
    action: {type: rename_column, table: accounts, column: n, new_name: m, delay_seconds: 30}
"#;

const LOCKED: &str = "SELECT count(*) FROM pg_locks WHERE mode = 'AccessExclusiveLock' AND granted \
     AND relation = (SELECT oid FROM pg_class WHERE relname = 'accounts')";

const SECS: Duration = Duration::from_secs(1);

fn fire(lab: &Lab, sql: &str) {
    for e in events(SqlEventType::SqlReceived, sql) {
        lab.rt.on_event(&e, ChaosSession::default());
    }
}

fn completed(lab: &Lab, trigger: &str) -> Vec<ChaosOutcome> {
    lab.events()
        .iter()
        .filter(|e| matches!(e, ChaosEvent::ChaosCompleted { trigger: t, .. } if t == trigger))
        .filter_map(outcome)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn halt_undoes_everything_blocks_triggers_and_resume_lets_them_fire_again() -> Result<()> {
    let lab = Lab::start(
        SCRIPT,
        LabOptions {
            setup: SETUP,
            ..LabOptions::default()
        },
    )
    .await?;
    fire(&lab, "DELETE FROM accounts WHERE id = -1");
    lab.admin_until(LOCKED, "1", 3 * SECS).await?;
    fire(&lab, "SELECT * FROM accounts");
    let select = events(SqlEventType::SqlReceived, "SELECT * FROM accounts");
    assert!(lab.rt.before_statement(&select).delay >= 2 * SECS);
    assert_eq!(lab.rt.active(), 2, "the lock and the latency window");
    // Another client, straight to the server, waits on the lock.
    let direct = connect(&lab.pg.url()).await?;
    let updating = tokio::spawn(async move {
        direct
            .batch_execute("UPDATE accounts SET n = n + 1 WHERE id = 1")
            .await
    });
    lab.admin_until(
        "SELECT count(*) FROM pg_stat_activity \
         WHERE wait_event_type = 'Lock' AND query LIKE 'UPDATE accounts%'",
        "1",
        3 * SECS,
    )
    .await?;

    let fired = lab.rt.fired();
    assert_eq!(lab.rt.halt().await, 2);
    assert!(lab.rt.is_halted());
    // Undone by the time halt returns: no lock, the UPDATE went through, no latency.
    assert_eq!(lab.admin(LOCKED)?, "0");
    tokio::time::timeout(2 * SECS, updating).await???;
    assert_eq!(lab.admin("SELECT n FROM accounts WHERE id = 1")?, "1");
    assert!(lab.rt.before_statement(&select).is_none());
    assert_eq!(lab.rt.active(), 0);
    // The events travel through a channel: wait until each one is in.
    for trigger in ["lock_on_delete", "slow_selects", "late_rename"] {
        lab.completed(trigger, 2 * SECS).await?;
    }
    assert_eq!(
        completed(&lab, "lock_on_delete"),
        [ChaosOutcome::HaltedByGuardian]
    );
    assert_eq!(
        completed(&lab, "slow_selects"),
        [ChaosOutcome::HaltedByGuardian]
    );
    assert_eq!(completed(&lab, "late_rename"), [ChaosOutcome::Cancelled]);
    assert_eq!(
        lab.admin("SELECT count(*) FROM information_schema.columns WHERE table_name = 'accounts' AND column_name = 'n'")?,
        "1",
        "the delayed rename never happened"
    );

    // While halted nothing fires, and halting again does nothing.
    fire(&lab, "DELETE FROM accounts WHERE id = -1");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(lab.rt.fired(), fired);
    assert_eq!(lab.admin(LOCKED)?, "0");
    assert_eq!(lab.rt.halt().await, 0);

    // Resumed: the script fires again; nothing undone came back by itself.
    assert!(lab.rt.resume());
    assert!(!lab.rt.resume());
    assert!(lab.rt.before_statement(&select).is_none());
    fire(&lab, "DELETE FROM accounts WHERE id = -1");
    lab.admin_until(LOCKED, "1", 3 * SECS).await?;
    assert!(lab.rt.fired() > fired);
    lab.rt.shutdown().await;
    assert_eq!(lab.admin(LOCKED)?, "0");
    let deadline = std::time::Instant::now() + 2 * SECS;
    while completed(&lab, "lock_on_delete").len() < 2 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        completed(&lab, "lock_on_delete"),
        [ChaosOutcome::HaltedByGuardian, ChaosOutcome::Shutdown]
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_script_started_under_a_halt_fires_nothing_until_resumed() -> Result<()> {
    use shakedown_proxy::pg::chaos::{ChaosOptions, ChaosRuntime};
    use shakedown_sql::chaos::load_chaos;
    // A time trigger due at once: started halted, it must wait for the resume.
    let script = load_chaos(
        "name: at_once\ntriggers:\n  - name: now\n    trigger_type: time\n    time_condition: {elapsed_seconds: 0}\n    action: {type: add_latency, latency_ms: 500, duration_seconds: 60}\n",
    )
    .map_err(|p| anyhow::anyhow!("{}", p.render("script")))?
    .0;
    let rt = ChaosRuntime::start(script, ChaosOptions::default().with_start_halted(true))?;
    assert!(rt.is_halted());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rt.fired(), 0, "nothing fires while halted");
    assert_eq!(rt.active(), 0);
    assert!(rt.resume());
    let deadline = std::time::Instant::now() + 3 * SECS;
    while rt.fired() == 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(rt.fired(), 1, "the due trigger fires once resumed");
    rt.shutdown().await;
    Ok(())
}

const SCHEMA_SETUP: &str = "\
CREATE TABLE orders (id int PRIMARY KEY, total int NOT NULL, note varchar(20)); \
INSERT INTO orders VALUES (1, 10, 'a'), (2, 20, 'b'); \
ALTER TABLE orders OWNER TO shakedown";

const SCHEMA_SCRIPT: &str = r#"
name: halt-schema
triggers:
  - name: rename_total
    trigger_type: event
    event_condition: {event_type: SQL_RECEIVED, parsed_type: UPDATE, table_pattern: orders, occurrence: first}
    action: {type: rename_column, table: orders, column: total, new_name: amount, duration_seconds: 300}
  - name: retype_note
    trigger_type: event
    event_condition: {event_type: SQL_RECEIVED, parsed_type: UPDATE, table_pattern: orders, occurrence: first}
    action: {type: change_column_type, table: orders, column: note, new_type: text, duration_seconds: 300}
"#;

/// `(column name, format_type)` of every live column of `orders`, in column order.
const COLUMNS: &str = "SELECT string_agg(attname || ':' || format_type(atttypid, atttypmod), ',' ORDER BY attnum) \
     FROM pg_attribute WHERE attrelid = 'orders'::regclass AND attnum > 0 AND NOT attisdropped";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn halt_undoes_applied_schema_changes() -> Result<()> {
    let lab = Lab::start(
        SCHEMA_SCRIPT,
        LabOptions {
            setup: SCHEMA_SETUP,
            ..LabOptions::default()
        },
    )
    .await?;
    let original = "id:integer,total:integer,note:character varying(20)";
    assert_eq!(lab.admin(COLUMNS)?, original);
    fire(&lab, "UPDATE orders SET total = total WHERE id = -1");
    // Both changes applied, for five minutes: only the halt brings the columns back now.
    lab.admin_until(COLUMNS, "id:integer,amount:integer,note:text", 5 * SECS)
        .await?;
    assert_eq!(lab.rt.active(), 2, "the rename and the type change");

    assert_eq!(lab.rt.halt().await, 2);
    // Back by the time halt returns, with the rows intact.
    assert_eq!(lab.admin(COLUMNS)?, original);
    assert_eq!(
        lab.admin("SELECT string_agg(id || '=' || total || note, ',' ORDER BY id) FROM orders")?,
        "1=10a,2=20b"
    );
    assert_eq!(lab.rt.active(), 0);
    for trigger in ["rename_total", "retype_note"] {
        lab.completed(trigger, 2 * SECS).await?;
        assert_eq!(
            completed(&lab, trigger),
            [ChaosOutcome::HaltedByGuardian],
            "{trigger}"
        );
    }
    // The shutdown has nothing left to undo (and undoes nothing twice).
    lab.rt.shutdown().await;
    assert_eq!(lab.admin(COLUMNS)?, original);
    Ok(())
}
