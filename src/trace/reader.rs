use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use super::binary::{self, MAGIC, MAX_RECORD};
use super::TraceFormat;
use crate::event::Event;

#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error("reading trace")]
    Io(#[from] io::Error),
    #[error("trace line {line}")]
    Malformed {
        line: u64,
        source: serde_json::Error,
    },
    #[error("trace record {record}")]
    BadRecord {
        record: u64,
        source: postcard::Error,
    },
    #[error("trace record {record} is cut short")]
    Truncated { record: u64 },
    #[error("trace record {record} claims {len} bytes, over the limit of {MAX_RECORD}")]
    TooLarge { record: u64, len: usize },
    #[error("not a flowtap trace (neither JSON Lines nor a compact trace of this version)")]
    UnknownFormat,
}

/// Reads events from a trace of either format, told apart by its first byte.
/// In JSON Lines, blank lines are allowed.
pub struct TraceReader<R: Read> {
    input: BufReader<R>,
    /// None until the first read looks.
    format: Option<TraceFormat>,
    /// Lines or records read so far.
    count: u64,
    buf: Vec<u8>,
    failed: bool,
}

impl TraceReader<File> {
    pub fn open(path: &Path) -> io::Result<Self> {
        Ok(Self::new(File::open(path)?))
    }
}

impl<R: Read> TraceReader<R> {
    pub fn new(input: R) -> Self {
        Self {
            input: BufReader::with_capacity(256 * 1024, input),
            format: None,
            count: 0,
            buf: Vec::new(),
            failed: false,
        }
    }

    /// A compact trace starts with a NUL byte, which no JSON text can.
    fn detect(&mut self) -> Result<Option<TraceFormat>, TraceError> {
        let first = match self.input.fill_buf()?.first() {
            None => return Ok(None),
            Some(&b) => b,
        };
        if first != MAGIC[0] {
            return Ok(Some(TraceFormat::JsonLines));
        }
        let mut magic = [0u8; MAGIC.len()];
        match self.input.read_exact(&mut magic) {
            Ok(()) if &magic == MAGIC => Ok(Some(TraceFormat::Compact)),
            Ok(()) => Err(TraceError::UnknownFormat),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(TraceError::UnknownFormat),
            Err(e) => Err(e.into()),
        }
    }

    fn next_line(&mut self) -> Option<Result<Event, TraceError>> {
        loop {
            self.buf.clear();
            // Bytes, not a String: serde_json checks the UTF-8 of every string it
            // reads, so a second pass over the line is wasted.
            match self.input.read_until(b'\n', &mut self.buf) {
                Ok(0) => return None,
                Ok(_) => {}
                Err(e) => return Some(Err(e.into())),
            }
            self.count += 1;
            let line = self.buf.trim_ascii();
            if line.is_empty() {
                continue;
            }
            return Some(parse(line).map_err(|source| TraceError::Malformed {
                line: self.count,
                source,
            }));
        }
    }

    fn next_record(&mut self) -> Option<Result<Event, TraceError>> {
        let record = self.count + 1;
        let mut len = [0u8; 4];
        // The end of the file may only come between records.
        match self.input.fill_buf() {
            Ok([]) => return None,
            Ok(_) => {}
            Err(e) => return Some(Err(e.into())),
        }
        let truncated = |e: io::Error| match e.kind() {
            io::ErrorKind::UnexpectedEof => TraceError::Truncated { record },
            _ => TraceError::Io(e),
        };
        if let Err(e) = self.input.read_exact(&mut len) {
            return Some(Err(truncated(e)));
        }
        let len = u32::from_le_bytes(len) as usize;
        if len > MAX_RECORD {
            return Some(Err(TraceError::TooLarge { record, len }));
        }
        let bad = |source| TraceError::BadRecord { record, source };
        // Most records lie whole in the reader's buffer: decoded in place, their
        // payloads are copied once (into the event), not twice. One that runs past
        // the buffer's end is gathered first.
        let event = if let Some(body) = self.input.buffer().get(..len) {
            let event = binary::decode(body).map_err(bad);
            self.input.consume(len);
            event
        } else {
            self.buf.clear();
            self.buf.reserve(len);
            match (&mut self.input)
                .take(len as u64)
                .read_to_end(&mut self.buf)
            {
                Ok(n) if n == len => {}
                Ok(_) => return Some(Err(TraceError::Truncated { record })),
                Err(e) => return Some(Err(truncated(e))),
            }
            binary::decode(&self.buf).map_err(bad)
        };
        self.count = record;
        Some(event)
    }
}

impl<R: Read> Iterator for TraceReader<R> {
    type Item = Result<Event, TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let format = match self.format {
            Some(f) => f,
            None => match self.detect() {
                Ok(Some(f)) => *self.format.insert(f),
                Ok(None) => return None,
                Err(e) => {
                    self.failed = true;
                    return Some(Err(e));
                }
            },
        };
        let next = match format {
            TraceFormat::JsonLines => self.next_line(),
            TraceFormat::Compact => self.next_record(),
        };
        // A compact trace has no line breaks to resynchronise on: after a bad
        // record, nothing more can be read.
        if format == TraceFormat::Compact && matches!(next, Some(Err(_))) {
            self.failed = true;
        }
        next
    }
}

/// One trace line. serde reads an internally tagged enum (`"type": …`) by first
/// buffering the whole object into a tree of owned values, payload strings and
/// all, then reading the variant from that: under half of `flowtap replay`'s time
/// went there. Lines start with their `type` (the writer puts it first), so the
/// variant's own struct is read straight from the line; its `type` key is
/// ignored like any unknown field. Anything else takes serde's general path.
fn parse(line: &[u8]) -> Result<Event, serde_json::Error> {
    use serde_json::from_slice;
    let kind = line
        .strip_prefix(br#"{"type":""#)
        .and_then(|rest| rest.iter().position(|&b| b == b'"').map(|end| &rest[..end]));
    Ok(match kind {
        Some(b"data") => Event::Data(from_slice(line)?),
        Some(b"unplaced") => Event::Unplaced(from_slice(line)?),
        Some(b"accept") => Event::Accept(from_slice(line)?),
        Some(b"connect") => Event::Connect(from_slice(line)?),
        Some(b"getsockname") => Event::Getsockname(from_slice(line)?),
        Some(b"socket") => Event::Socket(from_slice(line)?),
        Some(b"close") => Event::Close(from_slice(line)?),
        Some(b"ssl_data") => Event::SslData(from_slice(line)?),
        Some(b"tls_head") => Event::TlsHead(from_slice(line)?),
        Some(b"ssl_free") => Event::SslFree(from_slice(line)?),
        Some(b"container") => Event::Container(from_slice(line)?),
        _ => from_slice(line)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bytes::Bytes;
    use crate::event::{Data, SslData, SslFree, Syscall, Task, TlsHead};
    use crate::trace::TraceWriter;

    fn task() -> Task {
        Task {
            pid: 10,
            tid: 11,
            comm: "curl".into(),
            cgroup: 1,
        }
    }

    fn data(pos: u64, payload: &[u8]) -> Event {
        Event::Data(Data {
            ts: 7 + pos,
            task: task(),
            fd: 3,
            syscall: Syscall::Writev,
            pos,
            count: payload.len() as u64,
            payload: Bytes(payload.to_vec()),
            truncated: false,
        })
    }

    #[test]
    fn write_then_read_is_identity() {
        let events = vec![
            Event::Clock {
                ts: 1,
                realtime_ns: 2,
            },
            data(0, b"GET / HTTP/1.1\r\n\r\n"),
            data(18, &[0, 159, 146, 150]),
            Event::TlsHead(TlsHead {
                ts: 10,
                task: task(),
                ssl: 0x7f00_1234,
                len: 302,
                head: Bytes(vec![
                    0x16, 3, 1, 1, 0x29, 1, 0, 1, 0x25, 3, 3, 9, 8, 7, 6, 5,
                ]),
            }),
            Event::SslData(SslData {
                ts: 11,
                task: task(),
                ssl: 0x7f00_1234,
                syscall: Syscall::SslWrite,
                pos: 0,
                count: 9,
                payload: Bytes(b"PRI * HTT".to_vec()),
                truncated: false,
            }),
            Event::SslFree(SslFree {
                ts: 12,
                task: task(),
                ssl: 0x7f00_1234,
            }),
            Event::Loss { ts: 9, lost: 3 },
        ];
        let mut w = TraceWriter::new(Vec::new());
        for e in &events {
            w.write(e).unwrap();
        }
        let bytes = w.into_inner().unwrap();
        let back: Vec<Event> = TraceReader::new(&bytes[..])
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(back, events);
    }

    #[test]
    fn the_direct_path_reads_what_serde_reads() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
        let mut lines = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if !path.to_string_lossy().ends_with(".trace.jsonl") {
                continue;
            }
            for line in std::fs::read(&path).unwrap().split(|&b| b == b'\n') {
                if line.trim_ascii().is_empty() {
                    continue;
                }
                let general = serde_json::from_slice::<Event>(line).map_err(|e| e.to_string());
                assert_eq!(
                    parse(line).map_err(|e| e.to_string()).is_ok(),
                    general.is_ok()
                );
                assert_eq!(parse(line).ok(), general.ok(), "{}", path.display());
                lines += 1;
            }
        }
        assert!(lines > 100, "only {lines} fixture lines");
        // `type` not first: the general path.
        let moved =
            br#"{"ts":5,"type":"close","task":{"pid":1,"tid":1,"comm":"x","cgroup":0},"fd":3}"#;
        assert!(matches!(parse(moved), Ok(Event::Close(_))));
        // A known type with a wrong body fails on the direct path too.
        assert!(parse(br#"{"type":"data","ts":1}"#).is_err());
    }

    /// Records are decoded in place when the reader's buffer holds them whole and
    /// gathered when they run past its end; sizes from a few bytes to over the
    /// buffer's 256 KiB make both happen, at every offset.
    #[test]
    fn compact_records_read_whole_across_the_buffer_edge() {
        let mut events = Vec::new();
        let mut pos = 0;
        for i in 0..200u32 {
            let len = match i % 5 {
                0 => 3,
                1 => 16 * 1024 + i as usize,
                2 => 700,
                3 => 40_000 + 13 * i as usize,
                _ => 1,
            };
            let payload: Vec<u8> = (0..len).map(|b| (b as u32 * 7 + i) as u8).collect();
            events.push(data(pos, &payload));
            pos += len as u64;
        }
        events.insert(100, data(pos, &vec![b'x'; 300 * 1024]));
        let mut w = TraceWriter::with_format(Vec::new(), TraceFormat::Compact).unwrap();
        for e in &events {
            w.write(e).unwrap();
        }
        let bytes = w.into_inner().unwrap();
        assert!(bytes.len() > 8 * 256 * 1024);
        let back: Vec<Event> = TraceReader::new(&bytes[..])
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(back, events);
    }

    #[test]
    fn malformed_line_is_named() {
        let text = "{\"type\":\"clock\",\"ts\":1,\"realtime_ns\":2}\n\n{\"type\":\"nope\"}\n";
        let results: Vec<_> = TraceReader::new(text.as_bytes()).collect();
        assert!(results[0].is_ok());
        match &results[1] {
            Err(TraceError::Malformed { line, .. }) => assert_eq!(*line, 3),
            other => panic!("expected a malformed-line error, got {other:?}"),
        }
        // The line in the message, the parser's reason as its source: printed as a
        // chain, each appears once.
        let err = results[1].as_ref().unwrap_err();
        assert_eq!(err.to_string(), "trace line 3");
        let reason = std::error::Error::source(err)
            .expect("the parser's reason")
            .to_string();
        assert!(reason.contains("unknown variant `nope`"), "{reason}");
    }

    #[test]
    fn arbitrary_input_never_panics() {
        proptest::proptest!(proptest::test_runner::Config::with_cases(4000), |(input in proptest::collection::vec(proptest::num::u8::ANY, 0..400))| {
            for r in TraceReader::new(&input[..]) { let _ = r; }
        });
    }

    #[test]
    fn truncated_valid_trace_errors_without_panic() {
        let mut w = TraceWriter::new(Vec::new());
        w.write(&data(0, b"hello world")).unwrap();
        let full = w.into_inner().unwrap();
        for cut in 0..full.len() {
            let results: Vec<_> = TraceReader::new(&full[..cut]).collect();
            if cut > 0 && cut < full.len() - 1 {
                assert!(
                    results.iter().any(|r| r.is_err()),
                    "cut at {cut} parsed as valid"
                );
            }
        }
    }
}
