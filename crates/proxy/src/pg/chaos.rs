//! Chaos actions executed for real. [`ChaosRuntime`] runs one chaos script for the whole
//! proxy: the pure [`ChaosEngine`] decides when triggers fire, and the runtime carries the
//! actions out — on the wire (latency, injected SQLSTATEs, partitions, throttling, loss) and in
//! the database through an admin connection (locks, revoked logins, renamed or retyped
//! columns, dropped indexes) — and undoes every change when its duration ends or the script
//! ends. See `docs/chaos-scripts.md` for the format.
//!
//! # How an interceptor uses it
//!
//! One runtime per proxy, shared by every session (`Arc<ChaosRuntime>`):
//!
//! 1. For every SQL event (`sql_received`, `sql_allowed`, `sql_result` with rows, …) call
//!    [`ChaosRuntime::on_event`]. It never waits: database-side actions run in tasks of their
//!    own, and wire-side actions without a delay are in force before it returns.
//! 2. Before forwarding a Query or Parse, call [`ChaosRuntime::before_statement`] with the
//!    message's statements (after `on_event` for them, so a trigger on this statement already
//!    applies to it), then sleep [`Effect::delay`] and return [`Effect::verdict`] (or combine
//!    it with the policy's: a policy block should win).
//! 3. In `on_backend`, for each [`BackendEvent::Ready`](crate::pg::BackendEvent::Ready), sleep
//!    [`ChaosRuntime::response_delay`] of its `elapsed` (CPU throttling and packet loss).
//! 4. When the run ends, `shutdown().await`: every change still applied is undone, newest
//!    first, and reported.
//!
//! The guardian's halt ([`ChaosRuntime::halt`]) undoes every change as shutdown does but can be
//! lifted ([`ChaosRuntime::resume`]); while halted nothing fires.
//!
//! Wire-side faults apply to every session (a slow network or a full disk is not per client);
//! database-side ones are visible to every client of the database by nature.
//!
//! # Events
//!
//! Each fired action yields one `chaos_triggered` and then one `chaos_completed`
//! ([`ChaosEvent`]) with the outcome, error, statements affected and how long it was in force.
//! Both are fed back to the engine, so scripts can trigger on them.

mod add_latency;
mod admin;
mod change_column_type;
mod cpu_throttle;
mod disk_full;
mod drop_index;
mod effect;
mod error;
mod event;
mod lock_table;
mod memory_pressure;
mod network_partition;
mod packet_loss;
mod pause;
mod rename_column;
mod revoke_credentials;
mod runner;
mod simulate_timeout;
mod ticker;
mod undo;
mod windows;

use std::borrow::Cow;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::StdRng;
use shakedown_sql::SqlEvent;
use shakedown_sql::chaos::{ChaosEngine, ChaosScript};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use effect::Effect;
pub use error::ChaosError;
pub use event::{ChaosEvent, ChaosOutcome};

use admin::Admin;
use event::ChaosSink;
use pause::Pause;
use runner::Origin;
use undo::{Claims, UndoStack};
use windows::Windows;

use super::session_info::SessionInfo;

/// Default `lock_timeout` of admin statements.
pub const DEFAULT_ADMIN_LOCK_TIMEOUT: Duration = Duration::from_secs(5);
/// How long shutdown waits for admin connections to close.
const CONNECTIONS_CLOSE: Duration = Duration::from_secs(5);
/// How long a halt waits for actions being applied (an admin statement waits at most its
/// `lock_timeout`) before undoing what is in force.
const HALT_SETTLE: Duration = Duration::from_secs(15);

/// How to run a script.
#[derive(Clone)]
pub struct ChaosOptions {
    /// A PostgreSQL URL (or `key=value` string) of a role allowed to make the database-side
    /// changes: a superuser, or the tables' owner (roles need CREATEROLE or superuser).
    /// Without it, database-side actions fail with a `chaos_completed` error event and the
    /// rest of the script still runs. TLS is not used on this connection.
    pub admin_url: Option<String>,
    /// Where `chaos_triggered` / `chaos_completed` go. The runtime waits when the channel is
    /// full, so keep draining it.
    pub events: Option<mpsc::Sender<ChaosEvent>>,
    /// Seed for everything random (time-trigger jitter, memory-pressure and packet-loss
    /// draws): the same seed gives the same run. `None`: random.
    pub seed: Option<u64>,
    /// The value of `{run.id}` in templates.
    pub run_id: String,
    /// An outside halt: cancelling it ends the script like [`ChaosRuntime::shutdown`] (the
    /// undo then runs in the background).
    pub halt: Option<CancellationToken>,
    /// `lock_timeout` for admin statements: an action that cannot get its lock in time fails
    /// instead of hanging (an undo is retried a few times).
    pub admin_lock_timeout: Duration,
    /// Start under the guardian's halt (the latch was already set): nothing fires, not even a
    /// time trigger due at 0 s, until [`ChaosRuntime::resume`].
    pub start_halted: bool,
}

impl Default for ChaosOptions {
    fn default() -> Self {
        Self {
            admin_url: None,
            events: None,
            seed: None,
            run_id: String::new(),
            halt: None,
            admin_lock_timeout: DEFAULT_ADMIN_LOCK_TIMEOUT,
            start_halted: false,
        }
    }
}

impl std::fmt::Debug for ChaosOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The admin URL carries a password: say only whether there is one.
        f.debug_struct("ChaosOptions")
            .field("admin_url", &self.admin_url.as_ref().map(|_| "<redacted>"))
            .field("events", &self.events.is_some())
            .field("seed", &self.seed)
            .field("run_id", &self.run_id)
            .field("halt", &self.halt.is_some())
            .field("admin_lock_timeout", &self.admin_lock_timeout)
            .finish()
    }
}

impl ChaosOptions {
    /// Use `url` for database-side actions.
    pub fn with_admin_url(mut self, url: impl Into<String>) -> Self {
        self.admin_url = Some(url.into());
        self
    }

    /// Send events to `tx`.
    pub fn with_events(mut self, tx: mpsc::Sender<ChaosEvent>) -> Self {
        self.events = Some(tx);
        self
    }

    /// Start halted (see [`ChaosOptions::start_halted`]).
    pub fn with_start_halted(mut self, halted: bool) -> Self {
        self.start_halted = halted;
        self
    }

    /// Make the run reproducible.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Set `{run.id}`.
    pub fn with_run_id(mut self, run_id: impl Into<String>) -> Self {
        self.run_id = run_id.into();
        self
    }

    /// Stop when `halt` is cancelled.
    pub fn with_halt(mut self, halt: CancellationToken) -> Self {
        self.halt = Some(halt);
        self
    }
}

/// The session an event came from: its number and the role it logged in as.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChaosSession<'a> {
    /// The proxy's session number.
    pub id: Option<u64>,
    /// The `user` startup parameter (`revoke_credentials` without a role revokes it).
    pub user: Option<Cow<'a, str>>,
}

impl<'a> ChaosSession<'a> {
    /// Session `id`, logged in as `user`.
    pub fn new(id: u64, user: Option<&'a str>) -> Self {
        Self {
            id: Some(id),
            user: user.map(Cow::Borrowed),
        }
    }
}

impl<'a> From<&'a SessionInfo> for ChaosSession<'a> {
    fn from(s: &'a SessionInfo) -> Self {
        Self {
            id: Some(s.id()),
            user: s.user(),
        }
    }
}

/// Runs one chaos script for a proxy. See the module docs for the calling protocol.
///
/// Dropping it without [`shutdown`](Self::shutdown) still ends the script: the undo then runs
/// in the background, as long as the tokio runtime lives.
#[derive(Debug)]
pub struct ChaosRuntime {
    inner: Arc<Inner>,
}

/// The state shared by the runtime and its tasks.
#[derive(Debug)]
pub(crate) struct Inner {
    engine: Mutex<ChaosEngine>,
    pub(crate) admin: Option<Admin>,
    sink: ChaosSink,
    windows: Mutex<Windows>,
    stack: UndoStack,
    claims: Claims,
    halt: CancellationToken,
    /// The guardian's halt, which can be lifted.
    pause: Pause,
    /// The driver and one task per action.
    tasks: TaskTracker,
    /// Admin connection futures.
    conns: TaskTracker,
    next_id: AtomicU64,
}

/// The engine's clock: tokio's, so paused-time tests drive it.
pub(crate) fn now_std() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

impl Inner {
    fn engine(&self) -> MutexGuard<'_, ChaosEngine> {
        self.engine.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn windows(&self) -> MutexGuard<'_, Windows> {
        self.windows.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl ChaosRuntime {
    /// Starts `script` now (time triggers count from here). Fails only on a malformed
    /// `admin_url`; the admin connection is opened when an action first needs it.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime (it spawns the driver task).
    pub fn start(script: ChaosScript, options: ChaosOptions) -> Result<Self, ChaosError> {
        let conns = TaskTracker::new();
        let admin = options
            .admin_url
            .as_deref()
            .map(|url| Admin::new(url, options.admin_lock_timeout, conns.clone()))
            .transpose()?;
        let seed = options.seed.unwrap_or_else(rand::random);
        let engine = ChaosEngine::new(script, now_std())
            .with_seed(seed)
            .with_run_id(options.run_id);
        let halt = match &options.halt {
            Some(h) => h.child_token(),
            None => CancellationToken::new(),
        };
        let inner = Arc::new(Inner {
            engine: Mutex::new(engine),
            admin,
            sink: ChaosSink(options.events),
            windows: Mutex::new(Windows::new(StdRng::seed_from_u64(seed))),
            stack: UndoStack::default(),
            claims: Claims::default(),
            halt,
            pause: Pause::default(),
            tasks: TaskTracker::new(),
            conns,
            next_id: AtomicU64::new(1),
        });
        if options.start_halted {
            // Before the driver starts, so not even a trigger due now can fire.
            inner.pause.pause();
        }
        inner.tasks.spawn(ticker::drive(Arc::clone(&inner)));
        Ok(Self { inner })
    }

    /// Feeds one SQL event to the script and starts every action it fires. Never waits.
    pub fn on_event<'a>(&self, event: &SqlEvent, session: impl Into<ChaosSession<'a>>) {
        // While halted events are not even counted: nothing is owed when it resumes.
        if self.inner.halt.is_cancelled() || self.inner.pause.is_paused() {
            return;
        }
        let fired = self.inner.engine().on_event(event, now_std());
        if fired.is_empty() {
            return;
        }
        let session = session.into();
        let origin = Origin {
            session: session.id,
            user: session.user.map(Cow::into_owned),
        };
        self.inner.start(fired, &origin);
    }

    /// What chaos does to one Query or Parse carrying `statements` (one event per statement
    /// of the message, as given to [`on_event`](Self::on_event)): added latency and
    /// packet-loss stalls in [`Effect::delay`]; a partition (`Blackhole` / `Disconnect`) or an
    /// injected error (57014, 53100 for writes, 53200) in [`Effect::verdict`]. Injected errors
    /// spare a message made only of session control (BEGIN, COMMIT, ROLLBACK, SET…), so a
    /// client can always end its transaction. A one-shot timeout is used up by the statement
    /// it is returned for.
    pub fn before_statement(&self, statements: &[SqlEvent]) -> Effect {
        let mut windows = self.inner.windows();
        if windows.is_empty() {
            return Effect::none();
        }
        windows.effect(statements, tokio::time::Instant::now())
    }

    /// How long to hold back a response whose server time was `elapsed`: CPU throttling
    /// (`elapsed · p / (1 − p)`) plus packet-loss stalls. Call it once per response cycle
    /// (at ReadyForQuery, with the time since the Query or Sync was forwarded) and sleep the
    /// result before forwarding.
    pub fn response_delay(&self, elapsed: Duration) -> Duration {
        let mut windows = self.inner.windows();
        if windows.is_empty() {
            return Duration::ZERO;
        }
        windows.response_delay(elapsed, tokio::time::Instant::now())
    }

    /// How many actions are in force right now (applied and not yet undone).
    pub fn active(&self) -> usize {
        self.inner.stack.len()
    }

    /// How many actions the script has fired so far.
    pub fn fired(&self) -> u32 {
        self.inner.engine().total_fired()
    }

    /// The guardian's halt: no trigger fires (events are not counted, time triggers wait),
    /// actions waiting out their delay are cancelled, and every change in force is undone,
    /// newest first, each reported with outcome `halted_by_guardian` (or `undo_failed`).
    /// Returns how many changes were undone, once all of it is done. Until
    /// [`resume`](Self::resume) the script stays halted; halting again does nothing.
    pub async fn halt(&self) -> usize {
        let inner = &self.inner;
        let Some(epoch) = inner.pause.pause() else {
            return 0;
        };
        // Actions being applied finish applying (bounded by the admin lock_timeout), see the
        // halt and leave their undo to us, or undo themselves.
        if tokio::time::timeout(HALT_SETTLE, epoch.wait())
            .await
            .is_err()
        {
            tracing::warn!("chaos actions still applying after the halt's settle time");
        }
        let entries = inner.stack.drain();
        let undone = entries.len();
        for entry in entries {
            inner.finish(entry, ChaosOutcome::HaltedByGuardian).await;
        }
        undone
    }

    /// Lifts the guardian's halt: triggers fire again (time triggers that came due meanwhile
    /// fire now). Nothing undone comes back by itself. `false` when not halted.
    pub fn resume(&self) -> bool {
        self.inner.pause.resume()
    }

    /// Whether the guardian's halt is in force.
    pub fn is_halted(&self) -> bool {
        self.inner.pause.is_paused()
    }

    /// Ends the script: no more triggers fire, actions waiting out their delay are cancelled,
    /// and every change still applied is undone, newest first, each reported with outcome
    /// `shutdown` (or `undo_failed`). Returns when all of it is done and the admin
    /// connections are closed. Calling it again does nothing.
    pub async fn shutdown(&self) {
        let inner = &self.inner;
        inner.halt.cancel();
        inner.tasks.close();
        inner.tasks.wait().await;
        if let Some(admin) = &inner.admin {
            admin.close().await;
        }
        inner.conns.close();
        if tokio::time::timeout(CONNECTIONS_CLOSE, inner.conns.wait())
            .await
            .is_err()
        {
            tracing::warn!("chaos admin connections did not close in time");
        }
    }
}

impl Drop for ChaosRuntime {
    fn drop(&mut self) {
        // The driver undoes what is left.
        self.inner.halt.cancel();
    }
}
