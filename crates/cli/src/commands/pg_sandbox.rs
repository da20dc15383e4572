//! `shakedown pg-sandbox status|stop|destroy`: the managed PostgreSQL cluster agent runs use
//! (kept running between runs so templates stay warm).

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use shakedown_pgserver::ManagedServer;
use shakedown_store::default_data_dir;

use crate::exit::Exit;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PgSandboxAction {
    /// Start it if needed and print where it listens.
    Status,
    /// Stop the server (templates stay on disk for the next run).
    Stop,
    /// Stop the server and delete the cluster with every template.
    Destroy,
}

#[derive(Debug, Args)]
pub struct PgSandboxArgs {
    #[arg(value_enum)]
    pub action: PgSandboxAction,
}

pub async fn run(args: PgSandboxArgs, data_dir: Option<PathBuf>) -> anyhow::Result<Exit> {
    let root = data_dir.unwrap_or_else(default_data_dir).join("pg");
    let server = tokio::task::spawn_blocking(move || ManagedServer::ensure(&root)).await??;
    match args.action {
        PgSandboxAction::Status => println!(
            "managed PostgreSQL running on 127.0.0.1:{} (data {})",
            server.port(),
            server.data_dir().display()
        ),
        PgSandboxAction::Stop => {
            server.stop()?;
            println!("managed PostgreSQL stopped");
        }
        PgSandboxAction::Destroy => {
            server.destroy()?;
            println!("managed PostgreSQL stopped and deleted");
        }
    }
    Ok(Exit::Passed)
}
