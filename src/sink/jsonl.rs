use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

use super::{Sink, SinkError};
use crate::flow::Flow;

/// One JSON object a line, flushed line by line (`tail -f` works).
pub struct JsonLines<W: Write> {
    out: W,
    line: Vec<u8>,
}

impl JsonLines<Box<dyn Write + Send>> {
    /// A file, or stdout for None or "-".
    pub fn create(path: Option<&Path>) -> io::Result<Self> {
        let out: Box<dyn Write + Send> = match path {
            Some(p) if p != Path::new("-") => Box::new(File::create(p)?),
            _ => Box::new(io::stdout()),
        };
        Ok(Self::new(out))
    }
}

impl<W: Write> JsonLines<W> {
    pub fn new(out: W) -> Self {
        JsonLines {
            out,
            line: Vec::new(),
        }
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

impl<W: Write> Sink for JsonLines<W> {
    fn write(&mut self, flow: &Flow) -> Result<(), SinkError> {
        self.line.clear();
        serde_json::to_writer(&mut self.line, flow)?;
        self.line.push(b'\n');
        // One write per line, so a concurrent reader never sees half a flow.
        self.out.write_all(&self.line)?;
        self.out.flush()?;
        Ok(())
    }
}
