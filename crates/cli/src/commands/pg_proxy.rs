//! `shakedown pg-proxy`: the PostgreSQL interception proxy as a standalone process. Every
//! statement is classified and checked against the policy; events go to `--events` (JSON lines)
//! and the store. It obeys the data directory's halt latch: on `shakedown halt` the chaos
//! script stops — every lock, schema and role change undone — and nothing fires until
//! `shakedown resume` (the policy keeps guarding).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use serde_json::json;
use shakedown_control::halt_latch::LatchChange;
use shakedown_core::system::ScopeRule;
use shakedown_proxy::pg::chaos::{ChaosOptions, ChaosRuntime};
use shakedown_proxy::pg::guard::{Guard, GuardConfig, bridge_chaos_events, read_catalog};
use shakedown_proxy::pg::{PgProxy, PgProxyConfig};
use shakedown_sql::chaos::{ChaosScript, load_chaos};
use shakedown_sql::policy::{Policy, load_policy};
use tokio::sync::mpsc;

use super::builtin::{CHAOS_SCRIPTS, POLICIES, resolve};
use super::obey_halt::{self, EventSink, Handler};
use super::open_store;
use crate::exit::Exit;

/// The component id of this proxy's own events.
const COMPONENT: &str = "pg-proxy";

#[derive(Debug, Args)]
pub struct PgProxyArgs {
    /// Where clients connect.
    #[arg(long, default_value = "127.0.0.1:5433")]
    pub listen: SocketAddr,
    /// The PostgreSQL server behind the proxy (loopback unless --allow covers it).
    #[arg(long, default_value = "127.0.0.1:5432")]
    pub upstream: SocketAddr,
    /// SQL policy: a file or a built-in (strict, permissive, read_only). None = observe only.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<String>,
    /// Chaos script: a file or a built-in (db_lock_v1, latency_spike, schema_mutation,
    /// network_chaos, resource_exhaustion). Database-side actions need --admin-url.
    #[arg(long, value_name = "FILE")]
    pub chaos: Option<String>,
    /// Seed for the chaos script's random draws (same seed, same faults).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Append every event (sql_received, sql_blocked, …) to this file as JSON lines, and to the
    /// store. Without it no events are produced (the fastest path).
    #[arg(long, value_name = "FILE")]
    pub events: Option<PathBuf>,
    /// A connection URL with rights to read the catalog (for fail_on_unknown_table and `*`
    /// against honeypot columns) and to run the chaos script's database-side actions (locks,
    /// schema changes, role changes — all undone), e.g. postgres://admin:pw@127.0.0.1:5432/app.
    #[arg(long, value_name = "URL")]
    pub admin_url: Option<String>,
    /// Networks the upstream may be in besides loopback (CIDR, repeatable).
    #[arg(long, value_name = "CIDR")]
    pub allow: Vec<String>,
}

pub async fn run(args: PgProxyArgs, data_dir: Option<PathBuf>) -> anyhow::Result<Exit> {
    let mut allow = vec!["127.0.0.0/8".to_string(), "::1/128".to_string()];
    allow.extend(args.allow.iter().cloned());
    let scope = ScopeRule::parse(&allow).map_err(anyhow::Error::msg)?;
    if !scope.permits_ip(args.upstream.ip()) {
        anyhow::bail!(
            "upstream {} is outside the scope (loopback by default); add --allow {}/32 if you may proxy to it",
            args.upstream,
            args.upstream.ip()
        );
    }
    let policy = match &args.policy {
        Some(p) => Some(Arc::new(load(p)?)),
        None => None,
    };
    let catalog = match &args.admin_url {
        Some(url) => Some(Arc::new(
            read_catalog(url)
                .await
                .context("cannot read the catalog with --admin-url")?,
        )),
        None => None,
    };
    let (events, writer) = match &args.events {
        Some(path) => {
            let (tx, rx) = mpsc::unbounded_channel();
            let store = open_store(data_dir.clone())?;
            (Some(tx), Some(super::event_writer::spawn(path, store, rx)?))
        }
        None => (None, None),
    };
    let chaos = match &args.chaos {
        Some(c) => {
            let script = load_script(c)?;
            // A latch already set holds the script from its first instant.
            let latched = shakedown_control::halt_latch::halted(
                &data_dir
                    .clone()
                    .unwrap_or_else(shakedown_store::default_data_dir),
            )
            .is_some();
            let mut options = ChaosOptions::default().with_start_halted(latched);
            if let Some(url) = &args.admin_url {
                options = options.with_admin_url(url.clone());
            }
            if let Some(seed) = args.seed {
                options = options.with_seed(seed);
            }
            if let Some(tx) = &events {
                let (ctx, crx) = mpsc::channel(1024);
                options = options.with_events(ctx);
                bridge_chaos_events(crx, tx.clone());
            }
            Some(Arc::new(ChaosRuntime::start(script, options)?))
        }
        None => None,
    };
    let halt = crate::halt::on_signals();
    // On halt the chaos script is halted (every change undone, each `chaos_completed` with
    // outcome `halted_by_guardian`); on resume it runs again.
    let obeying = chaos.clone().map(|c| {
        let handler: Handler = Box::new(move |change| {
            let c = Arc::clone(&c);
            Box::pin(async move {
                match change {
                    LatchChange::Halted(info) => {
                        let undone = c.halt().await;
                        eprintln!(
                            "pg-proxy: chaos halted (by {} at {}: {}): {undone} change(s) undone; the chaos script is paused until `shakedown resume`",
                            info.by, info.at, info.reason
                        );
                        json!({"halt": info, "undone": undone})
                    }
                    LatchChange::Resumed => {
                        c.resume();
                        eprintln!("pg-proxy: chaos resumed; the chaos script runs again");
                        json!({})
                    }
                }
            })
        });
        obey_halt::spawn(
            data_dir,
            COMPONENT,
            events.clone().map(EventSink::Unbounded),
            halt.clone(),
            handler,
        )
    });
    let guard = Guard::new(GuardConfig {
        policy: policy.clone(),
        catalog,
        events,
        chaos: chaos.clone(),
    });
    let config = PgProxyConfig::new(args.listen, args.upstream);
    let proxy = PgProxy::bind_with(config, guard)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    eprintln!(
        "pg-proxy listening on {} → {} (policy: {}; chaos: {})",
        proxy.local_addr(),
        args.upstream,
        policy
            .as_ref()
            .map_or("none, observing only", |p| p.name.as_str()),
        args.chaos.as_deref().unwrap_or("none")
    );
    halt.cancelled().await;
    proxy.shutdown().await;
    if let Some(o) = obeying {
        let _ = o.await;
    }
    if let Some(chaos) = chaos {
        // Undo every lock, schema and role change still in force.
        chaos.shutdown().await;
    }
    if let Some(w) = writer {
        w.finish().await?;
    }
    Ok(Exit::Passed)
}

fn load(value: &str) -> anyhow::Result<Policy> {
    let (name, text) = resolve(value, POLICIES, "policy")?;
    match load_policy(&text) {
        Ok((policy, warnings)) => {
            if !warnings.0.is_empty() {
                eprintln!("{}", warnings.render(&name));
            }
            Ok(policy)
        }
        Err(problems) => anyhow::bail!(
            "{}\n{name}: the policy was not used",
            problems.render(&name)
        ),
    }
}

fn load_script(value: &str) -> anyhow::Result<ChaosScript> {
    let (name, text) = resolve(value, CHAOS_SCRIPTS, "chaos script")?;
    match load_chaos(&text) {
        Ok((script, warnings)) => {
            if !warnings.0.is_empty() {
                eprintln!("{}", warnings.render(&name));
            }
            Ok(script)
        }
        Err(problems) => anyhow::bail!(
            "{}\n{name}: the chaos script was not used",
            problems.render(&name)
        ),
    }
}
