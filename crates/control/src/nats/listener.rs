//! The guardian on the bus: a `guardian.halt_chaos` message pulls the halt lever of a data
//! directory (latch set, every registered campaign and run signalled, `halted` in the signed
//! ledger), a `guardian.resume_chaos` message lifts it. Fail safe: a halt whose body is empty
//! or not the expected JSON still halts, by `nats` with the reason "bus message". A message
//! with a reply subject gets a JSON answer.

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use serde::Deserialize;
use time::OffsetDateTime;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::client::{Client, ClientOptions, ConnState, Message, Subscription};
use super::error::NatsError;
use crate::halt::{self, HaltOutcome, ResumeOutcome};
use crate::halt_latch::Active;

/// The subject that halts every campaign and run.
pub const HALT_SUBJECT: &str = "guardian.halt_chaos";
/// The subject that lifts a halt.
pub const RESUME_SUBJECT: &str = "guardian.resume_chaos";
/// What the listener subscribes to (both subjects above, in one ordered stream).
const GUARDIAN_SUBJECTS: &str = "guardian.*";
/// The actor recorded when a message does not say `by`.
pub const DEFAULT_ACTOR: &str = "nats";
/// The reason recorded when a halt message does not say one.
pub const DEFAULT_REASON: &str = "bus message";
/// Longest `by` / `reason` kept from a message (they go into the ledger and the latch).
const MAX_FIELD: usize = 200;
/// How long the listener waits for signalled processes before reporting them settled.
const SETTLE: Duration = Duration::from_secs(30);
/// How long `spawn` waits for the server to confirm the subscriptions.
const CONFIRM: Duration = Duration::from_secs(5);

/// What the listener did for one message.
#[derive(Debug, Clone)]
pub enum GuardianAction {
    Halted {
        by: String,
        reason: String,
        /// When the message was taken from the connection.
        received_at: OffsetDateTime,
        /// `false` when the body was empty or not the expected JSON (halted anyway).
        understood: bool,
        outcome: HaltOutcome,
    },
    /// The processes a halt signalled have stopped, or `still_running` after the wait.
    Settled { still_running: Vec<Active> },
    Resumed {
        by: String,
        understood: bool,
        outcome: ResumeOutcome,
    },
    /// The lever could not be pulled or lifted.
    Failed {
        subject: String,
        by: String,
        error: String,
    },
}

/// `{"by": …, "reason": …}`; unknown fields are ignored (other publishers may add some).
#[derive(Debug, Deserialize)]
struct Body {
    by: Option<String>,
    reason: Option<String>,
}

/// The actor and reason of a message, and whether its body was understood.
fn read_body(payload: &[u8]) -> (String, String, bool) {
    let body: Option<Body> = serde_json::from_slice(payload).ok();
    let understood = body.is_some();
    let body = body.unwrap_or(Body {
        by: None,
        reason: None,
    });
    (
        clean(body.by, DEFAULT_ACTOR),
        clean(body.reason, DEFAULT_REASON),
        understood,
    )
}

/// Control characters dropped, trimmed, capped; empty becomes `default`.
fn clean(field: Option<String>, default: &str) -> String {
    let s: String = field
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_FIELD)
        .collect();
    let s = s.trim();
    if s.is_empty() {
        default.to_string()
    } else {
        s.to_string()
    }
}

/// The halt listener of one data directory.
pub struct HaltListener;

/// A running listener.
pub struct ListenerHandle {
    /// Every action, as it happens (subscribe before the first message can arrive: this one
    /// was created before the listener started).
    pub actions: broadcast::Receiver<GuardianAction>,
    client: Client,
    actions_tx: broadcast::Sender<GuardianAction>,
    cancel: CancellationToken,
    task: JoinHandle<Result<(), NatsError>>,
}

impl ListenerHandle {
    /// Another receiver of the actions from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<GuardianAction> {
        self.actions_tx.subscribe()
    }

    /// The connection state (connected, reconnecting, closed).
    pub fn state(&self) -> tokio::sync::watch::Receiver<ConnState> {
        self.client.state()
    }

    /// The client, e.g. for its counters.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Stops listening and closes the connection.
    pub async fn shutdown(self) {
        self.cancel.cancel();
        let _ = self.task.await;
        self.client.close().await;
    }

    /// Waits until the listener ends by itself: `Err` when the client gave up reconnecting.
    pub async fn wait(self) -> Result<(), NatsError> {
        let r = match self.task.await {
            Ok(r) => r,
            Err(e) => Err(NatsError::Lost {
                server: self.client.servers().to_string(),
                reason: format!("the listener task failed: {e}"),
            }),
        };
        self.client.close().await;
        r
    }
}

impl HaltListener {
    /// Connects to `urls` (a server that is down or is not NATS is an error now), subscribes
    /// to the halt and resume subjects, waits for the server to confirm, and listens in a
    /// task for `data_dir`.
    pub async fn spawn(urls: &str, data_dir: PathBuf) -> Result<ListenerHandle, NatsError> {
        let opts = ClientOptions {
            name: "shakedown-guardian".into(),
            ..ClientOptions::default()
        };
        HaltListener::spawn_with(urls, data_dir, opts).await
    }

    /// [`HaltListener::spawn`] with client options (shorter pings or reconnects in tests).
    pub async fn spawn_with(
        urls: &str,
        data_dir: PathBuf,
        opts: ClientOptions,
    ) -> Result<ListenerHandle, NatsError> {
        let client = Client::connect(urls, opts).await?;
        // One subscription for both subjects: the server delivers them in the order they were
        // published, so a halt sent after a resume is never applied before it.
        let both = client.subscribe(GUARDIAN_SUBJECTS).await?;
        client.flush(CONFIRM).await?;
        let (actions_tx, actions) = broadcast::channel(256);
        let cancel = CancellationToken::new();
        let task = tokio::spawn(listen(
            client.clone(),
            data_dir,
            both,
            actions_tx.clone(),
            cancel.clone(),
        ));
        Ok(ListenerHandle {
            actions,
            client,
            actions_tx,
            cancel,
            task,
        })
    }
}

async fn listen(
    client: Client,
    data_dir: PathBuf,
    mut both: Subscription,
    actions: broadcast::Sender<GuardianAction>,
    cancel: CancellationToken,
) -> Result<(), NatsError> {
    // Ends when cancelled or when the client closes (its subscriptions then end).
    loop {
        let m = tokio::select! {
            _ = cancel.cancelled() => return Ok(()),
            m = both.next() => m,
        };
        let Some(m) = m else {
            return match &*client.state().borrow() {
                ConnState::Closed { error: Some(e) } => Err(e.clone()),
                _ => Ok(()),
            };
        };
        let action = match m.subject.as_str() {
            HALT_SUBJECT => on_halt(&data_dir, &m).await,
            RESUME_SUBJECT => on_resume(&data_dir, &m).await,
            // Another guardian.* subject: not ours.
            _ => continue,
        };
        if let Some(reply) = &m.reply {
            let _ = client
                .publish(reply, None, Bytes::from(reply_body(&action).to_string()))
                .await;
        }
        // Settling is reported after the halt itself, so watchers see them in that order.
        let signalled = match &action {
            GuardianAction::Halted { outcome, .. } => Some(outcome.signalled.clone()),
            _ => None,
        };
        let _ = actions.send(action);
        if let Some(signalled) = signalled {
            let dir = data_dir.clone();
            let tx = actions.clone();
            tokio::spawn(async move {
                let left = tokio::task::spawn_blocking(move || {
                    halt::wait_stopped(&dir, &signalled, SETTLE)
                })
                .await
                .unwrap_or_default();
                let _ = tx.send(GuardianAction::Settled {
                    still_running: left,
                });
            });
        }
    }
}

async fn on_halt(data_dir: &std::path::Path, m: &Message) -> GuardianAction {
    let received_at = OffsetDateTime::now_utc();
    let (by, reason, understood) = read_body(&m.payload);
    let dir = data_dir.to_path_buf();
    let (b, r) = (by.clone(), reason.clone());
    // The lever forks `kill` and fsyncs the ledger: off the async threads.
    let done = tokio::task::spawn_blocking(move || halt::halt_all(&dir, &b, &r)).await;
    match done {
        Ok(Ok(outcome)) => GuardianAction::Halted {
            by,
            reason,
            received_at,
            understood,
            outcome,
        },
        Ok(Err(e)) => GuardianAction::Failed {
            subject: m.subject.clone(),
            by,
            error: e.to_string(),
        },
        Err(e) => GuardianAction::Failed {
            subject: m.subject.clone(),
            by,
            error: format!("the halt task failed: {e}"),
        },
    }
}

async fn on_resume(data_dir: &std::path::Path, m: &Message) -> GuardianAction {
    let (by, _, understood) = read_body(&m.payload);
    let dir = data_dir.to_path_buf();
    let b = by.clone();
    match tokio::task::spawn_blocking(move || halt::resume(&dir, &b)).await {
        Ok(Ok(outcome)) => GuardianAction::Resumed {
            by,
            understood,
            outcome,
        },
        Ok(Err(e)) => GuardianAction::Failed {
            subject: m.subject.clone(),
            by,
            error: e.to_string(),
        },
        Err(e) => GuardianAction::Failed {
            subject: m.subject.clone(),
            by,
            error: format!("the resume task failed: {e}"),
        },
    }
}

/// The answer to a request: what was done, in JSON.
fn reply_body(action: &GuardianAction) -> serde_json::Value {
    match action {
        GuardianAction::Halted { by, outcome, .. } => serde_json::json!({
            "ok": true,
            "action": "halted",
            "by": by,
            "at": outcome.info.at,
            "signalled": outcome.signalled,
            "ledger_seq": outcome.ledger.as_ref().ok(),
            "ledger_error": outcome.ledger.as_ref().err(),
        }),
        GuardianAction::Resumed { by, outcome, .. } => serde_json::json!({
            "ok": true,
            "action": if outcome.lifted.is_some() { "resumed" } else { "not_halted" },
            "by": by,
            "ledger_seq": outcome.ledger.as_ref().ok(),
            "ledger_error": outcome.ledger.as_ref().err(),
        }),
        GuardianAction::Failed { error, .. } => serde_json::json!({"ok": false, "error": error}),
        GuardianAction::Settled { still_running } => {
            serde_json::json!({"ok": still_running.is_empty(), "still_running": still_running})
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_fail_safe() {
        assert_eq!(
            read_body(br#"{"by":"oncall","reason":"error rate"}"#),
            ("oncall".into(), "error rate".into(), true)
        );
        assert_eq!(
            read_body(br#"{"reason":"x","extra":1}"#),
            (DEFAULT_ACTOR.into(), "x".into(), true)
        );
        for junk in [&b""[..], b"stop!", b"\xff\xfe", b"[1,2]", br#"{"by": 3}"#] {
            assert_eq!(
                read_body(junk),
                (DEFAULT_ACTOR.into(), DEFAULT_REASON.into(), false),
                "{junk:?}"
            );
        }
        let long = format!(r#"{{"by":"  a\u0007b  ","reason":"{}"}}"#, "r".repeat(1000));
        let (by, reason, _) = read_body(long.as_bytes());
        assert_eq!(by, "ab");
        assert_eq!(reason.len(), MAX_FIELD);
    }
}
