//! What a server is started with: where it listens, its data directory, and the thresholds
//! of its own guardrails (the ones `examples/self_campaign.yaml` claims and a campaign
//! verifies).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// A server's configuration. [`ServerConfig::new`] gives the documented defaults.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// The data directory: store, ledger, halt latch, budgets.
    pub data_dir: PathBuf,
    /// Largest request body in bytes; larger gets 413 (default 1 MB).
    pub max_body: usize,
    /// Requests one token may make per `rate_window` (sliding); 0 turns the limiter off.
    pub rate_limit: u32,
    pub rate_window: Duration,
    /// Longest a request may take from head to answer; longer gets 408 (SSE streams excepted).
    pub request_timeout: Duration,
    /// Deadline for a request head to arrive (also the keep-alive idle timeout and the longest
    /// pause between two body chunks): a slow client cannot hold a connection.
    pub header_timeout: Duration,
    /// Requests in flight above which new ones are shed with 503.
    pub max_in_flight: usize,
    /// Open connections above which new ones are answered 503 and closed.
    pub max_connections: usize,
    /// Live `/api/events` streams at once; more get 503.
    pub max_event_streams: usize,
    /// How long a signed approval granted through the API stays valid (it is used at once).
    pub approval_ttl: Duration,
    /// Pending approval requests older than this expire.
    pub request_ttl: Duration,
    /// Campaigns this server runs at once; more are refused with 503 until one ends.
    pub max_campaigns: usize,
    /// Agent runs (each its own `shakedown run` process) at once; more get 503.
    pub max_runs: usize,
    /// How often the halt latch is polled (halts set by `shakedown halt` in another process).
    pub halt_poll: Duration,
    /// Whether `POST /api/runs` may start an agent given as a command (`agent`); off by
    /// default, so a token with `execute` cannot run programs on this host unless the operator
    /// said so (`shakedown serve --allow-agent-commands`). `agent_url` runs are always allowed.
    pub allow_agent_commands: bool,
    /// Scheduled campaigns, submitted as `chaos_agent_service` (`--schedule FILE`).
    pub schedules: Vec<shakedown_control::schedule::Schedule>,
    /// NATS servers (`nats://host:port[,…]`): `guardian.halt_chaos` / `guardian.resume_chaos`
    /// pull the halt lever, and the server's events are published on `chaos.>`.
    pub nats: Option<String>,
    /// The only directory whose files requests may name (`system_file`, a run's scenario,
    /// policy… files); `None`: requests name no files (`--files-root`).
    pub files_root: Option<std::path::PathBuf>,
    /// Where approvals, approval requests and budgets read the time (the system clock;
    /// tests and clock-skew drills inject another).
    pub clock: shakedown_govern::SharedClock,
}

impl ServerConfig {
    /// Defaults: 1 MB bodies, 600 requests per token per minute, 30 s per request, 5 s for a
    /// request head, 256 requests in flight, 1024 connections.
    pub fn new(listen: SocketAddr, data_dir: PathBuf) -> ServerConfig {
        ServerConfig {
            listen,
            data_dir,
            max_body: 1024 * 1024,
            rate_limit: 600,
            rate_window: Duration::from_secs(60),
            request_timeout: Duration::from_secs(30),
            header_timeout: Duration::from_secs(5),
            max_in_flight: 256,
            max_connections: 1024,
            max_event_streams: 64,
            approval_ttl: Duration::from_secs(300),
            request_ttl: Duration::from_secs(24 * 3600),
            max_campaigns: 8,
            max_runs: 4,
            halt_poll: Duration::from_millis(50),
            allow_agent_commands: false,
            schedules: Vec::new(),
            nats: None,
            files_root: None,
            clock: shakedown_govern::SharedClock::default(),
        }
    }

    /// Why this configuration cannot work, if it cannot.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_body == 0 {
            return Err("max_body must be at least 1 byte".into());
        }
        if self.rate_limit > 0 && self.rate_window.is_zero() {
            return Err("rate_window must be more than 0 when rate_limit is set".into());
        }
        for (name, d) in [
            ("request_timeout", self.request_timeout),
            ("header_timeout", self.header_timeout),
            ("halt_poll", self.halt_poll),
        ] {
            if d.is_zero() {
                return Err(format!("{name} must be more than 0"));
            }
        }
        if self.max_in_flight == 0
            || self.max_connections == 0
            || self.max_event_streams == 0
            || self.max_campaigns == 0
            || self.max_runs == 0
        {
            return Err("max_in_flight, max_connections, max_event_streams, max_campaigns and max_runs must be at least 1".into());
        }
        Ok(())
    }
}
