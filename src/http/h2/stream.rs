//! One HTTP/2 stream: the request and response built from decoded header
//! blocks and DATA, and what it says about itself when it ends incomplete.

use compact_str::CompactString;

use crate::event::Nanos;
use crate::http::message::{Body, Head, Headers, Message, RequestHead, ResponseHead};

use super::hpack::Field;

/// How a header field we could not resolve appears in a flow: a name no real
/// header can have (parentheses are not token characters).
pub const UNKNOWN: &str = "(unknown)";

/// A header block, split into pseudo-headers and the rest.
#[derive(Debug, Default)]
pub struct Block {
    pub method: Option<String>,
    pub path: Option<String>,
    pub authority: Option<String>,
    pub status: Option<u16>,
    pub headers: Headers,
    /// Fields that referred to HPACK entries we never saw.
    pub unknown: usize,
}

impl Block {
    pub fn from_fields(fields: Vec<Field>) -> Block {
        let mut b = Block::default();
        for f in fields {
            match (f.name, f.value) {
                (Some(name), Some(value)) => match name.as_str() {
                    ":method" => b.method = Some(value),
                    ":path" => b.path = Some(value),
                    ":authority" => b.authority = Some(value),
                    ":status" => b.status = value.parse().ok(),
                    ":scheme" | ":protocol" => {}
                    _ => b.headers.push(&name, &value),
                },
                (name, value) => {
                    b.unknown += 1;
                    b.headers.push(
                        name.as_deref().unwrap_or(UNKNOWN),
                        value.as_deref().unwrap_or(UNKNOWN),
                    );
                }
            }
        }
        b
    }

    pub fn is_request(&self) -> bool {
        self.method.is_some()
    }
}

/// One direction's message on a stream.
#[derive(Debug, Default)]
pub struct Half {
    pub message: Option<Message>,
    /// END_STREAM seen.
    pub done: bool,
}

#[derive(Debug)]
pub struct Stream {
    pub id: u32,
    pub authority: Option<String>,
    pub path: String,
    pub request: Half,
    pub response: Half,
    /// Header fields on this stream that could not be resolved.
    pub unknown_headers: usize,
    /// A header block of this stream was lost (gap, budget, undecodable).
    pub headers_lost: bool,
    /// Why this stream cannot be whole, if something already said so.
    pub problem: Option<String>,
}

impl Stream {
    pub fn new(id: u32) -> Stream {
        Stream {
            id,
            authority: None,
            path: String::new(),
            request: Half::default(),
            response: Half::default(),
            unknown_headers: 0,
            headers_lost: false,
            problem: None,
        }
    }

    /// The request's head; a request stream starts here.
    pub fn set_request(&mut self, block: Block, ts: Nanos) {
        self.unknown_headers += block.unknown;
        self.authority = block.authority;
        self.path = block.path.clone().unwrap_or_default();
        self.request.message = Some(message(
            Head::Request(RequestHead {
                method: block.method.unwrap_or_default().into(),
                target: block.path.unwrap_or_default().into(),
                minor_version: 0,
                headers: block.headers,
            }),
            ts,
        ));
    }

    /// A header block on the response side: the head, an interim 1xx (dropped),
    /// or trailers.
    pub fn response_block(&mut self, block: Block, ts: Nanos) {
        self.unknown_headers += block.unknown;
        match (&mut self.response.message, block.status) {
            (None, Some(s)) if (100..200).contains(&s) => {}
            (None, status) => {
                self.response.message = Some(message(
                    Head::Response(ResponseHead {
                        status: status.unwrap_or(0),
                        reason: CompactString::default(),
                        minor_version: 0,
                        headers: block.headers,
                    }),
                    ts,
                ))
            }
            (Some(m), _) => m.trailers.extend(&block.headers),
        }
    }

    /// A later block on the request side: trailers.
    pub fn request_trailers(&mut self, block: Block) {
        self.unknown_headers += block.unknown;
        if let Some(m) = &mut self.request.message {
            m.trailers.extend(&block.headers);
        }
    }

    pub fn half(&mut self, requests: bool) -> &mut Half {
        if requests {
            &mut self.request
        } else {
            &mut self.response
        }
    }

    pub fn is_done(&self) -> bool {
        self.request.done && self.response.done
    }

    /// Why the exchange is not whole, or None; `ended` is why the stream is being
    /// written now if it did not finish.
    pub fn incomplete(&self, ended: Option<&str>) -> Option<String> {
        let mut why = Vec::new();
        if let Some(p) = &self.problem {
            why.push(p.clone());
        } else if let Some(e) = ended {
            why.push(e.to_string());
        }
        if self.headers_lost {
            why.push("headers incomplete: a header block was lost or could not be decoded".into());
        }
        if self.unknown_headers > 0 {
            why.push(format!(
                "headers incomplete: {} field(s) refer to HPACK entries from before capture",
                self.unknown_headers
            ));
        }
        (!why.is_empty()).then(|| why.join("; "))
    }
}

fn message(head: Head, ts: Nanos) -> Message {
    Message {
        head,
        body: Body::default(),
        trailers: Headers::new(),
        start: ts,
        end: ts,
        complete: false,
        tunnel: None,
        anomalies: Vec::new(),
    }
}
