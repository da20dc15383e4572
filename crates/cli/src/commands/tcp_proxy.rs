//! `shakedown tcp-proxy`: the TCP fault proxy with a Toxiproxy-compatible admin API, as a
//! standalone process. `--config` preloads proxies (Toxiproxy's `-config` format: a JSON array
//! of `{name, listen, upstream, enabled}`).

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use shakedown_proxy::tcp::{ProxySpec, TcpProxyServer, TcpServerConfig, api};

use crate::exit::Exit;

#[derive(Debug, Args)]
pub struct TcpProxyArgs {
    /// Where the admin API listens (Toxiproxy's default port).
    #[arg(long, default_value = "127.0.0.1:8474")]
    pub api: SocketAddr,
    /// Proxies to create at start: a JSON array of {name, listen, upstream, enabled}.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Let the API and proxies listen on, and forward to, addresses outside loopback.
    #[arg(long)]
    pub allow_non_loopback: bool,
}

pub async fn run(args: TcpProxyArgs) -> anyhow::Result<Exit> {
    if !args.allow_non_loopback && !args.api.ip().is_loopback() {
        anyhow::bail!(
            "--api {} is not a loopback address; pass --allow-non-loopback to expose it",
            args.api
        );
    }
    let halt = crate::halt::on_signals();
    let server = TcpProxyServer::new(TcpServerConfig {
        allow_non_loopback: args.allow_non_loopback,
        halt: Some(halt.clone()),
    });
    if let Some(path) = &args.config {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let specs: Vec<ProxySpec> = serde_json::from_str(&text)
            .with_context(|| format!("{}: not a JSON array of proxies", path.display()))?;
        let made = server
            .populate(specs)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        for p in made {
            eprintln!(
                "proxy {} listening on {} → {}{}",
                p.spec.name,
                p.spec.listen,
                p.spec.upstream,
                if p.spec.enabled { "" } else { " (disabled)" }
            );
        }
    }
    let (listener, addr) = api::bind(args.api)
        .await
        .with_context(|| format!("cannot listen on {}", args.api))?;
    eprintln!("tcp-proxy admin API on http://{addr} (Toxiproxy-compatible)");
    api::serve(listener, server.clone(), halt).await?;
    server.shutdown().await;
    Ok(Exit::Passed)
}
