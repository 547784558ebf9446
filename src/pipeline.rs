//! The flow engine from the Event seam onward: container map, sockets, HTTP and a
//! sink. `flowtap replay` and live `flowtap capture` drive the same [`Pipeline`].

mod assemble;

use std::fmt;
use std::net::IpAddr;

use hashbrown::HashMap;

use crate::clock::WallClock;
use crate::containers::ContainerMap;
use crate::event::{Accept, Connect, Event, ExistingSocket, Getsockname, Nanos, SockAddrs};
use crate::flow::Tls;
use crate::http::{BodyBudget, Connection, DecodeScratch, Drops, Exchange};
use crate::sink::{Sink, SinkError};
use crate::sockets::{
    Gauge, Limits, MembioStats, Released, ReorderStats, SocketId, SocketInfo, Sockets,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Body bytes kept per HTTP message.
    pub max_body: usize,
    /// Body bytes kept for messages in progress, across all connections.
    pub body_budget: usize,
    pub limits: Limits,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_body: 1 << 20,
            body_budget: 256 << 20,
            limits: Limits::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Sink(#[from] SinkError),
}

/// What a run did, for the exit line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    pub flows_written: u64,
    pub events_seen: u64,
    /// Events the kernel could not deliver (the last cumulative Loss count).
    pub events_lost: u64,
    /// Socket bytes that fell into gaps, known from the positions around them.
    pub gap_bytes: u64,
    /// Gaps whose size is unknown (the positions went back).
    pub gaps_unmeasured: u64,
    /// Sockets still holding data back when the run ended (released then, with
    /// fallback addresses).
    pub sockets_held: usize,
    /// What the HTTP byte budgets dropped (the flows involved say so too).
    pub drops: Drops,
    /// Events (and their bytes) of undecided containers dropped past the hold
    /// budget, from the trace's last `overflow` event.
    pub held_over_budget: (u64, u64),
    /// What the sockets' reorder windows did.
    pub reorder: ReorderStats,
    /// Idle or evicted sockets whose kept addresses were forgotten over the
    /// tombstone cap (later data on them has none).
    pub tombstones_dropped: u64,
    /// What tying memory-BIO `SSL*`s (grpcio) to their sockets did.
    pub membio: MembioStats,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} flows written, {} events seen, {} events lost, {} bytes in gaps, {} sockets still held",
            self.flows_written,
            self.events_seen,
            self.events_lost,
            self.gap_bytes,
            self.sockets_held
        )?;
        if self.gaps_unmeasured > 0 {
            write!(f, ", {} gaps of unknown size", self.gaps_unmeasured)?;
        }
        let (events, bytes) = self.held_over_budget;
        if events > 0 {
            write!(
                f,
                ", {events} events ({bytes} bytes) of undecided containers over the hold budget dropped"
            )?;
        }
        let d = &self.drops;
        if d.body_bytes > 0 {
            write!(
                f,
                ", {} body bytes over --body-budget dropped",
                d.body_bytes
            )?;
        }
        if d.undecided_bytes > 0 {
            write!(
                f,
                ", {} bytes of connections never seen to be HTTP dropped",
                d.undecided_bytes
            )?;
        }
        if d.waiting_overflows > 0 {
            write!(
                f,
                ", {} connections stopped with too many requests waiting",
                d.waiting_overflows
            )?;
        }
        let r = &self.reorder;
        if r.reordered > 0 {
            write!(f, ", {} records put back in position order", r.reordered)?;
        }
        if r.late_records > 0 {
            write!(
                f,
                ", {} records ({} bytes) dropped: they came after their bytes were declared lost",
                r.late_records, r.late_bytes
            )?;
        }
        if r.unplaced_calls > 0 {
            write!(
                f,
                ", {} calls ({} bytes) on sockets two threads used at once could not be put in order: declared lost",
                r.unplaced_calls, r.unplaced_bytes
            )?;
        }
        if self.tombstones_dropped > 0 {
            write!(
                f,
                ", {} idle sockets' addresses forgotten",
                self.tombstones_dropped
            )?;
        }
        let m = &self.membio;
        if m.tied > 0 || m.given_up > 0 || m.ambiguous > 0 {
            write!(
                f,
                ", {} memory-BIO TLS streams tied to their socket, {} not ({} plaintext bytes dropped), {} ambiguous matches refused",
                m.tied, m.given_up, m.dropped_bytes, m.ambiguous
            )?;
        }
        if m.heads_forgotten > 0 {
            write!(f, ", {} TLS record heads forgotten", m.heads_forgotten)?;
        }
        Ok(())
    }
}

/// A released socket and its HTTP.
struct Stream {
    info: SocketInfo,
    http: Connection,
    exchanges: u64,
    tls: Option<Tls>,
}

/// Events in, flows out.
///
/// Live capture calls [`handle`](Pipeline::handle) for each event in ring-buffer
/// order and [`advance_time`](Pipeline::advance_time) regularly (say every 100 ms)
/// so that held data is released on time when events are sparse, then
/// [`finish`](Pipeline::finish) on exit.
pub struct Pipeline<S: Sink> {
    config: Config,
    containers: ContainerMap,
    sockets: Sockets,
    /// Boxed: a stream is about 1.2 KiB (two decoders with their messages in
    /// progress), and inline in the table every empty slot and every resize
    /// paid that too (20 MB of the heap with 10,000 idle connections).
    streams: HashMap<SocketId, Box<Stream>>,
    clock: WallClock,
    sink: S,
    summary: Summary,
    /// Shared by every connection's bodies in progress.
    bodies: BodyBudget,
    /// Where every connection's decoders write.
    scratch: DecodeScratch,
    released: Vec<Released>,
    exchanges: Vec<Exchange>,
    times: assemble::Times,
}

impl<S: Sink> Pipeline<S> {
    pub fn new(config: Config, sink: S) -> Self {
        Pipeline {
            config,
            containers: ContainerMap::new(),
            sockets: Sockets::new(config.limits),
            streams: HashMap::new(),
            // Until a Clock event says otherwise, monotonic time stands for wall time.
            clock: WallClock::new(0, 0),
            sink,
            summary: Summary::default(),
            bodies: BodyBudget::new(config.body_budget),
            scratch: DecodeScratch::default(),
            released: Vec::new(),
            exchanges: Vec::new(),
            times: assemble::Times::default(),
        }
    }

    /// Takes one event; writes the flows it completes.
    pub fn handle(&mut self, event: Event) -> Result<(), PipelineError> {
        self.summary.events_seen += 1;
        match &event {
            Event::Clock { ts, realtime_ns } => self.clock = WallClock::new(*ts, *realtime_ns),
            Event::Container(c) => self.containers.apply(c),
            Event::Accept(Accept {
                task,
                sock: Some(SockAddrs { local: Some(a), .. }),
                ..
            })
            | Event::Connect(Connect {
                task,
                sock: Some(SockAddrs { local: Some(a), .. }),
                ..
            })
            | Event::Socket(ExistingSocket {
                task,
                sock: SockAddrs { local: Some(a), .. },
                ..
            })
            | Event::Getsockname(Getsockname { task, local: a, .. }) => {
                self.containers.observe_local_ip(a.ip(), task.cgroup)
            }
            Event::Overflow { events, bytes, .. } => {
                let held = &mut self.summary.held_over_budget;
                *held = (held.0.max(*events), held.1.max(*bytes));
            }
            Event::Loss { lost, .. } => {
                self.summary.events_lost = self.summary.events_lost.max(*lost)
            }
            _ => {}
        }
        let container_ip = match &event {
            Event::Connect(c) => self.container_ip(c),
            _ => None,
        };
        self.sockets.handle(event, container_ip, &mut self.released);
        self.name_given_up();
        self.flush_released()
    }

    /// One stderr line per process whose memory-BIO TLS plaintext had to be
    /// dropped (the summary counts the bytes).
    fn name_given_up(&mut self) {
        for g in self.sockets.take_given_up() {
            eprintln!(
                "flowtap: TLS plaintext of process {} ({}) dropped: {} (the summary counts the bytes)",
                g.pid,
                g.comm,
                g.why.describe()
            );
        }
    }

    /// The connecting process's container IP in the destination's address family:
    /// what an outgoing connection's source IP falls back to.
    fn container_ip(&self, c: &Connect) -> Option<IpAddr> {
        let v4 = c.peer.map_or(true, |p| p.is_ipv4());
        let container = self.containers.by_cgroup(c.task.cgroup)?;
        container.ips.iter().copied().find(|ip| ip.is_ipv4() == v4)
    }

    /// Tells the pipeline that CLOCK_MONOTONIC reached `now` and that no later event
    /// will carry an earlier `ts`. Deadlines up to `now` fire, exactly as they would
    /// at the next event, so output does not depend on when this is called. Live
    /// capture should pass `monotonic_ns()` minus its ring-buffer slack (e.g. 100 ms).
    pub fn advance_time(&mut self, now: Nanos) -> Result<(), PipelineError> {
        self.sockets.advance_time(now, &mut self.released);
        self.name_given_up();
        self.flush_released()?;
        // Quiet time: whatever the sink batched goes out now.
        self.sink.flush()?;
        Ok(())
    }

    /// Writes out what the sink batched. Live capture calls this whenever it has
    /// caught up with the kernel, so a lone exchange is in the file at once and
    /// batching only happens under load.
    pub fn flush_output(&mut self) -> Result<(), PipelineError> {
        Ok(self.sink.flush()?)
    }

    /// What sockets hold back right now.
    pub fn gauge(&self) -> Gauge {
        self.sockets.gauge()
    }

    /// Writes every flow still possible: held data is released with fallback
    /// addresses, and requests still waiting are written with `response: null`
    /// and `incomplete: "capture ended"`.
    pub fn finish(mut self) -> Result<Summary, PipelineError> {
        self.summary.sockets_held = self.sockets.finish(&mut self.released);
        self.name_given_up();
        self.summary.reorder = self.sockets.reorder_stats();
        self.summary.tombstones_dropped = self.sockets.tombstones_dropped();
        self.summary.membio = self.sockets.membio_stats();
        self.flush_released()?;
        self.sink.finish()?;
        Ok(self.summary)
    }

    pub fn summary(&self) -> Summary {
        Summary {
            tombstones_dropped: self.sockets.tombstones_dropped(),
            membio: self.sockets.membio_stats(),
            ..self.summary
        }
    }

    fn flush_released(&mut self) -> Result<(), PipelineError> {
        // Taken out while `self` is borrowed below, and put back empty after:
        // a fresh Vec per event would grow (allocate) again on every push.
        let mut released = std::mem::take(&mut self.released);
        let mut result = Ok(());
        for r in released.drain(..) {
            let (id, ended) = match r {
                Released::Open(info) => {
                    let http = Connection::with_budget(
                        info.role,
                        self.config.max_body,
                        self.bodies.clone(),
                    )
                    .sharing(&self.scratch);
                    let id = info.id;
                    self.streams.insert(
                        id,
                        Box::new(Stream {
                            info,
                            http,
                            exchanges: 0,
                            tls: None,
                        }),
                    );
                    (id, false)
                }
                Released::Data {
                    id,
                    direction,
                    ts,
                    payload,
                    uncaptured,
                } => {
                    if let Some(s) = self.streams.get_mut(&id) {
                        s.http
                            .feed(direction, ts, &payload, uncaptured, &mut self.exchanges);
                    }
                    (id, false)
                }
                Released::Gap {
                    id,
                    direction,
                    ts,
                    lost,
                } => {
                    match lost {
                        Some(n) => self.summary.gap_bytes += n,
                        None => self.summary.gaps_unmeasured += 1,
                    }
                    if let Some(s) = self.streams.get_mut(&id) {
                        s.http.gap(direction, ts, lost, &mut self.exchanges);
                    }
                    (id, false)
                }
                Released::Tls {
                    id,
                    library,
                    sni,
                    version,
                } => {
                    if let Some(s) = self.streams.get_mut(&id) {
                        s.tls = Some(Tls {
                            library,
                            version,
                            sni,
                        });
                    }
                    (id, false)
                }
                Released::End { id, ts, reason } => {
                    if let Some(s) = self.streams.get_mut(&id) {
                        s.http.end(ts, reason.describe(), &mut self.exchanges);
                        self.summary.drops.add(s.http.drops());
                    }
                    (id, true)
                }
            };
            // Keep going after a sink error so that state stays consistent; the
            // first error is reported.
            let written = self.write_exchanges(id);
            if result.is_ok() {
                result = written;
            }
            if ended {
                self.streams.remove(&id);
            }
        }
        self.released = released;
        result
    }

    fn write_exchanges(&mut self, id: SocketId) -> Result<(), PipelineError> {
        let mut exchanges = std::mem::take(&mut self.exchanges);
        let Some(stream) = self.streams.get_mut(&id) else {
            exchanges.clear();
            self.exchanges = exchanges;
            return Ok(());
        };
        let ctx = assemble::FlowContext {
            socket: &stream.info,
            tls: stream.tls.as_ref(),
            containers: &self.containers,
            clock: &self.clock,
        };
        let mut result = Ok(());
        for exchange in exchanges.drain(..) {
            let flow = assemble::flow(&ctx, &mut self.times, exchange, stream.exchanges);
            stream.exchanges += 1;
            match self.sink.write(&flow) {
                Ok(()) => self.summary.flows_written += 1,
                Err(e) if result.is_ok() => result = Err(e.into()),
                Err(_) => {}
            }
        }
        self.exchanges = exchanges;
        result
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::bytes::Bytes;
    use crate::event::{Connect, Data, Getsockname, Syscall, Task};
    use crate::flow::Flow;

    const REQUESTS: &[u8] = b"GET /a HTTP/1.1\r\n\r\nPOST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /c HTTP/1.1\r\n\r\n";
    const RESPONSES: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nAHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n";

    fn task() -> Task {
        Task {
            pid: 9,
            tid: 9,
            comm: "curl".into(),
            cgroup: 0,
        }
    }

    /// A client connection whose bytes come in pieces cut at `cuts` (fractions).
    fn events(cuts: &[u16]) -> Vec<Event> {
        let mut ts = 1;
        let mut next = || {
            ts += 1_000;
            ts
        };
        let mut out = vec![Event::Connect(Connect {
            ts: next(),
            task: task(),
            fd: 3,
            peer: Some("10.0.0.1:80".parse().unwrap()),
            result: 0,
            sock: None,
        })];
        let mut cuts = cuts.iter().cycle();
        for (syscall, bytes) in [(Syscall::Write, REQUESTS), (Syscall::Read, RESPONSES)] {
            let mut pos = 0;
            while (pos as usize) < bytes.len() {
                let rest = &bytes[pos as usize..];
                let n = 1 + usize::from(*cuts.next().unwrap_or(&0)) % rest.len();
                out.push(Event::Data(Data {
                    ts: next(),
                    task: task(),
                    fd: 3,
                    syscall,
                    pos,
                    count: n as u64,
                    payload: Bytes(rest[..n].to_vec()),
                    truncated: false,
                }));
                pos += n as u64;
            }
        }
        // Go-style: getsockname only after the data.
        out.push(Event::Getsockname(Getsockname {
            ts: next(),
            task: task(),
            fd: 3,
            local: "10.0.0.2:4000".parse().unwrap(),
        }));
        out
    }

    /// The flows, without the times that differ between splits.
    fn flows(events: Vec<Event>) -> Vec<serde_json::Value> {
        let mut written: Vec<Flow> = Vec::new();
        let mut p = Pipeline::new(Config::default(), &mut written);
        for e in events {
            p.handle(e).unwrap();
        }
        let summary = p.finish().unwrap();
        assert_eq!(summary.flows_written, written.len() as u64);
        written
            .iter()
            .map(|f| {
                let mut v = serde_json::to_value(f).unwrap();
                v["request"]["time"] = serde_json::Value::Null;
                v["duration_us"] = serde_json::Value::Null;
                if v["response"].is_object() {
                    v["response"]["time"] = serde_json::Value::Null;
                }
                v
            })
            .collect()
    }

    #[test]
    fn bytes_lost_between_positions_are_counted_in_the_summary() {
        let mut all = events(&[3]);
        // A data event with others before and after it in its direction:
        // dropping it is a gap.
        let is_data = |e: &Event, dir| matches!(e, Event::Data(d) if d.direction() == dir);
        let at = (0..all.len())
            .find(|&i| {
                let Event::Data(d) = &all[i] else {
                    return false;
                };
                all[..i].iter().any(|e| is_data(e, d.direction()))
                    && all[i + 1..].iter().any(|e| is_data(e, d.direction()))
            })
            .unwrap();
        let Event::Data(dropped) = all.remove(at) else {
            unreachable!()
        };
        let mut written: Vec<Flow> = Vec::new();
        let mut p = Pipeline::new(Config::default(), &mut written);
        for e in all {
            p.handle(e).unwrap();
        }
        let summary = p.finish().unwrap();
        assert_eq!(summary.gap_bytes, dropped.count);
        assert_eq!(summary.gaps_unmeasured, 0);
        assert!(summary
            .to_string()
            .contains(&format!("{} bytes in gaps", dropped.count)));
    }

    #[test]
    fn json_lines_written_in_batches_are_all_out_at_finish() {
        let mut out = Vec::new();
        let mut p = Pipeline::new(Config::default(), crate::sink::JsonLines::new(&mut out));
        for e in events(&[u16::MAX]) {
            p.handle(e).unwrap();
        }
        let summary = p.finish().unwrap();
        let lines: Vec<serde_json::Value> = out
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect();
        assert_eq!(lines.len() as u64, summary.flows_written);
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[2]["incomplete"], "capture ended");
    }

    #[test]
    fn every_request_is_written_and_the_unanswered_one_says_why() {
        let got = flows(events(&[u16::MAX]));
        assert_eq!(got.len(), 3);
        assert_eq!(got[0]["response"]["body"]["text"], "A");
        assert_eq!(got[1]["request"]["body"]["text"], "abc");
        assert_eq!(got[2]["response"], serde_json::Value::Null);
        assert_eq!(got[2]["incomplete"], "capture ended");
        assert_eq!(got[0]["address_source"]["src"], "getsockname");
        assert_eq!(got[0]["src"]["port"], 4000);
    }

    #[test]
    fn overflow_events_reach_the_summary_line() {
        let mut written: Vec<Flow> = Vec::new();
        let mut p = Pipeline::new(Config::default(), &mut written);
        for (events, bytes) in [(3, 300), (5, 500)] {
            p.handle(Event::Overflow {
                ts: 1,
                budget: "held events of undecided containers".into(),
                events,
                bytes,
            })
            .unwrap();
        }
        let summary = p.finish().unwrap();
        assert_eq!(
            summary.held_over_budget,
            (5, 500),
            "cumulative: the last counts"
        );
        assert!(summary.to_string().contains(
            ", 5 events (500 bytes) of undecided containers over the hold budget dropped"
        ));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn any_split_of_the_byte_streams_gives_the_same_flows(cuts in proptest::collection::vec(any::<u16>(), 1..20)) {
            prop_assert_eq!(flows(events(&cuts)), flows(events(&[u16::MAX])));
        }
    }
}
