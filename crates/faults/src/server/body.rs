//! Response bodies the proxy writes: whole buffers, and bodies produced step by step
//! ([`Step::Data`], [`Step::Sleep`], [`Step::Abort`], [`Step::Finish`]) by a task, so
//! synthetic answers and shaped upstream streams reach the client chunk by chunk as they are
//! produced.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full, combinators::BoxBody};
use hyper::body::{Body, Frame, SizeHint};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::Step;

/// Error type of every body the proxy writes.
pub type BodyError = Box<dyn std::error::Error + Send + Sync>;

/// The body type of every response the proxy writes.
pub type ProxyBody = BoxBody<Bytes, BodyError>;

/// Chunks in flight between a producing task and the connection; small, so a slow client
/// slows the producer (and the upstream read) instead of growing a buffer.
const CHANNEL_DEPTH: usize = 8;

/// A whole body.
pub fn full(bytes: Bytes) -> ProxyBody {
    Full::new(bytes).map_err(|never| match never {}).boxed()
}

/// An empty body.
pub fn empty() -> ProxyBody {
    Empty::new().map_err(|never| match never {}).boxed()
}

/// The error a body yields to make hyper drop the connection mid-body.
fn aborted() -> BodyError {
    Box::new(std::io::Error::new(
        std::io::ErrorKind::ConnectionAborted,
        "fault: connection aborted mid-body",
    ))
}

/// A body fed by a task through a channel.
struct ChannelBody {
    rx: mpsc::Receiver<Result<Bytes, BodyError>>,
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        self.rx
            .poll_recv(cx)
            .map(|item| item.map(|r| r.map(Frame::data)))
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

/// The producing side of a channel body.
pub struct StepSink {
    tx: mpsc::Sender<Result<Bytes, BodyError>>,
    halt: CancellationToken,
}

/// Whether the producer should go on after a batch of steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// The client left, the body was aborted or finished early, or the proxy is halting.
    Stop,
}

impl StepSink {
    /// Runs steps in order. Sleeps end early on halt (the body is then aborted).
    pub async fn run(&self, steps: impl IntoIterator<Item = Step>) -> Flow {
        for step in steps {
            match step {
                Step::Data(bytes) => {
                    if bytes.is_empty() {
                        continue;
                    }
                    if self.tx.send(Ok(bytes)).await.is_err() {
                        return Flow::Stop;
                    }
                }
                Step::Sleep(d) => {
                    tokio::select! {
                        _ = tokio::time::sleep(d) => {}
                        _ = self.halt.cancelled() => {
                            self.abort().await;
                            return Flow::Stop;
                        }
                        // The client left: nobody will read what comes next.
                        _ = self.tx.closed() => return Flow::Stop,
                    }
                }
                Step::Abort => {
                    self.abort().await;
                    return Flow::Stop;
                }
                // Dropping the sink (the producer stops on `Stop`) ends the body cleanly.
                Step::Finish => return Flow::Stop,
            }
        }
        Flow::Continue
    }

    /// Ends the body with an error, so the connection is dropped mid-body.
    pub async fn abort(&self) {
        let _ = self.tx.send(Err(aborted())).await;
    }

    /// The proxy is halting.
    pub fn halt(&self) -> &CancellationToken {
        &self.halt
    }
}

/// A body fed step by step, and the sink its producer writes to.
pub fn channel(halt: CancellationToken) -> (ProxyBody, StepSink) {
    let (tx, rx) = mpsc::channel(CHANNEL_DEPTH);
    (ChannelBody { rx }.boxed(), StepSink { tx, halt })
}

/// Whether steps are plain data only (so the body can be sent whole, with a length).
pub fn all_data(steps: &[Step]) -> bool {
    steps.iter().all(|s| matches!(s, Step::Data(_)))
}

/// Concatenates plain data steps.
pub fn concat(steps: Vec<Step>) -> Bytes {
    let mut out = Vec::new();
    for s in steps {
        if let Step::Data(b) = s {
            out.extend_from_slice(&b);
        }
    }
    Bytes::from(out)
}
