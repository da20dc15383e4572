//! `shakedown tcp-proxy`: the TCP fault proxy with a Toxiproxy-compatible admin API, as a
//! standalone process. `--config` preloads proxies (Toxiproxy's `-config` format: a JSON array
//! of `{name, listen, upstream, enabled}`). It obeys the data directory's halt latch: on
//! `shakedown halt` every toxic is removed (live) and none can be added until `resume`.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use serde_json::json;
use shakedown_control::halt_latch::{self, LatchChange, LatchFollower};
use shakedown_core::Event;
use shakedown_proxy::tcp::{ProxySpec, TcpProxyServer, TcpServerConfig, ToxicSpec, api};
use shakedown_store::default_data_dir;
use time::OffsetDateTime;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

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
    let data = data_dir.unwrap_or_else(default_data_dir);
    let latch = LatchFollower::new(halt_latch::watch(&data, halt_latch::WATCH_INTERVAL));
    let obeying = tokio::spawn(obey(latch, server.clone(), events, halt.clone()));
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

/// Follows the halt latch until `stop`: on halt every toxic goes (reported as
/// `halted_by_guardian`), on resume toxics may be added again.
async fn obey(
    mut latch: LatchFollower,
    server: TcpProxyServer,
    events: Option<mpsc::UnboundedSender<Event>>,
    stop: CancellationToken,
) {
    // One pass per latch transition, for the life of the proxy.
    loop {
        let change = tokio::select! {
            () = stop.cancelled() => return,
            c = latch.next() => c,
        };
        let event = match change {
            None => return,
            Some(LatchChange::Halted(info)) => {
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
                Event::named(
                    "halted_by_guardian",
                    None,
                    Some(COMPONENT),
                    json!({"halt": info, "removed": removed, "re_enabled": out.enabled, "errors": out.errors}),
                    OffsetDateTime::now_utc(),
                )
            }
            Some(LatchChange::Resumed) => {
                server.resume();
                eprintln!("tcp-proxy: chaos resumed; toxics may be added again");
                Event::named(
                    "resumed",
                    None,
                    Some(COMPONENT),
                    json!({}),
                    OffsetDateTime::now_utc(),
                )
            }
        };
        if let Some(tx) = &events {
            let _ = tx.send(event);
        }
    }
}
