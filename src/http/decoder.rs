//! An incremental HTTP/1.x decoder for one direction of a connection: bytes go in
//! as they come, split anywhere; whole messages come out. Heads are parsed by
//! httparse, bodies are framed as RFC 9112 section 6 says.

use std::collections::VecDeque;
use std::mem::MaybeUninit;

use compact_str::CompactString;

use crate::event::Nanos;

use super::budget::BodyBudget;
use super::framing::{anomalies, request_framing, response_framing, Framing, FramingFields};
use super::message::{Body, Head, Headers, Message, RequestHead, ResponseHead};

/// Longest head (or chunk-size line, or trailer section) we buffer before giving up.
const MAX_HEAD: usize = 64 * 1024;
const MAX_HEADERS: usize = 128;
/// What a waiting method costs beyond its text (its CompactString and queue slot).
pub(super) const METHOD_OVERHEAD: usize = 32;

/// Which kind of message this direction carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Request,
    Response,
}

/// Why a direction stopped decoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// The very first bytes were not HTTP: not an error, just not ours.
    NotHttp,
    /// HTTP went wrong after it had started.
    Malformed(String),
    /// Bytes the kernel did not copy fell where framing needed them.
    Uncaptured(&'static str),
}

/// What decoding produced.
// Decoded values live only from a feed to the drain that follows it: boxing the
// message would cost an allocation per message for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// A request head was parsed: its response will be framed by this method.
    RequestStarted {
        method: CompactString,
    },
    Message(Box<Message>),
    Stopped(Stop),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Head,
    Length(u64),
    ChunkSize,
    ChunkData(u64),
    ChunkDataEnd,
    Trailers,
    UntilClose,
    Stopped,
}

#[derive(Debug)]
pub struct Decoder {
    kind: Kind,
    max_body: usize,
    state: State,
    /// Head, chunk-size line or trailer bytes not yet parsed.
    buf: Vec<u8>,
    buf_start: Nanos,
    /// The message whose head is parsed and whose body is in progress.
    /// Boxed: a message is about 260 bytes, and a connection has two decoders
    /// that hold none between messages (an idle keep-alive connection).
    current: Option<Box<Message>>,
    /// Responses only: methods of requests still waiting for a final response.
    methods: VecDeque<CompactString>,
    /// A CONNECT request ends request parsing: what follows is the tunnel, or the
    /// connection ends.
    stop_after_message: bool,
    started: bool,
    /// Shared by every connection's bodies in progress.
    budget: BodyBudget,
    /// Body bytes the budget refused.
    dropped_body_bytes: u64,
    /// What `methods` holds, in bytes.
    method_bytes: usize,
}

impl Decoder {
    pub fn new(kind: Kind, max_body: usize) -> Self {
        Self::with_budget(kind, max_body, BodyBudget::unlimited())
    }

    /// As [`new`](Self::new), with body bytes in progress held against `budget`.
    pub fn with_budget(kind: Kind, max_body: usize, budget: BodyBudget) -> Self {
        Self {
            kind,
            max_body,
            state: State::Head,
            buf: Vec::new(),
            buf_start: 0,
            current: None,
            methods: VecDeque::new(),
            stop_after_message: false,
            started: false,
            budget,
            dropped_body_bytes: 0,
            method_bytes: 0,
        }
    }

    /// Body bytes the shared budget refused so far.
    pub fn dropped_body_bytes(&self) -> u64 {
        self.dropped_body_bytes
    }

    /// Bytes of request methods still waiting for a response (responses only).
    pub fn waiting_method_bytes(&self) -> usize {
        self.method_bytes
    }

    /// Tells a response decoder that a request with this method is waiting.
    pub fn expect_response_to(&mut self, method: CompactString) {
        self.method_bytes += method.len() + METHOD_OVERHEAD;
        self.methods.push_back(method);
    }

    /// Requests waiting for a response head (responses only).
    pub fn waiting_requests(&self) -> usize {
        self.methods.len()
    }

    /// The oldest waiting request will get no response here (resync after a gap).
    pub fn forget_oldest_request(&mut self) {
        if let Some(method) = self.methods.pop_front() {
            self.method_bytes -= method.len() + METHOD_OVERHEAD;
        }
    }

    /// A message's head was parsed and its end is still to come.
    pub fn in_message(&self) -> bool {
        self.current.is_some()
    }

    /// Between messages, with nothing of the next one buffered.
    pub fn is_idle(&self) -> bool {
        self.state == State::Head && self.buf.is_empty() && self.current.is_none()
    }

    /// Forgets the message in progress and any buffered bytes: the next byte fed
    /// starts a head. Waiting request methods stay.
    pub fn restart(&mut self) {
        if let Some(m) = self.current.take() {
            self.budget.give_back(m.body.kept.len());
        }
        self.buf = Vec::new();
        if self.state != State::Stopped {
            self.state = State::Head;
        }
    }

    pub fn is_stopped(&self) -> bool {
        self.state == State::Stopped
    }

    /// Decodes captured bytes that arrived at `ts`.
    pub fn feed(&mut self, ts: Nanos, mut input: &[u8], out: &mut Vec<Decoded>) {
        while !input.is_empty() {
            input = match self.state {
                State::Stopped => return,
                State::Head => self.feed_head(ts, input, out),
                State::Length(left) => {
                    let (rest, left) = self.take_body(input, left);
                    self.state = State::Length(left);
                    if left == 0 {
                        self.finish_message(ts, out);
                    }
                    rest
                }
                State::ChunkData(left) => {
                    let (rest, left) = self.take_body(input, left);
                    self.state = if left == 0 {
                        State::ChunkDataEnd
                    } else {
                        State::ChunkData(left)
                    };
                    rest
                }
                State::ChunkSize => self.feed_chunk_size(input, out),
                State::ChunkDataEnd => self.feed_chunk_end(input, out),
                State::Trailers => self.feed_trailers(ts, input, out),
                State::UntilClose => {
                    self.take_body(input, u64::MAX);
                    &[]
                }
            };
        }
    }

    /// Accounts for `n` bytes the kernel counted but did not copy.
    /// Whether `n` unseen bytes would all fall inside the current body, so that
    /// skipping them keeps the framing exact.
    pub fn can_skip(&self, n: u64) -> bool {
        match self.state {
            State::Length(left) | State::ChunkData(left) => n <= left,
            State::UntilClose => true,
            _ => false,
        }
    }

    pub fn skip(&mut self, ts: Nanos, mut n: u64, out: &mut Vec<Decoded>) {
        while n > 0 {
            match self.state {
                State::Stopped => return,
                State::Length(left) | State::ChunkData(left) => {
                    let take = n.min(left);
                    if let Some(m) = self.current.as_mut() {
                        m.body.skip(take);
                    }
                    n -= take;
                    let left = left - take;
                    match self.state {
                        State::Length(_) => {
                            self.state = State::Length(left);
                            if left == 0 {
                                self.finish_message(ts, out);
                            }
                        }
                        _ if left == 0 => self.state = State::ChunkDataEnd,
                        _ => self.state = State::ChunkData(left),
                    }
                }
                State::UntilClose => {
                    if let Some(m) = self.current.as_mut() {
                        m.body.skip(n);
                    }
                    return;
                }
                State::Head => return self.stop(Stop::Uncaptured("an HTTP head"), out),
                State::ChunkSize | State::ChunkDataEnd | State::Trailers => {
                    return self.stop(Stop::Uncaptured("chunked framing"), out)
                }
            }
        }
    }

    /// The peer closed: a body delimited by close is now complete.
    pub fn close(&mut self, ts: Nanos, out: &mut Vec<Decoded>) {
        if self.state == State::UntilClose {
            self.finish_message(ts, out);
        }
    }

    /// Takes the message in progress, if its head was parsed, marked incomplete.
    pub fn take_partial(&mut self) -> Option<Box<Message>> {
        let mut m = self.current.take()?;
        self.budget.give_back(m.body.kept.len());
        m.complete = false;
        m.body.truncated = true;
        Some(m)
    }

    pub fn stop(&mut self, why: Stop, out: &mut Vec<Decoded>) {
        if self.state != State::Stopped {
            self.state = State::Stopped;
            self.buf = Vec::new();
            out.push(Decoded::Stopped(why));
        }
    }

    fn take_body<'i>(&mut self, input: &'i [u8], left: u64) -> (&'i [u8], u64) {
        let take = (input.len() as u64).min(left) as usize;
        if let Some(m) = self.current.as_mut() {
            let kept = m.body.kept.len();
            let room = self.max_body.saturating_sub(kept).min(take);
            let granted = self.budget.take(room);
            if granted < room {
                m.body.over_budget = true;
                self.dropped_body_bytes += (room - granted) as u64;
            }
            m.body.push(&input[..take], kept + granted);
        }
        (&input[take..], left - take as u64)
    }

    /// Appends `input` to the buffer; returns how many buffered bytes were there before.
    fn buffer(&mut self, ts: Nanos, input: &[u8]) -> usize {
        if self.buf.is_empty() {
            self.buf_start = ts;
        }
        let before = self.buf.len();
        self.buf.extend_from_slice(input);
        before
    }

    /// After the parser consumed `used` bytes of a buffer that held `before` bytes
    /// ahead of `input`, the part of `input` still to decode.
    fn rest_after<'i>(&mut self, input: &'i [u8], before: usize, used: usize) -> &'i [u8] {
        self.buf.clear();
        &input[used.saturating_sub(before).min(input.len())..]
    }

    fn feed_head<'i>(&mut self, ts: Nanos, input: &'i [u8], out: &mut Vec<Decoded>) -> &'i [u8] {
        // A head that arrives whole is parsed in place. Buffering it first copied
        // the body that usually shares its read, and the buffer kept that size for
        // the connection's life: KiBs per idle keep-alive connection.
        if self.buf.is_empty() {
            if let Ok(Some((used, head))) = parse_head(self.kind, input) {
                self.started = true;
                self.begin_message(head, ts, ts, out);
                return &input[used..];
            }
        }
        let before = self.buffer(ts, input);
        let start = self.buf_start;
        match parse_head(self.kind, &self.buf) {
            Ok(Some((used, head))) => {
                let rest = self.rest_after(input, before, used);
                self.started = true;
                self.begin_message(head, start, ts, out);
                rest
            }
            Ok(None) if self.buf.len() > MAX_HEAD => {
                self.stop(self.failure("head too long"), out);
                &[]
            }
            Ok(None) => &[],
            Err(e) => {
                let why = self.failure(&e);
                self.stop(why, out);
                &[]
            }
        }
    }

    fn failure(&self, what: &str) -> Stop {
        if self.started {
            Stop::Malformed(what.to_string())
        } else {
            Stop::NotHttp
        }
    }

    fn feed_chunk_size<'i>(&mut self, input: &'i [u8], out: &mut Vec<Decoded>) -> &'i [u8] {
        // In place when whole, as for heads: the chunk's data follows in the same read.
        if self.buf.is_empty() {
            if let Ok(httparse::Status::Complete((used, size))) = httparse::parse_chunk_size(input)
            {
                self.state = if size == 0 {
                    State::Trailers
                } else {
                    State::ChunkData(size)
                };
                return &input[used..];
            }
        }
        let before = self.buffer(0, input);
        match httparse::parse_chunk_size(&self.buf) {
            Ok(httparse::Status::Complete((used, size))) => {
                let rest = self.rest_after(input, before, used);
                self.state = if size == 0 {
                    State::Trailers
                } else {
                    State::ChunkData(size)
                };
                rest
            }
            Ok(httparse::Status::Partial) if self.buf.len() <= MAX_HEAD => &[],
            _ => {
                self.stop(Stop::Malformed("invalid chunk size".into()), out);
                &[]
            }
        }
    }

    fn feed_chunk_end<'i>(&mut self, input: &'i [u8], out: &mut Vec<Decoded>) -> &'i [u8] {
        let before = self.buffer(0, input);
        if self.buf.len() < 2 {
            return &[];
        }
        if &self.buf[..2] != b"\r\n" {
            self.stop(
                Stop::Malformed("chunk data not followed by CRLF".into()),
                out,
            );
            return &[];
        }
        self.state = State::ChunkSize;
        self.rest_after(input, before, 2)
    }

    fn feed_trailers<'i>(
        &mut self,
        ts: Nanos,
        input: &'i [u8],
        out: &mut Vec<Decoded>,
    ) -> &'i [u8] {
        let before = self.buffer(ts, input);
        let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
        match httparse::parse_headers(&self.buf, &mut fields) {
            Ok(httparse::Status::Complete((used, fields))) => {
                let trailers = Headers::from_wire(fields);
                let rest = self.rest_after(input, before, used);
                if let Some(m) = self.current.as_mut() {
                    m.trailers = trailers;
                }
                self.finish_message(ts, out);
                rest
            }
            Ok(httparse::Status::Partial) if self.buf.len() <= MAX_HEAD => &[],
            _ => {
                self.stop(Stop::Malformed("invalid trailers".into()), out);
                &[]
            }
        }
    }

    fn begin_message(&mut self, head: Head, start: Nanos, ts: Nanos, out: &mut Vec<Decoded>) {
        let fields = FramingFields::of(head.headers());
        let framing = match &head {
            Head::Request(r) => {
                out.push(Decoded::RequestStarted {
                    method: r.method.clone(),
                });
                self.stop_after_message = r.method.eq_ignore_ascii_case("CONNECT");
                request_framing(r, fields)
            }
            Head::Response(r) if (100..200).contains(&r.status) && r.status != 101 => {
                // An interim response (100 Continue, 103 Early Hints): the final
                // one is still to come, for the same request.
                self.state = State::Head;
                return;
            }
            Head::Response(r) => match self.methods.pop_front() {
                Some(method) => {
                    self.method_bytes -= method.len() + METHOD_OVERHEAD;
                    response_framing(r, &method, fields)
                }
                None => {
                    return self.stop(Stop::Malformed("a response without a request".into()), out)
                }
            },
        };
        let anomalies = anomalies(fields);
        self.current = Some(Box::new(Message {
            head,
            body: Body::default(),
            trailers: Headers::new(),
            start,
            end: ts,
            complete: false,
            tunnel: None,
            anomalies,
        }));
        match framing {
            Ok(Framing::Length(0)) => self.finish_message(ts, out),
            Ok(Framing::Length(n)) => self.state = State::Length(n),
            Ok(Framing::Chunked) => self.state = State::ChunkSize,
            Ok(Framing::UntilClose) => self.state = State::UntilClose,
            Ok(Framing::Tunnel(protocol)) => {
                if let Some(m) = self.current.as_mut() {
                    m.tunnel = Some(protocol);
                }
                self.stop_after_message = true;
                self.finish_message(ts, out);
            }
            // The head stays: the flow shows the request (or response) that
            // could not be framed, and why.
            Err(why) => self.stop(Stop::Malformed(why.into()), out),
        }
    }

    fn finish_message(&mut self, ts: Nanos, out: &mut Vec<Decoded>) {
        self.state = State::Head;
        if let Some(mut m) = self.current.take() {
            // Whole now: the per-connection budget of waiting messages takes over.
            self.budget.give_back(m.body.kept.len());
            m.end = ts;
            m.complete = true;
            out.push(Decoded::Message(m));
        }
        if self.stop_after_message {
            // Quietly: the connection decides what the tunnel means.
            self.state = State::Stopped;
        }
    }
}

impl Drop for Decoder {
    fn drop(&mut self) {
        if let Some(m) = &self.current {
            self.budget.give_back(m.body.kept.len());
        }
    }
}

fn parse_head(kind: Kind, buf: &[u8]) -> Result<Option<(usize, Head)>, String> {
    // Left uninitialised for httparse to fill: initialising 128 fields (4 KiB)
    // was a fifth of parsing a head.
    let mut fields = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    match kind {
        Kind::Request => {
            let mut req = httparse::Request::new(&mut []);
            match (req.parse_with_uninit_headers(buf, &mut fields)).map_err(|e| e.to_string())? {
                httparse::Status::Partial => Ok(None),
                httparse::Status::Complete(used) => Ok(Some((
                    used,
                    Head::Request(RequestHead {
                        method: req.method.unwrap_or_default().into(),
                        target: req.path.unwrap_or_default().into(),
                        minor_version: req.version.unwrap_or(1),
                        headers: Headers::from_wire(req.headers),
                    }),
                ))),
            }
        }
        Kind::Response => {
            let mut resp = httparse::Response::new(&mut []);
            let parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(
                &mut resp,
                buf,
                &mut fields,
            );
            match parsed.map_err(|e| e.to_string())? {
                httparse::Status::Partial => Ok(None),
                httparse::Status::Complete(used) => Ok(Some((
                    used,
                    Head::Response(ResponseHead {
                        status: resp.code.unwrap_or_default(),
                        reason: resp.reason.unwrap_or_default().into(),
                        minor_version: resp.version.unwrap_or(1),
                        headers: Headers::from_wire(resp.headers),
                    }),
                ))),
            }
        }
    }
}
