//! The wire-side chaos actions observed from real clients through the proxy: added latency,
//! the three injected SQLSTATEs, CPU throttling, network partitions (blackhole and drop) and
//! seeded packet loss; a time trigger fired by the runtime's own clock; and a script whose
//! database-side action fails for want of an admin connection while the rest still runs.

#[path = "chaos_support/support.rs"]
mod chaos_support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use chaos_support::{Lab, LabOptions, outcome, sqlstate, timed};
use shakedown_proxy::pg::Verdict;
use shakedown_proxy::pg::chaos::{
    ChaosEvent, ChaosOptions, ChaosOutcome, ChaosRuntime, ChaosSession,
};
use shakedown_sql::{SqlEventType, load_chaos};

const SECS: Duration = Duration::from_secs(1);
const MS: Duration = Duration::from_millis(1);

/// Tables the triggers key on, owned by the client role.
const SETUP: &str = "\
CREATE TABLE slow (a int); CREATE TABLE kick_timeout (a int); CREATE TABLE disk (a int); \
CREATE TABLE mem (a int); CREATE TABLE cpu (a int); CREATE TABLE snap (a int); \
CREATE TABLE cut (a int); CREATE TABLE lossy (a int); CREATE TABLE nada (a int, b int); \
ALTER TABLE slow OWNER TO shakedown; ALTER TABLE kick_timeout OWNER TO shakedown; \
ALTER TABLE disk OWNER TO shakedown; ALTER TABLE mem OWNER TO shakedown; \
ALTER TABLE cpu OWNER TO shakedown; ALTER TABLE snap OWNER TO shakedown; \
ALTER TABLE cut OWNER TO shakedown; ALTER TABLE lossy OWNER TO shakedown; \
ALTER TABLE nada OWNER TO shakedown";

fn opts() -> LabOptions {
    LabOptions {
        setup: SETUP,
        ..LabOptions::default()
    }
}

/// An event trigger on the first statement touching `table`.
fn on(name: &str, table: &str, action: &str) -> String {
    format!(
        "  - name: {name}\n    trigger_type: event\n    event_condition: {{event_type: SQL_RECEIVED, table_pattern: {table}}}\n    action: {action}\n"
    )
}

fn script(triggers: &[String]) -> String {
    format!("name: wire\ntriggers:\n{}", triggers.concat())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_latency_delays_every_statement_for_its_duration() -> Result<()> {
    let lab = Lab::start(
        &script(&[on(
            "latency",
            "slow",
            "{type: add_latency, latency_ms: 400, duration_seconds: 2}",
        )]),
        opts(),
    )
    .await?;
    let c = lab.client().await?;
    assert!(timed(&c, "SELECT 1").await? < 200 * MS);
    // The statement that fires it is already delayed, and so is everything after.
    assert!(timed(&c, "SELECT * FROM slow").await? >= 400 * MS);
    assert!(timed(&c, "SELECT 1").await? >= 400 * MS);
    // Every session: a second client too.
    let other = lab.client().await?;
    assert!(timed(&other, "SELECT 1").await? >= 400 * MS);

    let done = lab.completed("latency", 3 * SECS).await?;
    assert_eq!(outcome(&done), Some(ChaosOutcome::Expired));
    assert!(
        matches!(done, ChaosEvent::ChaosCompleted { affected: Some(n), .. } if n >= 3),
        "{done:?}"
    );
    assert!(timed(&c, "SELECT 1").await? < 200 * MS);
    lab.rt.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_disk_full_and_memory_pressure_answer_with_their_sqlstates() -> Result<()> {
    let lab = Lab::start(
        &script(&[
            on("timeout", "kick_timeout", "{type: simulate_timeout}"),
            on("disk", "disk", "{type: disk_full, duration_seconds: 1}"),
            on(
                "memory",
                "mem",
                "{type: memory_pressure, percentage: 100, duration_seconds: 1}",
            ),
        ]),
        opts(),
    )
    .await?;
    let c = lab.client().await?;

    // simulate_timeout without a duration: the next statement only.
    let err = c
        .batch_execute("SELECT * FROM kick_timeout")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err).as_deref(), Some("57014"), "{err:?}");
    assert!(
        err.to_string().contains("statement timeout")
            || format!("{err:?}").contains("statement timeout")
    );
    c.batch_execute("SELECT * FROM kick_timeout").await?;
    let done = lab.completed("timeout", SECS).await?;
    assert_eq!(outcome(&done), Some(ChaosOutcome::Consumed));

    // disk_full: writes fail, reads and transaction control still work.
    c.batch_execute("SELECT * FROM disk").await?;
    let err = c
        .batch_execute("INSERT INTO disk VALUES (1)")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err).as_deref(), Some("53100"), "{err:?}");
    c.batch_execute("BEGIN").await?;
    let err = c.batch_execute("UPDATE disk SET a = 2").await.unwrap_err();
    assert_eq!(sqlstate(&err).as_deref(), Some("53100"), "{err:?}");
    c.batch_execute("ROLLBACK").await?;
    c.batch_execute("SELECT count(*) FROM disk").await?;
    lab.completed("disk", 2 * SECS).await?;
    c.batch_execute("INSERT INTO disk VALUES (1)").await?;

    // memory_pressure at 100 %: every statement fails until it ends.
    let err = c.batch_execute("SELECT * FROM mem").await.unwrap_err();
    assert_eq!(sqlstate(&err).as_deref(), Some("53200"), "{err:?}");
    let err = c.batch_execute("SELECT 1").await.unwrap_err();
    assert_eq!(sqlstate(&err).as_deref(), Some("53200"), "{err:?}");
    let done = lab.completed("memory", 2 * SECS).await?;
    assert!(
        matches!(
            done,
            ChaosEvent::ChaosCompleted {
                affected: Some(2),
                outcome: ChaosOutcome::Expired,
                ..
            }
        ),
        "{done:?}"
    );
    c.batch_execute("SELECT * FROM mem").await?;
    assert_eq!(lab.admin("SELECT count(*) FROM disk")?, "1");
    lab.rt.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cpu_throttle_slows_responses_in_proportion() -> Result<()> {
    let lab = Lab::start(
        &script(&[on(
            "cpu",
            "cpu",
            "{type: cpu_throttle, percentage: 75, duration_seconds: 2}",
        )]),
        opts(),
    )
    .await?;
    let c = lab.client().await?;
    let base = timed(&c, "SELECT pg_sleep(0.2)").await?;
    assert!(base < 400 * MS, "{base:?}");
    c.batch_execute("SELECT * FROM cpu").await?;
    // At 75 % a response takes four times its server time: 0.2 s becomes 0.8 s.
    let slowed = timed(&c, "SELECT pg_sleep(0.2)").await?;
    assert!(slowed >= 750 * MS && slowed < 1500 * MS, "{slowed:?}");
    lab.completed("cpu", 3 * SECS).await?;
    let after = timed(&c, "SELECT pg_sleep(0.2)").await?;
    assert!(after < 400 * MS, "{after:?}");
    lab.rt.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_partition_drops_or_blackholes_the_connection() -> Result<()> {
    let lab = Lab::start(
        &script(&[
            on(
                "drop",
                "snap",
                "{type: network_partition, duration_seconds: 1, parameters: {mode: drop}}",
            ),
            on(
                "blackhole",
                "cut",
                "{type: network_partition, duration_seconds: 2}",
            ),
        ]),
        opts(),
    )
    .await?;

    // drop: the connection closes under the statement, at once.
    let c = lab.client().await?;
    let t = Instant::now();
    let err = c.batch_execute("SELECT * FROM snap").await.unwrap_err();
    assert!(t.elapsed() < 500 * MS, "{:?}", t.elapsed());
    assert!(err.is_closed() || c.is_closed(), "{err:?}");
    lab.completed("drop", 2 * SECS).await?;

    // blackhole: the statement hangs, then the connection is dropped when it ends.
    let a = lab.client().await?;
    let started = Instant::now();
    let hung = tokio::time::timeout(SECS, a.batch_execute("SELECT * FROM cut")).await;
    assert!(hung.is_err(), "the statement was answered: {hung:?}");
    // A client connecting during the partition hangs at its first statement too.
    let b = lab.client().await?;
    let hung = tokio::time::timeout(300 * MS, b.batch_execute("SELECT 1")).await;
    assert!(hung.is_err(), "{hung:?}");
    let done = lab.completed("blackhole", 3 * SECS).await?;
    assert_eq!(outcome(&done), Some(ChaosOutcome::Expired));
    let deadline = Instant::now() + 2 * SECS;
    while !a.is_closed() {
        assert!(
            Instant::now() < deadline,
            "the blackholed connection stayed open"
        );
        tokio::time::sleep(20 * MS).await;
    }
    assert!(started.elapsed() >= 2 * SECS - 100 * MS);
    // After the partition a new client works.
    let fresh = lab.client().await?;
    assert!(timed(&fresh, "SELECT 1").await? < 300 * MS);
    lab.rt.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn packet_loss_stalls_some_messages() -> Result<()> {
    let lab = Lab::start(
        &script(&[on(
            "loss",
            "lossy",
            "{type: packet_loss, percentage: 30, duration_seconds: 30}",
        )]),
        LabOptions { seed: 11, ..opts() },
    )
    .await?;
    let c = lab.client().await?;
    c.batch_execute("SELECT * FROM lossy").await?;
    let mut stalled = 0;
    let mut clean = 0;
    for _ in 0..10 {
        let t = timed(&c, "SELECT 1").await?;
        // A stall is a multiple of the 200 ms retransmission timeout.
        if t >= 190 * MS {
            stalled += 1;
        } else {
            clean += 1;
        }
    }
    assert!(
        stalled >= 1 && clean >= 1,
        "stalled {stalled}, clean {clean}"
    );
    lab.rt.shutdown().await;
    let done = lab.completed("loss", SECS).await?;
    assert!(
        matches!(done, ChaosEvent::ChaosCompleted { affected: Some(n), outcome: ChaosOutcome::Shutdown, .. } if n >= stalled),
        "{done:?}"
    );
    Ok(())
}

/// The event log once it holds `n` events (the drain task may lag the runtime a little).
async fn settled(log: &std::sync::Mutex<Vec<ChaosEvent>>, n: usize) -> Vec<ChaosEvent> {
    let deadline = Instant::now() + SECS;
    loop {
        let events = log.lock().unwrap().clone();
        if events.len() >= n || Instant::now() >= deadline {
            return events;
        }
        tokio::time::sleep(5 * MS).await;
    }
}

/// Starts `yaml` without a database, seeded; returns the runtime and its event log.
fn bare(yaml: &str, seed: u64) -> Result<(ChaosRuntime, Arc<std::sync::Mutex<Vec<ChaosEvent>>>)> {
    let (script, _) = load_chaos(yaml).map_err(|p| anyhow::anyhow!(p.render("t.yaml")))?;
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let log = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = Arc::clone(&log);
    tokio::spawn(async move {
        while let Some(e) = rx.recv().await {
            sink.lock().unwrap().push(e);
        }
    });
    let rt = ChaosRuntime::start(
        script,
        ChaosOptions::default().with_events(tx).with_seed(seed),
    )?;
    Ok((rt, log))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_triggers_fire_on_the_runtime_clock_and_seeds_reproduce() -> Result<()> {
    let yaml = r#"
name: timed_loss
triggers:
  - name: loss_at_1s
    trigger_type: time
    time_condition: {elapsed_seconds: 1}
    action: {type: packet_loss, percentage: 40, duration_seconds: 10}
"#;
    let started = Instant::now();
    let (a, log) = bare(yaml, 5)?;
    let (b, _) = bare(yaml, 5)?;
    let (other, _) = bare(yaml, 6)?;
    let deadline = started + 3 * SECS;
    while a.active() + b.active() + other.active() < 3 {
        assert!(Instant::now() < deadline, "the time trigger never fired");
        tokio::time::sleep(10 * MS).await;
    }
    assert!(
        started.elapsed() >= SECS - 50 * MS,
        "{:?}",
        started.elapsed()
    );
    let draws = |rt: &ChaosRuntime| -> Vec<Duration> {
        (0..40).map(|_| rt.response_delay(Duration::ZERO)).collect()
    };
    let (da, db, dother) = (draws(&a), draws(&b), draws(&other));
    assert_eq!(da, db, "same seed, same stalls");
    assert_ne!(da, dother, "another seed, other stalls");
    let stalls = da.iter().filter(|d| !d.is_zero()).count() as u64;
    assert!(stalls > 0 && stalls < 40, "{stalls}");
    for rt in [&a, &b, &other] {
        rt.shutdown().await;
    }
    let events = settled(&log, 2).await;
    assert!(
        matches!(&events[0], ChaosEvent::ChaosTriggered { session: None, trigger, .. } if trigger == "loss_at_1s"),
        "{events:?}"
    );
    assert!(
        matches!(&events[1], ChaosEvent::ChaosCompleted { outcome: ChaosOutcome::Shutdown, affected: Some(n), .. } if *n == stalls),
        "{events:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_admin_url_db_actions_fail_and_the_rest_still_runs() -> Result<()> {
    let lab = Lab::start(
        &script(&[
            on(
                "rename",
                "nada",
                "{type: rename_column, table: nada, column: a, new_name: z, duration_seconds: 1}",
            ),
            on(
                "latency",
                "nada",
                "{type: add_latency, latency_ms: 300, duration_seconds: 1}",
            ),
        ]),
        LabOptions {
            admin: false,
            ..opts()
        },
    )
    .await?;
    let c = lab.client().await?;
    assert!(timed(&c, "SELECT * FROM nada").await? >= 300 * MS);
    let failed = lab.completed("rename", SECS).await?;
    let ChaosEvent::ChaosCompleted {
        id,
        outcome,
        error,
        session,
        ..
    } = &failed
    else {
        unreachable!()
    };
    assert_eq!(*outcome, ChaosOutcome::Failed);
    assert!(
        error.as_deref().unwrap_or("").contains("--admin-url"),
        "{error:?}"
    );
    assert!(session.is_some());
    // chaos_triggered came first, with the same id.
    let events = lab.events();
    let first = events.iter().position(|e| e.id() == *id).unwrap();
    assert!(matches!(events[first], ChaosEvent::ChaosTriggered { .. }));
    // Nothing changed in the database.
    assert_eq!(
        lab.admin("SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_attribute WHERE attrelid = 'nada'::regclass AND attnum > 0")?,
        "a,b"
    );
    lab.completed("latency", 2 * SECS).await?;
    lab.rt.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delays_are_waited_and_chaos_events_chain_triggers() -> Result<()> {
    let yaml = r#"
name: chained
triggers:
  - name: disk_after_1s
    trigger_type: event
    event_condition: {event_type: SQL_RECEIVED, parsed_type: INSERT}
    action: {type: disk_full, duration_seconds: 1, delay_seconds: 1}
  - name: then_timeout
    trigger_type: event
    event_condition: {event_type: CHAOS_COMPLETED}
    action: {type: simulate_timeout}
"#;
    let (rt, log) = bare(yaml, 1)?;
    let insert = chaos_support::events(SqlEventType::SqlReceived, "INSERT INTO t VALUES (1)");
    let started = Instant::now();
    rt.on_event(&insert[0], ChaosSession::new(7, Some("agent")));
    // Nothing during the delay.
    assert!(rt.before_statement(&insert).is_none());
    let deadline = started + 3 * SECS;
    let rejected = |rt: &ChaosRuntime| match rt.before_statement(&insert).verdict {
        Verdict::Reject(r) => Some(r.sqlstate),
        _ => None,
    };
    while rejected(&rt).is_none() {
        assert!(Instant::now() < deadline, "disk_full never applied");
        tokio::time::sleep(10 * MS).await;
    }
    assert!(
        started.elapsed() >= SECS - 50 * MS,
        "{:?}",
        started.elapsed()
    );
    assert_eq!(rejected(&rt).as_deref(), Some("53100"));
    // When it completes, its chaos_completed fires the one-shot timeout.
    let deadline = started + 4 * SECS;
    loop {
        match rejected(&rt).as_deref() {
            Some("57014") => break,
            Some("53100") | None => {}
            other => panic!("unexpected {other:?}"),
        }
        assert!(Instant::now() < deadline, "the chained timeout never fired");
        tokio::time::sleep(10 * MS).await;
    }
    assert_eq!(rejected(&rt), None, "the timeout was one-shot");
    rt.shutdown().await;
    let events = settled(&log, 4).await;
    let names: Vec<(String, &str)> = events
        .iter()
        .map(|e| match e {
            ChaosEvent::ChaosTriggered { trigger, .. } => (trigger.clone(), "triggered"),
            ChaosEvent::ChaosCompleted { trigger, .. } => (trigger.clone(), "completed"),
        })
        .collect();
    assert_eq!(
        names,
        [
            ("disk_after_1s".to_string(), "triggered"),
            ("disk_after_1s".to_string(), "completed"),
            ("then_timeout".to_string(), "triggered"),
            ("then_timeout".to_string(), "completed"),
        ],
        "{events:?}"
    );
    assert!(matches!(
        &events[0],
        ChaosEvent::ChaosTriggered { session: Some(7), delay, .. } if *delay == SECS
    ));
    assert!(matches!(
        &events[3],
        ChaosEvent::ChaosCompleted {
            outcome: ChaosOutcome::Consumed,
            affected: Some(1),
            ..
        }
    ));
    Ok(())
}
