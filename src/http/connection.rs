//! One TCP connection's HTTP: a request decoder and a response decoder, and the
//! FIFO pairing of what they produce into exchanges.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use crate::event::{Direction, Nanos, Observer};

use super::budget::{BodyBudget, Drops};
use super::decoder::{Decoded, Decoder, Kind, Stop};
use super::h2;
use super::message::Message;
use super::sniff::{sniff, Sniff};

mod resync;

/// How much of an undecided direction we look at before calling it non-HTTP,
/// and the most it buffers: past it the buffered bytes are dropped (and counted).
const MAX_SNIFF: usize = 64 * 1024;
/// Requests (and early responses) waiting for their other half, in bytes, per
/// connection; past it the connection's parsing stops and they are written out.
pub const MAX_WAITING: usize = 8 << 20;
/// Boxes of room a done queue keeps when empty: what a first push allocates.
const KEPT_QUEUE: usize = 4;

/// A request and what answered it, or why nothing did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    pub observer: Observer,
    pub request: Message,
    pub response: Option<Message>,
    /// Why the exchange is not whole; None when both messages are complete.
    pub incomplete: Option<String>,
    /// Set when the exchange was an HTTP/2 stream.
    pub http2: Option<h2::Http2>,
}

#[derive(Debug)]
enum Piece {
    Bytes(Nanos, Vec<u8>),
    Uncaptured(Nanos, u64),
}

/// Bytes seen on one direction before we know which side is the client.
#[derive(Debug, Default)]
struct Undecided {
    pieces: Vec<Piece>,
    /// The captured prefix, up to the first uncaptured byte.
    prefix: Vec<u8>,
    has_hole: bool,
    /// Bytes in `pieces`.
    bytes: usize,
    /// The verdict once it cannot change; `prefix` is freed then.
    settled: Option<Sniff>,
}

/// The buffer decoders write into, shared by a pipeline's connections: what a
/// feed decodes is drained before it returns, so one buffer serves them all. A
/// buffer of each connection's own was an allocation a feed, or, kept, a KiB on
/// every idle connection.
#[derive(Debug, Clone, Default)]
pub struct DecodeScratch(Arc<Mutex<Vec<Decoded>>>);

impl DecodeScratch {
    /// What one burst of decoding may leave allocated (a feed of many pipelined
    /// requests decodes more, and that buffer is freed).
    const KEPT: usize = 64;

    fn take(&self) -> Vec<Decoded> {
        // A buffer in use (a drain that fed a decoder again) or poisoned: a new one.
        self.0
            .try_lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default()
    }

    fn give_back(&self, mut decoded: Vec<Decoded>) {
        decoded.clear();
        if decoded.capacity() > Self::KEPT {
            return;
        }
        if let Ok(mut kept) = self.0.try_lock() {
            if kept.capacity() < decoded.capacity() {
                *kept = decoded;
            }
        }
    }
}

#[derive(Debug)]
pub struct Connection {
    observer: Option<Observer>,
    undecided: [Undecided; 2],
    requests: Decoder,
    responses: Decoder,
    /// Boxed as the decoder made them: a queue of boxes keeps its few bytes
    /// of room between exchanges, where one of Messages was over a KiB to free
    /// and allocate again on every exchange.
    done_requests: VecDeque<Box<Message>>,
    done_responses: VecDeque<Box<Message>>,
    http_seen: bool,
    stopped: bool,
    scratch: DecodeScratch,
    /// What `done_requests` and `done_responses` hold, in bytes.
    waiting_bytes: usize,
    undecided_dropped: u64,
    waiting_overflows: u64,
    /// HTTP/2 switch: the probe looks at the first bytes, `h2` takes over for
    /// good once the connection turned out to speak HTTP/2.
    probe: Option<Box<h2::Probe>>,
    h2: Option<Box<h2::Connection>>,
    max_body: usize,
    /// More than one request was seen waiting while the responses were whole:
    /// after a gap nothing could be paired safely.
    pipelined: bool,
    /// Finding the way back after a gap (see `resync.rs`).
    resync: Option<Box<resync::Resync>>,
}

impl Connection {
    /// `observer` is the observing process's role when its syscalls told us
    /// (accept, connect); None lets the first request line decide.
    pub fn new(observer: Option<Observer>, max_body: usize) -> Self {
        Self::with_budget(observer, max_body, BodyBudget::unlimited())
    }

    /// As [`new`](Self::new), with bodies in progress held against `budget`.
    pub fn with_budget(observer: Option<Observer>, max_body: usize, budget: BodyBudget) -> Self {
        Self {
            observer,
            undecided: Default::default(),
            requests: Decoder::with_budget(Kind::Request, max_body, budget.clone()),
            responses: Decoder::with_budget(Kind::Response, max_body, budget),
            done_requests: VecDeque::new(),
            done_responses: VecDeque::new(),
            http_seen: false,
            stopped: false,
            scratch: DecodeScratch::default(),
            probe: Some(Box::default()),
            h2: None,
            max_body,
            waiting_bytes: 0,
            undecided_dropped: 0,
            waiting_overflows: 0,
            pipelined: false,
            resync: None,
        }
    }

    /// Decodes into `scratch`, shared with other connections, rather than a
    /// buffer of its own.
    pub fn sharing(mut self, scratch: &DecodeScratch) -> Self {
        self.scratch = scratch.clone();
        self
    }

    /// What this connection's byte budgets dropped so far.
    pub fn drops(&self) -> Drops {
        Drops {
            body_bytes: self.requests.dropped_body_bytes() + self.responses.dropped_body_bytes(),
            undecided_bytes: self.undecided_dropped,
            waiting_overflows: self.waiting_overflows,
        }
    }

    pub fn observer(&self) -> Option<Observer> {
        self.h2.as_ref().map_or(self.observer, |h2| h2.observer())
    }

    /// Bytes moved in `direction`: `payload` captured, then `uncaptured` more counted.
    pub fn feed(
        &mut self,
        direction: Direction,
        ts: Nanos,
        payload: &[u8],
        uncaptured: u64,
        out: &mut Vec<Exchange>,
    ) {
        if self.h2_feed(direction, ts, payload, uncaptured, out) {
            return;
        }
        if self.stopped {
            return;
        }
        match self.observer {
            Some(observer) => self.decode(observer, direction, ts, payload, uncaptured, out),
            None => self.sniff(direction, ts, payload, uncaptured, out),
        }
    }

    /// `lost` bytes in `direction` were never delivered (`None`: an unknown
    /// amount). Byte positions make the count exact, so when they all fall inside
    /// a body of known extent they are skipped like uncaptured bytes (the body is
    /// then truncated) and parsing goes on. Anywhere else nothing after can be
    /// paired safely, unless the connection can resynchronise (`resync.rs`).
    pub fn gap(
        &mut self,
        direction: Direction,
        ts: Nanos,
        lost: Option<u64>,
        out: &mut Vec<Exchange>,
    ) {
        if let Some(h2) = self.h2.as_mut() {
            return h2.gap(direction, ts, lost, out);
        }
        self.h2_release(out);
        if self.stopped {
            return;
        }
        if let (Some(observer), Some(n)) = (self.observer, lost) {
            let kind = Self::kind_of(observer, direction);
            let decoder = match kind {
                Kind::Request => &mut self.requests,
                Kind::Response => &mut self.responses,
            };
            if decoder.can_skip(n) {
                let mut decoded = self.scratch.take();
                decoder.skip(ts, n, &mut decoded);
                self.drain_decoded(kind, decoded, out);
                return;
            }
        }
        let amount = lost.map_or_else(|| "an unknown number of".to_string(), |n| n.to_string());
        let reason = format!("gap in captured bytes ({amount} bytes lost)");
        if let Some(observer) = self.observer {
            if self.resync_after_gap(Self::kind_of(observer, direction), &reason, out) {
                return;
            }
        }
        self.stop_with(&reason, out);
    }

    /// The connection is over (closed, aged out, capture ended): a response
    /// delimited by close completes; every other waiting request is written
    /// with `reason`.
    pub fn end(&mut self, ts: Nanos, reason: &str, out: &mut Vec<Exchange>) {
        if let Some(h2) = self.h2.as_mut() {
            return h2.end(ts, reason, out);
        }
        self.h2_release(out);
        if !self.stopped && self.observer.is_some() {
            let mut decoded = self.scratch.take();
            self.responses.close(ts, &mut decoded);
            self.drain_decoded(Kind::Response, decoded, out);
        }
        self.stop_with(reason, out);
    }

    fn kind_of(observer: Observer, direction: Direction) -> Kind {
        match (observer, direction) {
            (Observer::Client, Direction::Send) | (Observer::Server, Direction::Recv) => {
                Kind::Request
            }
            _ => Kind::Response,
        }
    }

    fn decode(
        &mut self,
        observer: Observer,
        direction: Direction,
        ts: Nanos,
        payload: &[u8],
        uncaptured: u64,
        out: &mut Vec<Exchange>,
    ) {
        let kind = Self::kind_of(observer, direction);
        if !self.resync_admits(kind, payload, out) {
            return;
        }
        if kind == Kind::Response
            && usize::from(self.responses.in_message()) + self.responses.waiting_requests() >= 2
        {
            // Whole responses while two requests wait: the client did not wait.
            self.pipelined = true;
        }
        let decoder = match kind {
            Kind::Request => &mut self.requests,
            Kind::Response => &mut self.responses,
        };
        let mut decoded = self.scratch.take();
        decoder.feed(ts, payload, &mut decoded);
        if kind == Kind::Request
            && decoded
                .iter()
                .filter(|d| matches!(d, Decoded::RequestStarted { .. }))
                .count()
                >= 2
        {
            // Two request heads in one syscall: sent without waiting for an answer.
            self.pipelined = true;
        }
        if uncaptured > 0 {
            decoder.skip(ts, uncaptured, &mut decoded);
        }
        self.drain_decoded(kind, decoded, out);
        if kind == Kind::Response {
            self.h2_after_upgrade(direction, ts, payload, uncaptured, out);
        }
    }

    fn drain_decoded(&mut self, kind: Kind, mut decoded: Vec<Decoded>, out: &mut Vec<Exchange>) {
        for d in decoded.drain(..) {
            if self.stopped {
                break;
            }
            match d {
                Decoded::RequestStarted { method } => {
                    self.http_seen = true;
                    self.responses.expect_response_to(method);
                }
                Decoded::Message(m) => {
                    self.http_seen = true;
                    match (kind, self.observer) {
                        // The usual answer: paired at once, never queued (a queue
                        // is freed when empty, so queueing it cost an allocation).
                        (Kind::Response, Some(observer))
                            if self.done_responses.is_empty() && !self.done_requests.is_empty() =>
                        {
                            if let Some(request) = self.done_requests.pop_front() {
                                self.waiting_bytes =
                                    self.waiting_bytes.saturating_sub(request.held_bytes());
                                self.answer(observer, *request, *m, out);
                            }
                            self.free_empty_queues();
                        }
                        _ => {
                            self.waiting_bytes += m.held_bytes();
                            match kind {
                                Kind::Request => self.done_requests.push_back(m),
                                Kind::Response => self.done_responses.push_back(m),
                            }
                            self.pair(out);
                        }
                    }
                }
                Decoded::Stopped(Stop::NotHttp) if !self.http_seen => self.stopped = true,
                Decoded::Stopped(Stop::NotHttp) => self.stop_with("not HTTP", out),
                Decoded::Stopped(Stop::Malformed(why)) => {
                    self.stop_with(&format!("malformed HTTP: {why}"), out)
                }
                Decoded::Stopped(Stop::Uncaptured(what)) => {
                    self.stop_with(&format!("bytes not captured in {what}"), out)
                }
            }
            if self.waiting_bytes + self.responses.waiting_method_bytes() > MAX_WAITING {
                self.waiting_overflows += 1;
                self.stop_with(
                    "requests waiting for responses passed the connection's 8 MiB budget",
                    out,
                );
            }
        }
        self.scratch.give_back(decoded);
    }

    fn pair(&mut self, out: &mut Vec<Exchange>) {
        let Some(observer) = self.observer else {
            return;
        };
        while !self.done_requests.is_empty() && !self.done_responses.is_empty() {
            let (Some(request), Some(response)) = (
                self.done_requests.pop_front(),
                self.done_responses.pop_front(),
            ) else {
                return;
            };
            self.waiting_bytes =
                (self.waiting_bytes).saturating_sub(request.held_bytes() + response.held_bytes());
            if !self.answer(observer, *request, *response, out) {
                return;
            }
        }
        self.free_empty_queues();
    }

    /// Writes a request and its response (or switches protocol); false when
    /// nothing after it is to be paired.
    fn answer(
        &mut self,
        observer: Observer,
        request: Message,
        response: Message,
        out: &mut Vec<Exchange>,
    ) -> bool {
        let incomplete = (request.body.over_budget || response.body.over_budget)
            .then(|| "body cut short: bodies in progress passed --body-budget".to_string());
        if response
            .tunnel
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case("h2c"))
        {
            self.h2_upgrade(observer, request);
            return false;
        }
        let tunnel = response.tunnel.is_some()
            || request
                .request()
                .is_some_and(|r| r.method.eq_ignore_ascii_case("CONNECT"));
        self.write_paired(
            Exchange {
                observer,
                request,
                response: Some(response),
                incomplete,
                http2: None,
            },
            out,
        );
        if tunnel {
            // What follows is another protocol (or, after a refused CONNECT,
            // nothing we could frame).
            self.stop_with("protocol switched", out);
            return false;
        }
        true
    }

    /// A queue keeps its capacity. Room for a few boxes (32 bytes) stays for
    /// the next exchange; a queue that grew past that (pipelined requests) is
    /// freed once empty, so that idle keep-alive connections hold little.
    fn free_empty_queues(&mut self) {
        for queue in [&mut self.done_requests, &mut self.done_responses] {
            if queue.is_empty() && queue.capacity() > KEPT_QUEUE {
                queue.shrink_to_fit();
            }
        }
    }

    fn stop_with(&mut self, reason: &str, out: &mut Vec<Exchange>) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        self.resync_give_up(out);
        let Some(observer) = self.observer else {
            return;
        };
        let mut requests = std::mem::take(&mut self.done_requests);
        requests.extend(self.requests.take_partial());
        let mut responses = std::mem::take(&mut self.done_responses);
        responses.extend(self.responses.take_partial());
        for request in requests {
            let response = responses.pop_front();
            // An early answer (400, 413) to a request whose body then stopped.
            let early = !request.complete && response.as_ref().is_some_and(|r| r.complete);
            let incomplete = if early {
                "request cut short after an early response".to_string()
            } else {
                reason.to_string()
            };
            out.push(Exchange {
                observer,
                request: *request,
                response: response.map(|r| *r),
                incomplete: Some(incomplete),
                http2: None,
            });
        }
    }

    fn sniff(
        &mut self,
        direction: Direction,
        ts: Nanos,
        payload: &[u8],
        uncaptured: u64,
        out: &mut Vec<Exchange>,
    ) {
        let this = &mut self.undecided[direction.index()];
        this.bytes += payload.len();
        if this.bytes > MAX_SNIFF {
            // Undecided this long (a response whose request came before capture,
            // and a silent other side): what is held can never be decoded.
            let held: usize = self.undecided.iter().map(|u| u.bytes).sum();
            self.undecided_dropped += held as u64;
            self.stopped = true;
            self.undecided = Default::default();
            return;
        }
        if !this.has_hole && this.settled.is_none() {
            this.prefix.extend_from_slice(payload);
        }
        this.pieces.push(Piece::Bytes(ts, payload.to_vec()));
        if uncaptured > 0 {
            this.has_hole = true;
            this.pieces.push(Piece::Uncaptured(ts, uncaptured));
        }
        let mine = self.verdict(direction);
        let other = match direction {
            Direction::Send => Direction::Recv,
            Direction::Recv => Direction::Send,
        };
        let theirs = self.verdict(other);
        let requests_go = match (mine, theirs) {
            (Sniff::Request, _) => direction,
            (_, Sniff::Request) => other,
            // Joined mid-message (the socket was open before capture): "not HTTP"
            // is never final. This direction starts again from its next piece,
            // which may begin a message head.
            (Sniff::NotHttp, _) => {
                self.undecided[direction.index()] = Undecided::default();
                return;
            }
            (_, Sniff::NotHttp) => {
                self.undecided[other.index()] = Undecided::default();
                return;
            }
            (Sniff::Response, Sniff::Response) => {
                self.stopped = true;
                self.undecided = Default::default();
                return;
            }
            _ => return,
        };
        let observer = match requests_go {
            Direction::Send => Observer::Client,
            Direction::Recv => Observer::Server,
        };
        self.observer = Some(observer);
        // Requests first: a response is framed by its request's method.
        let mut undecided = std::mem::take(&mut self.undecided);
        Self::answers_after(&mut undecided, requests_go);
        let [send, recv] = undecided;
        let (first, second) = match requests_go {
            Direction::Send => ((Direction::Send, send), (Direction::Recv, recv)),
            Direction::Recv => ((Direction::Recv, recv), (Direction::Send, send)),
        };
        for (dir, side) in [first, second] {
            for piece in side.pieces {
                match piece {
                    Piece::Bytes(ts, bytes) => self.feed(dir, ts, &bytes, 0, out),
                    Piece::Uncaptured(ts, n) => self.feed(dir, ts, &[], n, out),
                }
            }
        }
    }

    /// Pairing by time order: what the response side held from before the first
    /// request seen answered requests that were not seen, so it goes. What is
    /// left must start a response head, or it goes too (never a mispairing).
    fn answers_after(undecided: &mut [Undecided; 2], requests_go: Direction) {
        let first_request = undecided[requests_go.index()]
            .pieces
            .first()
            .map_or(Nanos::MAX, |p| match p {
                Piece::Bytes(ts, _) | Piece::Uncaptured(ts, _) => *ts,
            });
        let responses = &mut undecided[1 - requests_go.index()];
        responses.pieces.retain(|p| match p {
            Piece::Bytes(ts, _) | Piece::Uncaptured(ts, _) => *ts >= first_request,
        });
        let starts_a_head = matches!(
            responses.pieces.first(),
            Some(Piece::Bytes(_, bytes)) if sniff(bytes) == Sniff::Response
        );
        if !starts_a_head {
            responses.pieces.clear();
        }
    }

    fn verdict(&mut self, direction: Direction) -> Sniff {
        let side = &mut self.undecided[direction.index()];
        if let Some(v) = side.settled {
            return v;
        }
        let v = match sniff(&side.prefix) {
            Sniff::NeedMore if side.has_hole || side.prefix.len() > MAX_SNIFF => Sniff::NotHttp,
            v => v,
        };
        if v != Sniff::NeedMore {
            // More bytes cannot change a verdict: the pieces are the one copy now.
            side.settled = Some(v);
            side.prefix = Vec::new();
        }
        v
    }
}

// ---- The HTTP/2 switch: which protocol the connection speaks. ----
impl Connection {
    /// Routes bytes to HTTP/2 when the connection speaks it, or holds them while
    /// the probe decides; false when HTTP/1 should take them.
    fn h2_feed(
        &mut self,
        direction: Direction,
        ts: Nanos,
        payload: &[u8],
        uncaptured: u64,
        out: &mut Vec<Exchange>,
    ) -> bool {
        if let Some(h2) = self.h2.as_mut() {
            h2.feed(direction, ts, payload, uncaptured, out);
            return true;
        }
        let Some(probe) = self.probe.as_mut() else {
            return false;
        };
        let (mut h2, held) = match probe.feed(direction, ts, payload, uncaptured) {
            h2::Verdict::Hold => return true,
            h2::Verdict::Pass => {
                self.probe = None;
                return false;
            }
            h2::Verdict::Http1(held) => {
                self.probe = None;
                self.feed_pieces(held, out);
                return true;
            }
            h2::Verdict::Preface { client, held } => (
                h2::Connection::new(self.observer, client, self.max_body),
                held,
            ),
            h2::Verdict::Joined(held) => {
                (h2::Connection::joined(self.observer, self.max_body), held)
            }
        };
        self.probe = None;
        for p in held {
            h2.feed(p.direction, p.ts, &p.payload, p.uncaptured, out);
        }
        self.h2 = Some(Box::new(h2));
        true
    }

    /// A gap or the end came while the probe held bytes: HTTP/1 takes them.
    fn h2_release(&mut self, out: &mut Vec<Exchange>) {
        if let Some(mut probe) = self.probe.take() {
            self.feed_pieces(probe.release(), out);
        }
    }

    fn feed_pieces(&mut self, pieces: Vec<h2::Piece>, out: &mut Vec<Exchange>) {
        for p in pieces {
            self.feed(p.direction, p.ts, &p.payload, p.uncaptured, out);
        }
    }

    /// `Upgrade: h2c` answered by 101: the request becomes stream 1.
    fn h2_upgrade(&mut self, observer: Observer, request: Message) {
        self.h2 = Some(Box::new(h2::Connection::upgraded(
            observer,
            request,
            self.max_body,
        )));
        self.stopped = true;
    }

    /// The server's first frames may share the read that carried its 101.
    fn h2_after_upgrade(
        &mut self,
        direction: Direction,
        ts: Nanos,
        payload: &[u8],
        uncaptured: u64,
        out: &mut Vec<Exchange>,
    ) {
        if self.h2.is_none() || !self.stopped {
            return;
        }
        let Some(h2) = self.h2.as_mut() else {
            return;
        };
        if let Some(at) = h2::after_101(payload) {
            h2.feed(direction, ts, &payload[at..], uncaptured, out);
        } else if uncaptured > 0 {
            h2.feed(direction, ts, &[], uncaptured, out);
        }
    }
}
