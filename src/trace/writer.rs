use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use super::binary;
use crate::event::Event;

/// How a trace is written. Readers tell the two apart by their first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceFormat {
    /// One JSON object a line: readable, diffable, what the fixtures are.
    JsonLines,
    /// Length-prefixed binary records with raw payloads: small and fast to read.
    Compact,
}

impl TraceFormat {
    /// JSON Lines for a `.jsonl` or `.json` file, compact otherwise.
    pub fn for_path(path: &Path) -> Self {
        match path.extension().and_then(|e| e.to_str()) {
            Some("jsonl" | "json") => TraceFormat::JsonLines,
            _ => TraceFormat::Compact,
        }
    }
}

/// Appends events to a trace.
pub struct TraceWriter<W: Write> {
    out: BufWriter<W>,
    format: TraceFormat,
    record: Vec<u8>,
}

impl TraceWriter<File> {
    pub fn create(path: &Path, format: TraceFormat) -> io::Result<Self> {
        Self::with_format(File::create(path)?, format)
    }
}

impl<W: Write> TraceWriter<W> {
    /// A JSON Lines trace.
    pub fn new(out: W) -> Self {
        Self {
            out: BufWriter::with_capacity(256 * 1024, out),
            format: TraceFormat::JsonLines,
            record: Vec::new(),
        }
    }

    pub fn with_format(out: W, format: TraceFormat) -> io::Result<Self> {
        let mut w = Self::new(out);
        w.format = format;
        if format == TraceFormat::Compact {
            w.out.write_all(binary::MAGIC)?;
        }
        Ok(w)
    }

    pub fn write(&mut self, event: &Event) -> io::Result<()> {
        match self.format {
            TraceFormat::JsonLines => {
                serde_json::to_writer(&mut self.out, event)?;
                self.out.write_all(b"\n")
            }
            TraceFormat::Compact => {
                self.record.clear();
                binary::encode(event, &mut self.record).map_err(io::Error::other)?;
                self.out.write_all(&self.record)
            }
        }
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    pub fn into_inner(self) -> io::Result<W> {
        self.out.into_inner().map_err(|e| e.into_error())
    }
}
