//! The database-side chaos actions against a real PostgreSQL, observed from real clients
//! through the proxy: a lock other clients wait on, a login that fails and comes back, a
//! renamed column, a changed type and a dropped index that are all put back exactly, and a
//! shutdown that unwinds everything still applied.

#[path = "chaos_support/support.rs"]
mod chaos_support;

use std::time::{Duration, Instant};

use anyhow::Result;
use chaos_support::{Lab, LabOptions, connect, outcome, sqlstate, value};
use shakedown_proxy::pg::chaos::{ChaosEvent, ChaosOutcome};

const SETUP: &str = "\
CREATE TABLE accounts (id int PRIMARY KEY, n int NOT NULL); \
INSERT INTO accounts VALUES (1, 0); \
CREATE TABLE users (id int PRIMARY KEY, email text, phone varchar(20) COLLATE \"C\"); \
INSERT INTO users VALUES (1, 'a@example.com', '5551234'); \
CREATE INDEX idx_users_email ON users (email); \
COMMENT ON INDEX idx_users_email IS 'lookups by email'; \
ALTER TABLE users CLUSTER ON idx_users_email; \
CREATE TABLE \"Odd \"\"Name\"\"\" (\"Col One\" int); \
ALTER TABLE accounts OWNER TO shakedown; \
ALTER TABLE users OWNER TO shakedown; \
ALTER TABLE \"Odd \"\"Name\"\"\" OWNER TO shakedown";

fn opts() -> LabOptions {
    LabOptions {
        setup: SETUP,
        ..LabOptions::default()
    }
}

const SECS: Duration = Duration::from_secs(1);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_table_makes_other_clients_wait_then_releases() -> Result<()> {
    let lab = Lab::start(
        r#"
name: lock
triggers:
  - name: lock_on_delete
    trigger_type: event
    event_condition: {event_type: SQL_RECEIVED, parsed_type: DELETE, table_pattern: accounts}
    action: {type: lock_table, table: "{event.tables[0]}", duration_seconds: 2}
"#,
        opts(),
    )
    .await?;
    let a = lab.client().await?;
    let b = lab.client().await?;
    // The DELETE fires the lock; it may itself end up waiting on it, so do not wait for it.
    let deleting =
        tokio::spawn(async move { a.batch_execute("DELETE FROM accounts WHERE id = -1").await });
    lab.admin_until(
        "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity s ON s.pid = l.pid \
         WHERE s.application_name = 'shakedown-chaos lock_table' \
           AND l.relation = 'accounts'::regclass AND l.mode = 'AccessExclusiveLock' AND l.granted",
        "1",
        3 * SECS,
    )
    .await?;
    // Another client's UPDATE now waits on the lock…
    let started = Instant::now();
    let updating = tokio::spawn(async move {
        b.batch_execute("UPDATE accounts SET n = n + 1 WHERE id = 1")
            .await
    });
    lab.admin_until(
        "SELECT count(*) FROM pg_stat_activity \
         WHERE wait_event_type = 'Lock' AND query LIKE 'UPDATE accounts%'",
        "1",
        2 * SECS,
    )
    .await?;
    // …and goes through once the lock is released.
    tokio::time::timeout(4 * SECS, updating).await???;
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(300), "{waited:?}");
    deleting.await??;
    assert_eq!(lab.admin("SELECT n FROM accounts WHERE id = 1")?, "1");
    let done = lab.completed("lock_on_delete", 2 * SECS).await?;
    assert_eq!(outcome(&done), Some(ChaosOutcome::Expired));
    if let ChaosEvent::ChaosCompleted {
        duration, session, ..
    } = &done
    {
        assert!(*duration >= 2 * SECS, "{duration:?}");
        assert!(session.is_some());
    }
    assert_eq!(
        lab.admin(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'shakedown-chaos lock%'"
        )?,
        "0"
    );
    lab.rt.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoke_credentials_fails_new_logins_then_restores() -> Result<()> {
    let lab = Lab::start(
        r#"
name: revoke
triggers:
  - name: revoke_session_role
    trigger_type: event
    event_condition: {event_type: SQL_RECEIVED, table_pattern: accounts}
    action: {type: revoke_credentials, duration_seconds: 2}
  - name: revoke_admin
    trigger_type: event
    event_condition: {event_type: SQL_RECEIVED, table_pattern: accounts}
    action: {type: revoke_credentials, parameters: {role: postgres}, duration_seconds: 2}
"#,
        opts(),
    )
    .await?;
    let before = lab.snapshot()?;
    let a = lab.client().await?;
    a.batch_execute("SELECT * FROM accounts").await?;
    lab.admin_until(
        "SELECT rolcanlogin FROM pg_roles WHERE rolname = 'shakedown'",
        "f",
        3 * SECS,
    )
    .await?;
    // A new login through the proxy fails, for tokio-postgres and for psql.
    let err = connect(&lab.pg.url_via(lab.port())).await.unwrap_err();
    let err = err.downcast::<tokio_postgres::Error>()?;
    assert_eq!(sqlstate(&err).as_deref(), Some("28000"), "{err:?}");
    let out = tokio::process::Command::from(lab.pg.psql_via(lab.port(), lab.pg.user()))
        .args(["-c", "SELECT 1"])
        .output()
        .await?;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not permitted to log in"), "{stderr}");
    // The session already open goes on.
    a.batch_execute("SELECT 1").await?;
    // The admin role is never revoked: its connection must restore the others.
    let refused = lab.completed("revoke_admin", 3 * SECS).await?;
    assert_eq!(outcome(&refused), Some(ChaosOutcome::Failed));
    assert!(
        format!("{refused:?}").contains("admin connection's role"),
        "{refused:?}"
    );

    let done = lab.completed("revoke_session_role", 3 * SECS).await?;
    assert_eq!(outcome(&done), Some(ChaosOutcome::Expired));
    assert_eq!(lab.snapshot()?, before);
    let again = lab.client().await?;
    again.batch_execute("SELECT 1").await?;
    lab.rt.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rename_column_then_restored_with_quoted_names() -> Result<()> {
    let lab = Lab::start(
        r#"
name: rename
triggers:
  - name: rename_email
    trigger_type: event
    event_condition: {event_type: SQL_RECEIVED, table_pattern: users}
    action: {type: rename_column, table: users, column: email, new_name: email_address, duration_seconds: 2}
  - name: rename_odd
    trigger_type: event
    event_condition: {event_type: SQL_RECEIVED, table_pattern: users}
    action:
      type: rename_column
      table: '"Odd ""Name"""'
      column: '"Col One"'
      new_name: '"x""; DROP TABLE users; --"'
      duration_seconds: 2
"#,
        opts(),
    )
    .await?;
    let before = lab.snapshot()?;
    let c = lab.client().await?;
    c.batch_execute("SELECT id FROM users").await?;
    lab.admin_until(
        "SELECT attname FROM pg_attribute WHERE attrelid = 'users'::regclass AND attnum = 2",
        "email_address",
        3 * SECS,
    )
    .await?;
    // The client sees the column under its new name only.
    let err = c
        .batch_execute("SELECT email FROM users")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err).as_deref(), Some("42703"), "{err:?}");
    c.batch_execute("SELECT email_address FROM users").await?;
    // Names are quoted, never spliced: the odd name is just a name.
    lab.admin_until(
        "SELECT attname FROM pg_attribute WHERE attrelid = '\"Odd \"\"Name\"\"\"'::regclass AND attnum = 1",
        "x\"; DROP TABLE users; --",
        3 * SECS,
    )
    .await?;
    assert_eq!(lab.admin("SELECT count(*) FROM users")?, "1");

    for t in ["rename_email", "rename_odd"] {
        let done = lab.completed(t, 3 * SECS).await?;
        assert_eq!(outcome(&done), Some(ChaosOutcome::Expired), "{done:?}");
    }
    assert_eq!(lab.snapshot()?, before);
    c.batch_execute("SELECT email FROM users").await?;
    lab.rt.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_column_type_then_restored_exactly() -> Result<()> {
    let lab = Lab::start(
        r#"
name: retype
triggers:
  - name: phone_to_int
    trigger_type: event
    event_condition: {event_type: SQL_RECEIVED, table_pattern: users}
    action: {type: change_column_type, table: users, column: phone, new_type: INTEGER, duration_seconds: 2}
"#,
        opts(),
    )
    .await?;
    let before = lab.snapshot()?;
    assert!(
        before.contains("users.phone character varying(20)"),
        "{before}"
    );
    let c = lab.client().await?;
    c.batch_execute("SELECT id FROM users").await?;
    let deadline = Instant::now() + 3 * SECS;
    loop {
        if value(&c, "SELECT pg_typeof(phone)::text FROM users")
            .await?
            .as_deref()
            == Some("integer")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the type never changed: {:?}",
            lab.events()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The data went through the cast: arithmetic works on it now.
    assert_eq!(
        value(&c, "SELECT phone + 1 FROM users").await?.as_deref(),
        Some("5551235")
    );

    let done = lab.completed("phone_to_int", 3 * SECS).await?;
    assert_eq!(outcome(&done), Some(ChaosOutcome::Expired), "{done:?}");
    // Back to exactly varchar(20) with its collation.
    assert_eq!(lab.snapshot()?, before);
    assert_eq!(
        value(&c, "SELECT phone FROM users").await?.as_deref(),
        Some("5551234")
    );
    lab.rt.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_index_then_restored_with_the_same_definition() -> Result<()> {
    let lab = Lab::start(
        r#"
name: unindex
triggers:
  - name: drop_email_index
    trigger_type: event
    event_condition: {event_type: SQL_RECEIVED, table_pattern: users}
    action: {type: drop_index, table: users, parameters: {index_name: idx_users_email}, duration_seconds: 2}
  - name: drop_primary_key
    trigger_type: event
    event_condition: {event_type: SQL_RECEIVED, table_pattern: users}
    action: {type: drop_index, parameters: {index_name: users_pkey}, duration_seconds: 2}
"#,
        opts(),
    )
    .await?;
    let before = lab.snapshot()?;
    assert!(
        before.contains(
            "CREATE INDEX idx_users_email ON public.users USING btree (email) lookups by email t t"
        ),
        "{before}"
    );
    let c = lab.client().await?;
    c.batch_execute("SELECT id FROM users").await?;
    let count = "SELECT count(*) FROM pg_indexes WHERE indexname = 'idx_users_email'";
    let deadline = Instant::now() + 3 * SECS;
    loop {
        // Observed by the client, through the proxy.
        if value(&c, count).await?.as_deref() == Some("0") {
            break;
        }
        assert!(Instant::now() < deadline, "the index was never dropped");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // An index behind a constraint is refused, and says why.
    let refused = lab.completed("drop_primary_key", 3 * SECS).await?;
    assert_eq!(outcome(&refused), Some(ChaosOutcome::Failed));
    assert!(
        format!("{refused:?}").contains("backs constraint"),
        "{refused:?}"
    );
    assert_eq!(
        lab.admin("SELECT count(*) FROM pg_indexes WHERE indexname = 'users_pkey'")?,
        "1"
    );

    let done = lab.completed("drop_email_index", 3 * SECS).await?;
    assert_eq!(outcome(&done), Some(ChaosOutcome::Expired), "{done:?}");
    // Same definition, comment and CLUSTER flag.
    assert_eq!(lab.snapshot()?, before);
    lab.rt.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_undoes_everything_still_applied() -> Result<()> {
    let on_users = "{event_type: SQL_RECEIVED, table_pattern: users}";
    let script = format!(
        r#"
name: everything
triggers:
  - name: rename
    trigger_type: event
    event_condition: {on_users}
    action: {{type: rename_column, table: users, column: email, new_name: mail}}
  - name: retype
    trigger_type: event
    event_condition: {on_users}
    action: {{type: change_column_type, table: users, column: phone, new_type: BIGINT}}
  - name: unindex
    trigger_type: event
    event_condition: {on_users}
    action: {{type: drop_index, parameters: {{index_name: idx_users_email}}}}
  - name: revoke
    trigger_type: event
    event_condition: {on_users}
    action: {{type: revoke_credentials, parameters: {{role: shakedown_md5}}}}
  - name: lock
    trigger_type: event
    event_condition: {on_users}
    action: {{type: lock_table, table: accounts, duration_seconds: 60, parameters: {{mode: SHARE}}}}
"#
    );
    let lab = Lab::start(&script, opts()).await?;
    let before = lab.snapshot()?;
    let c = lab.client().await?;
    c.batch_execute("SELECT id FROM users").await?;
    let deadline = Instant::now() + 5 * SECS;
    while lab.rt.active() < 5 {
        assert!(
            Instant::now() < deadline,
            "not all applied: {:?}",
            lab.events()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let during = lab.snapshot()?;
    assert_ne!(during, before);
    assert!(
        during.contains("users.mail bigint") || during.contains("users.phone bigint"),
        "{during}"
    );
    assert!(during.contains("role shakedown_md5 f"), "{during}");
    assert!(!during.contains("idx_users_email"), "{during}");

    let started = Instant::now();
    lab.rt.shutdown().await;
    assert!(started.elapsed() < 5 * SECS, "{:?}", started.elapsed());
    assert_eq!(lab.rt.active(), 0);
    assert_eq!(lab.snapshot()?, before);
    assert_eq!(
        lab.admin(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'shakedown-chaos%'"
        )?,
        "0"
    );
    // Writes to the locked table go through again.
    c.batch_execute("UPDATE accounts SET n = n + 1").await?;
    for t in ["rename", "retype", "unindex", "revoke", "lock"] {
        let done = lab.completed(t, SECS).await?;
        assert_eq!(outcome(&done), Some(ChaosOutcome::Shutdown), "{done:?}");
    }
    Ok(())
}
