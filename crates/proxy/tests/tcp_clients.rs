//! Real clients through the TCP fault proxy: the toxiproxy-python library (from PyPI) drives the
//! admin API unchanged, and PostgreSQL (tokio-postgres and psql against a throwaway cluster)
//! shows a `latency` toxic's delay on every round trip.

#[path = "tcp_support/support.rs"]
mod tcp_support;

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::{Value, json};
use shakedown_pgtest::PgCluster;
use tcp_support::{Api, echo_server};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn toxiproxy_python_client_drives_the_api() -> Result<()> {
    let api = Api::start().await?;
    let echo = echo_server(api.stop.clone()).await?;
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/clients/toxiproxy_client.py"
    );
    let out = tokio::time::timeout(
        Duration::from_secs(20),
        tokio::process::Command::new("python3")
            .arg(script)
            .arg(api.addr.port().to_string())
            .arg(echo.port().to_string())
            .arg("200")
            .kill_on_drop(true)
            .output(),
    )
    .await?
    .context("python3 (scripts/test installs toxiproxy-python)")?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "client failed: {stderr}");
    let v: Value = serde_json::from_slice(&out.stdout)?;
    let ms = |k: &str| v[k].as_f64().unwrap_or(f64::NAN);
    assert!(ms("before_ms") < 100.0, "{v}");
    assert!(ms("after_ms") >= 200.0 && ms("after_ms") < 1500.0, "{v}");
    assert!(ms("removed_ms") < 100.0, "{v}");
    assert_eq!(v["toxics"], json!(["latency_downstream"]));
    assert_eq!(v["duplicate_refused"], true);
    assert_eq!(v["down_refused"], true);
    assert_eq!(v["listed"], json!(["py_echo"]));
    assert_eq!(v["left"], json!([]));
    assert!(
        v["version"].as_str().is_some_and(|s| s.contains("version")),
        "{v}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_round_trips_show_the_latency_toxic() -> Result<()> {
    let pg = tokio::task::spawn_blocking(PgCluster::start).await??;
    let api = Api::start().await?;
    let upstream = format!("127.0.0.1:{}", pg.port()).parse()?;
    let addr = api.proxy("pg", upstream).await?;
    let (client, conn) =
        tokio_postgres::connect(&pg.url_via(addr.port()), tokio_postgres::NoTls).await?;
    let driver = tokio::spawn(conn);

    let time_query = async || -> Result<Duration> {
        let t = Instant::now();
        let row = client.query_one("SELECT 1::int4", &[]).await?;
        anyhow::ensure!(row.get::<_, i32>(0) == 1);
        Ok(t.elapsed())
    };
    let before = time_query().await?;
    assert!(before < Duration::from_millis(100), "{before:?}");
    api.toxic(
        "pg",
        json!({"type": "latency", "attributes": {"latency": 150}}),
    )
    .await?;
    for _ in 0..3 {
        let slowed = time_query().await?;
        assert!(slowed >= Duration::from_millis(150), "{slowed:?}");
        assert!(slowed < Duration::from_millis(1000), "{slowed:?}");
    }

    // psql through the same toxic: its login alone takes several delayed round trips.
    let port = addr.port();
    let role = pg.user().clone();
    let mut cmd = pg.psql_via(port, &role);
    cmd.args(["-At", "-c", "SELECT 40 + 2"]);
    let t = Instant::now();
    let out = tokio::task::spawn_blocking(move || cmd.output()).await??;
    let took = t.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "42");
    assert!(took >= Duration::from_millis(300), "{took:?}");

    drop(client);
    driver.abort();
    Ok(())
}
