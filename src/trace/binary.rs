//! The compact trace format: a magic header, then one record per event, each a
//! little-endian u32 length, a kind byte and the event's own struct in postcard
//! (payloads as raw bytes, not text or base64). It is what `--record` writes by
//! default: reading it is far cheaper than parsing JSON, and `flowtap trace`
//! prints it as JSON Lines.

use crate::event::{ContainerEvent, Event, Nanos};

/// The first bytes of a compact trace: a name no JSON line can start with, and
/// the format's version.
pub const MAGIC: &[u8; 16] = b"\0flowtap-trace\0\x01";

/// Records larger than this are refused when read: a corrupt length must not
/// make the reader allocate gigabytes. A data event holds at most one kernel
/// chunk, far below it.
pub const MAX_RECORD: usize = 64 << 20;

const CLOCK: u8 = 0;
const ACCEPT: u8 = 1;
const CONNECT: u8 = 2;
const GETSOCKNAME: u8 = 3;
const SOCKET: u8 = 4;
const DATA: u8 = 5;
const CLOSE: u8 = 6;
const CONTAINER: u8 = 7;
const LOSS: u8 = 8;
const OVERFLOW: u8 = 9;
const SSL_DATA: u8 = 10;
const TLS_HEAD: u8 = 11;
const SSL_FREE: u8 = 12;
const UNPLACED: u8 = 13;

/// Appends one event's record (length, kind, body) to `out`.
pub fn encode(event: &Event, out: &mut Vec<u8>) -> Result<(), postcard::Error> {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    match event {
        Event::Clock { ts, realtime_ns } => body(out, CLOCK, &(ts, realtime_ns)),
        Event::Accept(e) => body(out, ACCEPT, e),
        Event::Connect(e) => body(out, CONNECT, e),
        Event::Getsockname(e) => body(out, GETSOCKNAME, e),
        Event::Socket(e) => body(out, SOCKET, e),
        Event::Data(e) => body(out, DATA, e),
        Event::Unplaced(e) => body(out, UNPLACED, e),
        Event::Close(e) => body(out, CLOSE, e),
        Event::SslData(e) => body(out, SSL_DATA, e),
        Event::TlsHead(e) => body(out, TLS_HEAD, e),
        Event::SslFree(e) => body(out, SSL_FREE, e),
        Event::Container(e) => body(out, CONTAINER, e),
        Event::Loss { ts, lost } => body(out, LOSS, &(ts, lost)),
        Event::Overflow {
            ts,
            budget,
            events,
            bytes,
        } => body(out, OVERFLOW, &(ts, budget, events, bytes)),
    }?;
    let len =
        u32::try_from(out.len() - start - 4).map_err(|_| postcard::Error::SerializeBufferFull)?;
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    Ok(())
}

fn body<T: serde::Serialize>(
    out: &mut Vec<u8>,
    kind: u8,
    value: &T,
) -> Result<(), postcard::Error> {
    out.push(kind);
    let buf = std::mem::take(out);
    *out = postcard::to_extend(value, buf)?;
    Ok(())
}

/// One record's event, from what follows its length.
pub fn decode(record: &[u8]) -> Result<Event, postcard::Error> {
    let (&kind, body) = record
        .split_first()
        .ok_or(postcard::Error::DeserializeUnexpectedEnd)?;
    Ok(match kind {
        CLOCK => {
            let (ts, realtime_ns): (Nanos, u64) = from_bytes(body)?;
            Event::Clock { ts, realtime_ns }
        }
        ACCEPT => Event::Accept(from_bytes(body)?),
        CONNECT => Event::Connect(from_bytes(body)?),
        GETSOCKNAME => Event::Getsockname(from_bytes(body)?),
        SOCKET => Event::Socket(from_bytes(body)?),
        DATA => Event::Data(from_bytes(body)?),
        UNPLACED => Event::Unplaced(from_bytes(body)?),
        CLOSE => Event::Close(from_bytes(body)?),
        SSL_DATA => Event::SslData(from_bytes(body)?),
        TLS_HEAD => Event::TlsHead(from_bytes(body)?),
        SSL_FREE => Event::SslFree(from_bytes(body)?),
        CONTAINER => Event::Container(from_bytes::<ContainerEvent>(body)?),
        LOSS => {
            let (ts, lost): (Nanos, u64) = from_bytes(body)?;
            Event::Loss { ts, lost }
        }
        OVERFLOW => {
            let (ts, budget, events, bytes): (Nanos, String, u64, u64) = from_bytes(body)?;
            Event::Overflow {
                ts,
                budget,
                events,
                bytes,
            }
        }
        _ => return Err(postcard::Error::DeserializeBadEnum),
    })
}

/// The whole body, and nothing after it.
fn from_bytes<'a, T: serde::Deserialize<'a>>(body: &'a [u8]) -> Result<T, postcard::Error> {
    match postcard::take_from_bytes(body)? {
        (value, []) => Ok(value),
        _ => Err(postcard::Error::DeserializeBadEncoding),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::{TraceError, TraceFormat, TraceReader, TraceWriter};

    /// Every fixture's events, which cover every kind of event.
    fn fixture_events() -> Vec<Event> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
        let mut events = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.to_string_lossy().ends_with(".trace.jsonl") {
                let trace = TraceReader::open(&path).unwrap();
                events.extend(trace.map(|e| e.unwrap()));
            }
        }
        events
    }

    fn compact(events: &[Event]) -> Vec<u8> {
        let mut w = TraceWriter::with_format(Vec::new(), TraceFormat::Compact).unwrap();
        for e in events {
            w.write(e).unwrap();
        }
        w.into_inner().unwrap()
    }

    #[test]
    fn every_fixture_event_round_trips() {
        let events = fixture_events();
        for kind in [
            "clock",
            "accept",
            "connect",
            "getsockname",
            "socket",
            "data",
            "unplaced",
            "close",
            "container",
            "loss",
            "overflow",
        ] {
            assert!(
                events
                    .iter()
                    .any(|e| serde_json::to_value(e).unwrap()["type"] == kind),
                "no fixture has a {kind} event"
            );
        }
        let bytes = compact(&events);
        assert!(bytes.starts_with(MAGIC));
        let back: Vec<Event> = TraceReader::new(&bytes[..]).map(|e| e.unwrap()).collect();
        assert_eq!(back, events);
    }

    #[test]
    fn a_cut_or_corrupt_trace_is_an_error_never_a_panic() {
        let events = fixture_events();
        let bytes = compact(&events[..20]);
        for cut in MAGIC.len() + 1..bytes.len() {
            let results: Vec<_> = TraceReader::new(&bytes[..cut]).collect();
            let whole = results.iter().filter(|r| r.is_ok()).count();
            assert!(whole < 20, "cut at {cut} read as whole");
            let last_err = results.iter().rev().find_map(|r| r.as_ref().err());
            if results.len() == whole {
                continue; // the cut fell between records
            }
            assert!(matches!(
                last_err,
                Some(TraceError::Truncated { .. } | TraceError::BadRecord { .. })
            ));
        }
        let mut huge = MAGIC.to_vec();
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            TraceReader::new(&huge[..]).next(),
            Some(Err(TraceError::TooLarge { .. }))
        ));
        assert!(matches!(
            TraceReader::new(&b"\0not a trace at all"[..]).next(),
            Some(Err(TraceError::UnknownFormat))
        ));
    }

    #[test]
    fn arbitrary_records_never_panic() {
        proptest::proptest!(proptest::test_runner::Config::with_cases(4000), |(input in proptest::collection::vec(proptest::num::u8::ANY, 0..400))| {
            let mut bytes = MAGIC.to_vec();
            bytes.extend_from_slice(&input);
            for r in TraceReader::new(&bytes[..]) { let _ = r; }
            let _ = decode(&input);
        });
    }

    #[test]
    fn compact_is_smaller_than_json() {
        let events = fixture_events();
        let mut json = TraceWriter::new(Vec::new());
        for e in &events {
            json.write(e).unwrap();
        }
        let json = json.into_inner().unwrap();
        assert!(compact(&events).len() < json.len());
    }
}
