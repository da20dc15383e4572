//! pgbench through the proxy: `-i` (which loads its accounts table with COPY FROM STDIN), a
//! 3-second run with 4 clients in the simple protocol, and a short prepared-statement run.

#[path = "support/proxy.rs"]
mod support;

use std::time::Duration;

use anyhow::{Context, Result};
use shakedown_proxy::pg::PassThrough;
use support::Harness;

async fn pgbench(h: &Harness, args: &[&str]) -> Result<String> {
    let mut cmd = tokio::process::Command::new("pgbench");
    cmd.args(args)
        .envs(h.pg.psql_env_via(h.port(), h.pg.user()))
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(30), cmd.output())
        .await
        .context("pgbench timed out")??;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    anyhow::ensure!(out.status.success(), "pgbench {args:?} failed: {text}");
    Ok(text)
}

fn processed(report: &str) -> u64 {
    report
        .lines()
        .find_map(|l| l.strip_prefix("number of transactions actually processed: "))
        .and_then(|n| n.split('/').next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgbench_initialises_and_runs_through_the_proxy() -> Result<()> {
    let h = Harness::start(PassThrough).await?;
    let init = pgbench(&h, &["-i", "-s", "1", "-q"]).await?;
    assert!(init.contains("done in"), "{init}");
    // The COPY really went through: 100000 accounts at scale 1.
    let accounts =
        h.pg.admin_sql(h.pg.database(), "SELECT count(*) FROM pgbench_accounts")?;
    assert_eq!(accounts.trim(), "100000");

    let run = pgbench(&h, &["-c", "4", "-j", "2", "-T", "3", "-n"]).await?;
    assert!(processed(&run) > 0, "{run}");
    assert!(run.contains("number of failed transactions: 0"), "{run}");

    let prepared = pgbench(&h, &["-c", "2", "-T", "1", "-n", "-M", "prepared", "-S"]).await?;
    assert!(processed(&prepared) > 0, "{prepared}");
    assert!(
        prepared.contains("number of failed transactions: 0"),
        "{prepared}"
    );
    Ok(())
}
