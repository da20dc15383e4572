//! psycopg 3 (installed by scripts/test) through the guard: parameterised queries, server-side
//! prepared statements, COPY in and out, a blocked statement, SCRAM auth.

use std::process::Command;
use std::sync::Arc;

use serde_json::Value;
use shakedown_pgtest::PgCluster;
use shakedown_proxy::pg::PgProxy;
use shakedown_proxy::pg::guard::{Guard, GuardConfig};
use shakedown_sql::policy::load_policy;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psycopg_works_through_the_proxy() {
    let cluster = tokio::task::spawn_blocking(PgCluster::start)
        .await
        .unwrap()
        .expect("cluster");
    let (client, conn) = tokio_postgres::connect(&cluster.url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
        .batch_execute(
            "CREATE TABLE customers (id int PRIMARY KEY, name text, email text);
             INSERT INTO customers SELECT g, 'c' || g, 'c' || g || '@example.com' FROM generate_series(1, 50) g;",
        )
        .await
        .unwrap();
    let (policy, _) = load_policy(include_str!("../../../policies/strict.yaml")).unwrap();
    let guard = Guard::new(GuardConfig {
        policy: Some(Arc::new(policy)),
        ..GuardConfig::default()
    });
    let upstream = format!("127.0.0.1:{}", cluster.port()).parse().unwrap();
    let proxy = PgProxy::bind("127.0.0.1:0".parse().unwrap(), upstream, guard)
        .await
        .unwrap();
    let dsn = cluster.url_via(proxy.local_addr().port());
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/clients/psycopg_client.py"
    );
    let out = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .arg(script)
            .env("SHAKEDOWN_TEST_DSN", dsn)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "psycopg client failed (is psycopg installed? scripts/test installs it): {stderr}"
    );
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["param"], "c7");
    assert_eq!(r["prepared"], true);
    assert_eq!(r["copy_out_lines"], 50);
    assert_eq!(r["copy_in_rows"], 10);
    assert_eq!(r["blocked"], true, "{r}");
    assert!(
        r["blocked_message"]
            .as_str()
            .unwrap()
            .contains("blocked by policy")
    );
    assert_eq!(r["after_block"], 42);
    let n: i64 = client
        .query_one("SELECT count(*) FROM customers", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 60);
    proxy.shutdown().await;
}
