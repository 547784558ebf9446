//! The merge as a stage in front of a sink: flows go in as the pipeline writes
//! them, and out merged, or alone once their twin is not coming.

use std::time::Instant;

use super::{MergeConfig, MergeStats, MergedFlow, Merger};
use crate::flow::Flow;
use crate::record::Record;
use crate::sink::{Sink, SinkError};

/// A [`Sink`] that merges before writing to `inner`. Waiting runs on the wall
/// clock since this stage was made; [`Sink::finish`] lets out what still waits.
pub struct Merging<S: Sink> {
    merger: Merger,
    inner: S,
    started: Instant,
    out: Vec<Record>,
}

impl<S: Sink> Merging<S> {
    pub fn new(config: MergeConfig, inner: S) -> Self {
        Merging {
            merger: Merger::new(config),
            inner,
            started: Instant::now(),
            out: Vec::new(),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn emit(&mut self) -> Result<(), SinkError> {
        let mut result = Ok(());
        for record in self.out.drain(..) {
            let written = self.inner.write_record(&record);
            if result.is_ok() {
                result = written;
            }
        }
        result
    }

    pub fn stats(&self) -> MergeStats {
        self.merger.stats()
    }

    pub fn inner(&self) -> &S {
        &self.inner
    }

    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Sink> Sink for Merging<S> {
    fn write(&mut self, flow: &Flow) -> Result<(), SinkError> {
        let now = self.now();
        self.merger.offer(flow.clone(), now, &mut self.out);
        self.emit()
    }

    fn write_merged(&mut self, flow: &MergedFlow) -> Result<(), SinkError> {
        self.inner.write_merged(flow)
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        let now = self.now();
        self.merger.expire(now, &mut self.out);
        self.emit()?;
        self.inner.flush()
    }

    /// Every half still waiting goes out alone, then the inner sink finishes.
    fn finish(&mut self) -> Result<(), SinkError> {
        self.merger.finish(&mut self.out);
        let emitted = self.emit();
        let finished = self.inner.finish();
        emitted.and(finished)
    }
}
