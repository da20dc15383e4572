//! The guard against a real PostgreSQL with real clients: bypass attempts are blocked, a
//! `max_rows` violation loses nothing, and every step is reported as an event.

use std::sync::Arc;

use shakedown_core::Event;
use shakedown_pgtest::PgCluster;
use shakedown_proxy::pg::PgProxy;
use shakedown_proxy::pg::chaos::{ChaosOptions, ChaosRuntime};
use shakedown_proxy::pg::guard::{Guard, GuardConfig, bridge_chaos_events};
use shakedown_sql::chaos::load_chaos;
use shakedown_sql::policy::load_policy;
use tokio::sync::mpsc;
use tokio_postgres::{Client, NoTls};

const POLICY: &str = r#"
name: guard-test
forbidden_sql:
  patterns:
    - pattern: "DROP\\s+TABLE"
      severity: critical
table_restrictions:
  - table: "*"
    operations: [DELETE, UPDATE]
    require_where: true
  - table: customers
    operations: [DELETE]
    max_rows: 10
honeypots:
  tables: [_system_secrets]
"#;

struct Setup {
    _cluster: PgCluster,
    proxy: PgProxy,
    direct: Client,
    via: Client,
    events: mpsc::UnboundedReceiver<Event>,
}

async fn connect(url: &str) -> Client {
    let (client, conn) = tokio_postgres::connect(url, NoTls).await.expect("connects");
    tokio::spawn(conn);
    client
}

async fn setup(policy: &str) -> Setup {
    setup_with_chaos(policy, None).await
}

async fn setup_with_chaos(policy: &str, chaos: Option<&str>) -> Setup {
    let cluster = tokio::task::spawn_blocking(PgCluster::start)
        .await
        .unwrap()
        .expect("cluster");
    let direct = connect(&cluster.url()).await;
    direct
        .batch_execute(
            "CREATE TABLE customers (id int PRIMARY KEY, name text, email text);
             INSERT INTO customers SELECT g, 'c' || g, 'c' || g || '@example.com' FROM generate_series(1, 50) g;
             CREATE TABLE _system_secrets (k text, v text);
             INSERT INTO _system_secrets VALUES ('api_key', 'hunter2');
             CREATE SCHEMA app; CREATE TABLE app.orders (id int, customer int);
             INSERT INTO app.orders SELECT g, g FROM generate_series(1, 20) g;",
        )
        .await
        .unwrap();
    let (policy, _) = load_policy(policy).expect("test policy loads");
    let (tx, events) = mpsc::unbounded_channel();
    let chaos = chaos.map(|text| {
        let (script, _) = load_chaos(text).expect("test chaos script loads");
        let (ctx, crx) = mpsc::channel(64);
        bridge_chaos_events(crx, tx.clone());
        let options = ChaosOptions::default()
            .with_admin_url(cluster.url())
            .with_events(ctx)
            .with_seed(7);
        Arc::new(ChaosRuntime::start(script, options).expect("chaos starts"))
    });
    let guard = Guard::new(GuardConfig {
        policy: Some(Arc::new(policy)),
        catalog: None,
        events: Some(tx),
        chaos,
    });
    let upstream = format!("127.0.0.1:{}", cluster.port()).parse().unwrap();
    let proxy = PgProxy::bind("127.0.0.1:0".parse().unwrap(), upstream, guard)
        .await
        .unwrap();
    let via = connect(&cluster.url_via(proxy.local_addr().port())).await;
    Setup {
        _cluster: cluster,
        proxy,
        direct,
        via,
        events,
    }
}

async fn count(c: &Client, table: &str) -> i64 {
    c.query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .unwrap()
        .get(0)
}

fn sqlstate(e: &tokio_postgres::Error) -> String {
    e.as_db_error()
        .map(|d| d.code().code().to_string())
        .unwrap_or_else(|| e.to_string())
}

fn drain(rx: &mut mpsc::UnboundedReceiver<Event>) -> Vec<Event> {
    let mut out = Vec::new();
    while let Ok(e) = rx.try_recv() {
        out.push(e);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bypass_attempts_are_blocked_and_nothing_is_lost() {
    let mut s = setup(POLICY).await;
    let attempts: &[(&str, &str)] = &[
        ("multi-statement string", "SELECT 1; DELETE FROM customers"),
        (
            "comments and odd casing",
            "DeLeTe /* hide */ FROM -- comment\n Customers",
        ),
        (
            "quoted, schema-qualified",
            "DELETE FROM \"public\".\"customers\"",
        ),
        (
            "DELETE inside a CTE",
            "WITH d AS (DELETE FROM customers RETURNING *) SELECT count(*) FROM d",
        ),
        ("UPDATE without WHERE", "UPDATE app.orders SET customer = 0"),
        ("DROP TABLE", "drop   table customers"),
        (
            "honeypot read in a subquery",
            "SELECT name FROM customers WHERE id IN (SELECT 1 FROM _system_secrets)",
        ),
    ];
    for (what, sql) in attempts {
        // Simple protocol.
        let err = s.via.simple_query(sql).await.expect_err(what);
        assert_eq!(sqlstate(&err), "42501", "{what} (simple): {err}");
        assert!(
            err.as_db_error()
                .unwrap()
                .message()
                .contains("blocked by policy"),
            "{what}"
        );
        // Extended protocol (a single statement only: Parse takes one).
        if !sql.contains(';') {
            let err = s.via.execute(*sql, &[]).await.expect_err(what);
            assert_eq!(sqlstate(&err), "42501", "{what} (extended): {err}");
        }
    }
    // The session is still usable and nothing changed.
    assert_eq!(
        s.via
            .query_one("SELECT 41 + 1", &[])
            .await
            .unwrap()
            .get::<_, i32>(0),
        42
    );
    assert_eq!(count(&s.direct, "customers").await, 50);
    assert_eq!(count(&s.direct, "app.orders").await, 20);

    let events = drain(&mut s.events);
    let of = |t: &str| events.iter().filter(|e| e.event_type == t).count();
    assert!(of("sql_received") >= attempts.len() * 2 - 1);
    assert!(of("sql_blocked") >= attempts.len() * 2 - 1);
    assert!(
        of("honeypot_accessed") >= 2,
        "simple + extended honeypot reads"
    );
    let honeypot = events
        .iter()
        .find(|e| e.event_type == "honeypot_accessed")
        .unwrap();
    assert_eq!(honeypot.data["honeypot_table"], "_system_secrets");
    assert!(honeypot.data["session_id"].is_u64());
    s.proxy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_max_rows_violation_leaves_every_row_in_place() {
    let mut s = setup(POLICY).await;
    // 45 rows > 10: rolled back, in both protocols, inside and outside a transaction.
    let err = s
        .via
        .simple_query("DELETE FROM customers WHERE id > 5")
        .await
        .expect_err("over");
    assert_eq!(sqlstate(&err), "42501", "{err}");
    assert_eq!(count(&s.direct, "customers").await, 50);
    let err = s
        .via
        .execute("DELETE FROM customers WHERE id > $1", &[&20i32])
        .await
        .expect_err("over");
    assert_eq!(sqlstate(&err), "42501", "{err}");
    assert_eq!(count(&s.direct, "customers").await, 50);
    s.via.batch_execute("BEGIN").await.unwrap();
    let err = s
        .via
        .simple_query("DELETE FROM customers WHERE id > 1")
        .await
        .expect_err("over");
    assert_eq!(sqlstate(&err), "42501");
    s.via.batch_execute("COMMIT").await.unwrap();
    assert_eq!(count(&s.direct, "customers").await, 50);

    // Within the limit: it runs and commits.
    let n = s
        .via
        .execute("DELETE FROM customers WHERE id <= $1", &[&3i32])
        .await
        .unwrap();
    assert_eq!(n, 3);
    assert_eq!(count(&s.direct, "customers").await, 47);

    let events = drain(&mut s.events);
    let undone: Vec<_> = events
        .iter()
        .filter(|e| e.event_type == "sql_blocked" && e.data["rolled_back"] == true)
        .collect();
    assert_eq!(undone.len(), 3, "three statements rolled back");
    assert_eq!(undone[0].data["rows"], 45);
    assert_eq!(undone[0].data["max_rows"], 10);
    assert!(
        events
            .iter()
            .any(|e| e.event_type == "sql_result" && e.data["rows"] == 3)
    );
    s.proxy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_policies_load_and_read_only_refuses_writes() {
    for text in [
        include_str!("../../../policies/strict.yaml"),
        include_str!("../../../policies/permissive.yaml"),
        include_str!("../../../policies/read_only.yaml"),
    ] {
        load_policy(text).expect("shipped policy loads");
    }
    let s = setup(include_str!("../../../policies/read_only.yaml")).await;
    assert_eq!(count(&s.via, "customers").await, 50, "reads pass");
    for sql in [
        "INSERT INTO customers VALUES (99, 'x', 'y')",
        "WITH x AS (UPDATE customers SET name = 'z' WHERE id = 1 RETURNING 1) SELECT * FROM x",
        "CREATE TABLE t (a int)",
    ] {
        let err = s.via.simple_query(sql).await.expect_err(sql);
        assert_eq!(sqlstate(&err), "42501", "{sql}: {err}");
    }
    assert_eq!(count(&s.direct, "customers").await, 50);
    s.proxy.shutdown().await;
}

const CHAOS: &str = r#"
name: guard-chaos
triggers:
  - name: lock_on_delete
    trigger_type: event
    event_condition: {event_type: SQL_RECEIVED, parsed_type: DELETE}
    action: {type: lock_table, table: "{event.tables[0]}", duration_seconds: 2}
    max_triggers: 1
  - name: slow_orders
    trigger_type: event
    event_condition: {event_type: SQL_RECEIVED, parsed_type: SELECT, table_pattern: "app.orders"}
    action: {type: add_latency, latency_ms: 400, duration_seconds: 3}
    max_triggers: 1
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_fires_on_the_clients_real_statements() {
    let mut s = setup_with_chaos(POLICY, Some(CHAOS)).await;
    // The DELETE fires lock_table on its own table: the lock is visible from outside.
    let delete = {
        let via = connect(&s._cluster.url_via(s.proxy.local_addr().port())).await;
        tokio::spawn(async move {
            let t = std::time::Instant::now();
            let n = via
                .execute("DELETE FROM customers WHERE id = $1", &[&1i32])
                .await
                .unwrap();
            (n, t.elapsed())
        })
    };
    let lock_query = "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
        WHERE l.relation = 'customers'::regclass AND l.mode = 'AccessExclusiveLock' \
        AND a.application_name LIKE 'shakedown-chaos%'";
    let mut seen = false;
    for _ in 0..40 {
        let n: i64 = s.direct.query_one(lock_query, &[]).await.unwrap().get(0);
        if n > 0 {
            seen = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(seen, "the chaos lock on customers was never observed");
    let (n, _elapsed) = delete.await.unwrap();
    assert_eq!(n, 1, "the DELETE still runs once the lock is released");
    // Released after its duration.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let n: i64 = s.direct.query_one(lock_query, &[]).await.unwrap().get(0);
    assert_eq!(n, 0, "lock released");

    // add_latency fires on the SELECT from app.orders and delays it.
    let t = std::time::Instant::now();
    s.via.query("SELECT * FROM app.orders", &[]).await.unwrap();
    assert!(
        t.elapsed() >= std::time::Duration::from_millis(380),
        "{:?}",
        t.elapsed()
    );

    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let events = drain(&mut s.events);
    let triggered: Vec<_> = events
        .iter()
        .filter(|e| e.event_type == "chaos_triggered")
        .collect();
    assert_eq!(triggered.len(), 2, "{triggered:#?}");
    assert_eq!(triggered[0].data["trigger"], "lock_on_delete");
    assert!(
        events
            .iter()
            .any(|e| e.event_type == "chaos_completed" && e.data["trigger"] == "lock_on_delete")
    );
    s.proxy.shutdown().await;
}
