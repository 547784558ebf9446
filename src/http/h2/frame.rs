//! HTTP/2 framing (RFC 9113 section 4) for one direction: bytes in, split
//! anywhere; frames out, DATA payloads streamed without padding. Lost bytes are
//! skipped exactly inside a frame; across frame boundaries the reader hunts for
//! a run of well-formed frames, which is also how a connection joined mid-way starts.

pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

pub const DATA: u8 = 0x0;
pub const HEADERS: u8 = 0x1;
pub const PRIORITY: u8 = 0x2;
pub const RST_STREAM: u8 = 0x3;
pub const SETTINGS: u8 = 0x4;
pub const PUSH_PROMISE: u8 = 0x5;
pub const PING: u8 = 0x6;
pub const GOAWAY: u8 = 0x7;
pub const WINDOW_UPDATE: u8 = 0x8;
pub const CONTINUATION: u8 = 0x9;

pub const END_STREAM: u8 = 0x1;
pub const END_HEADERS: u8 = 0x4;
pub const PADDED: u8 = 0x8;
pub const PRIORITY_FLAG: u8 = 0x20;

const HEADER_LEN: usize = 9;
/// Largest frame RFC 9113 allows (SETTINGS_MAX_FRAME_SIZE at most 2^24-1).
const MAX_FRAME: u32 = (1 << 24) - 1;
/// A frame other than DATA whose payload is longer is skipped (and counted): it
/// is the most one direction buffers.
pub const FRAME_BUDGET: usize = 256 * 1024;
/// Bytes held while hunting for frame boundaries before giving up on them.
const RESYNC_BUDGET: usize = 64 * 1024;
/// While resynchronising, frames must not exceed the default SETTINGS_MAX_FRAME_SIZE.
const RESYNC_MAX_FRAME: u32 = 16_384;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    pub len: u32,
    pub kind: u8,
    pub flags: u8,
    pub stream: u32,
}

impl FrameHeader {
    pub fn parse(b: &[u8]) -> Option<FrameHeader> {
        let b: &[u8; HEADER_LEN] = b.get(..HEADER_LEN)?.try_into().ok()?;
        Some(FrameHeader {
            len: u32::from_be_bytes([0, b[0], b[1], b[2]]),
            kind: b[3],
            flags: b[4],
            stream: u32::from_be_bytes([b[5], b[6], b[7], b[8]]),
        })
    }

    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    /// What RFC 9113 requires of this frame's length, stream and flags, strictly
    /// (unknown types and flags fail): the test for finding frame boundaries.
    pub fn is_plausible(&self) -> bool {
        let stream_bound = matches!(
            self.kind,
            DATA | HEADERS | PRIORITY | RST_STREAM | PUSH_PROMISE | CONTINUATION
        );
        let (ok_len, ok_flags) = match self.kind {
            DATA => (true, END_STREAM | PADDED),
            HEADERS => (true, END_STREAM | END_HEADERS | PADDED | PRIORITY_FLAG),
            PRIORITY => (self.len == 5, 0),
            RST_STREAM => (self.len == 4, 0),
            SETTINGS if self.has(0x1) => (self.len == 0, 0x1),
            SETTINGS => (self.len % 6 == 0, 0x1),
            PUSH_PROMISE => (self.len >= 4, END_HEADERS | PADDED),
            PING => (self.len == 8, 0x1),
            GOAWAY => (self.len >= 8, 0),
            WINDOW_UPDATE => (self.len == 4, 0),
            CONTINUATION => (true, END_HEADERS),
            _ => return false,
        };
        let ok_stream = match self.kind {
            SETTINGS | PING | GOAWAY => self.stream == 0,
            WINDOW_UPDATE => self.stream & 0x8000_0000 == 0,
            _ => !stream_bound || (self.stream != 0 && self.stream & 0x8000_0000 == 0),
        };
        ok_len && ok_stream && self.flags & !ok_flags == 0 && self.len <= RESYNC_MAX_FRAME
    }
}

/// What a direction's bytes turned into, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unit {
    /// A whole frame other than DATA, payload as sent (padding included).
    Frame(FrameHeader, Vec<u8>),
    /// Part of a DATA frame's data (padding removed).
    Data { stream: u32, bytes: Vec<u8> },
    /// Data bytes of `stream` that were not captured or were lost, exactly `n`.
    DataSkipped { stream: u32, n: u64 },
    /// The DATA frame ended; `end_stream` copies its flag.
    DataEnd { stream: u32, end_stream: bool },
    /// A frame whose payload could not be read whole (lost bytes, or over
    /// [`FRAME_BUDGET`]); framing goes on after it.
    FrameLost(FrameHeader),
    /// Frame boundaries are lost (`lost` bytes, None: unknown): what was in
    /// flight may have lost frames.
    Desync,
    /// Frame boundaries found again (or for the first time, when joining).
    Synced,
    /// The client preface was wrong: this is not HTTP/2 after all.
    NotHttp2,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Client direction: `n` preface bytes matched so far.
    Preface(usize),
    Header,
    /// A non-DATA payload being buffered (`skip`: over budget or lost, so
    /// only counted).
    Payload {
        header: FrameHeader,
        left: u32,
        lost: bool,
    },
    /// A DATA frame: the pad-length byte is next.
    DataPadLength {
        header: FrameHeader,
        left: u32,
    },
    DataBytes {
        header: FrameHeader,
        data: u32,
        pad: u32,
    },
    DataPadding {
        header: FrameHeader,
        pad: u32,
    },
    /// Looking for frame boundaries in `buf`.
    Resync,
    Dead,
}

#[derive(Debug)]
pub struct FrameReader {
    state: State,
    buf: Vec<u8>,
    /// Frame payload bytes skipped over [`FRAME_BUDGET`].
    pub over_budget: u64,
}

impl FrameReader {
    /// A client direction from its first byte: the preface comes first.
    pub fn client() -> Self {
        Self::with(State::Preface(0))
    }

    /// A server direction from its first byte, or a client one after its preface.
    pub fn server() -> Self {
        Self::with(State::Header)
    }

    /// A direction joined mid-way: frame boundaries must be found first.
    pub fn joined() -> Self {
        Self::with(State::Resync)
    }

    fn with(state: State) -> Self {
        FrameReader {
            state,
            buf: Vec::new(),
            over_budget: 0,
        }
    }

    pub fn feed(&mut self, mut input: &[u8], out: &mut Vec<Unit>) {
        while !input.is_empty() {
            input = self.step(input, out);
        }
    }

    fn step<'i>(&mut self, input: &'i [u8], out: &mut Vec<Unit>) -> &'i [u8] {
        match self.state {
            State::Dead => &[],
            State::Preface(n) => {
                let take = (PREFACE.len() - n).min(input.len());
                if input[..take] != PREFACE[n..n + take] {
                    self.state = State::Dead;
                    out.push(Unit::NotHttp2);
                    return &[];
                }
                self.state = if n + take == PREFACE.len() {
                    State::Header
                } else {
                    State::Preface(n + take)
                };
                &input[take..]
            }
            State::Header => {
                let need = HEADER_LEN - self.buf.len();
                let take = need.min(input.len());
                self.buf.extend_from_slice(&input[..take]);
                if let Some(h) = FrameHeader::parse(&self.buf) {
                    self.buf.clear();
                    self.begin(h, out);
                }
                &input[take..]
            }
            State::Payload { header, left, lost } => {
                let take = (left as usize).min(input.len());
                if !lost {
                    self.buf.extend_from_slice(&input[..take]);
                }
                let left = left - take as u32;
                if left == 0 {
                    self.finish_payload(header, lost, out);
                } else {
                    self.state = State::Payload { header, left, lost };
                }
                &input[take..]
            }
            State::DataPadLength { header, left } => {
                let pad = u32::from(input[0]);
                if pad > left - 1 {
                    // Padding longer than the frame: a protocol error, framing
                    // cannot be trusted.
                    self.desync(out);
                    return &input[1..];
                }
                self.data_bytes(header, left - 1 - pad, pad, out);
                &input[1..]
            }
            State::DataBytes { header, data, pad } => {
                let take = (data as usize).min(input.len());
                out.push(Unit::Data {
                    stream: header.stream,
                    bytes: input[..take].to_vec(),
                });
                self.data_bytes(header, data - take as u32, pad, out);
                &input[take..]
            }
            State::DataPadding { header, pad } => {
                let take = (pad as usize).min(input.len());
                self.padding(header, pad - take as u32, out);
                &input[take..]
            }
            State::Resync => {
                self.buf.extend_from_slice(input);
                self.resync(out);
                &[]
            }
        }
    }

    fn begin(&mut self, h: FrameHeader, out: &mut Vec<Unit>) {
        if h.len > MAX_FRAME || h.stream & 0x8000_0000 != 0 && h.kind != WINDOW_UPDATE {
            return self.desync(out);
        }
        match h.kind {
            DATA if h.has(PADDED) && h.len == 0 => self.desync(out),
            DATA if h.has(PADDED) => {
                self.state = State::DataPadLength {
                    header: h,
                    left: h.len,
                }
            }
            DATA => self.data_bytes(h, h.len, 0, out),
            _ if h.len == 0 => self.finish_payload(h, false, out),
            _ => {
                let lost = h.len as usize > FRAME_BUDGET;
                if lost {
                    self.over_budget += u64::from(h.len);
                }
                self.state = State::Payload {
                    header: h,
                    left: h.len,
                    lost,
                };
            }
        }
    }

    fn data_bytes(&mut self, header: FrameHeader, data: u32, pad: u32, out: &mut Vec<Unit>) {
        if data == 0 {
            self.padding(header, pad, out);
        } else {
            self.state = State::DataBytes { header, data, pad };
        }
    }

    fn padding(&mut self, header: FrameHeader, pad: u32, out: &mut Vec<Unit>) {
        if pad == 0 {
            out.push(Unit::DataEnd {
                stream: header.stream,
                end_stream: header.has(END_STREAM),
            });
            self.state = State::Header;
        } else {
            self.state = State::DataPadding { header, pad };
        }
    }

    fn finish_payload(&mut self, header: FrameHeader, lost: bool, out: &mut Vec<Unit>) {
        let payload = std::mem::take(&mut self.buf);
        out.push(if lost {
            Unit::FrameLost(header)
        } else {
            Unit::Frame(header, payload)
        });
        self.state = State::Header;
    }

    /// `n` bytes of this direction were never seen. Inside the current frame they
    /// are skipped exactly; otherwise frame boundaries are lost.
    pub fn skip(&mut self, mut n: u64, out: &mut Vec<Unit>) {
        while n > 0 {
            match self.state {
                State::Dead => return,
                State::Resync => {
                    // Whatever we held can't continue into what follows.
                    self.buf.clear();
                    return;
                }
                State::Payload { header, left, .. } if n >= u64::from(left) => {
                    n -= u64::from(left);
                    self.buf.clear();
                    self.finish_payload(header, true, out);
                }
                State::Payload { header, left, .. } => {
                    self.state = State::Payload {
                        header,
                        left: left - n as u32,
                        lost: true,
                    };
                    return;
                }
                State::DataBytes { header, data, pad } => {
                    let take = n.min(u64::from(data));
                    out.push(Unit::DataSkipped {
                        stream: header.stream,
                        n: take,
                    });
                    n -= take;
                    self.data_bytes(header, data - take as u32, pad, out);
                }
                State::DataPadding { header, pad } => {
                    let take = n.min(u64::from(pad));
                    n -= take;
                    self.padding(header, pad - take as u32, out);
                }
                // The pad length, a frame header or the preface: boundaries gone.
                State::DataPadLength { .. } | State::Header | State::Preface(_) => {
                    self.desync(out);
                    return;
                }
            }
        }
    }

    /// An unknown number of bytes was lost: nothing can be skipped exactly.
    pub fn lose_sync(&mut self, out: &mut Vec<Unit>) {
        if !matches!(self.state, State::Dead | State::Resync) {
            self.desync(out);
        } else {
            self.buf.clear();
        }
    }

    fn desync(&mut self, out: &mut Vec<Unit>) {
        self.buf.clear();
        self.state = State::Resync;
        out.push(Unit::Desync);
    }

    /// Finds the first offset in `buf` from which frames parse plausibly to its
    /// end (the last one may be partial) and include at least one whole frame.
    fn resync(&mut self, out: &mut Vec<Unit>) {
        let found = (0..self.buf.len()).find_map(|start| {
            let mut at = start;
            let mut whole = 0;
            loop {
                let Some(h) = FrameHeader::parse(&self.buf[at..]) else {
                    // Fewer than 9 bytes left: fine only at a boundary after a frame.
                    return (whole > 0 && at == self.buf.len()).then_some(start);
                };
                if !h.is_plausible() {
                    return None;
                }
                let end = at + HEADER_LEN + h.len as usize;
                if end > self.buf.len() {
                    return (whole > 0).then_some(start);
                }
                whole += 1;
                at = end;
            }
        });
        match found {
            Some(start) => {
                let rest = self.buf.split_off(start);
                self.buf.clear();
                self.state = State::Header;
                out.push(Unit::Synced);
                self.feed(&rest, out);
            }
            None if self.buf.len() > RESYNC_BUDGET => {
                // Keep the tail a frame header could start in.
                let keep = self.buf.len() - HEADER_LEN;
                self.buf.drain(..keep);
            }
            None => {}
        }
    }
}

#[cfg(test)]
#[path = "frame_tests.rs"]
mod tests;
