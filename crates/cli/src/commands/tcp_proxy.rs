//! `shakedown tcp-proxy`: the TCP fault proxy with a Toxiproxy-compatible admin API, as a
//! standalone process. `--config` preloads proxies (Toxiproxy's `-config` format: a JSON array
//! of `{name, listen, upstream, enabled}`). It obeys the data directory's halt latch: on
//! `shakedown halt` every toxic is removed (live) and none can be added until `resume`.
//!
//! Its admin API can inject faults at any time, so it does not start without a usable signed
//! ledger, and records its start (with the digest of `--config`), every proxy created, changed
//! or deleted and every toxic added, changed or removed, halt, resume and stop. A fault that
//! cannot be recorded is refused (503) and undone (a new proxy's listener is shut again).

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use serde_json::json;
use shakedown_control::halt_latch::LatchChange;
use shakedown_proxy::tcp::{
    Audit, Change, ProxySpec, TcpProxyServer, TcpServerConfig, ToxicSpec, api,
};
use tokio::sync::mpsc;

use super::obey_halt::{self, EventSink, Handler};
use super::open_store;
use super::proxy_ledger::{self, ProxyLedger};
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
    let ledger = match ProxyLedger::open(data_dir.as_ref(), COMPONENT) {
        Ok(l) => l,
        Err(e) => return Ok(proxy_ledger::refuse("tcp-proxy", &e)),
    };
    let config = match &args.config {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?,
        ),
        None => None,
    };
    let started = json!({
        "api": args.api.to_string(),
        "config": args.config.as_ref().map(|p| {
            let mut d = proxy_ledger::digest(config.as_deref().unwrap_or("").as_bytes());
            d["file"] = json!(p.display().to_string());
            d
        }),
        "allow_non_loopback": args.allow_non_loopback,
    });
    if let Err(e) = ledger
        .record_async("started", ledger.session(), started)
        .await
    {
        return Ok(proxy_ledger::refuse("tcp-proxy", &e));
    }
    let halt = crate::halt::on_signals();
    let server = TcpProxyServer::new(TcpServerConfig {
        allow_non_loopback: args.allow_non_loopback,
        halt: Some(halt.clone()),
    });
    server.set_audit(std::sync::Arc::new(LedgerAudit(ledger.clone())));
    if let (Some(path), Some(text)) = (&args.config, &config) {
        let specs: Vec<ProxySpec> = serde_json::from_str(text)
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
    let obey_ledger = ledger.clone();
    let handler: Handler = Box::new(move |change| {
        let server = obeyed.clone();
        let ledger = obey_ledger.clone();
        Box::pin(async move {
            // On halt the toxics go first and the record after, so the ledger never delays a
            // halt; on resume the record first.
            let (action, data) = match change {
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
                    (
                        "halted",
                        json!({"halt": info, "removed": removed, "re_enabled": out.enabled, "errors": out.errors}),
                    )
                }
                LatchChange::Resumed => {
                    // Recorded before any toxic may be added again.
                    ledger
                        .record_or_warn("resumed", ledger.session(), json!({}))
                        .await;
                    server.resume();
                    eprintln!("tcp-proxy: chaos resumed; toxics may be added again");
                    return json!({});
                }
            };
            ledger
                .record_or_warn(action, ledger.session(), data.clone())
                .await;
            data
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
    let served = api::serve(listener, server.clone(), halt).await;
    let left: Vec<_> = server
        .list()
        .iter()
        .map(|p| json!({"proxy": p.spec.name, "toxics": p.toxics.len()}))
        .collect();
    server.shutdown().await;
    ledger
        .record_or_warn("stopped", ledger.session(), json!({"proxies": left}))
        .await;
    served?;
    // The follower ends with the halt token; its event sender goes with it.
    let _ = obeying.await;
    if let Some(w) = writer {
        w.finish().await?;
    }
    Ok(Exit::Passed)
}

/// Every change of the faults goes to the ledger (see [`Audit`]: one that injects is refused
/// when it cannot be recorded).
struct LedgerAudit(ProxyLedger);

impl Audit for LedgerAudit {
    fn record(&self, change: &Change<'_>) -> Result<(), String> {
        let (action, resource, data) = match change {
            Change::ProxyCreated(spec) => {
                ("proxy_created", spec.name.clone(), json!({"proxy": spec}))
            }
            Change::ProxyUpdated { before, after } => (
                "proxy_updated",
                after.name.clone(),
                json!({"before": before, "after": after}),
            ),
            Change::ProxyDeleted(name) => ("proxy_deleted", name.to_string(), json!({})),
            Change::ToxicAdded { proxy, toxic } => (
                "toxic_added",
                format!("{proxy}/{}", toxic.name),
                json!({"proxy": proxy, "toxic": toxic.to_json()}),
            ),
            Change::ToxicUpdated { proxy, toxic } => (
                "toxic_updated",
                format!("{proxy}/{}", toxic.name),
                json!({"proxy": proxy, "toxic": toxic.to_json()}),
            ),
            Change::ToxicRemoved { proxy, name } => (
                "toxic_removed",
                format!("{proxy}/{name}"),
                json!({"proxy": proxy}),
            ),
            Change::Reset => ("reset", "all".to_string(), json!({})),
        };
        // The admin API's handlers are synchronous over the proxies' lock; the append (an
        // fsync) runs where blocking is allowed.
        tokio::task::block_in_place(|| self.0.record(action, &resource, data))
            .map(|_| ())
            .map_err(|e| {
                eprintln!("tcp-proxy: error: cannot record `{action}` {resource} in the signed ledger: {e}");
                format!("the signed ledger is not usable: {e}")
            })
    }
}
