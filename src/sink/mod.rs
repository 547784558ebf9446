//! Where flows go. JSON Lines first; other formats (HAR, …) implement [`Sink`]
//! beside it.

mod jsonl;

pub use jsonl::JsonLines;

use crate::flow::Flow;

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("writing flows")]
    Io(#[from] std::io::Error),
    #[error("encoding a flow")]
    Encode(#[from] serde_json::Error),
    #[error("encoding a flow")]
    EncodeFast(#[from] sonic_rs::Error),
}

/// A writer of flows. A sink may batch writes for a bounded time; every flow
/// written is out (visible to a reader following the output) once `flush` returns.
/// The pipeline flushes when time advances without events and at the end.
pub trait Sink {
    fn write(&mut self, flow: &Flow) -> Result<(), SinkError>;

    fn flush(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}

impl<S: Sink + ?Sized> Sink for &mut S {
    fn write(&mut self, flow: &Flow) -> Result<(), SinkError> {
        (**self).write(flow)
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        (**self).flush()
    }
}

impl<S: Sink + ?Sized> Sink for Box<S> {
    fn write(&mut self, flow: &Flow) -> Result<(), SinkError> {
        (**self).write(flow)
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        (**self).flush()
    }
}

/// Keeps flows in memory: for tests and for embedding.
impl Sink for Vec<Flow> {
    fn write(&mut self, flow: &Flow) -> Result<(), SinkError> {
        self.push(flow.clone());
        Ok(())
    }
}
