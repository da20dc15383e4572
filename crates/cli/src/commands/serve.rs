//! `shakedown serve [--listen 127.0.0.1:8080]`: the REST API of the control plane. Loopback
//! only unless `--allow-remote`; prints the bound address on stdout (so `--listen
//! 127.0.0.1:0` works for scripts and tests); stops on Ctrl-C or SIGTERM, halting its own
//! campaigns first (they are stored as halted). It never registers in the halt registry: a
//! `shakedown halt` reaches its campaigns through the latch, not by signalling the server.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;
use shakedown_core::HumanDuration;
use shakedown_server::ServerConfig;
use shakedown_store::default_data_dir;

use crate::exit::Exit;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; the bound address is printed).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Allow a non-loopback listen address. Put TLS in front of it: tokens travel in headers.
    #[arg(long)]
    pub allow_remote: bool,
    /// Largest request body (bytes).
    #[arg(long, default_value_t = 1024 * 1024)]
    pub max_body: usize,
    /// Requests per token per --rate-window (0: no limit).
    #[arg(long, default_value_t = 600)]
    pub rate_limit: u32,
    /// The rate limit's sliding window (e.g. 1m, 10s).
    #[arg(long, default_value = "1m")]
    pub rate_window: HumanDuration,
    /// Longest a request may take to be answered.
    #[arg(long, default_value = "30s")]
    pub request_timeout: HumanDuration,
    /// Deadline for a request head to arrive (slow clients are cut off).
    #[arg(long, default_value = "5s")]
    pub header_timeout: HumanDuration,
    /// Requests in flight above which new ones are shed with 503.
    #[arg(long, default_value_t = 256)]
    pub max_in_flight: usize,
    /// Open connections above which new ones get 503 and are closed.
    #[arg(long, default_value_t = 1024)]
    pub max_connections: usize,
    /// Campaigns this server runs at once.
    #[arg(long, default_value_t = 8)]
    pub max_campaigns: usize,
    /// Agent runs this server carries at once (each its own process).
    #[arg(long, default_value_t = 4)]
    pub max_runs: usize,
    /// Let `POST /api/runs` start agents given as a command (they run on this host, confined
    /// by Landlock); without it only `agent_url` runs are accepted.
    #[arg(long)]
    pub allow_agent_commands: bool,
    /// Scheduled campaigns (YAML: name, system_file, `every` or `at` + `weekdays`), submitted
    /// as the `chaos_agent_service` account through the same gates as the API.
    #[arg(long, value_name = "FILE")]
    pub schedule: Option<PathBuf>,
    /// NATS servers: a `guardian.halt_chaos` message halts (and `guardian.resume_chaos`
    /// resumes) this data directory, and the server's events go out on `chaos.>`.
    #[arg(long, env = super::guardian::NATS_URL_ENV, value_name = "URL", value_parser = super::guardian::nats_url)]
    pub nats: Option<String>,
    /// The one directory whose files requests may name (`system_file`, a run's scenario,
    /// policy, chaos, faults, file policy, mock-LLM rules; symlinks and `..` resolved first).
    /// Without it requests name no files: they send the text or use built-in names.
    #[arg(long, value_name = "DIR")]
    pub files_root: Option<PathBuf>,
}

pub async fn run(args: ServeArgs, data_dir: Option<PathBuf>) -> anyhow::Result<Exit> {
    if !args.listen.ip().is_loopback() && !args.allow_remote {
        bail!(
            "--listen {} is not a loopback address; the API controls chaos, so it listens on \
             127.0.0.1 unless you pass --allow-remote (and put TLS in front of it)",
            args.listen
        );
    }
    let data = data_dir.unwrap_or_else(default_data_dir);
    let mut config = ServerConfig::new(args.listen, data.clone());
    config.max_body = args.max_body;
    config.rate_limit = args.rate_limit;
    config.rate_window = args.rate_window.as_duration();
    config.request_timeout = args.request_timeout.as_duration();
    config.header_timeout = args.header_timeout.as_duration();
    config.max_in_flight = args.max_in_flight;
    config.max_connections = args.max_connections;
    config.max_campaigns = args.max_campaigns;
    config.max_runs = args.max_runs;
    config.allow_agent_commands = args.allow_agent_commands;
    config.nats = args.nats.clone();
    if let Some(root) = &args.files_root {
        let real = root
            .canonicalize()
            .with_context(|| format!("--files-root {} is not a directory", root.display()))?;
        if !real.is_dir() {
            bail!("--files-root {} is not a directory", root.display());
        }
        config.files_root = Some(real);
    }
    if let Some(path) = &args.schedule {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the schedule file {}", path.display()))?;
        let base = path.parent().unwrap_or(std::path::Path::new("."));
        let name = path.display().to_string();
        match shakedown_control::schedule::load_schedules(&text, base) {
            Ok((schedules, warnings)) => {
                if !warnings.0.is_empty() {
                    eprintln!("{}", warnings.render(&name));
                }
                eprintln!("{} schedule(s) from {name}", schedules.len());
                config.schedules = schedules;
            }
            Err(problems) => {
                eprintln!(
                    "{}\n{name}: {} error(s); the server was not started",
                    problems.render(&name),
                    problems.errors().count()
                );
                return Ok(Exit::Error);
            }
        }
    }
    let server = shakedown_server::start(config)
        .await
        .with_context(|| format!("cannot serve the data directory {}", data.display()))?;
    if !server.interrupted.is_empty() {
        eprintln!(
            "note: marked as interrupted (their process died): {}",
            server.interrupted.join(", ")
        );
    }
    println!("listening on http://{}", server.addr());
    let _ = std::io::stdout().flush();
    wait_for_stop().await?;
    eprintln!("stopping: halting this server's campaigns and closing connections");
    server.shutdown().await;
    Ok(Exit::Passed)
}

async fn wait_for_stop() -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot listen for SIGTERM")?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.context("cannot listen for Ctrl-C")?,
        _ = term.recv() => {}
    }
    Ok(())
}
