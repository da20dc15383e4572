//! The in-process event bus: every event is stored, optionally appended to a JSON-lines file,
//! and broadcast to live subscribers (progress, later the SSE stream and NATS).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

use shakedown_core::Event;
use shakedown_store::Store;
use tokio::sync::broadcast;

use crate::error::CampaignError;

/// Fan-out of events. Cloning shares the same bus.
#[derive(Clone)]
pub struct EventBus {
    store: Arc<dyn Store>,
    /// The JSON-lines file and its path (for error messages).
    file: Option<(Arc<Mutex<File>>, String)>,
    tx: broadcast::Sender<Event>,
    /// Also published on NATS (`chaos.<event_type>`), never waiting for it.
    nats: Option<crate::nats::EventPublisher>,
}

impl EventBus {
    pub fn new(store: Arc<dyn Store>) -> EventBus {
        let (tx, _) = broadcast::channel(1024);
        EventBus {
            store,
            file: None,
            tx,
            nats: None,
        }
    }

    /// Also publish every event on NATS, on `chaos.<event_type>`. Publishing only queues:
    /// a slow or dead NATS server never stalls the bus (drops are counted by the publisher).
    pub fn with_nats(mut self, publisher: crate::nats::EventPublisher) -> EventBus {
        self.nats = Some(publisher);
        self
    }

    /// Also append every event as one JSON line to `path` (created or appended to).
    pub fn with_jsonl(mut self, path: &Path) -> Result<EventBus, CampaignError> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| CampaignError::EventsFile {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
        self.file = Some((Arc::new(Mutex::new(file)), path.display().to_string()));
        Ok(self)
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.tx.subscribe()
    }

    /// Stores, writes and broadcasts one event. The store write must succeed (nothing lost);
    /// a failed JSON-lines write is reported the same way.
    pub fn publish(&self, event: Event) -> Result<(), CampaignError> {
        self.store.append_event(&event)?;
        if let Some((file, path)) = &self.file {
            let mut line = serde_json::to_vec(&event).expect("events serialise");
            line.push(b'\n');
            let mut f = file.lock().unwrap_or_else(|p| p.into_inner());
            f.write_all(&line)
                .and_then(|_| f.flush())
                .map_err(|e| CampaignError::EventsFile {
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
        }
        if let Some(nats) = &self.nats {
            nats.publish(&event);
        }
        // No subscribers is fine.
        let _ = self.tx.send(event);
        Ok(())
    }
}
