//! Signals. Ctrl-C and SIGTERM to a running campaign pull the halt lever of its data
//! directory — the same halt as `shakedown halt`: the latch is set (nothing new starts until
//! `shakedown resume`), every other registered campaign and run is signalled, the ledger
//! records `control/halted` by the actor `signal` — and this campaign stops and is stored as
//! `halted_by_guardian`. A signal that arrives while the latch is already set is the halt
//! arriving from elsewhere (`halt_all` writes the latch before it signals), so it only stops.
//!
//! An agent run keeps SIGTERM as its own stop (`shakedown terminate`, `POST
//! /api/runs/{id}/terminate`): stored `terminated`, or `halted_by_guardian` when the signal
//! came with the latch set. Long-lived services (the proxies, the mock LLM) just stop.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use shakedown_control::{halt as lever, halt_latch};
use tokio_util::sync::CancellationToken;

/// Installs the SIGINT and SIGTERM handlers now and returns a future of the first signal's
/// name.
#[cfg(unix)]
fn first_signal() -> impl std::future::Future<Output = &'static str> + Send {
    use tokio::signal::unix::{SignalKind, signal};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    async move {
        match (term, int) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => "SIGTERM",
                    _ = int.recv() => "SIGINT",
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            }
        }
    }
}

#[cfg(not(unix))]
fn first_signal() -> impl std::future::Future<Output = &'static str> + Send {
    async {
        let _ = tokio::signal::ctrl_c().await;
        "SIGINT"
    }
}

/// A token cancelled on the first SIGINT or SIGTERM (services: proxies, mock LLM, load). The
/// handlers are installed before this returns, so a signal right after start-up stops
/// cleanly instead of killing the process.
pub fn on_signals() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    let signal = first_signal();
    tokio::spawn(async move {
        signal.await;
        eprintln!("\nhalt requested: stopping…");
        t.cancel();
    });
    token
}

/// A token for a campaign in `data_dir`: the first SIGINT or SIGTERM pulls the halt lever as
/// the actor `signal` (latch, then this token, then every other registered campaign and run
/// signalled, then the ledger) — or, when chaos is already halted, only cancels the token.
pub fn halt_on_signals(data_dir: &Path, kind: &'static str) -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    let data: PathBuf = data_dir.to_path_buf();
    let signal = first_signal();
    tokio::spawn(async move {
        let name = signal.await;
        if halt_latch::halted(&data).is_some() {
            t.cancel();
            eprintln!("\nhalted (chaos is halted): stopping…");
            return;
        }
        eprintln!(
            "\nhalt requested ({name}): halting all chaos in {} …",
            data.display()
        );
        let pid = std::process::id();
        let reason = format!("{name} to {kind} (pid {pid})");
        // This campaign stops right after the latch is written (one small file), before the
        // other processes are signalled and the ledger is appended, so what it records next
        // already names the halt. The runtime waits for blocking tasks (not for this async
        // one) before the process ends: the latch, the signals, the ledger entry and the
        // report below all land even when the campaign finishes first.
        let stop = t.clone();
        let done = tokio::task::spawn_blocking(move || {
            match lever::halt_all_then(&data, lever::SIGNAL_ACTOR, &reason, || stop.cancel()) {
                Ok(o) => eprintln!(
                    "halt lever pulled: {} other campaign(s)/run(s) signalled; nothing new starts until `shakedown resume`{}",
                    o.signalled.len(),
                    o.ledger
                        .err()
                        .map(|e| format!(" (not recorded in the ledger: {e})"))
                        .unwrap_or_default()
                ),
                Err(e) => eprintln!("error: {e}"),
            }
        });
        // Whatever happens there, this campaign stops.
        if done.await.is_err() {
            eprintln!("error: the halt did not run");
        }
        t.cancel();
    });
    token
}

/// What stopped an agent run.
#[derive(Debug, Clone)]
pub struct RunSignals {
    pub token: CancellationToken,
    guardian: Arc<AtomicBool>,
}

impl RunSignals {
    /// Whether the run was stopped by a halt (the latch was set when the signal came).
    pub fn by_guardian(&self) -> bool {
        self.guardian.load(Ordering::SeqCst)
    }
}

/// A token for an agent run in `data_dir`: SIGINT or SIGTERM cancel it, remembering whether
/// the latch was set then (a halt) or not (a terminate of this run).
pub fn run_signals(data_dir: &Path) -> RunSignals {
    let token = CancellationToken::new();
    let guardian = Arc::new(AtomicBool::new(false));
    let (t, g) = (token.clone(), guardian.clone());
    let data = data_dir.to_path_buf();
    let signal = first_signal();
    tokio::spawn(async move {
        signal.await;
        if halt_latch::halted(&data).is_some() {
            g.store(true, Ordering::SeqCst);
            eprintln!("\nhalted (chaos is halted): stopping…");
        } else {
            eprintln!("\nterminate requested: stopping…");
        }
        t.cancel();
    });
    RunSignals { token, guardian }
}
