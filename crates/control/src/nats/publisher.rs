//! Events mirrored on NATS: every event an [`crate::EventBus`] publishes also goes out on
//! `chaos.<event_type>`, without ever making a campaign wait for NATS (a bounded queue; what
//! does not fit, or finds no connection, is dropped and counted).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use shakedown_core::Event;

use super::client::{Client, ClientOptions, Stats};
use super::error::NatsError;

/// The subject an event goes out on: its type when that already starts with `chaos.`
/// (`chaos.campaign.started`), else `chaos.<type>` (`chaos.sql_blocked`). Characters a subject
/// cannot carry (whitespace, `*`, `>`) become `_`, and empty tokens become `_`.
pub fn subject_for(event_type: &str) -> String {
    let rest = event_type.strip_prefix("chaos.").unwrap_or(event_type);
    let tokens: Vec<String> = rest
        .split('.')
        .map(|t| {
            let t: String = t
                .chars()
                .map(|c| {
                    if c.is_whitespace() || c.is_control() || c == '*' || c == '>' {
                        '_'
                    } else {
                        c
                    }
                })
                .collect();
            if t.is_empty() { "_".to_string() } else { t }
        })
        .collect();
    format!("chaos.{}", tokens.join("."))
}

/// Publishes events on NATS. Cloning shares the connection.
#[derive(Clone)]
pub struct EventPublisher {
    client: Client,
    /// Events handed to `publish`, whatever became of them.
    offered: Arc<AtomicU64>,
}

impl EventPublisher {
    /// Checks `urls` and connects in the background (a server that is down is not an error:
    /// events are dropped and counted until it is up). Needs a tokio runtime.
    pub fn connect_lazy(urls: &str) -> Result<EventPublisher, NatsError> {
        let opts = ClientOptions {
            name: "shakedown-events".into(),
            ..ClientOptions::default()
        };
        Ok(EventPublisher::with_client(Client::connect_lazy(
            urls, opts,
        )?))
    }

    /// Publishes on an existing client.
    pub fn with_client(client: Client) -> EventPublisher {
        EventPublisher {
            client,
            offered: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Queues `event` on its subject; never waits.
    pub fn publish(&self, event: &Event) {
        self.offered.fetch_add(1, Ordering::Relaxed);
        let payload = match serde_json::to_vec(event) {
            Ok(p) => Bytes::from(p),
            Err(e) => {
                tracing::warn!("event {} cannot be serialised for NATS: {e}", event.id);
                return;
            }
        };
        // A failure is already counted and warned about by the client.
        let _ = self
            .client
            .try_publish(&subject_for(&event.event_type), payload);
    }

    /// Waits (at most `timeout`) until everything queued so far has reached the server or
    /// been dropped, and returns the counters.
    pub async fn finish(&self, timeout: Duration) -> Stats {
        if let Err(e) = self.client.flush(timeout).await {
            tracing::debug!("NATS flush at the end: {e}");
        }
        self.client.stats()
    }

    /// How many events were handed to [`EventPublisher::publish`].
    pub fn offered(&self) -> u64 {
        self.offered.load(Ordering::Relaxed)
    }

    /// The counters so far.
    pub fn stats(&self) -> Stats {
        self.client.stats()
    }

    /// The servers, without credentials.
    pub fn servers(&self) -> &str {
        self.client.servers()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_follow_the_event_type() {
        assert_eq!(
            subject_for("chaos.campaign.started"),
            "chaos.campaign.started"
        );
        assert_eq!(subject_for("chaos.injection"), "chaos.injection");
        assert_eq!(subject_for("sql_blocked"), "chaos.sql_blocked");
        assert_eq!(subject_for("a b.>.*x"), "chaos.a_b._._x");
        assert_eq!(subject_for("x..y."), "chaos.x._.y._");
        assert_eq!(subject_for(""), "chaos._");
        for t in [
            "chaos.campaign.started",
            "a b.>.*x",
            "",
            "..",
            "fault_injected",
        ] {
            assert!(
                super::super::proto::check_subject(&subject_for(t), false).is_ok(),
                "{t}"
            );
        }
    }
}
