//! One HTTP/2 connection: a frame reader and an HPACK decoder per direction,
//! header blocks assembled across CONTINUATION, and streams stitched into
//! exchanges as they finish, are reset, or the connection ends.

use std::collections::BTreeMap;

use crate::event::Observer;
use crate::event::{Direction, Nanos};
use crate::http::message::Message;
use crate::http::Exchange;

use super::frame::{self, FrameHeader, FrameReader, Unit};
use super::grpc::{self, Call};
use super::hpack;
use super::stream::{Block, Stream};
use super::Http2;

/// Most header block bytes assembled per direction (HEADERS plus CONTINUATION).
pub const HEADER_BLOCK_BUDGET: usize = 256 * 1024;
/// Most streams followed at once per connection; more are written at once as
/// not followed.
pub const MAX_STREAMS: usize = 1024;
/// Most body bytes kept across all open streams of a connection.
pub const BODY_BUDGET: usize = 32 << 20;

/// A header block being assembled.
#[derive(Debug)]
struct Pending {
    stream: u32,
    /// PUSH_PROMISE: the promised stream.
    promised: Option<u32>,
    end_stream: bool,
    bytes: Vec<u8>,
    lost: bool,
}

#[derive(Debug)]
struct Side {
    reader: FrameReader,
    hpack: hpack::Decoder,
    pending: Option<Pending>,
}

#[derive(Debug)]
pub struct Connection {
    observer: Option<Observer>,
    max_body: usize,
    sides: [Side; 2],
    streams: BTreeMap<u32, Stream>,
    /// Highest stream id opened, per initiator (client, server): frames for a
    /// stream at or below it that we do not follow belong to a finished one.
    highest: [u32; 2],
    kept: usize,
    /// Body bytes not kept because of [`BODY_BUDGET`].
    pub over_budget: u64,
    /// Streams written as not followed because of [`MAX_STREAMS`].
    pub streams_dropped: u64,
    goaway: Option<String>,
    /// While a gap is applied: what to tell the streams it ends.
    gap_reason: Option<String>,
    stopped: bool,
    units: Vec<Unit>,
}

impl Connection {
    /// From the connection's first byte: `client` is the direction that sent the preface.
    pub fn new(observer: Option<Observer>, client: Direction, max_body: usize) -> Self {
        let mut c = Self::with(observer, max_body, FrameReader::server, hpack::Decoder::new);
        c.sides[client.index()].reader = FrameReader::client();
        c.observer = observer.or(Some(match client {
            Direction::Send => Observer::Client,
            Direction::Recv => Observer::Server,
        }));
        c
    }

    /// Joined mid-way: frame boundaries and table entries from before are unknown.
    pub fn joined(observer: Option<Observer>, max_body: usize) -> Self {
        Self::with(
            observer,
            max_body,
            FrameReader::joined,
            hpack::Decoder::joined,
        )
    }

    /// After an HTTP/1.1 `Upgrade: h2c` answered by 101: `request` is stream 1's,
    /// the client's preface comes next, the server's frames follow its 101.
    pub fn upgraded(observer: Observer, request: Message, max_body: usize) -> Self {
        let client = match observer {
            Observer::Client => Direction::Send,
            Observer::Server => Direction::Recv,
        };
        let mut c = Self::new(Some(observer), client, max_body);
        let mut s = Stream::new(1);
        if let Some(r) = request.request() {
            s.path = r.target.to_string();
            s.authority = crate::http::header(&r.headers, "host").map(str::to_string);
        }
        s.request.message = Some(request);
        s.request.done = true;
        c.streams.insert(1, s);
        c.highest[0] = 1;
        c
    }

    fn with(
        observer: Option<Observer>,
        max_body: usize,
        reader: fn() -> FrameReader,
        hpack: fn() -> hpack::Decoder,
    ) -> Self {
        let side = || Side {
            reader: reader(),
            hpack: hpack(),
            pending: None,
        };
        Connection {
            observer,
            max_body,
            sides: [side(), side()],
            streams: BTreeMap::new(),
            highest: [0, 0],
            kept: 0,
            over_budget: 0,
            streams_dropped: 0,
            goaway: None,
            gap_reason: None,
            stopped: false,
            units: Vec::new(),
        }
    }

    pub fn observer(&self) -> Option<Observer> {
        self.observer
    }

    pub fn feed(
        &mut self,
        direction: Direction,
        ts: Nanos,
        payload: &[u8],
        uncaptured: u64,
        out: &mut Vec<Exchange>,
    ) {
        if self.stopped {
            return;
        }
        let mut units = std::mem::take(&mut self.units);
        let reader = &mut self.sides[direction.index()].reader;
        reader.feed(payload, &mut units);
        if uncaptured > 0 {
            reader.skip(uncaptured, &mut units);
        }
        self.apply(direction, ts, &mut units, out);
        self.units = units;
    }

    /// `lost` bytes in `direction` never arrived (None: unknown how many).
    pub fn gap(
        &mut self,
        direction: Direction,
        ts: Nanos,
        lost: Option<u64>,
        out: &mut Vec<Exchange>,
    ) {
        if self.stopped {
            return;
        }
        let mut units = std::mem::take(&mut self.units);
        let reader = &mut self.sides[direction.index()].reader;
        match lost {
            Some(n) => reader.skip(n, &mut units),
            // An unknown amount can't be skipped inside a frame.
            None => reader.lose_sync(&mut units),
        }
        let amount = lost.map_or_else(|| "an unknown number of".to_string(), |n| n.to_string());
        self.gap_reason = Some(format!("gap in captured bytes ({amount} bytes lost)"));
        self.apply(direction, ts, &mut units, out);
        self.gap_reason = None;
        self.units = units;
    }

    /// The connection is over: every stream still open is written with `reason`.
    pub fn end(&mut self, _ts: Nanos, reason: &str, out: &mut Vec<Exchange>) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        let reason = match &self.goaway {
            Some(g) => format!("stream not finished: {reason} (after {g})"),
            None => format!("stream not finished: {reason}"),
        };
        for (_, s) in std::mem::take(&mut self.streams) {
            self.write(s, Some(&reason), out);
        }
    }

    /// Which direction carries requests, if known.
    fn requests_go(&self) -> Option<Direction> {
        self.observer.map(|o| match o {
            Observer::Client => Direction::Send,
            Observer::Server => Direction::Recv,
        })
    }

    fn apply(
        &mut self,
        direction: Direction,
        ts: Nanos,
        units: &mut Vec<Unit>,
        out: &mut Vec<Exchange>,
    ) {
        for unit in units.drain(..) {
            if self.stopped {
                break;
            }
            match unit {
                Unit::Frame(h, payload) => self.frame(direction, ts, h, payload, out),
                Unit::Data { stream, bytes } => {
                    self.data(direction, stream, |body, room| body.push(&bytes, room))
                }
                Unit::DataSkipped { stream, n } => {
                    self.data(direction, stream, |body, _| body.skip(n))
                }
                Unit::DataEnd { stream, end_stream } => {
                    if end_stream {
                        self.end_half(direction, stream, ts, out);
                    }
                }
                Unit::FrameLost(h) => self.frame_lost(direction, h, out),
                Unit::Desync => self.desync(direction, out),
                Unit::Synced => {}
                Unit::NotHttp2 => {
                    // The preface was wrong after all: nothing here is ours.
                    self.stopped = true;
                    self.streams.clear();
                }
            }
        }
    }

    fn frame(
        &mut self,
        direction: Direction,
        ts: Nanos,
        h: FrameHeader,
        payload: Vec<u8>,
        out: &mut Vec<Exchange>,
    ) {
        let side = &mut self.sides[direction.index()];
        if let Some(p) = &side.pending {
            if h.kind != frame::CONTINUATION || h.stream != p.stream {
                // A block cut off by another frame: a protocol error, and the
                // table may have missed insertions.
                let stream = p.stream;
                side.pending = None;
                side.hpack.forget();
                self.headers_lost(direction, stream, false, ts, out);
            }
        }
        match h.kind {
            frame::HEADERS | frame::PUSH_PROMISE => {
                let promise = h.kind == frame::PUSH_PROMISE;
                match fragment(&h, &payload, promise) {
                    Some((promised, bytes)) => {
                        self.sides[direction.index()].pending = Some(Pending {
                            stream: h.stream,
                            promised,
                            end_stream: h.has(frame::END_STREAM),
                            bytes: bytes.to_vec(),
                            lost: bytes.len() > HEADER_BLOCK_BUDGET,
                        });
                        if h.has(frame::END_HEADERS) {
                            self.block_done(direction, ts, out);
                        }
                    }
                    None => {
                        self.sides[direction.index()].hpack.forget();
                        self.headers_lost(direction, h.stream, h.has(frame::END_STREAM), ts, out);
                    }
                }
            }
            frame::CONTINUATION => {
                let side = &mut self.sides[direction.index()];
                let Some(p) = side.pending.as_mut() else {
                    // The block began before capture (or in a gap).
                    side.hpack.forget();
                    return;
                };
                if p.bytes.len() + payload.len() > HEADER_BLOCK_BUDGET {
                    p.lost = true;
                    p.bytes = Vec::new();
                } else if !p.lost {
                    p.bytes.extend_from_slice(&payload);
                }
                if h.has(frame::END_HEADERS) {
                    self.block_done(direction, ts, out);
                }
            }
            frame::RST_STREAM => {
                let code = be32(&payload).unwrap_or(u32::MAX);
                self.reset(direction, h.stream, code, out);
            }
            frame::GOAWAY => {
                let last = be32(&payload).map_or(u32::MAX, |l| l & 0x7fff_ffff);
                let code = be32(payload.get(4..).unwrap_or_default()).unwrap_or(u32::MAX);
                self.go_away(direction, last, code, out);
            }
            // SETTINGS, PING, PRIORITY, WINDOW_UPDATE and unknown types carry
            // nothing a flow shows; the frame reader has checked their framing.
            _ => {}
        }
    }

    fn frame_lost(&mut self, direction: Direction, h: FrameHeader, out: &mut Vec<Exchange>) {
        match h.kind {
            frame::HEADERS | frame::PUSH_PROMISE => {
                let side = &mut self.sides[direction.index()];
                side.pending = Some(Pending {
                    stream: h.stream,
                    // A lost promise names no stream we could follow.
                    promised: (h.kind == frame::PUSH_PROMISE).then_some(0),
                    end_stream: h.has(frame::END_STREAM),
                    bytes: Vec::new(),
                    lost: true,
                });
                if h.has(frame::END_HEADERS) {
                    self.block_done(direction, 0, out);
                }
            }
            frame::CONTINUATION => {
                let side = &mut self.sides[direction.index()];
                match side.pending.as_mut() {
                    Some(p) => p.lost = true,
                    None => side.hpack.forget(),
                }
                if h.has(frame::END_HEADERS) {
                    self.block_done(direction, 0, out);
                }
            }
            _ => {}
        }
    }

    fn block_done(&mut self, direction: Direction, ts: Nanos, out: &mut Vec<Exchange>) {
        let side = &mut self.sides[direction.index()];
        let Some(p) = side.pending.take() else {
            return;
        };
        let fields = if p.lost {
            None
        } else {
            side.hpack.decode(&p.bytes).ok()
        };
        let Some(fields) = fields else {
            side.hpack.forget();
            if p.promised.is_some() {
                // The promised stream is not followed; its parent is untouched.
                return;
            }
            return self.headers_lost(direction, p.stream, p.end_stream, ts, out);
        };
        let block = Block::from_fields(fields);
        if let Some(promised) = p.promised {
            // A server push: the request is the promise, the response comes on
            // the promised stream.
            if promised > self.highest[1] && self.streams.len() < MAX_STREAMS {
                self.highest[1] = promised;
                let mut s = Stream::new(promised);
                s.set_request(block, ts);
                s.request.done = true;
                if let Some(m) = &mut s.request.message {
                    m.complete = true;
                }
                self.streams.insert(promised, s);
            }
            return;
        }
        if self.observer.is_none() {
            // Joined with neither role known: a request block names its side.
            let requests = if block.is_request() {
                direction
            } else if block.status.is_some() {
                other(direction)
            } else {
                return;
            };
            self.observer = Some(match requests {
                Direction::Send => Observer::Client,
                Direction::Recv => Observer::Server,
            });
        }
        let requests = self.requests_go() == Some(direction);
        let id = p.stream;
        if let Some(s) = self.streams.get_mut(&id) {
            if requests {
                s.request_trailers(block);
            } else {
                s.response_block(block, ts);
            }
        } else if requests && id % 2 == 1 && id > self.highest[0] {
            self.highest[0] = id;
            let mut s = Stream::new(id);
            s.set_request(block, ts);
            if !self.open(s, out) {
                return;
            }
        } else {
            // A stream opened before capture, or one already written.
            return;
        }
        if p.end_stream {
            self.end_half(direction, id, ts, out);
        }
    }

    /// Starts following `s`; false when over [`MAX_STREAMS`] (it is written at once).
    fn open(&mut self, mut s: Stream, out: &mut Vec<Exchange>) -> bool {
        if self.streams.len() >= MAX_STREAMS {
            self.streams_dropped += 1;
            s.problem = Some(format!(
                "not followed: more than {MAX_STREAMS} streams open on the connection"
            ));
            self.write(s, None, out);
            return false;
        }
        self.streams.insert(s.id, s);
        true
    }

    /// A header block of stream `id` could not be read.
    fn headers_lost(
        &mut self,
        direction: Direction,
        id: u32,
        end_stream: bool,
        ts: Nanos,
        out: &mut Vec<Exchange>,
    ) {
        let requests = self.requests_go() == Some(direction);
        match self.streams.get_mut(&id) {
            Some(s) => s.headers_lost = true,
            None if requests && id % 2 == 1 && id > self.highest[0] => {
                self.highest[0] = id;
                let mut s = Stream::new(id);
                s.set_request(Block::default(), ts);
                s.headers_lost = true;
                if !self.open(s, out) {
                    return;
                }
            }
            None => return,
        }
        if end_stream {
            self.end_half(direction, id, ts, out);
        }
    }

    fn data(
        &mut self,
        direction: Direction,
        id: u32,
        f: impl FnOnce(&mut crate::http::Body, usize),
    ) {
        let requests = self.requests_go() == Some(direction);
        let Some(s) = self.streams.get_mut(&id) else {
            return;
        };
        let Some(m) = s.half(requests).message.as_mut() else {
            return;
        };
        let (kept, size) = (m.body.kept.len(), m.body.size);
        let room = self
            .max_body
            .min(kept + BODY_BUDGET.saturating_sub(self.kept));
        f(&mut m.body, room);
        let added = m.body.kept.len() - kept;
        self.kept += added;
        if room < self.max_body {
            self.over_budget += (m.body.size - size).saturating_sub(added as u64);
        }
    }

    fn end_half(&mut self, direction: Direction, id: u32, ts: Nanos, out: &mut Vec<Exchange>) {
        let requests = self.requests_go() == Some(direction);
        let Some(s) = self.streams.get_mut(&id) else {
            return;
        };
        let half = s.half(requests);
        half.done = true;
        if let Some(m) = &mut half.message {
            m.end = ts;
            m.complete = true;
        }
        if s.is_done() {
            if let Some(s) = self.streams.remove(&id) {
                self.write(s, None, out);
            }
        }
    }

    fn reset(&mut self, direction: Direction, id: u32, code: u32, out: &mut Vec<Exchange>) {
        let Some(mut s) = self.streams.remove(&id) else {
            return;
        };
        // A server may end a stream it answered in full with NO_ERROR rather
        // than read the rest of the request.
        if !(code == 0 && s.response.done) {
            let by = self.side_name(direction);
            s.problem = Some(format!("stream reset by the {by} ({})", error_name(code)));
        }
        self.write(s, None, out);
    }

    fn go_away(&mut self, direction: Direction, last: u32, code: u32, out: &mut Vec<Exchange>) {
        let by = self.side_name(direction);
        let what = format!(
            "GOAWAY from the {by} ({}, last stream {last})",
            error_name(code)
        );
        // Streams the receiver opened above `last` were never processed.
        let receiver_parity = if by == "server" { 1 } else { 0 };
        let refused: Vec<u32> = self
            .streams
            .range(last.saturating_add(1)..)
            .map(|(id, _)| *id)
            .filter(|id| id % 2 == receiver_parity)
            .collect();
        for id in refused {
            if let Some(mut s) = self.streams.remove(&id) {
                s.problem = Some(format!("not processed: {what}"));
                self.write(s, None, out);
            }
        }
        self.goaway = Some(what);
    }

    /// Every stream the lost bytes could have touched ends here.
    fn desync(&mut self, direction: Direction, out: &mut Vec<Exchange>) {
        let side = &mut self.sides[direction.index()];
        side.pending = None;
        side.hpack.forget();
        let requests = self.requests_go() == Some(direction);
        let why = self
            .gap_reason
            .clone()
            .unwrap_or_else(|| "HTTP/2 framing lost (malformed frame)".to_string());
        let touched: Vec<u32> = self
            .streams
            .iter()
            .filter(|(_, s)| {
                if requests {
                    !s.request.done
                } else {
                    !s.response.done
                }
            })
            .map(|(id, _)| *id)
            .collect();
        for id in touched {
            if let Some(mut s) = self.streams.remove(&id) {
                s.problem = Some(why.clone());
                self.write(s, None, out);
            }
        }
    }

    fn side_name(&self, direction: Direction) -> &'static str {
        if self.requests_go() == Some(direction) {
            "client"
        } else {
            "server"
        }
    }

    fn write(&mut self, mut s: Stream, ended: Option<&str>, out: &mut Vec<Exchange>) {
        let Some(observer) = self.observer else {
            return;
        };
        let Some(mut request) = s.request.message.take() else {
            return;
        };
        let mut response = s.response.message.take();
        for (m, done) in [
            (Some(&mut request), s.request.done),
            (response.as_mut(), s.response.done),
        ] {
            if let Some(m) = m {
                self.kept = self.kept.saturating_sub(m.body.kept.len());
                if !done {
                    m.complete = false;
                    m.body.truncated = true;
                }
            }
        }
        let ended = if s.is_done() {
            None
        } else {
            Some(ended.unwrap_or("stream not finished"))
        };
        let incomplete = s.incomplete(ended);
        let grpc = request
            .request()
            .filter(|r| grpc::is_grpc(&r.headers))
            .map(|r| {
                grpc::describe(Call {
                    path: &s.path,
                    request_headers: &r.headers,
                    request_body: &request.body,
                    response: response
                        .as_ref()
                        .map(|m| (m.head.headers(), &m.body, &m.trailers)),
                })
            });
        out.push(Exchange {
            observer,
            request,
            response,
            incomplete,
            http2: Some(Http2 {
                stream_id: s.id,
                authority: s.authority,
                grpc,
            }),
        });
    }
}

fn other(d: Direction) -> Direction {
    match d {
        Direction::Send => Direction::Recv,
        Direction::Recv => Direction::Send,
    }
}

fn be32(b: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(..4)?.try_into().ok()?))
}

/// A HEADERS or PUSH_PROMISE payload's header block fragment (and the promised
/// stream), without padding and priority; None when the lengths don't add up.
fn fragment<'p>(
    h: &FrameHeader,
    payload: &'p [u8],
    promise: bool,
) -> Option<(Option<u32>, &'p [u8])> {
    let mut p = payload;
    let mut pad = 0usize;
    if h.has(frame::PADDED) {
        let (&n, rest) = p.split_first()?;
        pad = usize::from(n);
        p = rest;
    }
    let mut promised = None;
    if promise {
        promised = Some(be32(p)? & 0x7fff_ffff);
        p = p.get(4..)?;
    } else if h.has(frame::PRIORITY_FLAG) {
        p = p.get(5..)?;
    }
    let end = p.len().checked_sub(pad)?;
    Some((promised, &p[..end]))
}

/// RFC 9113 section 7.
pub fn error_name(code: u32) -> String {
    let name = match code {
        0x0 => "NO_ERROR",
        0x1 => "PROTOCOL_ERROR",
        0x2 => "INTERNAL_ERROR",
        0x3 => "FLOW_CONTROL_ERROR",
        0x4 => "SETTINGS_TIMEOUT",
        0x5 => "STREAM_CLOSED",
        0x6 => "FRAME_SIZE_ERROR",
        0x7 => "REFUSED_STREAM",
        0x8 => "CANCEL",
        0x9 => "COMPRESSION_ERROR",
        0xa => "CONNECT_ERROR",
        0xb => "ENHANCE_YOUR_CALM",
        0xc => "INADEQUATE_SECURITY",
        0xd => "HTTP_1_1_REQUIRED",
        _ => return format!("error 0x{code:x}"),
    };
    name.to_string()
}
