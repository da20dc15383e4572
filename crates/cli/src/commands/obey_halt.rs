//! The loop every standalone proxy (`pg-proxy`, `tcp-proxy`, `fault-proxy`) runs to obey the
//! halt latch of its data directory: on each transition the proxy's own handler acts (undo
//! chaos, drop toxics, stop firing faults — or the reverse on resume) and says what it did,
//! which goes out as a `halted_by_guardian` or `resumed` event.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;

use serde_json::Value;
use shakedown_control::halt_latch::{self, LatchChange, LatchFollower};
use shakedown_core::Event;
use shakedown_store::default_data_dir;
use time::OffsetDateTime;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Where a proxy's events go.
pub enum EventSink {
    Unbounded(mpsc::UnboundedSender<Event>),
    Bounded(mpsc::Sender<Event>),
}

impl EventSink {
    async fn send(&self, e: Event) {
        match self {
            EventSink::Unbounded(tx) => {
                let _ = tx.send(e);
            }
            EventSink::Bounded(tx) => {
                let _ = tx.send(e).await;
            }
        }
    }
}

/// A proxy's reaction to one transition; returns the event's `data`.
pub type Handler =
    Box<dyn FnMut(LatchChange) -> Pin<Box<dyn Future<Output = Value> + Send>> + Send>;

/// Follows the latch of `data_dir` until `stop`, calling `handle` on every transition.
pub fn spawn(
    data_dir: Option<PathBuf>,
    component: &'static str,
    events: Option<EventSink>,
    stop: CancellationToken,
    mut handle: Handler,
) -> JoinHandle<()> {
    let data = data_dir.unwrap_or_else(default_data_dir);
    let mut latch = LatchFollower::new(halt_latch::watch(&data, halt_latch::WATCH_INTERVAL));
    tokio::spawn(async move {
        // One pass per latch transition, for the life of the proxy.
        loop {
            let change = tokio::select! {
                () = stop.cancelled() => return,
                c = latch.next() => c,
            };
            let Some(change) = change else { return };
            let name = match change {
                LatchChange::Halted(_) => "halted_by_guardian",
                LatchChange::Resumed => "resumed",
            };
            let data = handle(change).await;
            if let Some(sink) = &events {
                let event =
                    Event::named(name, None, Some(component), data, OffsetDateTime::now_utc());
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = sink.send(event) => {}
                }
            }
        }
    })
}
