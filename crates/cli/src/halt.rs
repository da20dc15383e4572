//! Ctrl-C and SIGTERM halt a running campaign or run: the token is cancelled, in-flight
//! attacks stop and clean up, and the campaign is stored as `halted_by_guardian` (a run as
//! `terminated`).

use tokio_util::sync::CancellationToken;

/// A halt token cancelled on the first SIGINT or SIGTERM. The handlers are installed before
/// this returns, so a signal that arrives right after start-up halts cleanly instead of
/// killing the process.
pub fn on_signals() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate());
        let int = signal(SignalKind::interrupt());
        tokio::spawn(async move {
            match (term, int) {
                (Ok(mut term), Ok(mut int)) => {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = int.recv() => {}
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
            eprintln!("\nhalt requested: stopping…");
            t.cancel();
        });
    }
    #[cfg(not(unix))]
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        eprintln!("\nhalt requested: stopping…");
        t.cancel();
    });
    token
}
