//! How long a message body is, from its head: RFC 9112 section 6.3, for requests
//! and for responses (which also depend on the request's method).

use super::message::{Headers, RequestHead, ResponseHead};

pub(super) enum Framing {
    Length(u64),
    Chunked,
    UntilClose,
    Tunnel(String),
}

/// How many Transfer-Encoding and Content-Length fields a head has, from one
/// pass over it: framing and its anomalies read those fields only when there
/// are some (four passes a head were a tenth of decoding one).
#[derive(Debug, Clone, Copy)]
pub(super) struct FramingFields {
    te: usize,
    cl: usize,
}

impl FramingFields {
    pub(super) fn of(headers: &Headers) -> Self {
        let mut f = FramingFields { te: 0, cl: 0 };
        for (name, _) in headers {
            if name.eq_ignore_ascii_case("transfer-encoding") {
                f.te += 1;
            } else if name.eq_ignore_ascii_case("content-length") {
                f.cl += 1;
            }
        }
        f
    }
}

/// RFC 9112 6.3, items 3-6, for a request.
pub(super) fn request_framing(r: &RequestHead, f: FramingFields) -> Result<Framing, &'static str> {
    match transfer_encoding(&r.headers, f).as_deref() {
        Some(te) if is_chunked_last(te) => Ok(Framing::Chunked),
        // A request body must have a length; the server would answer 400.
        Some(_) => Err("request transfer-encoding without chunked"),
        None => content_length(&r.headers, f).map(|n| Framing::Length(n.unwrap_or(0))),
    }
}

/// RFC 9112 6.3, items 1-7, for a response to a request with `method`.
pub(super) fn response_framing(
    r: &ResponseHead,
    method: &str,
    f: FramingFields,
) -> Result<Framing, &'static str> {
    if r.status == 101 {
        let protocol = super::message::header(&r.headers, "upgrade").unwrap_or("unknown");
        return Ok(Framing::Tunnel(protocol.to_string()));
    }
    if method.eq_ignore_ascii_case("CONNECT") && (200..300).contains(&r.status) {
        return Ok(Framing::Tunnel("connect".into()));
    }
    if method.eq_ignore_ascii_case("HEAD") || r.status == 204 || r.status == 304 {
        return Ok(Framing::Length(0));
    }
    match transfer_encoding(&r.headers, f).as_deref() {
        Some(te) if is_chunked_last(te) => Ok(Framing::Chunked),
        Some(_) => Ok(Framing::UntilClose),
        None => Ok(match content_length(&r.headers, f)? {
            Some(n) => Framing::Length(n),
            None => Framing::UntilClose,
        }),
    }
}

/// Every Transfer-Encoding field, combined as one list (RFC 9110 5.3): several
/// lines say what one comma-separated line would.
fn transfer_encoding(headers: &Headers, f: FramingFields) -> Option<String> {
    if f.te == 0 {
        return None;
    }
    let values: Vec<&str> = headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("transfer-encoding"))
        .map(|(_, v)| v)
        .collect();
    (!values.is_empty()).then(|| values.join(","))
}

/// Framing signs that a peer may read differently (request smuggling): the
/// message is framed as RFC 9112 says, and the flow names these.
pub(super) fn anomalies(f: FramingFields) -> Vec<&'static str> {
    let (te, cl) = (f.te, f.cl);
    let mut found = Vec::new();
    if te > 0 && cl > 0 {
        found.push("transfer-encoding with content-length");
    }
    if te > 1 {
        found.push("several transfer-encoding fields");
    }
    if cl > 1 {
        found.push("several content-length fields");
    }
    found
}

fn is_chunked_last(te: &str) -> bool {
    te.rsplit(',')
        .next()
        .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"))
}

/// Content-Length, which may repeat (also comma-separated) but only with one value.
fn content_length(headers: &Headers, f: FramingFields) -> Result<Option<u64>, &'static str> {
    let mut found = None;
    if f.cl == 0 {
        return Ok(found);
    }
    for (_, value) in headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("content-length"))
    {
        for part in value.split(',') {
            let part = part.trim();
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err("invalid content-length");
            }
            let n: u64 = part.parse().map_err(|_| "invalid content-length")?;
            if found.is_some_and(|f| f != n) {
                return Err("conflicting content-length");
            }
            found = Some(n);
        }
    }
    Ok(found)
}
