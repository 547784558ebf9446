use std::fs::File;
use std::io::{self, Write};
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
/// byte for byte, which a test below holds it to. Each line is encoded straight
/// onto the end of the batch, so its bytes are never copied before the write.
/// A reader following the file (`tail -f`) sees each flow within [`MAX_DELAY`]
/// while flows keep coming, and at the pipeline's next [`Sink::flush`] (a live
/// capture's quiet tick, or the end) when they stop.
pub struct JsonLines<W: Write> {
    out: W,
    /// Whole lines not yet written: under [`BATCH_BYTES`] plus one line.
    batch: Vec<u8>,
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
            out,
            batch: Vec::with_capacity(BATCH_BYTES),
            oldest: None,
        }
    }

    fn write_line(&mut self, record: &impl serde::Serialize) -> Result<(), SinkError> {
        let start = self.batch.len();
        if let Err(e) = sonic_rs::to_writer(&mut self.batch, record) {
            // What a failed line left would break the file for every reader.
            self.batch.truncate(start);
            return Err(e.into());
        }
        self.batch.push(b'\n');
        let oldest = *self.oldest.get_or_insert_with(Instant::now);
        if self.batch.len() >= BATCH_BYTES || oldest.elapsed() >= MAX_DELAY {
            self.write_batch()?;
        }
        Ok(())
    }

    /// One write of whole lines, so a concurrent reader never sees half a flow.
    fn write_batch(&mut self) -> io::Result<()> {
        self.oldest = None;
        let result = self.out.write_all(&self.batch);
        self.batch.clear();
        result
    }
}

/// Lines still in the batch go out when the sink does, as `BufWriter`'s would;
/// the pipeline's [`Sink::finish`] writes them first and reports what fails.
impl<W: Write> Drop for JsonLines<W> {
    fn drop(&mut self) {
        if !self.batch.is_empty() {
            let _ = self.write_batch();
        }
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
        self.write_batch()?;
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
