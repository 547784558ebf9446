//! HAR 1.2 (the HTTP Archive format browsers' devtools import): one entry per
//! exchange, streamed as flows come and closed at [`Sink::finish`]. Sizes flowtap
//! cannot know exactly are -1, as the format asks.

mod entry;
pub mod rules;

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use super::{Sink, SinkError};
use crate::flow::Flow;
use crate::merge::MergedFlow;

use entry::entry;

/// Writes `{"log": {"version": "1.2", "creator": …, "entries": [` at the first
/// entry (or at the end), each entry as it comes, and `]}}` at the end.
pub struct Har<W: Write> {
    out: BufWriter<W>,
    entries: u64,
    started: bool,
    finished: bool,
}

impl Har<Box<dyn Write>> {
    /// A file, or stdout for None or "-".
    pub fn create(path: Option<&Path>) -> io::Result<Self> {
        let out: Box<dyn Write> = match path {
            Some(p) if p != Path::new("-") => Box::new(File::create(p)?),
            _ => Box::new(io::stdout()),
        };
        Ok(Self::new(out))
    }
}

impl<W: Write> Har<W> {
    pub fn new(out: W) -> Self {
        Har {
            out: BufWriter::new(out),
            entries: 0,
            started: false,
            finished: false,
        }
    }

    pub fn entries(&self) -> u64 {
        self.entries
    }

    /// The writer, after finishing the document.
    pub fn into_inner(mut self) -> Result<W, SinkError> {
        self.finish()?;
        self.out.into_inner().map_err(|e| e.into_error().into())
    }

    fn start(&mut self) -> Result<(), SinkError> {
        if !self.started {
            self.started = true;
            let creator = serde_json::json!({
                "name": "flowtap",
                "version": env!("CARGO_PKG_VERSION"),
            });
            write!(
                self.out,
                "{{\"log\":{{\"version\":\"1.2\",\"creator\":{creator},\"pages\":[],\"entries\":["
            )?;
        }
        Ok(())
    }

    fn write_entry(&mut self, flow: &Flow, merged: Option<&MergedFlow>) -> Result<(), SinkError> {
        self.start()?;
        if self.entries > 0 {
            self.out.write_all(b",")?;
        }
        self.out.write_all(b"\n")?;
        serde_json::to_writer(&mut self.out, &entry(flow, merged))?;
        self.entries += 1;
        Ok(())
    }
}

impl<W: Write> Sink for Har<W> {
    fn write(&mut self, flow: &Flow) -> Result<(), SinkError> {
        self.write_entry(flow, None)
    }

    fn write_merged(&mut self, flow: &MergedFlow) -> Result<(), SinkError> {
        self.write_entry(&flow.flow, Some(flow))
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        Ok(self.out.flush()?)
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        if !self.finished {
            self.start()?;
            self.out.write_all(b"\n]}}\n")?;
            self.finished = true;
        }
        self.flush()
    }
}

#[cfg(test)]
mod tests;
