//! gRPC over an HTTP/2 exchange: service and method from `:path`, messages split
//! by their 5-byte prefix (gzip ones inflated), and the call's status from the
//! trailers or a trailers-only response.

use std::io::Read;

use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::http::message::{header, Body, Headers};

/// Most bytes one inflated message may grow to before it is cut (and marked).
const INFLATE_BUDGET: u64 = 4 << 20;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grpc {
    pub service: String,
    pub method: String,
    /// `grpc-status` (0 OK, 5 NOT_FOUND, …); null when the call did not finish.
    pub status: Option<u32>,
    /// `grpc-message`, percent-decoded.
    pub message: Option<String>,
    pub request: Messages,
    pub response: Messages,
}

/// The messages one way.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Messages {
    /// Messages whose prefix was seen.
    pub count: u32,
    /// Their sizes as sent (compressed size when compressed).
    pub sizes: Vec<u32>,
    /// Each message's protobuf bytes (inflated), base64, as far as the body was kept.
    pub messages: Vec<String>,
    /// `grpc-encoding`, when not identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
    /// The body was cut (budget, lost bytes, stream not finished), so messages
    /// past the cut are missing or partial.
    pub truncated: bool,
}

/// Whether this request is a gRPC call.
pub fn is_grpc(request_headers: &Headers) -> bool {
    header(request_headers, "content-type")
        .is_some_and(|ct| ct.to_ascii_lowercase().starts_with("application/grpc"))
}

/// `/package.Service/Method` → ("package.Service", "Method").
fn service_method(path: &str) -> (String, String) {
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    match trimmed.split_once('/') {
        Some((s, m)) => (s.to_string(), m.to_string()),
        None => (trimmed.to_string(), String::new()),
    }
}

pub struct Call<'a> {
    pub path: &'a str,
    pub request_headers: &'a Headers,
    pub request_body: &'a Body,
    /// Headers of the response, its body and trailers, when one was seen.
    pub response: Option<(&'a Headers, &'a Body, &'a Headers)>,
}

pub fn describe(call: Call<'_>) -> Grpc {
    let (service, method) = service_method(call.path);
    let request = messages(
        call.request_body,
        header(call.request_headers, "grpc-encoding"),
    );
    let (response, status, message) = match call.response {
        Some((headers, body, trailers)) => {
            // Trailers-only: the status is in the response headers.
            let from = if header(trailers, "grpc-status").is_some() {
                trailers
            } else {
                headers
            };
            let status = header(from, "grpc-status").and_then(|s| s.trim().parse().ok());
            let message = header(from, "grpc-message").map(percent_decode);
            (
                messages(body, header(headers, "grpc-encoding")),
                status,
                message,
            )
        }
        None => (Messages::default(), None, None),
    };
    Grpc {
        service,
        method,
        status,
        message,
        request,
        response,
    }
}

fn messages(body: &Body, encoding: Option<&str>) -> Messages {
    let encoding = encoding.filter(|e| !e.eq_ignore_ascii_case("identity"));
    let mut out = Messages {
        encoding: encoding.map(str::to_string),
        truncated: body.truncated,
        ..Messages::default()
    };
    let mut rest = body.kept.as_slice();
    while rest.len() >= 5 {
        let compressed = rest[0] & 1 != 0;
        let len = u32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]);
        out.count += 1;
        out.sizes.push(len);
        let end = (5 + len as usize).min(rest.len());
        let bytes = &rest[5..end];
        if end < 5 + len as usize {
            // Only part of this message was kept: not inflated, not whole.
            out.truncated = true;
            out.messages.push(b64(bytes));
            break;
        }
        let is_gzip = encoding.is_some_and(|e| e.eq_ignore_ascii_case("gzip"));
        match (compressed, is_gzip) {
            (false, _) => out.messages.push(b64(bytes)),
            (true, true) => {
                let mut inflated = Vec::new();
                let mut reader = flate2::read::GzDecoder::new(bytes).take(INFLATE_BUDGET);
                match reader.read_to_end(&mut inflated) {
                    Ok(_) => {
                        if inflated.len() as u64 == INFLATE_BUDGET {
                            out.truncated = true;
                        }
                        out.messages.push(b64(&inflated))
                    }
                    // What we cannot inflate is shown as sent.
                    Err(_) => {
                        out.truncated = true;
                        out.messages.push(b64(bytes))
                    }
                }
            }
            // Another compression: the bytes as sent.
            (true, false) => out.messages.push(b64(bytes)),
        }
        rest = &rest[end..];
    }
    if !rest.is_empty() {
        out.truncated = true;
    }
    out
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// gRPC's percent-encoding of `grpc-message` (RFC 3986 style, UTF-8).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (
            b[i],
            b.get(i + 1).copied().and_then(hex),
            b.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn body(bytes: Vec<u8>) -> Body {
        Body {
            size: bytes.len() as u64,
            kept: bytes,
            truncated: false,
            over_budget: false,
        }
    }

    fn framed(compressed: bool, msg: &[u8]) -> Vec<u8> {
        let mut v = vec![u8::from(compressed)];
        v.extend((msg.len() as u32).to_be_bytes());
        v.extend_from_slice(msg);
        v
    }

    fn h(list: &[(&str, &str)]) -> Headers {
        list.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn unary_call_with_trailers() {
        let req_h = h(&[("content-type", "application/grpc")]);
        let req = body(framed(false, b"\x0a\x05world"));
        let resp = body(framed(false, b"\x0a\x0bhello world"));
        let trailers = h(&[("grpc-status", "0")]);
        let g = describe(Call {
            path: "/helloworld.Greeter/SayHello",
            request_headers: &req_h,
            request_body: &req,
            response: Some((&h(&[]), &resp, &trailers)),
        });
        assert_eq!(g.service, "helloworld.Greeter");
        assert_eq!(g.method, "SayHello");
        assert_eq!(g.status, Some(0));
        assert_eq!(g.request.count, 1);
        assert_eq!(g.request.sizes, vec![7]);
        assert_eq!(g.request.messages, vec![b64(b"\x0a\x05world")]);
        assert_eq!(g.response.sizes, vec![13]);
        assert!(!g.response.truncated);
    }

    #[test]
    fn trailers_only_not_found_with_a_percent_encoded_message() {
        let resp_h = h(&[
            ("content-type", "application/grpc"),
            ("grpc-status", "5"),
            ("grpc-message", "no such%20key %E2%9C%93"),
        ]);
        let g = describe(Call {
            path: "/kv.Store/Get",
            request_headers: &h(&[]),
            request_body: &body(framed(false, b"k")),
            response: Some((&resp_h, &body(vec![]), &h(&[]))),
        });
        assert_eq!(g.status, Some(5));
        assert_eq!(g.message.as_deref(), Some("no such key ✓"));
        assert_eq!(g.response.count, 0);
    }

    #[test]
    fn gzip_messages_are_inflated_and_a_cut_body_says_so() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(b"protobuf bytes").unwrap();
        let packed = gz.finish().unwrap();
        let mut wire = framed(true, &packed);
        wire.extend(framed(false, b"plain"));
        wire.extend(&framed(false, b"cut off here")[..8]);
        let m = messages(&body(wire), Some("gzip"));
        assert_eq!(m.count, 3);
        assert_eq!(m.sizes, vec![packed.len() as u32, 5, 12]);
        assert_eq!(m.messages[0], b64(b"protobuf bytes"));
        assert_eq!(m.messages[1], b64(b"plain"));
        assert_eq!(m.messages[2], b64(b"cut"));
        assert!(m.truncated);
        assert_eq!(m.encoding.as_deref(), Some("gzip"));
    }
}
