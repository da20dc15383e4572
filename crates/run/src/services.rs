//! The services a cell's agent talks to: the PostgreSQL proxy in front of its database (with
//! the policy, and the chaos script in fault cells) and the HTTP fault proxy in front of the
//! LLM upstream (an empty rule set in the baseline, so the agent's environment is the same in
//! every cell). Both send their events into the cell's channel.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use shakedown_core::Event;
use shakedown_faults::server::{ProxySettings, Route};
use shakedown_faults::{FaultConfig, FaultEngine, FaultProxy, FaultProxyHandle, FaultProxyOptions};
use shakedown_proxy::pg::chaos::{ChaosOptions, ChaosRuntime};
use shakedown_proxy::pg::guard::{Guard, GuardConfig, bridge_chaos_events, read_catalog};
use shakedown_proxy::pg::{PgProxy, PgProxyConfig};
use shakedown_sql::chaos::ChaosScript;
use shakedown_sql::policy::Policy;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::RunError;

/// The running PostgreSQL proxy of a cell.
pub struct PgSide {
    pub proxy: PgProxy,
    pub chaos: Option<Arc<ChaosRuntime>>,
}

impl PgSide {
    /// Stops the proxy, then undoes every chaos change still in force.
    pub async fn stop(self) {
        self.proxy.shutdown().await;
        if let Some(chaos) = self.chaos {
            chaos.shutdown().await;
        }
    }
}

/// What the PostgreSQL side of a cell is made of.
pub struct PgSideOptions<'a> {
    /// The cell's database server.
    pub upstream: SocketAddr,
    /// A superuser URL for the cell's database (catalog, chaos actions).
    pub admin_url: &'a str,
    pub policy: Option<Arc<Policy>>,
    pub chaos: Option<Arc<ChaosScript>>,
    /// `{run.id}` in chaos templates.
    pub run_id: &'a str,
    pub seed: u64,
}

/// Starts the PostgreSQL proxy for a cell on 127.0.0.1.
pub async fn start_pg(
    opts: PgSideOptions<'_>,
    events: mpsc::UnboundedSender<Event>,
    halt: CancellationToken,
) -> Result<PgSide, RunError> {
    let PgSideOptions {
        upstream,
        admin_url,
        policy,
        chaos,
        run_id,
        seed,
    } = opts;
    let catalog = match &policy {
        Some(_) => {
            Some(Arc::new(read_catalog(admin_url).await.map_err(|e| {
                RunError::PgProxy(format!("reading the catalog: {e}"))
            })?))
        }
        None => None,
    };
    let chaos = match chaos {
        Some(script) => {
            let (ctx, crx) = mpsc::channel(1024);
            bridge_chaos_events(crx, events.clone());
            let options = ChaosOptions::default()
                .with_admin_url(admin_url.to_string())
                .with_seed(seed)
                .with_run_id(run_id.to_string())
                .with_events(ctx)
                .with_halt(halt.clone());
            let runtime = ChaosRuntime::start((*script).clone(), options)
                .map_err(|e| RunError::Chaos(e.to_string()))?;
            Some(Arc::new(runtime))
        }
        None => None,
    };
    let guard = Guard::new(GuardConfig {
        policy,
        catalog,
        events: Some(events),
        chaos: chaos.clone(),
    });
    let config =
        PgProxyConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)), upstream).with_halt(halt);
    let proxy = PgProxy::bind_with(config, guard)
        .await
        .map_err(|e| RunError::PgProxy(e.to_string()))?;
    Ok(PgSide { proxy, chaos })
}

/// Route prefixes the agent's LLM SDKs are pointed at.
pub const OPENAI_PREFIX: &str = "/openai";
pub const ANTHROPIC_PREFIX: &str = "/anthropic";

/// Starts the fault proxy for a cell on 127.0.0.1: `/openai` and `/anthropic` go to the LLM
/// upstream, other calls through it as a forward proxy (with TLS interception, its CA under
/// `ca_dir`).
pub async fn start_faults(
    config: Option<&FaultConfig>,
    llm_upstream: Option<&str>,
    ca_dir: &Path,
    seed: u64,
    events: mpsc::UnboundedSender<Event>,
    halt: CancellationToken,
) -> Result<FaultProxyHandle, RunError> {
    let mut config = config.cloned().unwrap_or_default();
    let mut settings = ProxySettings {
        ca_dir: Some(ca_dir.display().to_string()),
        // Always intercepted: an untouched CONNECT tunnel to a loopback port would carry the
        // agent to the database server around the SQL proxy.
        intercept_tls: true,
        ..config.proxy.clone()
    };
    if let Some(up) = llm_upstream {
        for prefix in [OPENAI_PREFIX, ANTHROPIC_PREFIX] {
            settings.routes.push(Route {
                prefix: prefix.to_string(),
                upstream: up.to_string(),
                tool: None,
            });
        }
    }
    config.proxy = settings.clone();
    // The proxy's channel is bounded; forward into the cell's unbounded one.
    let (tx, mut rx) = mpsc::channel::<Event>(1024);
    tokio::spawn(async move {
        while let Some(e) = rx.recv().await {
            if events.send(e).is_err() {
                break;
            }
        }
    });
    FaultProxy::start(FaultProxyOptions {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        settings,
        decider: Arc::new(FaultEngine::new(config, seed)),
        planner: Arc::new(shakedown_faults::plan_for_request),
        events: Some(tx),
        halt,
    })
    .await
    .map_err(|e| RunError::FaultProxy(e.to_string()))
}
