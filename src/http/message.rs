//! What one direction of an HTTP/1.x connection carries: a head (request or
//! status line plus headers), a body kept up to a cap, and optional trailers.

use compact_str::CompactString;

use crate::event::Nanos;

pub use super::headers::Headers;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    /// Inline up to 24 bytes, as most methods, targets and reasons are: a head
    /// parsed cost an allocation for each.
    pub method: CompactString,
    pub target: CompactString,
    /// The minor version: 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor_version: u8,
    pub headers: Headers,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    pub status: u16,
    pub reason: CompactString,
    pub minor_version: u8,
    pub headers: Headers,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Head {
    Request(RequestHead),
    Response(ResponseHead),
}

impl Head {
    pub fn headers(&self) -> &Headers {
        match self {
            Head::Request(r) => &r.headers,
            Head::Response(r) => &r.headers,
        }
    }
}

/// A message body: the first `max_body` decoded bytes, and the true decoded size.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Body {
    pub kept: Vec<u8>,
    pub size: u64,
    /// Fewer bytes were kept than the body had: over the cap, not captured by the
    /// kernel, lost on the way (a gap inside the body), or never finished.
    pub truncated: bool,
    /// Some of the truncation is the global budget for bodies in progress.
    pub over_budget: bool,
}

impl Body {
    pub(crate) fn push(&mut self, bytes: &[u8], max_body: usize) {
        self.size += bytes.len() as u64;
        let room = max_body.saturating_sub(self.kept.len());
        if bytes.len() > room {
            self.truncated = true;
        }
        self.kept.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    /// Bytes that were part of the body but never captured.
    pub(crate) fn skip(&mut self, n: u64) {
        if n > 0 {
            self.size += n;
            self.truncated = true;
        }
    }
}

/// One HTTP message, complete or cut short.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub head: Head,
    pub body: Body,
    pub trailers: Headers,
    /// When its first byte was seen.
    pub start: Nanos,
    /// When its last byte was seen.
    pub end: Nanos,
    /// False when the message was cut short (gap, close, capture end).
    pub complete: bool,
    /// Set on a `101 Switching Protocols` (the Upgrade protocol) or a successful
    /// CONNECT ("connect"): the bytes after it are not HTTP.
    pub tunnel: Option<String>,
    /// Framing signs a peer may read differently (request smuggling), e.g.
    /// "transfer-encoding with content-length"; the message is framed as RFC
    /// 9112 says all the same.
    pub anomalies: Vec<&'static str>,
}

impl Message {
    /// About what this message holds in memory: its record, header text, kept
    /// body and trailers. What per-connection byte budgets count.
    pub fn held_bytes(&self) -> usize {
        let fields = |h: &Headers| h.text_len() + 48 * h.len();
        std::mem::size_of::<Message>()
            + fields(self.head.headers())
            + fields(&self.trailers)
            + self.body.kept.len()
    }

    pub fn request(&self) -> Option<&RequestHead> {
        match &self.head {
            Head::Request(r) => Some(r),
            Head::Response(_) => None,
        }
    }

    pub fn response(&self) -> Option<&ResponseHead> {
        match &self.head {
            Head::Response(r) => Some(r),
            Head::Request(_) => None,
        }
    }
}

/// The value of the first header named `name` (case-insensitive).
pub fn header<'h>(headers: &'h Headers, name: &str) -> Option<&'h str> {
    headers.get(name)
}
