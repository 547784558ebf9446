use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use super::{Sink, SinkError};
use crate::flow::Flow;
use crate::merge::MergedFlow;

/// Lines are written out once this much has piled up…
const BATCH_BYTES: usize = 64 * 1024;
/// …or once the oldest waiting line is this old, whichever comes first.
const MAX_DELAY: Duration = Duration::from_millis(50);

/// One JSON object a line, written out in batches of whole lines: a write
/// syscall per flow was a quarter of flowtap's CPU under load. Lines are encoded
/// with sonic-rs, whose SIMD string escaping took a fifth off `flowtap replay`'s
/// instructions (bodies are most of a flow's bytes); its output is serde_json's,
/// byte for byte, which a test below holds it to. A reader following
/// the file (`tail -f`) sees each flow within [`MAX_DELAY`] while flows keep
/// coming, and at the pipeline's next [`Sink::flush`] (a live capture's quiet
/// tick, or the end) when they stop.
pub struct JsonLines<W: Write> {
    out: BufWriter<W>,
    line: Vec<u8>,
    oldest: Option<Instant>,
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
            // A line longer than the buffer goes out in one write of its own, and a
            // line that does not fit makes the buffer go out first: every write
            // holds whole lines, so a concurrent reader never sees half a flow.
            out: BufWriter::with_capacity(BATCH_BYTES, out),
            line: Vec::new(),
            oldest: None,
        }
    }

    /// The writer, after writing out what is pending.
    pub fn into_inner(self) -> io::Result<W> {
        self.out.into_inner().map_err(|e| e.into_error())
    }
}

impl<W: Write> JsonLines<W> {
    fn write_line(&mut self, record: &impl serde::Serialize) -> Result<(), SinkError> {
        self.line.clear();
        sonic_rs::to_writer(&mut self.line, record)?;
        self.line.push(b'\n');
        self.out.write_all(&self.line)?;
        let oldest = *self.oldest.get_or_insert_with(Instant::now);
        if oldest.elapsed() >= MAX_DELAY {
            self.flush()?;
        }
        Ok(())
    }
}

impl<W: Write> Sink for JsonLines<W> {
    fn write(&mut self, flow: &Flow) -> Result<(), SinkError> {
        self.write_line(flow)
    }

    fn write_merged(&mut self, flow: &MergedFlow) -> Result<(), SinkError> {
        self.write_line(flow)
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        self.oldest = None;
        self.out.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use crate::bytes::Bytes;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Readers (flowtap's own, jq, browsers) are told these files are plain
        /// JSON; the writer must say exactly what serde_json would.
        #[test]
        fn lines_encode_as_serde_json_would(
            text in any::<String>(),
            raw in proptest::collection::vec(any::<u8>(), 0..64),
            ctrl in proptest::collection::vec(0u8..0x80, 0..64),
            ratio in proptest::num::f64::NORMAL | proptest::num::f64::ZERO,
        ) {
            let value = (text, Bytes(raw), Bytes(ctrl), u64::MAX, -1i64, Option::<u8>::None, ratio);
            prop_assert_eq!(
                sonic_rs::to_string(&value).unwrap(),
                serde_json::to_string(&value).unwrap()
            );
        }
    }
}
