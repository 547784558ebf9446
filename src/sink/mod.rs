//! Where flows go. JSON Lines first; other formats (HAR, …) implement [`Sink`]
//! beside it.

mod jsonl;

pub use jsonl::JsonLines;

use crate::flow::Flow;

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("writing flows: {0}")]
    Io(#[from] std::io::Error),
    #[error("encoding a flow: {0}")]
    Encode(#[from] serde_json::Error),
}

/// A writer of flows. Each flow is durable (flushed) when `write` returns, so a
/// reader following the output sees it at once.
pub trait Sink {
    fn write(&mut self, flow: &Flow) -> Result<(), SinkError>;
}

impl<S: Sink + ?Sized> Sink for &mut S {
    fn write(&mut self, flow: &Flow) -> Result<(), SinkError> {
        (**self).write(flow)
    }
}

impl<S: Sink + ?Sized> Sink for Box<S> {
    fn write(&mut self, flow: &Flow) -> Result<(), SinkError> {
        (**self).write(flow)
    }
}

/// Keeps flows in memory: for tests and for embedding.
impl Sink for Vec<Flow> {
    fn write(&mut self, flow: &Flow) -> Result<(), SinkError> {
        self.push(flow.clone());
        Ok(())
    }
}
