//! `shakedown guardian --nats URL`: the long-lived halt listener of a data directory. A
//! `guardian.halt_chaos` message on NATS pulls the same lever as `shakedown halt`, a
//! `guardian.resume_chaos` message lifts it; every action is printed on stdout, one line
//! each. Also the `--nats` event publisher that `campaign` and `run` use, with a summary of
//! what reached NATS when they end.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use shakedown_control::nats::{
    ConnState, EventPublisher, GuardianAction, HALT_SUBJECT, HaltListener, RESUME_SUBJECT,
};
use shakedown_store::default_data_dir;

use crate::exit::Exit;

/// The environment variable read when `--nats` is not given.
pub const NATS_URL_ENV: &str = "SHAKEDOWN_NATS_URL";
/// How long a finishing campaign or run waits for its last events to reach NATS.
const FINISH: Duration = Duration::from_secs(2);

#[derive(Debug, Args)]
pub struct GuardianArgs {
    /// The NATS server(s): nats://[user:password@|token@]host[:port], comma-separated.
    #[arg(long, env = NATS_URL_ENV, value_name = "URL", value_parser = nats_url)]
    pub nats: String,
}

/// Checks a `--nats` URL while the arguments are parsed, so a typo stops the command before
/// it starts anything.
pub fn nats_url(s: &str) -> Result<String, String> {
    shakedown_control::nats::parse_servers(s)
        .map(|_| s.to_string())
        .map_err(|e| e.to_string())
}

pub async fn run(args: GuardianArgs, data_dir: Option<PathBuf>) -> anyhow::Result<Exit> {
    let data = data_dir.unwrap_or_else(default_data_dir);
    std::fs::create_dir_all(&data)
        .with_context(|| format!("cannot create the data directory {}", data.display()))?;
    let mut stop = stop_signals()?;
    let mut handle = HaltListener::spawn(&args.nats, data.clone())
        .await
        .context("the guardian cannot listen on NATS")?;
    let mut state = handle.state();
    // Connection changes are printed on transitions only, not once per reconnection round.
    let mut connected = true;
    say(&format!(
        "guardian: listening on {HALT_SUBJECT} and {RESUME_SUBJECT} at {} for {}",
        handle.client().servers(),
        data.display()
    ));
    // Each iteration handles one action, one state change or the stop signal; the loop
    // ends on a signal or when the client gives up reconnecting.
    loop {
        tokio::select! {
            _ = stop.recv() => {
                say("guardian: stopping");
                handle.shutdown().await;
                return Ok(Exit::Passed);
            }
            action = handle.actions.recv() => match action {
                Ok(a) => print_action(&a),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    eprintln!("warning: {n} guardian actions were not printed (output too slow)");
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            },
            changed = state.changed() => {
                if changed.is_err() {
                    break;
                }
                let now = state.borrow_and_update().clone();
                match now {
                    ConnState::Connected { server } if !connected => {
                        connected = true;
                        say(&format!("guardian: reconnected to NATS at {server}"));
                    }
                    ConnState::Disconnected { error } if connected => {
                        connected = false;
                        say(&format!("guardian: lost NATS ({error}); reconnecting, halt messages sent meanwhile are lost"));
                    }
                    ConnState::Connected { .. } | ConnState::Disconnected { .. } => {}
                    ConnState::Closed { error: Some(e) } => {
                        return Err(anyhow::Error::new(e).context("the guardian lost NATS for good"));
                    }
                    ConnState::Closed { error: None } | ConnState::Connecting => {}
                }
            }
        }
    }
    handle.wait().await?;
    Ok(Exit::Passed)
}

/// Receives SIGINT or SIGTERM.
fn stop_signals() -> anyhow::Result<tokio::sync::mpsc::Receiver<()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot install a SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot install a SIGINT handler")?;
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        let _ = tx.send(()).await;
    });
    Ok(rx)
}

/// One line on stdout, flushed (scripts and tests follow it).
fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn print_action(a: &GuardianAction) {
    match a {
        GuardianAction::Halted {
            by,
            reason,
            understood,
            outcome,
            ..
        } => {
            let ledger = match &outcome.ledger {
                Ok(seq) => format!("ledger entry {seq}"),
                Err(e) => format!("NOT recorded in the ledger: {e}"),
            };
            let note = if *understood {
                ""
            } else {
                " (the message body was not {\"by\",\"reason\"} JSON; halted anyway)"
            };
            say(&format!(
                "halted by {by} ({reason}) at {}{note}: {} campaign(s)/run(s) signalled; {ledger}",
                outcome.info.at,
                outcome.signalled.len()
            ));
            for p in &outcome.signalled {
                say(&format!("  {} {} (pid {}): signalled", p.kind, p.id, p.pid));
            }
            for e in &outcome.signal_errors {
                eprintln!("warning: {e}");
            }
        }
        GuardianAction::Settled { still_running } if still_running.is_empty() => {
            say("halt settled: every signalled campaign and run has stopped");
        }
        GuardianAction::Settled { still_running } => {
            for p in still_running {
                say(&format!(
                    "  {} {} (pid {}): still stopping",
                    p.kind, p.id, p.pid
                ));
            }
        }
        GuardianAction::Resumed { by, outcome, .. } => match &outcome.lifted {
            Some(_) => {
                let ledger = match &outcome.ledger {
                    Ok(seq) => format!("ledger entry {seq}"),
                    Err(e) => format!("NOT recorded in the ledger: {e}"),
                };
                say(&format!(
                    "resumed by {by}: campaigns and runs may start again; {ledger}"
                ));
            }
            None => say(&format!("resume from {by}: not halted; nothing to do")),
        },
        GuardianAction::Failed { subject, by, error } => {
            eprintln!("error: {subject} from {by}: {error}");
        }
    }
}

/// The `--nats` publisher of a campaign or run: events go out on `chaos.<event_type>`. When
/// the returned guard drops (the command ends), the last events are flushed (bounded) and a
/// summary is printed; drops were already warned about once.
pub fn event_publisher(url: &str) -> anyhow::Result<(EventPublisher, PublisherSummary)> {
    let p = EventPublisher::connect_lazy(url).context("--nats")?;
    Ok((p.clone(), PublisherSummary(Some(p))))
}

/// Prints what reached NATS when dropped.
pub struct PublisherSummary(Option<EventPublisher>);

impl Drop for PublisherSummary {
    fn drop(&mut self) {
        let Some(p) = self.0.take() else { return };
        // A command that ended before its first event has nothing to report.
        if p.offered() == 0 {
            return;
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        // Flushing needs the runtime; on the multi-threaded one (the binary's) this thread
        // may block while another drives the connection.
        let stats = match handle.runtime_flavor() {
            tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(|| handle.block_on(p.finish(FINISH)))
            }
            _ => p.stats(),
        };
        eprintln!(
            "NATS {}: {} event(s) published, {} dropped",
            p.servers(),
            stats.published,
            stats.dropped
        );
    }
}
