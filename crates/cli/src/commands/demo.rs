//! `shakedown demo`: the embedded default. Starts two practice APIs on loopback — a guarded
//! one and a weak one with a real SQL injection — and runs a campaign against both with a
//! temporary store, in well under a minute.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use shakedown_attack::Limits;
use shakedown_control::RunOptions;
use shakedown_practice::{PracticeConfig, demo_system_file, start};

use super::campaign::{RunArgs, run_campaign};
use crate::exit::Exit;

/// Environment variable name the demo system file uses for the guarded API's token.
const TOKEN_ENV: &str = "SHAKEDOWN_DEMO_TOKEN";

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Write a report of the demo campaign (json, markdown, junit) to stdout or --out.
    #[arg(long, value_parser = ["json", "markdown", "junit"])]
    pub report: Option<String>,
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Keep the demo system file here (to edit and re-run with `shakedown campaign -f`).
    #[arg(long, value_name = "FILE")]
    pub write_system_file: Option<PathBuf>,
}

/// Bounds that keep the demo short; a real campaign uses `Limits::default()`.
pub fn demo_limits() -> Limits {
    Limits {
        request_timeout: Duration::from_secs(5),
        max_attack_duration: Duration::from_secs(20),
        recovery_window: Duration::from_secs(5),
        slowloris_grace: Duration::from_secs(1),
        slowloris_connections: 50,
        exhaustion_connections: 200,
        sql_sleep: Duration::from_secs(1),
        burst_concurrency: Some(300),
    }
}

pub async fn run(args: DemoArgs, data_dir: Option<PathBuf>) -> anyhow::Result<Exit> {
    let token = format!("demo-{:016x}", rand_token());
    let listen = "127.0.0.1:0".parse().expect("literal address");
    let guarded = start(PracticeConfig::guarded(&token), listen)
        .await
        .context("cannot start the guarded practice API on 127.0.0.1")?;
    let weak = start(PracticeConfig::weak(), listen)
        .await
        .context("cannot start the weak practice API on 127.0.0.1")?;
    eprintln!(
        "Practice APIs: guarded at {}, weak at {}",
        guarded.url(),
        weak.url()
    );

    let tmp = tempfile::tempdir().context("cannot create a temporary directory")?;
    let system_path = match &args.write_system_file {
        Some(p) => p.clone(),
        None => tmp.path().join("shakedown.yaml"),
    };
    std::fs::write(
        &system_path,
        demo_system_file(&guarded.url(), &weak.url(), TOKEN_ENV),
    )
    .with_context(|| format!("cannot write {}", system_path.display()))?;
    let store_dir = data_dir.unwrap_or_else(|| tmp.path().join("data"));

    let mut opts = RunOptions::new(system_path.display().to_string());
    opts.limits = demo_limits();
    let secrets: HashMap<String, String> = HashMap::from([(TOKEN_ENV.to_string(), token)]);
    opts.secrets = Arc::new(move |name| secrets.get(name).cloned());
    let run_args = RunArgs {
        file: Some(system_path),
        targets: None,
        patterns: None,
        threshold: 0.8,
        report: args.report,
        out: args.out,
        events: None,
        // Running the demo is the approval: its only targets are the practice APIs it just
        // started on loopback. The ledger still records the risk score and `approved` by $USER.
        approve: true,
        approval: None,
        nats: None,
    };
    let exit = run_campaign(run_args, Some(store_dir), opts).await;
    guarded.shutdown().await;
    weak.shutdown().await;
    let exit = exit?;
    eprintln!(
        "\nThe weak API is meant to fail: it builds SQL from strings, reflects input unescaped and \
         claims guardrails it does not have. Next: `shakedown demo --write-system-file shakedown.yaml` \
         and point the file at your own staging API."
    );
    // The demo succeeded if the campaign ran; its verdict is the point, not the exit code.
    Ok(match exit {
        Exit::Error => Exit::Error,
        _ => Exit::Passed,
    })
}

fn rand_token() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now())
}
