//! A background writer for high-rate events (the SQL proxy's): JSON lines to a file and rows in
//! the store, off the proxy's hot path. Nothing is dropped: the channel is unbounded and the
//! writer drains it to the end on shutdown.

use std::fs::OpenOptions;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use shakedown_core::Event;
use shakedown_store::Store;
use tokio::sync::mpsc;

pub struct EventWriter {
    handle: std::thread::JoinHandle<anyhow::Result<u64>>,
}

/// Starts the writer thread; it ends when every sender is dropped.
pub fn spawn(
    path: &Path,
    store: Arc<dyn Store>,
    mut rx: mpsc::UnboundedReceiver<Event>,
) -> anyhow::Result<EventWriter> {
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open the events file {}", path.display()))?;
    let name = path.display().to_string();
    let handle = std::thread::spawn(move || -> anyhow::Result<u64> {
        let mut out = BufWriter::new(file);
        let mut n = 0;
        while let Some(event) = rx.blocking_recv() {
            serde_json::to_writer(&mut out, &event)?;
            out.write_all(b"\n")?;
            store.append_event(&event)?;
            n += 1;
            // Flush whenever the channel is momentarily empty so a tail -f sees events live.
            if rx.is_empty() {
                out.flush()
                    .with_context(|| format!("cannot write {name}"))?;
            }
        }
        out.flush()?;
        Ok(n)
    });
    Ok(EventWriter { handle })
}

impl EventWriter {
    /// Waits until everything sent has been written.
    pub async fn finish(self) -> anyhow::Result<u64> {
        tokio::task::spawn_blocking(move || self.handle.join())
            .await?
            .map_err(|_| anyhow::anyhow!("the event writer panicked"))?
    }
}
