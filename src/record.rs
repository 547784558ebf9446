//! A line of a flows file: an exchange seen from one end (a [`Flow`]) or from both
//! (a [`MergedFlow`]). Sinks and readers (`view`, `har`) take either.

use std::io::BufRead;

use serde::{Deserialize, Serialize};

use crate::flow::{Flow, FlowObserver, Process};
use crate::merge::MergedFlow;

// Records are short-lived and mostly passed by reference: boxing the larger
// variant would cost an allocation per merged flow for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    One(Flow),
    Both(MergedFlow),
}

impl Record {
    /// The exchange's fields: a merged flow's are the client's view.
    pub fn flow(&self) -> &Flow {
        match self {
            Record::One(f) => f,
            Record::Both(m) => &m.flow,
        }
    }

    /// "client", "server" or "both".
    pub fn observer(&self) -> &'static str {
        match self {
            Record::One(f) => f.observer.as_str(),
            Record::Both(m) => m.flow.observer.as_str(),
        }
    }

    /// The client's and the server's processes, as far as observed.
    pub fn processes(&self) -> (Option<&Process>, Option<&Process>) {
        match self {
            Record::One(f) if f.observer == FlowObserver::Client => (Some(&f.process), None),
            Record::One(f) => (None, Some(&f.process)),
            Record::Both(m) => (Some(&m.flow.process), Some(&m.server.process)),
        }
    }
}

impl Serialize for Record {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Record::One(f) => f.serialize(serializer),
            Record::Both(m) => m.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Record {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let v = serde_json::Value::deserialize(deserializer)?;
        if v.get("observer").and_then(|o| o.as_str()) == Some("both") {
            MergedFlow::deserialize(v)
                .map(Record::Both)
                .map_err(D::Error::custom)
        } else {
            Flow::deserialize(v)
                .map(Record::One)
                .map_err(D::Error::custom)
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("reading flows")]
    Io(#[from] std::io::Error),
    #[error("flows line {line}: not a flow")]
    Parse {
        line: u64,
        #[source]
        source: serde_json::Error,
    },
}

/// Reads records a line at a time. A line longer than `max_line` bytes is
/// skipped and counted, not held: a flows file is outside flowtap's control.
pub struct RecordReader<R: BufRead> {
    input: R,
    max_line: usize,
    line: Vec<u8>,
    lines: u64,
    /// Lines skipped for being over `max_line`.
    pub oversized: u64,
}

impl<R: BufRead> RecordReader<R> {
    pub fn new(input: R, max_line: usize) -> Self {
        RecordReader {
            input,
            max_line,
            line: Vec::new(),
            lines: 0,
            oversized: 0,
        }
    }

    /// The next record, `Ok(None)` at the end of what is there now (a followed
    /// file may grow: call again later). A partial last line is kept for then.
    pub fn next_record(&mut self) -> Result<Option<Record>, ReadError> {
        loop {
            let complete = self.fill_line()?;
            if !complete {
                return Ok(None);
            }
            self.lines += 1;
            let over = self.line.len() > self.max_line;
            let text = std::mem::take(&mut self.line);
            if over {
                self.oversized += 1;
                continue;
            }
            if text.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            return serde_json::from_slice(&text)
                .map(Some)
                .map_err(|source| ReadError::Parse {
                    line: self.lines,
                    source,
                });
        }
    }

    /// Reads up to the next newline; true when a whole line is in `self.line`
    /// (its length counted past `max_line`, its bytes not kept).
    fn fill_line(&mut self) -> Result<bool, ReadError> {
        loop {
            let buf = match self.input.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            };
            if buf.is_empty() {
                return Ok(false);
            }
            let (chunk, done) = match buf.iter().position(|&b| b == b'\n') {
                Some(i) => (&buf[..i], true),
                None => (buf, false),
            };
            let n = chunk.len() + usize::from(done);
            if self.line.len() <= self.max_line {
                self.line.extend_from_slice(chunk);
            }
            if self.line.len() > self.max_line {
                // Remember only that it is too long.
                self.line.truncate(self.max_line + 1);
            }
            self.input.consume(n);
            if done {
                return Ok(true);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLOW: &str = r#"{"id":"1-3-0-0","observer":"client","src":{"ip":"127.0.0.1","port":5,"container":null},"dst":{"ip":"127.0.0.1","port":80,"container":null},"process":{"pid":1,"comm":"curl","container":null},"request":{"time":"2026-11-22T04:00:00.001000Z","method":"GET","target":"/","version":"HTTP/1.1","headers":[["Host","a"]],"body":{"size":0,"text":"","truncated":false}},"response":null,"duration_us":null,"address_source":{"src":"getsockname","dst":"connect"},"tunnel":null,"incomplete":"capture ended"}"#;

    #[test]
    fn a_flow_reads_back_to_the_same_json() {
        let r: Record = serde_json::from_str(FLOW).unwrap();
        assert_eq!(r.observer(), "client");
        assert_eq!(serde_json::to_string(&r).unwrap(), FLOW);
    }

    #[test]
    fn every_fixture_flow_reads_back_to_the_same_json() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
        let mut n = 0;
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if !path.to_string_lossy().ends_with(".flows.jsonl") {
                continue;
            }
            for line in std::fs::read_to_string(&path).unwrap().lines() {
                let r: Record = serde_json::from_str(line).unwrap();
                let back: serde_json::Value = serde_json::to_value(&r).unwrap();
                let orig: serde_json::Value = serde_json::from_str(line).unwrap();
                assert_eq!(back, orig, "{}", path.display());
                n += 1;
            }
        }
        assert!(n > 20);
    }

    #[test]
    fn long_lines_are_skipped_and_counted_and_partial_lines_wait() {
        let long = format!("{{\"pad\":\"{}\"}}", "x".repeat(5000));
        let text = format!("{long}\n{FLOW}\n{}", &FLOW[..10]);
        let mut r = RecordReader::new(std::io::BufReader::with_capacity(64, text.as_bytes()), 4096);
        assert!(r.next_record().unwrap().is_some());
        assert_eq!(r.oversized, 1);
        assert!(r.next_record().unwrap().is_none());
        assert_eq!(r.line.len(), 10, "the partial line waits for the rest");
    }

    #[test]
    fn a_bad_line_names_its_number() {
        let text = format!("{FLOW}\n{{\"id\":1}}\n");
        let mut r = RecordReader::new(text.as_bytes(), 4096);
        assert!(r.next_record().unwrap().is_some());
        let err = r.next_record().unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
    }
}
