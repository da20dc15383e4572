//! `shakedown pg-proxy`: the PostgreSQL interception proxy as a standalone process. Every
//! statement is classified and checked against the policy; events go to `--events` (JSON lines)
//! and the store. It obeys the data directory's halt latch: on `shakedown halt` the chaos
//! script stops — every lock, schema and role change undone — and nothing fires until
//! `shakedown resume` (the policy keeps guarding).
//!
//! With a chaos script it is governed like a campaign: it refuses to start without a usable
//! signed ledger, and records its start (with the digests of its policy and script), every
//! chaos action triggered and completed, halt, resume and stop (see docs/ledger.md).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use serde_json::json;
use shakedown_control::halt_latch::LatchChange;
use shakedown_core::Event;
use shakedown_core::system::ScopeRule;
use shakedown_proxy::pg::chaos::{ChaosEvent, ChaosOptions, ChaosRuntime};
use shakedown_proxy::pg::guard::{Guard, GuardConfig, read_catalog};
use shakedown_proxy::pg::{PgProxy, PgProxyConfig};
use shakedown_sql::chaos::{ChaosScript, load_chaos};
use shakedown_sql::policy::{Policy, load_policy};
use tokio::sync::mpsc;

use super::builtin::{CHAOS_SCRIPTS, POLICIES, resolve};
use super::obey_halt::{self, EventSink, Handler};
use super::open_store;
use super::proxy_ledger::{self, ProxyLedger};
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
    // Fail closed: with a chaos script nothing starts unless it can be recorded. Without one
    // the proxy only observes and guards; it records its session when the ledger is usable.
    let ledger = match ProxyLedger::open(data_dir.as_ref(), COMPONENT) {
        Ok(l) => Some(l),
        Err(e) if args.chaos.is_some() => {
            return Ok(proxy_ledger::refuse("pg-proxy with a chaos script", &e));
        }
        Err(e) => {
            eprintln!(
                "pg-proxy: warning: the session is not recorded (the signed ledger is not usable: {e})"
            );
            None
        }
    };
    let (policy, policy_digest) = match &args.policy {
        Some(p) => {
            let (policy, digest) = load(p)?;
            (Some(Arc::new(policy)), Some(digest))
        }
        None => (None, None),
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
    let script = match &args.chaos {
        Some(c) => Some(load_script(c)?),
        None => None,
    };
    if let Some(l) = &ledger {
        // Before the script starts: a trigger due at once must follow its session's start.
        let data = json!({
            "listen": args.listen.to_string(),
            "upstream": args.upstream.to_string(),
            "policy": policy_digest,
            "chaos": script.as_ref().map(|(_, d)| d),
            "seed": args.seed.map(|s| s.to_string()),
            "admin": args.admin_url.is_some(),
        });
        let session = l.session().to_string();
        if let Err(e) = l.record_async("started", &session, data).await {
            if args.chaos.is_some() {
                return Ok(proxy_ledger::refuse("pg-proxy with a chaos script", &e));
            }
            eprintln!("pg-proxy: warning: could not record the session's start: {e}");
        }
    }
    // Every chaos action goes to the ledger, then to --events; `recorder` drains both.
    let runtime_slot: Arc<std::sync::OnceLock<Arc<ChaosRuntime>>> = Arc::default();
    let mut recorder = None;
    let chaos = match script {
        Some((script, _)) => {
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
            if ledger.is_some() || events.is_some() {
                let (ctx, crx) = mpsc::channel(1024);
                options = options.with_events(ctx);
                recorder = Some(Recorder::spawn(
                    crx,
                    ledger.clone(),
                    events.clone(),
                    Arc::clone(&runtime_slot),
                ));
            }
            let rt = Arc::new(ChaosRuntime::start(script, options)?);
            let _ = runtime_slot.set(Arc::clone(&rt));
            Some(rt)
        }
        None => None,
    };
    let halt = crate::halt::on_signals();
    // On halt the chaos script is halted (every change undone, each `chaos_completed` with
    // outcome `halted_by_guardian`); on resume it runs again.
    let obeying = chaos.clone().map(|c| {
        let ledger = ledger.clone();
        let handler: Handler = Box::new(move |change| {
            let c = Arc::clone(&c);
            let ledger = ledger.clone();
            Box::pin(async move {
                // The undo first; the record after it, so the ledger never delays a halt.
                let (action, data) = match change {
                    LatchChange::Halted(info) => {
                        let undone = c.halt().await;
                        eprintln!(
                            "pg-proxy: chaos halted (by {} at {}: {}): {undone} change(s) undone; the chaos script is paused until `shakedown resume`",
                            info.by, info.at, info.reason
                        );
                        ("halted", json!({"halt": info, "undone": undone}))
                    }
                    LatchChange::Resumed => {
                        // Recorded before any trigger may fire again.
                        if let Some(l) = &ledger {
                            l.record_or_warn("resumed", l.session(), json!({}))
                                .await;
                        }
                        c.resume();
                        eprintln!("pg-proxy: chaos resumed; the chaos script runs again");
                        return json!({});
                    }
                };
                if let Some(l) = &ledger {
                    l.record_or_warn(action, l.session(), data.clone())
                        .await;
                }
                data
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
    let fired = match &chaos {
        Some(chaos) => {
            // Undo every lock, schema and role change still in force.
            chaos.shutdown().await;
            Some(chaos.fired())
        }
        None => None,
    };
    // Every action's end is in the channel once the shutdown returned.
    if let Some(r) = recorder {
        r.finish().await;
    }
    if let Some(l) = &ledger {
        l.record_or_warn("stopped", l.session(), json!({"chaos_fired": fired}))
            .await;
    }
    drop(runtime_slot);
    if let Some(w) = writer {
        w.finish().await?;
    }
    Ok(Exit::Passed)
}

/// Forwards every chaos event to the ledger (in order, each appended before the next) and to
/// `--events`. The runtime waits when the channel is full, so it is always drained; the
/// number of events is bounded by the script's `max_triggers` and global cap.
struct Recorder {
    task: tokio::task::JoinHandle<()>,
    finish: tokio::sync::oneshot::Sender<()>,
}

impl Recorder {
    fn spawn(
        mut rx: mpsc::Receiver<ChaosEvent>,
        ledger: Option<ProxyLedger>,
        events: Option<mpsc::UnboundedSender<Event>>,
        runtime: Arc<std::sync::OnceLock<Arc<ChaosRuntime>>>,
    ) -> Recorder {
        let (finish, mut finishing) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let mut unrecorded = false;
            loop {
                let ev = tokio::select! {
                    biased;
                    ev = rx.recv() => match ev {
                        Some(ev) => ev,
                        None => return,
                    },
                    _ = &mut finishing => {
                        // Everything already sent, then stop (the runtime's sender may live on).
                        while let Ok(ev) = rx.try_recv() {
                            record(&ev, ledger.as_ref(), events.as_ref(), &mut unrecorded, &runtime).await;
                        }
                        return;
                    }
                };
                record(
                    &ev,
                    ledger.as_ref(),
                    events.as_ref(),
                    &mut unrecorded,
                    &runtime,
                )
                .await;
            }
        });
        Recorder { task, finish }
    }

    /// Records what was sent so far and stops.
    async fn finish(self) {
        let _ = self.finish.send(());
        let _ = self.task.await;
    }
}

async fn record(
    ev: &ChaosEvent,
    ledger: Option<&ProxyLedger>,
    events: Option<&mpsc::UnboundedSender<Event>>,
    unrecorded: &mut bool,
    runtime: &std::sync::OnceLock<Arc<ChaosRuntime>>,
) {
    let data = serde_json::to_value(ev).unwrap_or(serde_json::Value::Null);
    let action = ev.event_type().as_str();
    if let Some(l) = ledger {
        let trigger = match ev {
            ChaosEvent::ChaosTriggered { trigger, .. }
            | ChaosEvent::ChaosCompleted { trigger, .. } => trigger.clone(),
        };
        if let Err(e) = l.record_async(action, &trigger, data.clone()).await
            && !std::mem::replace(unrecorded, true)
        {
            // Fail closed: chaos that cannot be recorded is stopped (undone) at once.
            eprintln!(
                "pg-proxy: error: cannot record `{action}` in the signed ledger ({e}); the chaos script is halted and everything it changed undone"
            );
            if let Some(rt) = runtime.get() {
                let rt = Arc::clone(rt);
                tokio::spawn(async move { rt.halt().await });
            }
        }
    }
    if let Some(tx) = events {
        let _ = tx.send(Event::named(
            action,
            None,
            None,
            data,
            time::OffsetDateTime::now_utc(),
        ));
    }
}

/// The policy and the digest of its text.
fn load(value: &str) -> anyhow::Result<(Policy, serde_json::Value)> {
    let (name, text) = resolve(value, POLICIES, "policy")?;
    match load_policy(&text) {
        Ok((policy, warnings)) => {
            if !warnings.0.is_empty() {
                eprintln!("{}", warnings.render(&name));
            }
            let mut digest = proxy_ledger::digest(text.as_bytes());
            digest["name"] = json!(name);
            Ok((policy, digest))
        }
        Err(problems) => anyhow::bail!(
            "{}\n{name}: the policy was not used",
            problems.render(&name)
        ),
    }
}

/// The chaos script and the digest of its text.
fn load_script(value: &str) -> anyhow::Result<(ChaosScript, serde_json::Value)> {
    let (name, text) = resolve(value, CHAOS_SCRIPTS, "chaos script")?;
    match load_chaos(&text) {
        Ok((script, warnings)) => {
            if !warnings.0.is_empty() {
                eprintln!("{}", warnings.render(&name));
            }
            let mut digest = proxy_ledger::digest(text.as_bytes());
            digest["name"] = json!(name);
            digest["triggers"] = json!(script.triggers.len());
            digest["max_total_chaos_events"] = json!(script.max_total_chaos_events);
            Ok((script, digest))
        }
        Err(problems) => anyhow::bail!(
            "{}\n{name}: the chaos script was not used",
            problems.render(&name)
        ),
    }
}
