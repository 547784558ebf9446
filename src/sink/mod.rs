//! Where flows go: JSON Lines, HAR 1.2, and whatever else implements [`Sink`].

mod har;
mod jsonl;

pub use har::{rules as har_rules, Har};
pub use jsonl::JsonLines;

use crate::flow::Flow;
use crate::merge::MergedFlow;
use crate::record::Record;

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("writing flows")]
    Io(#[from] std::io::Error),
    #[error("encoding a flow")]
    Encode(#[from] serde_json::Error),
    #[error("encoding a flow")]
    EncodeFast(#[from] sonic_rs::Error),
    #[error("this output cannot hold {0}")]
    Unsupported(&'static str),
}

/// A writer of flows. A sink may batch writes for a bounded time; every flow
/// written is out (visible to a reader following the output) once `flush` returns.
/// The pipeline flushes when time advances without events and at the end.
pub trait Sink {
    fn write(&mut self, flow: &Flow) -> Result<(), SinkError>;

    /// One exchange seen from both ends. A sink that cannot say so refuses
    /// rather than drop half of what was seen.
    fn write_merged(&mut self, _flow: &MergedFlow) -> Result<(), SinkError> {
        Err(SinkError::Unsupported("merged flows"))
    }

    fn write_record(&mut self, record: &Record) -> Result<(), SinkError> {
        match record {
            Record::One(f) => self.write(f),
            Record::Both(m) => self.write_merged(m),
        }
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        Ok(())
    }

    /// The end: whatever a format still owes (a HAR's closing brackets) is written.
    /// Called once, after the last write.
    fn finish(&mut self) -> Result<(), SinkError> {
        self.flush()
    }
}

impl<S: Sink + ?Sized> Sink for &mut S {
    fn write(&mut self, flow: &Flow) -> Result<(), SinkError> {
        (**self).write(flow)
    }

    fn write_merged(&mut self, flow: &MergedFlow) -> Result<(), SinkError> {
        (**self).write_merged(flow)
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        (**self).flush()
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        (**self).finish()
    }
}

impl<S: Sink + ?Sized> Sink for Box<S> {
    fn write(&mut self, flow: &Flow) -> Result<(), SinkError> {
        (**self).write(flow)
    }

    fn write_merged(&mut self, flow: &MergedFlow) -> Result<(), SinkError> {
        (**self).write_merged(flow)
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        (**self).flush()
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        (**self).finish()
    }
}

/// Keeps flows in memory: for tests and for embedding.
impl Sink for Vec<Flow> {
    fn write(&mut self, flow: &Flow) -> Result<(), SinkError> {
        self.push(flow.clone());
        Ok(())
    }
}

/// Keeps records in memory, merged ones too.
impl Sink for Vec<Record> {
    fn write(&mut self, flow: &Flow) -> Result<(), SinkError> {
        self.push(Record::One(flow.clone()));
        Ok(())
    }

    fn write_merged(&mut self, flow: &MergedFlow) -> Result<(), SinkError> {
        self.push(Record::Both(flow.clone()));
        Ok(())
    }
}
