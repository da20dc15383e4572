//! `shakedown tcp-proxy`: the TCP fault proxy with a Toxiproxy-compatible admin API, as a
//! standalone process. `--config` preloads proxies (Toxiproxy's `-config` format: a JSON array
//! of `{name, listen, upstream, enabled}`). It obeys the data directory's halt latch: on
//! `shakedown halt` every toxic is removed (live) and none can be added until `resume`.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use serde_json::json;
use shakedown_control::halt_latch::LatchChange;
use shakedown_proxy::tcp::{ProxySpec, TcpProxyServer, TcpServerConfig, ToxicSpec, api};
use tokio::sync::mpsc;

use super::obey_halt::{self, EventSink, Handler};
use super::open_store;
use crate::exit::Exit;

/// The component id of this proxy's events.
const COMPONENT: &str = "tcp-proxy";

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
    /// Append the proxy's events (`halted_by_guardian`, `resumed`) to this file as JSON
    /// lines, and to the store.
    #[arg(long, value_name = "FILE")]
    pub events: Option<PathBuf>,
}

pub async fn run(args: TcpProxyArgs, data_dir: Option<PathBuf>) -> anyhow::Result<Exit> {
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
    let (events, writer) = match &args.events {
        Some(path) => {
            let (tx, rx) = mpsc::unbounded_channel();
            let store = open_store(data_dir.clone())?;
            (Some(tx), Some(super::event_writer::spawn(path, store, rx)?))
        }
        None => (None, None),
    };
    // A latch already set refuses toxics before the admin API takes its first request.
    if let Some(info) = shakedown_control::halt_latch::halted(
        &data_dir
            .clone()
            .unwrap_or_else(shakedown_store::default_data_dir),
    ) {
        server.halt(&format!("by {} at {}: {}", info.by, info.at, info.reason));
    }
    // On halt every toxic goes (reported as `halted_by_guardian`); on resume toxics may be
    // added again.
    let obeyed = server.clone();
    let handler: Handler = Box::new(move |change| {
        let server = obeyed.clone();
        Box::pin(async move {
            match change {
                LatchChange::Halted(info) => {
                    let reason = format!("by {} at {}: {}", info.by, info.at, info.reason);
                    let out = server.halt(&reason);
                    eprintln!(
                        "tcp-proxy: chaos halted ({reason}): removed {} toxic(s), re-enabled {} proxy(ies); toxics are refused until `shakedown resume`",
                        out.toxics.len(),
                        out.enabled.len()
                    );
                    for e in &out.errors {
                        eprintln!("tcp-proxy: {e}");
                    }
                    let removed: Vec<_> = out
                        .toxics
                        .iter()
                        .map(|(proxy, t): &(String, ToxicSpec)| {
                            json!({"proxy": proxy, "toxic": t.to_json()})
                        })
                        .collect();
                    json!({"halt": info, "removed": removed, "re_enabled": out.enabled, "errors": out.errors})
                }
                LatchChange::Resumed => {
                    server.resume();
                    eprintln!("tcp-proxy: chaos resumed; toxics may be added again");
                    json!({})
                }
            }
        })
    });
    let obeying = obey_halt::spawn(
        data_dir,
        COMPONENT,
        events.map(EventSink::Unbounded),
        halt.clone(),
        handler,
    );
    let (listener, addr) = api::bind(args.api)
        .await
        .with_context(|| format!("cannot listen on {}", args.api))?;
    eprintln!("tcp-proxy admin API on http://{addr} (Toxiproxy-compatible)");
    api::serve(listener, server.clone(), halt).await?;
    server.shutdown().await;
    // The follower ends with the halt token; its event sender goes with it.
    let _ = obeying.await;
    if let Some(w) = writer {
        w.finish().await?;
    }
    Ok(Exit::Passed)
}
